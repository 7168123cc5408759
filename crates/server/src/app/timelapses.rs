//! Timelapse videos of a project. The bytes are the adapter's to stream to
//! and from disk; what is recorded, and who may, is decided here.

use domain::project::Timelapse;
use domain::{Id, rules};
use store::NewTimelapse;

use super::error::named;
use super::{App, Caller, Error, Result};

impl App {
    /// Records a video already written to disk; only the project's owner may,
    /// decided on the locked project.
    pub async fn record_timelapse(
        &self,
        caller: &Caller,
        mut timelapse: NewTimelapse,
    ) -> Result<Timelapse> {
        timelapse.uploader_id = caller.person()?.id.clone();
        self.store
            .create_timelapse(timelapse)
            .await
            .map_err(named("no such project"))
    }

    /// A project's videos, newest first: its owner's, and those of the people
    /// in its active sessions when the owner shares them.
    pub async fn timelapses(&self, caller: &Caller, project_id: &Id) -> Result<Vec<Timelapse>> {
        let project = self.project(caller, project_id).await?;
        if !rules::watch_timelapses(&project, &caller.user().id, true) {
            return Err(Error::Forbidden(
                "this project's timelapses are its owner's; the owner has not shared them",
            ));
        }
        Ok(self.store.timelapses(project_id).await?)
    }

    /// One video, for whoever may watch its project's timelapses; to anyone
    /// else it does not exist.
    pub async fn timelapse(&self, caller: &Caller, id: &Id) -> Result<Timelapse> {
        let not_found = || Error::NotFound("no such timelapse");
        let timelapse = self.store.timelapse(id).await?.ok_or_else(not_found)?;
        let project = self
            .project(caller, &timelapse.project_id)
            .await
            .map_err(|_| not_found())?;
        if !rules::watch_timelapses(&project, &caller.user().id, true) {
            return Err(not_found());
        }
        Ok(timelapse)
    }

    /// Deletes a video's record (the owner's alone) and returns it, so its
    /// file can go too.
    pub async fn delete_timelapse(&self, caller: &Caller, id: &Id) -> Result<Timelapse> {
        self.timelapse(caller, id).await?;
        self.store
            .delete_timelapse(id, &caller.user().id)
            .await
            .map_err(named("no such timelapse"))
    }
}

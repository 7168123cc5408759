//! Timelapse videos of a project. The bytes are the adapter's to stream to
//! and from disk; what is recorded, and who may, is decided here.

use domain::Id;
use domain::project::Timelapse;
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

    /// A project's videos, newest first.
    pub async fn timelapses(&self, caller: &Caller, project_id: &Id) -> Result<Vec<Timelapse>> {
        self.project(caller, project_id).await?;
        Ok(self.store.timelapses(project_id).await?)
    }

    /// One video, if the caller may see its project.
    pub async fn timelapse(&self, caller: &Caller, id: &Id) -> Result<Timelapse> {
        let not_found = || Error::NotFound("no such timelapse");
        let timelapse = self.store.timelapse(id).await?.ok_or_else(not_found)?;
        self.project(caller, &timelapse.project_id)
            .await
            .map_err(|_| not_found())?;
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

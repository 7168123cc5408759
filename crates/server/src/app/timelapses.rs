//! Timelapse videos of a project. The adapter streams the bytes to and from
//! the files named here; what is recorded, who may, and that a deleted
//! record's file goes too, is decided here.

use std::path::{Path, PathBuf};

use domain::project::{Timelapse, VideoFormat};
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

    /// Deletes a video (the owner's alone): its record, then its file.
    pub async fn delete_timelapse(&self, caller: &Caller, id: &Id) -> Result<()> {
        self.timelapse(caller, id).await?;
        let deleted = self
            .store
            .delete_timelapse(id, &caller.user().id)
            .await
            .map_err(named("no such timelapse"))?;
        self.remove_videos(&[deleted]).await;
        Ok(())
    }

    /// Where a video's bytes are kept.
    pub fn video_path(&self, timelapse: &Timelapse) -> PathBuf {
        let extension = VideoFormat::from_content_type(&timelapse.content_type)
            .map_or("bin", VideoFormat::extension);
        self.videos_dir
            .join(format!("{}.{extension}", timelapse.id))
    }

    /// Where the video of a timelapse about to be recorded goes.
    pub fn video_file(&self, id: &Id, format: VideoFormat) -> PathBuf {
        self.videos_dir.join(format!("{id}.{}", format.extension()))
    }

    /// Where an upload is written before it is recorded.
    pub fn partial_video_path(&self, id: &Id) -> PathBuf {
        self.videos_dir.join(format!("{id}.part"))
    }

    pub fn videos_dir(&self) -> &Path {
        &self.videos_dir
    }

    /// Removes the files of deleted records. A file that is already gone is
    /// fine; one that cannot be removed is logged (its record is gone, so it
    /// can never be served).
    pub(crate) async fn remove_videos(&self, deleted: &[Timelapse]) {
        for timelapse in deleted {
            let path = self.video_path(timelapse);
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    tracing::warn!(?error, path = %path.display(), "removing a timelapse file")
                }
            }
        }
    }
}

//! Timelapse videos of a project. The adapter streams the bytes to and from
//! the files named here; what is recorded, who may, how much one person may
//! keep, how full the disk may get, and that a deleted record's file goes
//! too, is decided here.

use std::path::{Path, PathBuf};

use anyhow::Context;
use domain::project::{Timelapse, VideoFormat};
use domain::{Id, rules};
use store::{NewTimelapse, StoreResult};

use super::error::named;
use super::{App, Caller, Error, Result};

/// How much video one person may keep, and how much of the disk uploads must
/// leave to everything else (the database, the logs).
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// Bytes of video one person may keep, all their projects together.
    pub quota_per_person: u64,
    /// Bytes that must stay free on the disk videos are written to.
    pub min_free_space: u64,
}

/// What an upload that was let in may send, decided before its first byte.
#[derive(Debug, Clone, Copy)]
pub struct UploadRoom {
    /// The most bytes it may be: the format's limit, or what is left of the
    /// uploader's quota when that is less.
    pub max_bytes: u64,
    /// Whether the quota, not the format's limit, set `max_bytes`.
    by_quota: bool,
}

impl UploadRoom {
    /// Why an upload past `max_bytes` is refused.
    pub fn refusal(self) -> Error {
        if self.by_quota {
            Error::TooLarge(rules::OVER_UPLOAD_QUOTA.to_owned())
        } else {
            over_size_limit()
        }
    }
}

/// The refusal of a video over the format's limit, whatever the quota.
pub fn over_size_limit() -> Error {
    Error::TooLarge(format!(
        "a timelapse may be at most {} MB",
        VideoFormat::MAX_BYTES / (1024 * 1024)
    ))
}

impl App {
    /// Lets an upload to `project_id` begin, of `declared` bytes when the
    /// client says: the caller must own the project, have room left in their
    /// quota, and the disk must keep its free space with the video on it.
    /// Refused here, nothing is written; recording decides the quota again,
    /// under the lock, for uploads that race.
    pub async fn upload_room(
        &self,
        caller: &Caller,
        project_id: &Id,
        declared: Option<u64>,
    ) -> Result<UploadRoom> {
        self.owned_project(caller, project_id).await?;
        let kept = self.store.kept_video_bytes(&caller.person()?.id).await?;
        let left = self.uploads.quota_per_person.saturating_sub(kept);
        let room = UploadRoom {
            max_bytes: left.min(VideoFormat::MAX_BYTES),
            by_quota: left < VideoFormat::MAX_BYTES,
        };
        if room.max_bytes == 0 || declared.is_some_and(|size| size > room.max_bytes) {
            return Err(room.refusal());
        }
        self.check_free_space(declared.unwrap_or(0)).await?;
        Ok(room)
    }

    /// Refuses unless `more` bytes can still be written to the videos' disk
    /// with `min_free_space` left over. An upload asks before it starts and
    /// again as it goes, since others write to the same disk meanwhile.
    pub async fn check_free_space(&self, more: u64) -> Result<()> {
        let dir = self.videos_dir.clone();
        let available = tokio::task::spawn_blocking(move || available_space(&dir))
            .await
            .context("free space task")?
            .context("reading the free space of the videos' disk")?;
        let Some(available) = available else {
            return Ok(());
        };
        if available < self.uploads.min_free_space.saturating_add(more) {
            tracing::warn!(
                available,
                min_free_space = self.uploads.min_free_space,
                upload = more,
                "refused an upload: the videos' disk is nearly full"
            );
            return Err(Error::InsufficientStorage);
        }
        Ok(())
    }

    /// Records a video already written to disk; only the project's owner may,
    /// decided on the locked project, and only within their quota, decided on
    /// their locked account.
    pub async fn record_timelapse(
        &self,
        caller: &Caller,
        timelapse: NewTimelapse,
    ) -> Result<Timelapse> {
        let uploader = caller.person()?;
        let quota = self.uploads.quota_per_person;
        self.store
            .create_timelapse(&uploader.id, timelapse, quota)
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
        let deleted = self.store.delete_timelapse(id, &caller.user().id).await;
        let deleted = deleted.map(|timelapse| vec![timelapse]);
        self.remove_videos(deleted, "no such timelapse").await
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

    /// Removes the files of the records a store delete took away, its "not
    /// found" told as `missing`: the last step of every use case that deletes
    /// timelapses. A file that is already gone is fine; one that cannot be
    /// removed is logged (its record is gone, so it can never be served).
    pub(crate) async fn remove_videos(
        &self,
        deleted: StoreResult<Vec<Timelapse>>,
        missing: &'static str,
    ) -> Result<()> {
        for timelapse in &deleted.map_err(named(missing))? {
            let path = self.video_path(timelapse);
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    tracing::warn!(?error, path = %path.display(), "removing a timelapse file")
                }
            }
        }
        Ok(())
    }
}

/// Bytes an unprivileged writer may still put on the disk holding `dir` (or,
/// before the first upload makes it, its nearest parent). `None` where the
/// platform does not say.
fn available_space(dir: &Path) -> std::io::Result<Option<u64>> {
    let existing = dir.ancestors().find(|path| path.exists()).unwrap_or(dir);
    #[cfg(unix)]
    {
        let stats = rustix::fs::statvfs(existing)?;
        Ok(Some(stats.f_bavail.saturating_mul(stats.f_frsize)))
    }
    #[cfg(not(unix))]
    {
        let _ = existing;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_not_made_yet_is_measured_by_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        // The videos' directory is made by the first upload, after its check.
        let missing = dir.path().join("timelapses").join("deeper");
        assert!(
            available_space(&missing)
                .unwrap()
                .is_some_and(|bytes| bytes > 0)
        );
    }
}

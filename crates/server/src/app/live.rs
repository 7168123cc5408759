//! What the live queries read, and who may watch them. The queries' names,
//! which events touch them and how their results travel are `live::query`'s;
//! the reading and the deciding are here.

use std::time::Duration;

use domain::Id;
use domain::ai_log::AiLog;
use domain::chat::Notification;
use domain::moderation::SilencedMedia;
use domain::session::{Participant, Session};

use store::MediaHome;

use super::error::named;
use super::{App, Caller, Result};

impl App {
    /// Refuses unless the caller is or was in the session (its AI log and
    /// chat are theirs to watch from then on), decided on one snapshot.
    pub async fn watch_session_record(&self, caller: &Caller, session_id: &Id) -> Result<()> {
        self.store
            .check_history_viewer(session_id, &caller.user().id)
            .await
            .map_err(named("no such session"))
    }

    /// The session with its version; `None` when it is gone.
    pub async fn session_snapshot(&self, id: &Id) -> Result<Option<Session>> {
        Ok(self.store.session(id).await?)
    }

    pub async fn participants_snapshot(&self, id: &Id) -> Result<Option<(i64, Vec<Participant>)>> {
        Ok(self.store.participants_snapshot(id).await?)
    }

    pub async fn ai_logs_snapshot(&self, id: &Id) -> Result<Option<(i64, Vec<AiLog>)>> {
        Ok(self
            .store
            .ai_logs_snapshot(id, super::ai_logs::AI_LOG_PAGE)
            .await?)
    }

    /// The sessions the assistant should be in; for the assistant only.
    pub async fn watch_agent_sessions(&self, caller: &Caller) -> Result<()> {
        caller.agent().map(|_| ())
    }

    pub async fn agent_sessions_snapshot(&self) -> Result<Vec<Session>> {
        Ok(self.store.agent_sessions().await?)
    }

    /// A person's notifications, newest first; the live query carries its
    /// owner, taken from the connection.
    pub async fn notifications_snapshot(&self, user_id: &Id) -> Result<Vec<Notification>> {
        Ok(self
            .store
            .notifications(user_id, super::reminders::NOTIFICATIONS_SHOWN)
            .await?)
    }

    /// The session, if `user_id` may hold media in it now: it is active and
    /// they are joined, decided on one snapshot. The user id is always the
    /// one of an authenticated live connection (on this node, or on the
    /// node that relayed its page's message here).
    pub async fn media_seat(&self, user_id: &Id, session_id: &Id) -> Result<Session> {
        self.store
            .media_seat(session_id, user_id)
            .await
            .map_err(named("no such session"))
    }

    /// What the host holds of `user_id`'s media in the session: a media room
    /// they join holds it again.
    pub async fn media_holds(&self, session_id: &Id, user_id: &Id) -> Result<Vec<SilencedMedia>> {
        Ok(self.store.media_holds(session_id, user_id).await?)
    }

    /// `user_id` turned held media off and on again: those holds go.
    pub async fn release_media_holds(
        &self,
        session_id: &Id,
        user_id: &Id,
        media: &[SilencedMedia],
    ) -> Result<()> {
        Ok(self
            .store
            .release_media_holds(session_id, user_id, media)
            .await?)
    }

    /// The session and its media home, if `user_id` may hold media in it
    /// now: `here` when it has no home yet or its home's node is dead (no
    /// heartbeat within `dead_after`), else the living home as recorded.
    pub async fn media_home(
        &self,
        user_id: &Id,
        session_id: &Id,
        here: &MediaHome,
        dead_after: Duration,
    ) -> Result<(Session, MediaHome)> {
        let session = self.media_seat(user_id, session_id).await?;
        let home = self
            .store
            .pin_media_home(session_id, here, dead_after)
            .await
            .map_err(named("no such session"))?;
        Ok((session, home))
    }

    /// This node stops: the sessions whose media it holds are homed afresh
    /// by their next join.
    pub async fn release_media_homes(&self, node_id: &str) -> Result<()> {
        Ok(self.store.release_media_homes(node_id).await?)
    }

    /// Moves the session's media home from `gone`, a node that no longer
    /// takes letters, to `here`, if `gone` is still its home; the home as it
    /// is now. Only for someone who may hold media in the session.
    pub async fn take_over_media_home(
        &self,
        user_id: &Id,
        session_id: &Id,
        gone: &str,
        here: &MediaHome,
    ) -> Result<MediaHome> {
        self.media_seat(user_id, session_id).await?;
        self.store
            .take_over_media_home(session_id, gone, here)
            .await
            .map_err(named("no such session"))
    }
}

//! Sessions: create, list, read, start, join, leave, end, switch the
//! assistant, run the shared timer.

use chrono::{DateTime, Utc};
use domain::Id;
use domain::ritual::{Timer, TimerAction};
use domain::rules;
pub use domain::rules::JoinOffer;
use domain::session::{Participant, Session, SessionDraft, SessionStatus};
use serde::Serialize;
use store::{ListCursor, NewSession};
use utoipa::ToSchema;

use super::{App, Caller, Error, Result};

/// A page of a session list, as the API and the live lists send it.
#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<Session>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A session's timer as a client counts it down: its remaining time is
/// `ends_at - server_now`, less what its own clock says has passed since.
#[derive(Serialize, ToSchema)]
pub struct SessionTimer {
    #[schema(value_type = String)]
    pub session_id: Id,
    pub timer: Timer,
    /// The server's time when this answer was made.
    pub server_now: DateTime<Utc>,
    /// Whether a work block mutes each person's microphone as it starts.
    pub quiet_work: bool,
}

impl SessionList {
    pub(crate) fn of(page: store::SessionPage) -> Self {
        Self {
            sessions: page.sessions,
            next_cursor: page.next.as_ref().map(crate::paging::encode_cursor),
        }
    }
}

impl SessionTimer {
    fn of(session: Session) -> Self {
        Self {
            session_id: session.id,
            timer: session.timer,
            server_now: Utc::now(),
            quiet_work: session.quiet_work,
        }
    }
}

/// How many sessions the live lists (`sessions:active`, `sessions:upcoming`) hold.
pub const LIVE_LIST_LIMIT: usize = 50;

impl App {
    /// Creates a session; started now (the creator joined as host) or
    /// scheduled, which notifies everyone who keeps the creator as a
    /// favourite.
    pub async fn create_session(&self, caller: &Caller, draft: SessionDraft) -> Result<Session> {
        // Only the creator's own project links; the store decides that in the
        // transaction that writes the session.
        let creator = caller.person()?;
        let created = self
            .store
            .create_session(NewSession {
                creator_id: creator.id.clone(),
                title: draft.title.into_inner(),
                description: draft.description,
                session_type: draft.session_type,
                schedule: draft.schedule,
                project_id: draft.project_id,
                max_participants: draft.max_participants.get(),
                ai_agent_enabled: draft.ai_agent_enabled,
                shape: draft.shape,
                quiet_work: draft.quiet_work,
            })
            .await?;
        Ok(self.publish(created).await.session)
    }

    /// A page of active (newest first) or scheduled (soonest first) sessions.
    pub async fn list_sessions(
        &self,
        status: SessionStatus,
        limit: usize,
        after: Option<ListCursor>,
    ) -> Result<SessionList> {
        let page = self.store.list_sessions(status, limit, after).await?;
        Ok(SessionList::of(page))
    }

    /// The first page of a list, as the live lists show it.
    pub async fn first_sessions(&self, status: SessionStatus) -> Result<SessionList> {
        self.list_sessions(status, LIVE_LIST_LIMIT, None).await
    }

    pub async fn session(&self, id: &Id) -> Result<Session> {
        self.store
            .session(id)
            .await?
            .ok_or(Error::NotFound("no such session"))
    }

    /// Starts a scheduled session, the creator joining as host.
    pub async fn start_session(&self, caller: &Caller, id: &Id) -> Result<Session> {
        let actor = caller.person()?;
        let started = self.store.start_session(id, &actor.id).await;
        self.publish_write(started, "no such session").await
    }

    /// Takes a seat; joining twice is harmless.
    pub async fn join_session(&self, caller: &Caller, id: &Id) -> Result<Participant> {
        let person = caller.person()?;
        let joined = self.store.join_session(id, &person.id, false).await;
        self.publish_write(joined, "no such session").await
    }

    /// Gives up a seat (the caller's, person or assistant); leaving twice is harmless.
    pub async fn leave_session(&self, caller: &Caller, id: &Id) -> Result<Participant> {
        let left = self.store.leave_session(id, &caller.user().id).await;
        self.publish_write(left, "no such session").await
    }

    /// Ends a session for everyone (or cancels a scheduled one).
    pub async fn end_session(&self, caller: &Caller, id: &Id) -> Result<Session> {
        let actor = caller.person()?;
        let ended = self.store.end_session(id, &actor.id).await;
        self.publish_write(ended, "no such session").await
    }

    pub async fn switch_assistant(
        &self,
        caller: &Caller,
        id: &Id,
        enabled: bool,
    ) -> Result<Session> {
        let actor = caller.person()?;
        let switched = self.store.set_ai_agent(id, &actor.id, enabled).await;
        self.publish_write(switched, "no such session").await
    }

    /// Runs the session's shared timer for its host (start, pause, resume,
    /// skip, +5); decided on the locked session at the server's time.
    pub async fn run_timer(
        &self,
        caller: &Caller,
        id: &Id,
        action: TimerAction,
        minutes: Option<i64>,
    ) -> Result<SessionTimer> {
        let actor = caller.person()?;
        let ran = self
            .store
            .act_on_timer(id, &actor.id, action, minutes, Utc::now())
            .await;
        let session = self.publish_write(ran, "no such session").await?;
        Ok(SessionTimer::of(session))
    }

    /// The session's timer, with the server's time to count down against.
    pub async fn timer(&self, id: &Id) -> Result<SessionTimer> {
        Ok(SessionTimer::of(self.session(id).await?))
    }

    /// Joined people first (in joining order), then those who left.
    pub async fn participants(&self, id: &Id) -> Result<Vec<Participant>> {
        let (_, participants) = self
            .store
            .participants_snapshot(id)
            .await?
            .ok_or(Error::NotFound("no such session"))?;
        Ok(participants)
    }

    /// What each session's card offers the viewer, as a join would decide it now.
    pub async fn join_offers(
        &self,
        viewer: &Caller,
        sessions: &[Session],
    ) -> Result<Vec<JoinOffer>> {
        let mut offers = Vec::with_capacity(sessions.len());
        for session in sessions {
            // Only an active session can hold the viewer's seat.
            let seat = if session.status == SessionStatus::Active {
                self.store
                    .participant(&session.id, &viewer.user().id)
                    .await?
            } else {
                None
            };
            offers.push(rules::join_offer(session, seat.as_ref()));
        }
        Ok(offers)
    }
}

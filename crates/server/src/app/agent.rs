//! What the assistant's worker does, with the agent token: it claims the
//! sessions it serves, joins them as a participant of its own (role `agent`,
//! no seat), reports what it is doing, reads the context it answers in and
//! speaks in the chat. Every call refuses a person.

use std::time::Duration;

use domain::Id;
use domain::chat::{ChatMessage, MessageBody};
use domain::session::{AgentStatus, Participant, Session};

use super::error::named;
use super::{App, Caller, Error, Result};

/// What the assistant answers in, as `/internal/sessions/{id}/context` sends it.
pub use protocol::internal::AgentContext;

impl App {
    /// Active sessions with the assistant switched on.
    pub async fn agent_sessions(&self, caller: &Caller) -> Result<Vec<Session>> {
        caller.agent()?;
        Ok(self.store.agent_sessions().await?)
    }

    /// Claims (or renews) a session for one worker; false when another holds it.
    pub async fn claim_for_worker(
        &self,
        caller: &Caller,
        session_id: &Id,
        worker_id: &str,
        lease: Duration,
    ) -> Result<bool> {
        caller.agent()?;
        self.store
            .claim_agent_session(session_id, worker_id, lease)
            .await
            .map_err(named("no such session"))
    }

    /// Gives a claim up (harmless when it was not the worker's).
    pub async fn release_for_worker(
        &self,
        caller: &Caller,
        session_id: &Id,
        worker_id: &str,
    ) -> Result<()> {
        caller.agent()?;
        self.session(session_id).await?;
        Ok(self
            .store
            .release_agent_session(session_id, worker_id)
            .await?)
    }

    /// The assistant joins a session it serves and starts listening.
    pub async fn agent_join(&self, caller: &Caller, session_id: &Id) -> Result<Participant> {
        let agent = caller.agent()?;
        let joined = self.store.agent_join(session_id, &agent.id).await;
        self.publish_write(joined, "no such session").await
    }

    pub async fn agent_leave(&self, caller: &Caller, session_id: &Id) -> Result<Participant> {
        caller.agent()?;
        self.leave_session(caller, session_id).await
    }

    /// What the assistant is doing; switching it off is the creator's alone.
    pub async fn report_agent_status(
        &self,
        caller: &Caller,
        session_id: &Id,
        status: AgentStatus,
    ) -> Result<Session> {
        caller.agent()?;
        if status == AgentStatus::Off {
            return Err(Error::invalid(
                "status",
                "only the session's creator switches the assistant off",
            ));
        }
        let reported = self.store.set_agent_status(session_id, status).await;
        self.publish_write(reported, "no such session").await
    }

    pub async fn agent_context(&self, caller: &Caller, session_id: &Id) -> Result<AgentContext> {
        caller.agent()?;
        let session = self.session(session_id).await?;
        let project = match &session.project_id {
            Some(id) => self.store.project(id).await?,
            None => None,
        };
        Ok(AgentContext {
            recent: self.recent_exchanges(session_id).await?,
            session,
            project,
        })
    }

    /// The assistant says something in the room's chat (it must be in the room).
    pub async fn agent_say(
        &self,
        caller: &Caller,
        session_id: &Id,
        body: MessageBody,
    ) -> Result<ChatMessage> {
        caller.agent()?;
        self.post_message(caller, session_id, body).await
    }
}

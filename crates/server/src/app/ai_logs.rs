//! The assistant's log: written by people and by the agent, read and rated by
//! anyone who was in the session.

use domain::Id;
use domain::ai_log::AiLog;
use domain::ai_log::LoggedBy;
use store::NewAiLog;

use super::error::named;
use super::{App, Caller, Error, Result};

/// The assistant's context holds this many of the latest exchanges.
const RECENT_EXCHANGES: usize = 4;

/// How many entries the live `ai_logs:` query and a first page hold.
pub const AI_LOG_PAGE: usize = 50;

impl App {
    /// Logs an interaction: a person their own question (while joined), the
    /// assistant anyone's (who must have been in the session). Decided on the
    /// locked session.
    pub async fn log_interaction(&self, caller: &Caller, mut log: NewAiLog) -> Result<AiLog> {
        log.logged_by = if caller.is_agent() {
            LoggedBy::Assistant
        } else {
            let person = caller.user().id.clone();
            if self.ai_log_limiter.check_key(&person).is_err() {
                return Err(Error::RateLimited);
            }
            log.user_id = Some(person);
            LoggedBy::Person
        };
        let by_agent = caller.is_agent();
        let saved = self.store.insert_ai_log(log).await.map_err(|error| {
            match (error, by_agent) {
                // The agent names the session in its body, not the path.
                (store::StoreError::NotFound, true) => {
                    Error::invalid("session_id", "no session with this id")
                }
                (error, _) => named("no such session")(error),
            }
        })?;
        Ok(self.publish(saved).await)
    }

    /// The latest `limit` entries before `before` (none: the newest), oldest
    /// first, for anyone who is or was in the session.
    pub async fn session_ai_logs(
        &self,
        caller: &Caller,
        session_id: &Id,
        limit: usize,
        before: Option<&Id>,
    ) -> Result<Vec<AiLog>> {
        self.store
            .session_ai_logs(session_id, &caller.user().id, limit, before)
            .await
            .map_err(named("no such session"))
    }

    /// The questions the caller asked, newest first; `search` matches
    /// question or answer, any case.
    pub async fn my_ai_logs(&self, caller: &Caller, search: Option<&str>) -> Result<Vec<AiLog>> {
        Ok(self.store.user_ai_logs(&caller.user().id, search).await?)
    }

    /// Rates an answer; voting again replaces the vote.
    pub async fn rate_answer(&self, caller: &Caller, log_id: &Id, helpful: bool) -> Result<AiLog> {
        let person = caller.person()?;
        let voted = self.store.vote(log_id, &person.id, helpful).await;
        self.publish_write(voted, "no such AI log").await
    }

    /// The latest exchanges of a session, oldest first, for the assistant's context.
    pub(crate) async fn recent_exchanges(&self, session_id: &Id) -> Result<Vec<AiLog>> {
        let (_, logs) = self
            .store
            .ai_logs_snapshot(session_id, RECENT_EXCHANGES)
            .await?
            .unwrap_or_default();
        Ok(logs)
    }
}

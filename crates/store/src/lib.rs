//! Where Lock In keeps its state.
//!
//! # Layout
//!
//! - [`Store`]: everything the server asks of storage, in domain types. Nothing
//!   of sqlx leaks through it.
//! - `sql`: its one implementation, over SQLite (the embedded default) or
//!   PostgreSQL (for many nodes), chosen by the URL. Both run the same portable
//!   SQL through sqlx's `Any` driver, so the same code is proven by the same
//!   test suite on each; what differs (pool shape, pragmas) is in `connect`.
//! - `rows`: turning rows back into domain records.
//!
//! Every change to a session runs in one transaction that first takes the
//! session row's write lock and then asks [`domain::rules`] what to do with the
//! state it holds, so racing requests are decided one after the other.

mod rows;
mod sql;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ai_log::{AiLog, LatencyMs, Providers, Trigger};
use domain::project::Project;
use domain::session::{Participant, Session, SessionStatus, SessionType};
use domain::user::User;
use domain::{Id, RuleError};

pub use sql::{Backend, SqlStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("that email address is already registered")]
    EmailTaken,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::Other(error.into())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: String,
}

/// A project's fields after parsing. For an update, `None` leaves a field as it is.
#[derive(Default)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub repo_url: Option<Option<String>>,
    pub tech_stack: Option<Vec<String>>,
}

pub struct NewProject {
    pub owner_id: Id,
    pub name: String,
    pub description: Option<String>,
    pub repo_url: Option<String>,
    pub tech_stack: Vec<String>,
}

pub struct NewSession {
    pub creator_id: Id,
    pub title: String,
    pub description: Option<String>,
    pub session_type: SessionType,
    /// `None` starts the session now, with the creator joined as host.
    pub scheduled_start: Option<DateTime<Utc>>,
    pub project_id: Option<Id>,
    pub max_participants: i64,
    pub ai_agent_enabled: bool,
}

pub struct NewAiLog {
    pub session_id: Id,
    pub user_id: Option<Id>,
    pub question: String,
    pub answer: String,
    pub trigger: Trigger,
    pub error: Option<String>,
    pub latency_ms: LatencyMs,
    pub providers: Providers,
}

/// Where a page of a session list starts: just after this (time, id) in list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub at: DateTime<Utc>,
    pub id: Id,
}

pub struct SessionPage {
    pub sessions: Vec<Session>,
    pub next: Option<ListCursor>,
}

/// Counts for `/metrics`, read from the store so every node reports the same.
pub struct Gauges {
    pub sessions_active: i64,
    pub participants_joined: i64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn ping(&self) -> StoreResult<()>;
    async fn gauges(&self) -> StoreResult<Gauges>;

    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    /// The user and their password hash, for signing in.
    async fn user_credentials(&self, email: &str) -> StoreResult<Option<(User, String)>>;
    async fn insert_token(&self, user_id: &Id, token_hash: &str) -> StoreResult<()>;
    async fn user_by_token(&self, token_hash: &str) -> StoreResult<Option<User>>;
    async fn revoke_token(&self, token_hash: &str) -> StoreResult<()>;

    async fn create_project(&self, project: NewProject) -> StoreResult<Project>;
    async fn project(&self, id: &Id) -> StoreResult<Option<Project>>;
    async fn projects_of(&self, owner_id: &Id) -> StoreResult<Vec<Project>>;
    /// Owners see their projects; so does anyone who is or was in a session linked to one.
    async fn can_see_project(&self, project_id: &Id, user_id: &Id) -> StoreResult<bool>;
    async fn update_project(&self, id: &Id, changes: ProjectChanges) -> StoreResult<Project>;
    async fn delete_project(&self, id: &Id) -> StoreResult<()>;

    async fn create_session(&self, session: NewSession) -> StoreResult<Session>;
    async fn session(&self, id: &Id) -> StoreResult<Option<Session>>;
    async fn list_sessions(
        &self,
        status: SessionStatus,
        limit: usize,
        after: Option<ListCursor>,
    ) -> StoreResult<SessionPage>;
    async fn start_session(&self, id: &Id, actor: &Id) -> StoreResult<Session>;
    async fn join_session(&self, id: &Id, user_id: &Id, is_agent: bool)
    -> StoreResult<Participant>;
    async fn leave_session(&self, id: &Id, user_id: &Id) -> StoreResult<Participant>;
    async fn end_session(&self, id: &Id, actor: &Id) -> StoreResult<Session>;
    async fn set_ai_agent(&self, id: &Id, actor: &Id, enabled: bool) -> StoreResult<Session>;
    /// Joined people first (in joining order), then those who left.
    async fn participants(&self, session_id: &Id) -> StoreResult<Vec<Participant>>;
    async fn participant(&self, session_id: &Id, user_id: &Id) -> StoreResult<Option<Participant>>;

    async fn insert_ai_log(&self, log: NewAiLog) -> StoreResult<AiLog>;
    async fn ai_log(&self, id: &Id) -> StoreResult<Option<AiLog>>;
    /// Oldest first.
    async fn session_ai_logs(&self, session_id: &Id) -> StoreResult<Vec<AiLog>>;
    /// Newest first.
    async fn user_ai_logs(&self, user_id: &Id) -> StoreResult<Vec<AiLog>>;
    /// One vote a person; voting again replaces the earlier vote.
    async fn vote(&self, log_id: &Id, user_id: &Id, helpful: bool) -> StoreResult<AiLog>;
}

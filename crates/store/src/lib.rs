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
//! - `focus`: the timer's runs and people's stays, kept inside the
//!   transactions that change the timer or a seat (`domain::focus` adds
//!   them up).
//! - `moderation`, `favourites`, `recap`, `sweep`, `media_home`: the
//!   [`Store`] methods of one feature each (host controls and blocks;
//!   favourites and the notices a favourite's new session becomes; the recap
//!   and the assistant's summary; the timed work; which node holds each
//!   session's media), over the same transactions and helpers as `sql`.
//!
//! Every change to a session runs in one transaction that first takes the
//! session row's write lock and then asks [`domain::rules`] what to do with the
//! state it holds, so racing requests are decided one after the other.

mod favourites;
mod focus;
mod media_home;
mod moderation;
mod recap;
mod rows;
mod sql;
mod sweep;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

use domain::ai_log::{AiLog, LatencyMs, LoggedBy, Providers, Trigger};
use domain::chat::{ChatMessage, Notification};
use domain::favourite::Favourite;
use domain::focus::{Run, SessionRun, Stay};
use domain::goal::{CheckOut, Goal};
use domain::moderation::{
    Block, HostAction, Moderated, MutedEveryone, Report, ReportReason, SilencedMedia,
};
use domain::project::{Project, Timelapse};
use domain::recap::{RecapRecord, SummaryAuthor, WrittenSummary};
use domain::ritual::{SessionShape, TimerAction};
use domain::session::{
    AgentStatus, Participant, Schedule, Session, SessionHistory, SessionStatus, SessionType,
};
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

/// What a person's focus stats are worked out from (`domain::focus::stats`).
#[derive(Debug, Clone, Default)]
pub struct FocusRecord {
    pub stays: Vec<Stay>,
    pub runs: Vec<SessionRun>,
}

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
    pub timelapses_shared: Option<bool>,
}

/// A new project's fields after parsing; its owner is passed beside it.
pub struct NewProject {
    pub name: String,
    pub description: Option<String>,
    pub repo_url: Option<String>,
    pub tech_stack: Vec<String>,
    pub timelapses_shared: bool,
}

pub struct NewSession {
    pub creator_id: Id,
    pub title: String,
    pub description: Option<String>,
    pub session_type: SessionType,
    /// `Instant` starts the session now, with the creator joined as host.
    pub schedule: Schedule,
    pub project_id: Option<Id>,
    pub max_participants: i64,
    pub ai_agent_enabled: bool,
    pub shape: SessionShape,
    pub quiet_work: bool,
}

/// A session just created, and whom its creation notified: when it is
/// scheduled, everyone who keeps its creator as a favourite (so the caller
/// can tell their live notification lists).
pub struct CreatedSession {
    pub session: Session,
    pub notified: Vec<Id>,
}

pub struct NewAiLog {
    /// Decides the rule it is written under: a person logs their own question
    /// while joined; the assistant logs anyone's who was in the session.
    pub logged_by: LoggedBy,
    pub session_id: Id,
    pub user_id: Option<Id>,
    pub question: String,
    pub answer: String,
    pub trigger: Trigger,
    pub error: Option<String>,
    pub latency_ms: LatencyMs,
    pub providers: Providers,
}

/// A summary to keep for a session, already held to its facts (or
/// composed from them) by the use case.
pub struct NewSummary {
    pub text: String,
    pub written_by: SummaryAuthor,
    /// The language model's provider name.
    pub provider: Option<String>,
    pub latency_ms: Option<i64>,
}

/// A report about someone in a session, parsed; the rules decide on it in
/// the transaction that writes it.
pub struct NewReport {
    pub session_id: Id,
    pub reporter_id: Id,
    pub reported_id: Id,
    pub reason: ReportReason,
    pub note: Option<String>,
}

/// A video already written to disk under its id; its uploader is passed
/// beside it.
pub struct NewTimelapse {
    pub id: Id,
    pub project_id: Id,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
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

/// How long the timed work waits; see [`Store::sweep`].
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A participant whose last live connection closed this long ago is marked left.
    pub departure: Duration,
    /// An active session with nobody joined for this long ends.
    pub empty: Duration,
    /// A node silent for this long is taken for dead, and its connections for closed.
    pub node_dead_after: Duration,
    /// Reminders go out this long before a session's scheduled start.
    pub remind_before: Duration,
}

/// What one sweep changed, so the caller can tell live listeners.
#[derive(Debug, Default)]
pub struct SweepReport {
    /// Sessions whose row and participants changed (departures, ends).
    pub sessions_changed: Vec<Id>,
    /// People who got a new notification.
    pub users_notified: Vec<Id>,
}

/// A result together with the version of the session it was read from, both
/// from one snapshot.
pub type Versioned<T> = (i64, T);

/// Where a session's media lives: the node whose SFU holds its room, and the
/// addresses browsers reach that SFU's UDP socket at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaHome {
    pub node_id: String,
    /// The SFU's host candidates, as `ip:port`, comma separated.
    pub media_address: String,
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

    async fn create_project(&self, owner_id: &Id, project: NewProject) -> StoreResult<Project>;
    async fn project(&self, id: &Id) -> StoreResult<Option<Project>>;
    async fn projects_of(&self, owner_id: &Id) -> StoreResult<Vec<Project>>;
    /// Owners see their projects; so does anyone joined to an active session
    /// linked to one, for as long as they are in it.
    async fn can_see_project(&self, project_id: &Id, user_id: &Id) -> StoreResult<bool>;
    /// Changes a project, if `actor` may (the rules decide, in the transaction).
    async fn update_project(
        &self,
        id: &Id,
        actor: &Id,
        changes: ProjectChanges,
    ) -> StoreResult<Project>;
    /// Deletes a project (its sessions carry on without one) and its
    /// timelapses' records, which it returns so their files can go too.
    async fn delete_project(&self, id: &Id, actor: &Id) -> StoreResult<Vec<Timelapse>>;

    /// Creates a session; a scheduled one notifies, in the same
    /// transaction, everyone who keeps its creator as a favourite.
    async fn create_session(&self, session: NewSession) -> StoreResult<CreatedSession>;
    async fn session(&self, id: &Id) -> StoreResult<Option<Session>>;
    async fn list_sessions(
        &self,
        status: SessionStatus,
        limit: usize,
        after: Option<ListCursor>,
    ) -> StoreResult<SessionPage>;
    /// A page of [`Store::list_sessions`] holding only the sessions that
    /// someone `keeper` keeps as a favourite hosts, is in now, or (before it
    /// starts) asked to be reminded of.
    async fn list_favourite_sessions(
        &self,
        keeper: &Id,
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
    /// Runs the session's timer as `actor` asks, at `now`; the rules decide
    /// on the locked session (`domain::ritual::act`).
    async fn act_on_timer(
        &self,
        id: &Id,
        actor: &Id,
        action: TimerAction,
        minutes: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<Session>;
    /// Moves every running timer whose block ended by `now` on to its next
    /// block (or to finished), each under its session's lock; answers the
    /// sessions it changed. The sweep calls it with the clock's time; a test
    /// may pass any time.
    async fn advance_timers(&self, now: DateTime<Utc>) -> StoreResult<Vec<Id>>;
    /// States or changes `user_id`'s goal in the session; the rules
    /// (`domain::goal::set_goal`) decide on the locked session and seat.
    async fn set_goal(&self, session_id: &Id, user_id: &Id, goal: Goal)
    -> StoreResult<Participant>;
    /// Records how `user_id`'s session went; giving it again replaces it. The
    /// rules (`domain::goal::check_out`) decide on the locked session and seat.
    async fn check_out(
        &self,
        session_id: &Id,
        user_id: &Id,
        check_out: CheckOut,
    ) -> StoreResult<Participant>;
    /// "Mark my goal done": ticks every task of `user_id`'s goal as stored
    /// and checks them out done, in one transaction under the rules of both
    /// (`domain::goal::mark_done`). `None`: they have no goal.
    async fn mark_goal_done(
        &self,
        session_id: &Id,
        user_id: &Id,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<Participant>>;
    /// What a person's seat is, for showing (never for deciding: every
    /// decision is made by the write that acts on it).
    async fn participant(&self, session_id: &Id, user_id: &Id) -> StoreResult<Option<Participant>>;
    /// The session, if `user_id` may hold media in it now (the rules decide
    /// on one snapshot of the session and the seat).
    async fn media_seat(&self, session_id: &Id, user_id: &Id) -> StoreResult<Session>;
    /// Refuses unless `viewer` is or was in the session, read in one snapshot.
    async fn check_history_viewer(&self, session_id: &Id, viewer: &Id) -> StoreResult<()>;

    /// Writes an AI log entry under the rule for its writer, decided on the
    /// locked session.
    async fn insert_ai_log(&self, log: NewAiLog) -> StoreResult<AiLog>;
    async fn ai_log(&self, id: &Id) -> StoreResult<Option<AiLog>>;
    /// Newest first; with `search`, only those whose question or answer contains it (any case).
    async fn user_ai_logs(&self, user_id: &Id, search: Option<&str>) -> StoreResult<Vec<AiLog>>;
    /// One vote a person; voting again replaces the earlier vote. Only people
    /// who are or were in the session vote, decided on the locked session.
    async fn vote(&self, log_id: &Id, user_id: &Id, helpful: bool) -> StoreResult<AiLog>;

    /// Joined people first (in joining order), then those who left, with the
    /// session's version, in one snapshot. `None`: no such session.
    async fn participants_snapshot(
        &self,
        session_id: &Id,
    ) -> StoreResult<Option<Versioned<Vec<Participant>>>>;
    /// The latest `limit` entries, oldest first.
    async fn ai_logs_snapshot(
        &self,
        session_id: &Id,
        limit: usize,
    ) -> StoreResult<Option<Versioned<Vec<AiLog>>>>;
    /// The latest `limit` entries before the entry `before` (none: the
    /// newest), oldest first, for someone who is or was in the session.
    async fn session_ai_logs(
        &self,
        session_id: &Id,
        viewer: &Id,
        limit: usize,
        before: Option<&Id>,
    ) -> StoreResult<Vec<AiLog>>;
    /// The latest `limit` messages, oldest first.
    async fn chat_snapshot(
        &self,
        session_id: &Id,
        limit: usize,
    ) -> StoreResult<Option<Versioned<Vec<ChatMessage>>>>;

    /// Posts to the room's chat; the rules decide who may.
    async fn post_message(
        &self,
        session_id: &Id,
        user_id: &Id,
        body: String,
    ) -> StoreResult<ChatMessage>;
    /// A page of messages going back in time from `before`, oldest first
    /// within the page, for someone who is or was in the session.
    async fn messages(
        &self,
        session_id: &Id,
        viewer: &Id,
        limit: usize,
        before: Option<ListCursor>,
    ) -> StoreResult<(Vec<ChatMessage>, Option<ListCursor>)>;

    /// Asks for a reminder before a scheduled session starts. Asking twice is harmless.
    async fn request_reminder(&self, session_id: &Id, user_id: &Id) -> StoreResult<()>;
    /// Newest first.
    async fn notifications(&self, user_id: &Id, limit: usize) -> StoreResult<Vec<Notification>>;
    /// Sets (or with `None` revokes) the hash of a person's calendar feed secret.
    async fn set_calendar_secret(&self, user_id: &Id, secret_hash: Option<&str>)
    -> StoreResult<()>;
    async fn has_calendar_secret(&self, user_id: &Id) -> StoreResult<bool>;
    async fn user_by_calendar_secret(&self, secret_hash: &str) -> StoreResult<Option<User>>;
    /// Sessions a person created or asked to be reminded of, soonest first.
    async fn calendar_sessions(&self, user_id: &Id) -> StoreResult<Vec<Session>>;

    /// The first live connection of `user_id` to `session_id` on this node opened.
    async fn mark_present(&self, node_id: &str, session_id: &Id, user_id: &Id) -> StoreResult<()>;
    /// The last one closed: the departure timeout starts now.
    async fn mark_absent(&self, node_id: &str, session_id: &Id, user_id: &Id) -> StoreResult<()>;
    /// Records that `node_id` is alive, dated when the write happens (not when
    /// it was asked for: a stalled writer must not age a living node). False
    /// when the node was not on record: it is new, or other nodes took it for
    /// dead and closed its connections, which it must then assert again.
    async fn heartbeat(&self, node_id: &str) -> StoreResult<bool>;
    /// A node stopping on purpose: its connections count as closed now.
    async fn forget_node(&self, node_id: &str) -> StoreResult<()>;
    /// The session's media home, pinned to `here` when it has none or when
    /// its node is dead (no heartbeat within `dead_after`, or none on
    /// record). **One statement decides**, so nodes racing for it all get
    /// the same home.
    async fn pin_media_home(
        &self,
        session_id: &Id,
        here: &MediaHome,
        dead_after: Duration,
    ) -> StoreResult<MediaHome>;
    /// A node stopping on purpose gives up every media home it holds, so
    /// the next join of each session pins it to a living node.
    async fn release_media_homes(&self, node_id: &str) -> StoreResult<()>;
    /// Moves the session's media home from `gone` (a node that stopped
    /// answering) to `here`, if `gone` is still its home or it has none;
    /// answers the home as it is now either way.
    async fn take_over_media_home(
        &self,
        session_id: &Id,
        gone: &str,
        here: &MediaHome,
    ) -> StoreResult<MediaHome>;
    /// Sessions linked to a project, newest first.
    async fn project_sessions(&self, project_id: &Id) -> StoreResult<Vec<Session>>;
    /// A person's stays in rooms that reach `since` or later, and the work
    /// runs of those sessions that ended since then: what their focus
    /// stats are worked out from.
    async fn focus_record(&self, user_id: &Id, since: DateTime<Utc>) -> StoreResult<FocusRecord>;
    /// Every run of a session's timer, in order.
    async fn session_runs(&self, session_id: &Id) -> StoreResult<Vec<Run>>;
    /// Sessions a person was in that ended or that they left, most recent first.
    async fn session_history(&self, user_id: &Id) -> StoreResult<Vec<SessionHistory>>;
    /// Records an uploaded video; only the project's owner may, decided on the
    /// locked project, and only while the uploader's videos stay within
    /// `quota_bytes`, decided on the locked uploader (so two uploads at once
    /// cannot both take the last of it).
    async fn create_timelapse(
        &self,
        uploader_id: &Id,
        timelapse: NewTimelapse,
        quota_bytes: u64,
    ) -> StoreResult<Timelapse>;
    /// The bytes of video a person keeps, all their projects together.
    async fn kept_video_bytes(&self, uploader_id: &Id) -> StoreResult<u64>;
    /// A project's timelapses, newest first.
    async fn timelapses(&self, project_id: &Id) -> StoreResult<Vec<Timelapse>>;
    async fn timelapse(&self, id: &Id) -> StoreResult<Option<Timelapse>>;
    /// Deletes a timelapse's record if `actor` owns its project; returns it so
    /// its file can go too.
    async fn delete_timelapse(&self, id: &Id, actor: &Id) -> StoreResult<Timelapse>;

    /// The assistant's own account, made on first use. It cannot sign in.
    async fn ensure_agent_user(&self) -> StoreResult<User>;
    /// Active sessions with the assistant switched on: the ones it should be in.
    async fn agent_sessions(&self) -> StoreResult<Vec<Session>>;
    /// Records what the assistant is doing in a session it serves.
    async fn set_agent_status(&self, session_id: &Id, status: AgentStatus) -> StoreResult<Session>;
    /// The assistant takes its seat (none counted) and starts listening, in a
    /// session it serves.
    async fn agent_join(&self, session_id: &Id, agent_id: &Id) -> StoreResult<Participant>;
    /// Claims (or renews) a session the assistant serves for one agent worker
    /// until `lease` from now. False when another worker holds an unexpired claim.
    async fn claim_agent_session(
        &self,
        session_id: &Id,
        worker_id: &str,
        lease: Duration,
    ) -> StoreResult<bool>;
    async fn release_agent_session(&self, session_id: &Id, worker_id: &str) -> StoreResult<()>;

    /// The host acts on someone joined to the session, decided on the locked
    /// session (`rules::moderate`): a removal frees their seat and marks
    /// them removed; silencing their media records the hold, which the
    /// media server keeps until they turn that media off and on again.
    /// Answers their seat as it is now.
    async fn moderate(
        &self,
        session_id: &Id,
        actor: &Id,
        target: &Id,
        action: HostAction,
    ) -> StoreResult<Moderated>;
    /// Whom "mute everyone" mutes: the people joined now but the host and
    /// the assistant, decided on the locked session; each one's microphone
    /// hold is recorded.
    async fn mute_everyone(&self, session_id: &Id, actor: &Id) -> StoreResult<MutedEveryone>;
    /// What the host holds of `user_id`'s media in the session now: what a
    /// media room holds again when they join it.
    async fn media_holds(&self, session_id: &Id, user_id: &Id) -> StoreResult<Vec<SilencedMedia>>;
    /// The person turned `media` off and on again: those holds are let go.
    async fn release_media_holds(
        &self,
        session_id: &Id,
        user_id: &Id,
        media: &[SilencedMedia],
    ) -> StoreResult<()>;
    /// Locks or unlocks the room for its host (`rules::lock`).
    async fn set_locked(&self, session_id: &Id, actor: &Id, locked: bool) -> StoreResult<Session>;
    /// Keeps a report, if its writer and its subject are or were in the
    /// session (`rules::report`).
    async fn report(&self, report: NewReport) -> StoreResult<Report>;
    /// The newest reports first, for the operator.
    async fn reports(&self, limit: usize) -> StoreResult<Vec<Report>>;
    /// `blocker` keeps `blocked` out of the sessions they host. Blocking
    /// twice is harmless; `NotFound` when there is no such person.
    async fn block(&self, blocker: &Id, blocked: &Id) -> StoreResult<Block>;
    /// Unblocking someone not blocked is harmless.
    async fn unblock(&self, blocker: &Id, blocked: &Id) -> StoreResult<()>;
    /// Whom `blocker` blocked, the latest first.
    async fn blocks(&self, blocker: &Id) -> StoreResult<Vec<Block>>;

    /// `keeper` marks `marked` as a favourite, decided with
    /// `domain::favourite::mark` on the keeper's locked row (the cap) and the
    /// person as stored; marking twice is harmless. `NotFound` when there is
    /// no such person.
    async fn mark_favourite(&self, keeper: &Id, marked: &Id) -> StoreResult<Favourite>;
    /// Unmarking someone not marked is harmless; `NotFound` when there is no
    /// such person.
    async fn unmark_favourite(&self, keeper: &Id, marked: &Id) -> StoreResult<()>;
    /// Whom `keeper` marked, the latest first.
    async fn favourites(&self, keeper: &Id) -> StoreResult<Vec<Favourite>>;
    /// The record of an ended session for its recap, read in one snapshot
    /// for `viewer`, who must have been in it (403) once it ended (409).
    async fn recap(&self, session_id: &Id, viewer: &Id) -> StoreResult<RecapRecord>;
    /// Sessions whose summary is wanted, not written and not claimed now
    /// (or whose claim expired), the longest waiting first.
    async fn summaries_wanted(&self, limit: usize) -> StoreResult<Vec<Id>>;
    /// Claims (or renews) a wanted summary for one worker until `lease` from
    /// now; false when another worker's claim holds. 409 when none is
    /// wanted or it is written.
    async fn claim_summary(
        &self,
        session_id: &Id,
        worker_id: &str,
        lease: Duration,
    ) -> StoreResult<bool>;
    /// Keeps the session's summary, if `worker_id` holds its claim and none
    /// is written yet (else 409): a summary is written once.
    async fn write_summary(
        &self,
        session_id: &Id,
        worker_id: &str,
        summary: NewSummary,
    ) -> StoreResult<WrittenSummary>;

    /// Does whatever timed work is due: dead nodes' connections closed,
    /// departures, empty sessions ended, reminders sent, timers advanced. Safe to run on every
    /// node at once: each change re-checks its row under a lock and happens once.
    /// `node_id` is the sweeping node's own: **a node never declares itself
    /// dead**, however long its own writes were stalled.
    async fn sweep(&self, node_id: &str, timeouts: &Timeouts) -> StoreResult<SweepReport>;
}

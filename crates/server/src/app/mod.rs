//! The application layer: one function per use case.
//!
//! # Layout
//!
//! - [`App`]: what every use case reaches — the store, the bus, the
//!   assistant's account. The adapters (`api/`, `pages/`, `live/`, the
//!   sweeper) hold one and call it; none of them touches the store or the bus.
//! - [`caller`]: who is asking, resolved once from a person's token or the
//!   agent token ([`Caller`]).
//! - [`error`]: [`Error`], what a use case refuses with; it knows nothing of
//!   HTTP. `ApiError`, the page error and the media refusal convert from it.
//! - [`events`]: the one place where what a write changed becomes the events
//!   live queries re-run on.
//! - one module per feature, each use case a method of [`App`]:
//!   [`accounts`], [`projects`], [`sessions`], [`goals`], [`chat`], [`ai_logs`],
//!   [`reminders`], [`timelapses`], [`history`], [`recap`] (an ended
//!   session's recap and the assistant's summary of it), [`moderation`] (the
//!   host's controls, reports, blocks), [`favourites`] (the people one likes
//!   to focus with, and the sessions with them), [`agent`] (what the
//!   assistant's worker calls), [`room`] (the room questions it passes on), [`live`] (reading the live queries),
//!   [`timed`] (the sweep).
//!
//! Each use case takes parsed domain input and a caller, and runs one store
//! transaction in which the `domain::rules` decision is made on the rows it is
//! about to change (or read). **No use case decides a permission on rows read
//! before the transaction that acts on them.**

pub mod accounts;
pub mod agent;
pub mod ai_logs;
pub mod caller;
pub mod chat;
pub mod error;
pub mod events;
pub mod favourites;
pub mod goals;
pub mod history;
pub mod live;
pub mod moderation;
pub mod projects;
pub mod recap;
pub mod reminders;
pub mod room;
pub mod sessions;
pub mod timed;
pub mod timelapses;

use std::sync::Arc;

use bus::Bus;
use domain::Id;
use domain::user::User;
use store::Store;

use crate::limits::{PasswordGate, SignInFailures, SignUps};

pub use caller::Caller;
pub use error::{Error, Result};

/// Cheap to clone: everything is behind an `Arc`.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    /// The assistant's own account: the agent joins sessions as this person.
    agent_user: User,
    /// Only the hash of the agent token is kept, as with people's tokens.
    agent_token_hash: String,
    /// The hash of the token `/metrics` is scraped with; none means nobody may.
    metrics_token_hash: Option<String>,
    /// Failed sign-ins, per client and per (account, client).
    sign_in_failures: Arc<SignInFailures>,
    /// Sign-ups per client and overall.
    sign_ups: Arc<SignUps>,
    /// At most one password hash per core at a time.
    passwords: Arc<PasswordGate>,
    /// Where timelapse videos are kept, one file per timelapse: a use case
    /// that deletes a record deletes its file.
    videos_dir: std::path::PathBuf,
    /// What one person's videos may add up to, and the disk space uploads
    /// must leave free.
    uploads: timelapses::UploadLimits,
    /// AI log entries a person may write by hand per minute: the log is read
    /// by everyone in the room, so one person must not bury it.
    ai_log_limiter: Arc<governor::DefaultKeyedRateLimiter<Id>>,
    /// Reports a person may file per minute ([`moderation::REPORTS_PER_MINUTE`]).
    report_limiter: Arc<governor::DefaultKeyedRateLimiter<Id>>,
}

/// What one person or client may do how often.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub ai_logs_per_minute: u32,
    /// Failed sign-ins per (account, client); five times as many per client.
    pub sign_in_failures_per_minute: u32,
    pub sign_ups_per_minute: u32,
    pub sign_ups_per_minute_total: u32,
    pub uploads: timelapses::UploadLimits,
}

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        agent_user: User,
        agent_token_hash: String,
        metrics_token_hash: Option<String>,
        limits: Limits,
        videos_dir: std::path::PathBuf,
    ) -> Self {
        let per_minute =
            std::num::NonZeroU32::new(limits.ai_logs_per_minute.max(1)).expect("at least one");
        Self {
            store,
            bus,
            agent_user,
            agent_token_hash,
            metrics_token_hash,
            sign_in_failures: Arc::new(SignInFailures::new(limits.sign_in_failures_per_minute)),
            sign_ups: Arc::new(SignUps::new(
                limits.sign_ups_per_minute,
                limits.sign_ups_per_minute_total,
            )),
            passwords: Arc::new(PasswordGate::for_this_machine()),
            videos_dir,
            uploads: limits.uploads,
            ai_log_limiter: Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
                per_minute,
            ))),
            report_limiter: Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
                std::num::NonZeroU32::new(moderation::REPORTS_PER_MINUTE).expect("at least one"),
            ))),
        }
    }

    /// The assistant's account.
    pub fn agent_user(&self) -> &User {
        &self.agent_user
    }

    /// Every change, from every node: for the adapters that follow them
    /// (live queries, media tear-down).
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<domain::event::Event> {
        self.bus.subscribe()
    }

    /// Whether the store answers, for the health check.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// Forgets the rate limits' keys that have their whole quota back, so the
    /// limiters hold only the people active in the last minute. Called on a timer.
    pub fn prune_limits(&self) {
        self.ai_log_limiter.retain_recent();
        self.report_limiter.retain_recent();
        self.sign_in_failures.prune();
        self.sign_ups.prune();
    }

    /// Counts for `/metrics`, the same on every node.
    pub async fn gauges(&self) -> Result<store::Gauges> {
        Ok(self.store.gauges().await?)
    }
}

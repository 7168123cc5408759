//! The host's controls, reports and blocks (docs/RITUAL.md, "Host controls").
//!
//! Each use case runs one store transaction that decides with
//! `domain::rules` on the rows under it; what a host action means for the
//! room's media (a mute forwarded nowhere, a removed person's media closed)
//! follows from the events its record implies (`events.rs`), on whichever
//! node holds that media.

use domain::Id;
use domain::moderation::{Block, HostAction, MutedEveryone, Report, ReportNote, ReportReason};
use domain::session::{Participant, Session};
use store::{NewReport, Store};

use super::error::named;
use super::{App, Caller, Error, Result};

/// Reports one person may file per minute: each is read by a person, so
/// nobody may bury the operator in them.
pub const REPORTS_PER_MINUTE: u32 = 10;

/// How many reports `lockin reports` prints unless told otherwise.
pub const REPORTS_SHOWN: usize = 50;

impl App {
    /// The host mutes someone's microphone, turns off their camera, stops
    /// their screen share, or removes them from the session.
    pub async fn moderate(
        &self,
        caller: &Caller,
        session_id: &Id,
        target: &Id,
        action: HostAction,
    ) -> Result<Participant> {
        let actor = caller.person()?;
        let acted = self
            .store
            .moderate(session_id, &actor.id, target, action)
            .await;
        let acted = self.publish_write(acted, "no such session").await?;
        Ok(acted.participant)
    }

    /// The host mutes everyone joined but themselves and the assistant.
    pub async fn mute_everyone(&self, caller: &Caller, session_id: &Id) -> Result<MutedEveryone> {
        let actor = caller.person()?;
        let muted = self.store.mute_everyone(session_id, &actor.id).await;
        self.publish_write(muted, "no such session").await
    }

    /// The host locks the room (nobody new joins) or unlocks it.
    pub async fn lock_room(
        &self,
        caller: &Caller,
        session_id: &Id,
        locked: bool,
    ) -> Result<Session> {
        let actor = caller.person()?;
        let changed = self.store.set_locked(session_id, &actor.id, locked).await;
        self.publish_write(changed, "no such session").await
    }

    /// Someone who is or was in the session reports someone else in it.
    pub async fn report(
        &self,
        caller: &Caller,
        session_id: &Id,
        reported: &Id,
        reason: ReportReason,
        note: ReportNote,
    ) -> Result<Report> {
        let reporter = caller.person()?;
        if self.report_limiter.check_key(&reporter.id).is_err() {
            return Err(Error::RateLimited);
        }
        let kept = self
            .store
            .report(NewReport {
                session_id: session_id.clone(),
                reporter_id: reporter.id.clone(),
                reported_id: reported.clone(),
                reason,
                note: note.into_inner(),
            })
            .await;
        self.publish_write(kept, "no such session").await
    }

    /// The caller keeps `blocked` out of the sessions they host.
    pub async fn block(&self, caller: &Caller, blocked: &Id) -> Result<Block> {
        let blocker = caller.person()?;
        let kept = self.store.block(&blocker.id, blocked).await;
        self.publish_write(kept, "no such person").await
    }

    pub async fn unblock(&self, caller: &Caller, blocked: &Id) -> Result<()> {
        let blocker = caller.person()?;
        Ok(self.store.unblock(&blocker.id, blocked).await?)
    }

    /// Whom the caller blocked, the latest first.
    pub async fn blocks(&self, caller: &Caller) -> Result<Vec<Block>> {
        let blocker = caller.person()?;
        Ok(self.store.blocks(&blocker.id).await?)
    }
}

/// The newest reports, for the operator's `lockin reports`: straight from
/// the store, as `lockin user create` writes straight to it.
pub async fn newest_reports(store: &dyn Store, limit: usize) -> Result<Vec<Report>> {
    store.reports(limit).await.map_err(named("no reports"))
}

/// Reports as `lockin reports` prints them: one block each, newest first.
pub fn print_reports(reports: &[Report]) -> String {
    if reports.is_empty() {
        return "no reports\n".to_owned();
    }
    let mut text = String::new();
    for report in reports {
        text.push_str(&format!(
            "{}  {}  {} ({}) reported {} ({}) in session {}\n",
            report.created_at.format("%Y-%m-%d %H:%M:%SZ"),
            report.reason.as_str(),
            report.reporter_name,
            report.reporter_id,
            report.reported_name,
            report.reported_id,
            report.session_id,
        ));
        if let Some(note) = &report.note {
            for line in note.lines() {
                text.push_str(&format!("    {line}\n"));
            }
        }
    }
    text
}

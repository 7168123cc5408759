//! The recap of an ended session (docs/RITUAL.md, "The recap"), and the
//! assistant's written summary of it: wanted when a session with the
//! assistant on ends, claimed by one worker, written once, and held to the
//! session's facts.

use std::time::Duration;

use domain::Id;
use domain::recap::{
    FACT_QUESTIONS, Recap, SessionSummary, SummaryAuthor, SummaryDraft, SummaryFacts,
};
use store::NewSummary;

use super::error::named;
use super::{App, Caller, Result};

/// How many wanted summaries one listing names.
const WANTED_AT_ONCE: usize = 20;

impl App {
    /// The recap of an ended session, for someone who was in it.
    pub async fn recap(&self, caller: &Caller, session_id: &Id) -> Result<Recap> {
        let viewer = &caller.user().id;
        let record = self
            .store
            .recap(session_id, viewer)
            .await
            .map_err(named("no such session"))?;
        Ok(Recap::build(record, viewer))
    }

    /// Sessions whose summary waits for a worker.
    pub async fn summaries_wanted(&self, caller: &Caller) -> Result<Vec<Id>> {
        caller.agent()?;
        Ok(self.store.summaries_wanted(WANTED_AT_ONCE).await?)
    }

    /// Claims (or renews) a session's summary for one worker; false when
    /// another holds it.
    pub async fn claim_summary(
        &self,
        caller: &Caller,
        session_id: &Id,
        worker_id: &str,
        lease: Duration,
    ) -> Result<bool> {
        caller.agent()?;
        self.store
            .claim_summary(session_id, worker_id, lease)
            .await
            .map_err(named("no such session"))
    }

    /// What the summary may say: the ended session's title, project, time,
    /// people with their goals and check-outs, and the questions asked.
    pub async fn summary_facts(&self, caller: &Caller, session_id: &Id) -> Result<SummaryFacts> {
        caller.agent()?;
        self.facts_of(session_id).await
    }

    async fn facts_of(&self, session_id: &Id) -> Result<SummaryFacts> {
        let session = self.session(session_id).await?;
        domain::recap::view(&session)?;
        let participants = self.participants(session_id).await?;
        let (_, logs) = self
            .store
            .ai_logs_snapshot(session_id, FACT_QUESTIONS)
            .await?
            .unwrap_or_default();
        let mut facts = SummaryFacts::of(&session, &participants, &logs);
        if let Some(project_id) = &session.project_id {
            facts.project = self.store.project(project_id).await?.map(|p| p.name);
        }
        Ok(facts)
    }

    /// Keeps the session's summary: the model's text when it holds to the
    /// facts as they are now, else one composed from them. Only the worker
    /// holding the claim writes it, and only once.
    pub async fn write_summary(
        &self,
        caller: &Caller,
        session_id: &Id,
        worker_id: &str,
        draft: SummaryDraft,
    ) -> Result<SessionSummary> {
        caller.agent()?;
        let facts = self.facts_of(session_id).await?;
        let (text, written_by) = match facts.check(&draft.text) {
            Ok(text) => (text, SummaryAuthor::Assistant),
            Err(refusal) => {
                tracing::info!(session = %session_id, %refusal, "the assistant's summary was refused; composing one from the facts");
                (facts.compose(), SummaryAuthor::Facts)
            }
        };
        let summary = NewSummary {
            text,
            written_by,
            provider: draft.provider,
            latency_ms: draft
                .latency_ms
                .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
        };
        let written = self
            .store
            .write_summary(session_id, worker_id, summary)
            .await;
        Ok(self
            .publish_write(written, "no such session")
            .await?
            .summary)
    }
}

//! The assistant's written summaries of ended sessions (docs/AGENT.md,
//! "Summaries").
//!
//! The server marks a session's summary wanted when it ends with the
//! assistant on. This task writes the wanted ones one at a time, apart from
//! the sessions' tasks so a busy room does not hold it up nor it a room:
//! claim the summary (a lease, as for a session: a worker that dies gives
//! it up when the lease runs out), read the fact sheet, have the language
//! model write from it, post the text. The server holds the text to the
//! facts and keeps the first one written, so a summary is written once
//! however many workers try.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use protocol::internal::SummaryReport;
use tokio::sync::Notify;

use super::api::{ServerApi, refused_status};
use crate::agent::Agent;
use crate::llm::LanguageModel;
use crate::prompt::summary_prompt;
use crate::providers::ProviderError;

/// How long a summary's claim lasts: longer than the model may take
/// ([`crate::providers::Timeouts::answer`], 60 s by default), with room to post.
const SUMMARY_LEASE: Duration = Duration::from_secs(120);
/// How often wanted summaries are looked for without a nudge: summaries
/// wanted while this worker was down or busy are found this way.
const LOOK_EVERY: Duration = Duration::from_secs(10);
/// Two to four sentences.
const SUMMARY_TOKENS: usize = 160;

pub(super) struct SummaryWriter {
    pub api: ServerApi,
    pub worker_id: String,
    pub agent: Agent,
}

impl SummaryWriter {
    /// Writes wanted summaries whenever `nudge` fires (the list of sessions
    /// changed: one may have ended) and every [`LOOK_EVERY`], until dropped.
    pub async fn run(self, nudge: Arc<Notify>) {
        loop {
            self.write_wanted().await;
            tokio::select! {
                _ = nudge.notified() => {}
                _ = tokio::time::sleep(LOOK_EVERY) => {}
            }
        }
    }

    async fn write_wanted(&self) {
        let wanted = match self.api.summaries_wanted().await {
            Ok(wanted) => wanted,
            Err(error) => {
                tracing::debug!(error = %format!("{error:#}"), "listing wanted summaries failed");
                return;
            }
        };
        for session_id in wanted {
            if let Err(error) = self.write(&session_id).await {
                match refused_status(&error) {
                    // Another worker claimed or wrote it meanwhile.
                    Some(409) => {
                        tracing::debug!(session = %session_id, "the summary is another worker's")
                    }
                    _ => {
                        tracing::warn!(session = %session_id, error = %format!("{error:#}"), "writing a summary failed")
                    }
                }
            }
        }
    }

    /// Claims one session's summary and writes it, if no one else is.
    async fn write(&self, session_id: &str) -> anyhow::Result<()> {
        if !self
            .api
            .claim_summary(session_id, &self.worker_id, SUMMARY_LEASE)
            .await?
        {
            return Ok(());
        }
        let facts = self.api.summary_facts(session_id).await?;
        let model = self.agent.language_model();
        let started = Instant::now();
        let text = match generate(model.as_ref(), &summary_prompt(&facts), self.timeout()).await {
            Ok(text) => text,
            Err(error) => {
                // The server composes one from the facts for an empty text.
                tracing::warn!(session = %session_id, %error, "the language model wrote no summary");
                String::new()
            }
        };
        let report = SummaryReport {
            worker_id: self.worker_id.clone(),
            text,
            provider: Some(model.name().to_owned()),
            latency_ms: Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
        };
        let kept = self.api.write_summary(session_id, &report).await?;
        tracing::info!(session = %session_id, written_by = ?kept.written_by, "the session's summary is written");
        Ok(())
    }

    fn timeout(&self) -> Duration {
        self.agent.config().timeouts.answer
    }
}

/// The model's whole text for `prompt`, within `timeout`.
async fn generate(
    model: &dyn LanguageModel,
    prompt: &crate::prompt::ChatPrompt,
    timeout: Duration,
) -> Result<String, ProviderError> {
    let whole = async {
        let mut stream = model.stream(prompt, SUMMARY_TOKENS).await?;
        let mut text = String::new();
        while let Some(piece) = stream.next().await {
            text.push_str(&piece?);
        }
        Ok(text)
    };
    tokio::time::timeout(timeout, whole)
        .await
        .map_err(|_| ProviderError::Timeout(timeout))?
}

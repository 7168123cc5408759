//! The recap in the database: the record of an ended session read in one
//! snapshot for one person, and the assistant's summary — wanted when a
//! session with the assistant on ends, claimed by one worker at a time,
//! written once.

use std::time::Duration;

use domain::Id;
use domain::recap::{
    RatedLog, RecapRecord, SessionSummary, SummaryAuthor, SummaryStatus, WrittenSummary,
};
use domain::rules::RuleError;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::rows::{self, AI_LOG_COLUMNS, MESSAGE_COLUMNS, PARTICIPANT_COLUMNS};
use crate::sql::{SqlStore, history_viewer_in, lock_session, now, records, session_in};
use crate::{NewSummary, StoreError, StoreResult};

/// The most questions a recap lists; a session rarely has a tenth of it.
const RECAP_QUESTIONS: usize = 500;
/// The most messages read for links (only those that may hold one are read).
const LINK_MESSAGES: usize = 1000;

const SUMMARY_COLUMNS: &str = "text, written_by, provider, latency_ms, written_at FROM session_summaries WHERE session_id = $1";

/// Marks the summary of the locked session wanted, when its assistant is on:
/// called by every end of a session, inside its transaction.
pub(crate) async fn want_summary_locked(
    conn: &mut AnyConnection,
    session_id: &Id,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO session_summaries (session_id, wanted_at) \
         SELECT id, $2 FROM sessions WHERE id = $1 AND ai_agent_enabled = 1 \
         ON CONFLICT (session_id) DO NOTHING",
    )
    .bind(session_id.as_str())
    .bind(now())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn summary(row: &AnyRow) -> anyhow::Result<SessionSummary> {
    let Some(text) = row.try_get::<Option<String>, _>("text")? else {
        return Ok(SessionSummary::pending());
    };
    let written_by: Option<String> = row.try_get("written_by")?;
    let written_at: Option<i64> = row.try_get("written_at")?;
    Ok(SessionSummary {
        status: SummaryStatus::Written,
        text: Some(text),
        written_by: written_by.as_deref().and_then(SummaryAuthor::from_str_opt),
        provider: row.try_get("provider")?,
        latency_ms: row.try_get("latency_ms")?,
        written_at: written_at.and_then(chrono::DateTime::from_timestamp_micros),
    })
}

async fn summary_in(
    conn: &mut AnyConnection,
    session_id: &Id,
) -> StoreResult<Option<SessionSummary>> {
    let sql = format!("SELECT {SUMMARY_COLUMNS}");
    let row = sqlx::query(&sql)
        .bind(session_id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(summary).transpose()?)
}

fn rated_log(row: &AnyRow) -> anyhow::Result<RatedLog> {
    Ok(RatedLog {
        log: rows::ai_log(row)?,
        your_rating: row
            .try_get::<Option<i64>, _>("viewer_vote")?
            .map(|vote| vote != 0),
    })
}

impl SqlStore {
    pub(crate) async fn recap_record(
        &self,
        session_id: &Id,
        viewer: &Id,
    ) -> StoreResult<RecapRecord> {
        let mut tx = self.reader.begin().await?;
        history_viewer_in(&mut tx, session_id, viewer).await?;
        let session = session_in(&mut tx, session_id).await?;
        domain::recap::view(&session)?;
        let sql = format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM participants p JOIN users u ON u.id = p.user_id \
             WHERE p.session_id = $1 ORDER BY p.joined_at, p.user_id"
        );
        let found = sqlx::query(&sql)
            .bind(session_id.as_str())
            .fetch_all(&mut *tx)
            .await?;
        let participants = records(&found, rows::participant)?;
        let sql = format!(
            "SELECT {AI_LOG_COLUMNS}, (SELECT v.helpful FROM ai_log_votes v \
             WHERE v.log_id = l.id AND v.user_id = $2) AS viewer_vote \
             FROM ai_logs l WHERE l.session_id = $1 ORDER BY l.created_at, l.id LIMIT {RECAP_QUESTIONS}"
        );
        let found = sqlx::query(&sql)
            .bind(session_id.as_str())
            .bind(viewer.as_str())
            .fetch_all(&mut *tx)
            .await?;
        let logs = records(&found, rated_log)?;
        // Only a message that says "http" can hold a link.
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.user_id \
             WHERE m.session_id = $1 AND lower(m.body) LIKE '%http%' \
             ORDER BY m.created_at, m.id LIMIT {LINK_MESSAGES}"
        );
        let found = sqlx::query(&sql)
            .bind(session_id.as_str())
            .fetch_all(&mut *tx)
            .await?;
        let messages = records(&found, rows::message)?;
        let summary = summary_in(&mut tx, session_id).await?;
        let (runs, your_stays) =
            crate::focus::session_focus_in(&mut tx, session_id, viewer).await?;
        tx.commit().await?;
        Ok(RecapRecord {
            session,
            runs,
            your_stays,
            participants,
            logs,
            messages,
            summary,
        })
    }

    pub(crate) async fn wanted_summaries(&self, limit: usize) -> StoreResult<Vec<Id>> {
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT session_id FROM session_summaries WHERE text IS NULL \
             AND (worker_id IS NULL OR claim_expires_at <= $1) ORDER BY wanted_at LIMIT {limit}"
        ))
        .bind(now())
        .fetch_all(&self.reader)
        .await?;
        Ok(ids.into_iter().map(Id::from_trusted).collect())
    }

    pub(crate) async fn claim_summary_for(
        &self,
        session_id: &Id,
        worker_id: &str,
        lease: Duration,
    ) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await?;
        session_in(&mut tx, session_id).await?;
        match summary_in(&mut tx, session_id).await? {
            None => return Err(no_summary_wanted()),
            Some(summary) if summary.status == SummaryStatus::Written => {
                return Err(already_written());
            }
            Some(_) => {}
        }
        let (now, expires_at) = crate::sql::lease_from_now(lease);
        // One statement decides: a free claim, an expired one, or our own.
        let claimed = sqlx::query(
            "UPDATE session_summaries SET worker_id = $2, claim_expires_at = $3 \
             WHERE session_id = $1 AND text IS NULL \
             AND (worker_id IS NULL OR worker_id = $2 OR claim_expires_at <= $4)",
        )
        .bind(session_id.as_str())
        .bind(worker_id)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(claimed.rows_affected() == 1)
    }

    pub(crate) async fn keep_summary(
        &self,
        session_id: &Id,
        worker_id: &str,
        new: NewSummary,
    ) -> StoreResult<WrittenSummary> {
        let mut tx = self.writer.begin().await?;
        // The session's version moves, so a recap on screen hears of it.
        lock_session(&mut tx, session_id).await?;
        let written = sqlx::query(
            "UPDATE session_summaries SET text = $3, written_by = $4, provider = $5, \
             latency_ms = $6, written_at = $7 \
             WHERE session_id = $1 AND text IS NULL AND worker_id = $2",
        )
        .bind(session_id.as_str())
        .bind(worker_id)
        .bind(&new.text)
        .bind(new.written_by.as_str())
        .bind(&new.provider)
        .bind(new.latency_ms)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        if written.rows_affected() == 0 {
            return Err(match summary_in(&mut tx, session_id).await? {
                None => no_summary_wanted(),
                Some(summary) if summary.status == SummaryStatus::Written => already_written(),
                Some(_) => StoreError::Rule(RuleError::Conflict(
                    "this worker does not hold the summary's claim",
                )),
            });
        }
        let summary = summary_in(&mut tx, session_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("a summary vanished inside its own transaction"))?;
        tx.commit().await?;
        Ok(WrittenSummary {
            session_id: session_id.clone(),
            summary,
        })
    }
}

fn no_summary_wanted() -> StoreError {
    StoreError::Rule(RuleError::Conflict(
        "no summary is wanted: the session has not ended, or its assistant was off",
    ))
}

fn already_written() -> StoreError {
    StoreError::Rule(RuleError::Conflict("the summary is already written"))
}

//! Focus records in the database: the timer's runs and people's stays,
//! written inside the transactions that change the timer or a seat, and
//! read back for `domain::focus` to add up.

use anyhow::Context;
use chrono::{DateTime, Utc};
use domain::Id;
use domain::focus::{self, Run, SessionRun, Stay};
use domain::ritual::{Block, BlockKind, TimerPhase};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::rows::{self, micros, optional_time, time};
use crate::sql::SqlStore;
use crate::{FocusRecord, StoreResult};

fn kind_name(kind: BlockKind) -> anyhow::Result<String> {
    let value = serde_json::to_value(kind).context("naming a block kind")?;
    value
        .as_str()
        .map(str::to_owned)
        .context("a block kind is a string")
}

fn run(row: &AnyRow) -> anyhow::Result<Run> {
    let kind: String = row.try_get("kind")?;
    Ok(Run {
        block: row.try_get("block")?,
        kind: serde_json::from_value(serde_json::Value::String(kind.clone()))
            .with_context(|| format!("unknown block kind {kind:?}"))?,
        started_at: time(row, "started_at")?,
        ended_at: time(row, "ended_at")?,
        completed: row.try_get::<i64, _>("completed")? != 0,
    })
}

/// Keeps the runs the timer's change from `before` (running since `since`)
/// to `after` at `now` closed, and answers since when the run now going has
/// been running, for the session row.
pub(crate) async fn keep_runs(
    conn: &mut AnyConnection,
    session_id: &Id,
    plan: &[Block],
    (before, since): (TimerPhase, Option<DateTime<Utc>>),
    after: TimerPhase,
    now: DateTime<Utc>,
) -> StoreResult<Option<DateTime<Utc>>> {
    let log = focus::runs_between(plan, before, since, after, now);
    for run in &log.closed {
        sqlx::query(
            "INSERT INTO timer_runs (session_id, block, kind, started_at, ended_at, completed) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session_id.as_str())
        .bind(run.block)
        .bind(kind_name(run.kind)?)
        .bind(micros(run.started_at))
        .bind(micros(run.ended_at))
        .bind(i64::from(run.completed))
        .execute(&mut *conn)
        .await?;
    }
    Ok(log.running_since)
}

/// A person came into the room.
pub(crate) async fn open_stay(
    conn: &mut AnyConnection,
    session_id: &Id,
    user_id: &Id,
    at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO stays (session_id, user_id, joined_at, left_at) VALUES ($1, $2, $3, NULL)",
    )
    .bind(session_id.as_str())
    .bind(user_id.as_str())
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A person left the room, or (`user_id` `None`) everyone did as it ended.
pub(crate) async fn close_stays(
    conn: &mut AnyConnection,
    session_id: &Id,
    user_id: Option<&Id>,
    at: i64,
) -> StoreResult<()> {
    let query = match user_id {
        Some(user_id) => sqlx::query(
            "UPDATE stays SET left_at = $2 WHERE session_id = $1 AND left_at IS NULL AND user_id = $3",
        )
        .bind(session_id.as_str())
        .bind(at)
        .bind(user_id.as_str()),
        None => sqlx::query(
            "UPDATE stays SET left_at = $2 WHERE session_id = $1 AND left_at IS NULL",
        )
        .bind(session_id.as_str())
        .bind(at),
    };
    query.execute(&mut *conn).await?;
    Ok(())
}

fn stay(row: &AnyRow) -> anyhow::Result<Stay> {
    Ok(Stay {
        session_id: rows::id(row, "session_id")?,
        joined_at: time(row, "joined_at")?,
        left_at: optional_time(row, "left_at")?,
    })
}

fn session_run(row: &AnyRow) -> anyhow::Result<SessionRun> {
    Ok(SessionRun {
        session_id: rows::id(row, "session_id")?,
        run: run(row)?,
    })
}

/// Every run of a session's timer and `user_id`'s stays in it, read in the
/// caller's transaction.
pub(crate) async fn session_focus_in(
    conn: &mut AnyConnection,
    session_id: &Id,
    user_id: &Id,
) -> StoreResult<(Vec<Run>, Vec<Stay>)> {
    let runs = runs_in(conn, session_id).await?;
    let stays = sqlx::query(
        "SELECT session_id, joined_at, left_at FROM stays \
         WHERE session_id = $1 AND user_id = $2 ORDER BY joined_at",
    )
    .bind(session_id.as_str())
    .bind(user_id.as_str())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(stay)
    .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((runs, stays))
}

/// Every run of a session's timer, in order.
async fn runs_in(conn: &mut AnyConnection, session_id: &Id) -> StoreResult<Vec<Run>> {
    let found = sqlx::query(
        "SELECT block, kind, started_at, ended_at, completed FROM timer_runs \
         WHERE session_id = $1 ORDER BY started_at",
    )
    .bind(session_id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    Ok(found.iter().map(run).collect::<anyhow::Result<_>>()?)
}

impl SqlStore {
    /// Every row `sql` finds with `$1` the person and `$2` the time since
    /// when, as records.
    async fn rows_since<T>(
        &self,
        sql: &str,
        user_id: &Id,
        since: DateTime<Utc>,
        record: fn(&AnyRow) -> anyhow::Result<T>,
    ) -> StoreResult<Vec<T>> {
        let rows = sqlx::query(sql)
            .bind(user_id.as_str())
            .bind(micros(since))
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(record).collect::<anyhow::Result<_>>()?)
    }

    pub(crate) async fn focus_record_of(
        &self,
        user_id: &Id,
        since: DateTime<Utc>,
    ) -> StoreResult<FocusRecord> {
        let stays = self
            .rows_since(
                "SELECT session_id, joined_at, left_at FROM stays \
                 WHERE user_id = $1 AND (left_at IS NULL OR left_at >= $2)",
                user_id,
                since,
                stay,
            )
            .await?;
        let runs = self
            .rows_since(
                "SELECT session_id, block, kind, started_at, ended_at, completed FROM timer_runs \
                 WHERE kind = 'work' AND ended_at >= $2 AND session_id IN \
                 (SELECT session_id FROM stays WHERE user_id = $1) ORDER BY started_at",
                user_id,
                since,
                session_run,
            )
            .await?;
        Ok(FocusRecord { stays, runs })
    }

    pub(crate) async fn runs_of(&self, session_id: &Id) -> StoreResult<Vec<Run>> {
        let mut conn = self.reader.acquire().await?;
        runs_in(&mut conn, session_id).await
    }
}

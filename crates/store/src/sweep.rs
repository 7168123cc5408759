//! The timed work, found by due time in the rows themselves.
//!
//! Nothing here is queued in memory: a departure is a `departed_at` older than
//! the departure timeout, an empty session an `emptied_at` older than the empty
//! timeout, a reminder a row whose session starts soon and that has not been
//! sent. Every node sweeps; each change re-reads its row under the session's
//! lock (or with a conditional update) inside its transaction, so it happens
//! once however many nodes find it, and survives any restart.

use domain::Id;
use domain::rules;
use sqlx::Row;

use crate::rows::micros;
use crate::sql::{end_locked, leave_locked, lock_session, now, participant_in};
use crate::{SqlStore, StoreResult, SweepReport, Timeouts};

fn micros_of(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl SqlStore {
    pub(crate) async fn sweep_due(
        &self,
        own_node: &str,
        timeouts: &Timeouts,
    ) -> StoreResult<SweepReport> {
        let now = now();
        let mut report = SweepReport::default();
        self.close_dead_nodes(own_node, now - micros_of(timeouts.node_dead_after))
            .await?;
        self.depart(now - micros_of(timeouts.departure), &mut report)
            .await?;
        self.end_empty(now - micros_of(timeouts.empty), &mut report)
            .await?;
        self.remind(now + micros_of(timeouts.remind_before), &mut report)
            .await?;
        let advanced = crate::Store::advance_timers(self, chrono::Utc::now()).await?;
        report.sessions_changed.extend(advanced);
        // Expired sign-ins already name nobody; their rows go.
        sqlx::query("DELETE FROM tokens WHERE created_at <= $1")
            .bind(micros(chrono::Utc::now() - domain::user::SIGN_IN_LIFETIME))
            .execute(&self.writer)
            .await?;
        report.sessions_changed.sort();
        report.sessions_changed.dedup();
        Ok(report)
    }

    /// A node that stopped without saying so: its connections closed when it
    /// last showed life, and its people's departure timeouts run from then.
    async fn close_dead_nodes(&self, own_node: &str, dead_before: i64) -> StoreResult<()> {
        let dead =
            sqlx::query("SELECT id, heartbeat_at FROM nodes WHERE heartbeat_at < $1 AND id <> $2")
                .bind(dead_before)
                .bind(own_node)
                .fetch_all(&self.reader)
                .await?
                .iter()
                .map(|row| {
                    Ok((
                        row.try_get::<String, _>("id")?,
                        row.try_get::<i64, _>("heartbeat_at")?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
        for (node_id, last_seen) in dead {
            tracing::info!(node = %node_id, "a node stopped answering; closing its live connections");
            self.close_node_connections(&node_id, Some(dead_before), last_seen)
                .await?;
        }
        Ok(())
    }

    /// Closes a node's connections as of `closed_at`. With `dead_before`, only
    /// if its heartbeat is still older than that under this transaction: a
    /// heartbeat that landed since the node was found silent keeps it alive.
    pub(crate) async fn close_node_connections(
        &self,
        node_id: &str,
        dead_before: Option<i64>,
        closed_at: i64,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        // The node's row goes first, and only while it is still silent: a
        // heartbeat racing this waits for it, finds the row gone, and the node
        // then asserts its connections again.
        let forgotten = sqlx::query("DELETE FROM nodes WHERE id = $1 AND heartbeat_at < $2")
            .bind(node_id)
            .bind(dead_before.unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if dead_before.is_some() && forgotten == 0 {
            return Ok(());
        }
        // **Presence rows first, then participants**: the same order as
        // `mark_present` and `mark_absent`, so concurrent ones never deadlock.
        let closed =
            sqlx::query("DELETE FROM presence WHERE node_id = $1 RETURNING session_id, user_id")
                .bind(node_id)
                .fetch_all(&mut *tx)
                .await?;
        for row in closed {
            let session_id: String = row.try_get("session_id")?;
            let user_id: String = row.try_get("user_id")?;
            sqlx::query(
                "UPDATE participants SET departed_at = $3 \
                 WHERE session_id = $1 AND user_id = $2 AND status = 'joined' AND departed_at IS NULL",
            )
            .bind(&session_id)
            .bind(&user_id)
            .bind(closed_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// People whose last connection closed before `cutoff` and who have none now.
    async fn depart(&self, cutoff: i64, report: &mut SweepReport) -> StoreResult<()> {
        const GONE: &str = "p.status = 'joined' AND p.departed_at IS NOT NULL AND p.departed_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM presence pr WHERE pr.session_id = p.session_id AND pr.user_id = p.user_id)";
        let due = sqlx::query(&format!(
            "SELECT p.session_id, p.user_id FROM participants p WHERE {GONE}"
        ))
        .bind(cutoff)
        .fetch_all(&self.reader)
        .await?;
        for row in due {
            let session_id = Id::from_trusted(row.try_get("session_id")?);
            let user_id = Id::from_trusted(row.try_get("user_id")?);
            let mut tx = self.writer.begin().await?;
            lock_session(&mut tx, &session_id).await?;
            // Re-check under the lock: they may have come back, or another node got here first.
            let still_gone: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM participants p WHERE p.session_id = $2 AND p.user_id = $3 AND {GONE}"
            ))
            .bind(cutoff)
            .bind(session_id.as_str())
            .bind(user_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if still_gone == 0 {
                continue;
            }
            let existing = participant_in(&mut tx, &session_id, &user_id).await?;
            leave_locked(
                &mut tx,
                &session_id,
                &user_id,
                rules::leave(existing.as_ref())?,
            )
            .await?;
            tx.commit().await?;
            report.sessions_changed.push(session_id);
        }
        Ok(())
    }

    /// Active sessions nobody has been in since before `cutoff`.
    async fn end_empty(&self, cutoff: i64, report: &mut SweepReport) -> StoreResult<()> {
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM sessions WHERE status = 'active' AND emptied_at IS NOT NULL AND emptied_at <= $1",
        )
        .bind(cutoff)
        .fetch_all(&self.reader)
        .await?;
        for id in due {
            let id = Id::from_trusted(id);
            let mut tx = self.writer.begin().await?;
            let session = lock_session(&mut tx, &id).await?;
            let still_due = session.status == domain::session::SessionStatus::Active
                && rules::end_when_empty(&session).is_ok()
                && sqlx::query_scalar::<_, Option<i64>>(
                    "SELECT emptied_at FROM sessions WHERE id = $1",
                )
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await?
                .is_some_and(|emptied_at| emptied_at <= cutoff);
            if !still_due {
                continue;
            }
            tracing::info!(session = %id, "ending a session nobody has been in for the empty timeout");
            end_locked(&mut tx, &id).await?;
            tx.commit().await?;
            report.sessions_changed.push(id);
        }
        Ok(())
    }

    /// Reminders for sessions starting before `starts_before`, each sent once.
    async fn remind(&self, starts_before: i64, report: &mut SweepReport) -> StoreResult<()> {
        let due = sqlx::query(
            "SELECT r.session_id, r.user_id, s.title, s.scheduled_start FROM reminders r \
             JOIN sessions s ON s.id = r.session_id \
             WHERE r.notified_at IS NULL AND s.status <> 'ended' AND s.scheduled_start <= $1",
        )
        .bind(starts_before)
        .fetch_all(&self.reader)
        .await?;
        for row in due {
            let session_id: String = row.try_get("session_id")?;
            let user_id: String = row.try_get("user_id")?;
            let title: String = row.try_get("title")?;
            let starts_at: i64 = row.try_get("scheduled_start")?;
            let now = now();
            let mut tx = self.writer.begin().await?;
            let claimed = sqlx::query(
                "UPDATE reminders SET notified_at = $3 WHERE session_id = $1 AND user_id = $2 AND notified_at IS NULL",
            )
            .bind(&session_id)
            .bind(&user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 0 {
                continue;
            }
            let minutes = (starts_at - now).max(0) / 60_000_000;
            let message = match minutes {
                0 => format!("“{title}” is starting now"),
                1 => format!("“{title}” starts in 1 minute"),
                n => format!("“{title}” starts in {n} minutes"),
            };
            sqlx::query(
                "INSERT INTO notifications (id, user_id, kind, session_id, message, created_at) \
                 VALUES ($1, $2, 'reminder', $3, $4, $5) ON CONFLICT (user_id, kind, session_id) DO NOTHING",
            )
            .bind(Id::generate().as_str())
            .bind(&user_id)
            .bind(&session_id)
            .bind(&message)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            report.users_notified.push(Id::from_trusted(user_id));
        }
        Ok(())
    }
}

//! Host controls, reports and blocks in the database: the [`Store`] methods
//! of `domain::moderation`, each one transaction that decides with
//! `domain::rules` on the rows as they are inside it.
//!
//! [`Store`]: crate::Store

use domain::Id;
use domain::moderation::{
    Block, HostAction, Moderated, MutedEveryone, Report, ReportReason, SilencedMedia,
};
use domain::rules::{self, LeavePlan, ModerationPlan};
use domain::session::{Participant, Session};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::sql::{
    SqlStore, leave_locked, lock_session, now, participant_in, records, seat_in, session_in,
};
use crate::{NewReport, StoreError, StoreResult};

/// The store's names for a report's columns, with both people's names.
const REPORT_SELECT: &str = "SELECT r.id, r.session_id, r.reporter_id, a.name AS reporter_name, \
     r.reported_id, b.name AS reported_name, r.reason, r.note, r.created_at FROM reports r \
     JOIN users a ON a.id = r.reporter_id JOIN users b ON b.id = r.reported_id";

const BLOCK_SELECT: &str =
    "SELECT k.blocked_id, u.name, k.created_at FROM blocks k JOIN users u ON u.id = k.blocked_id";

fn report(row: &AnyRow) -> anyhow::Result<Report> {
    let reason: String = row.try_get("reason")?;
    Ok(Report {
        id: crate::rows::id(row, "id")?,
        session_id: crate::rows::id(row, "session_id")?,
        reporter_id: crate::rows::id(row, "reporter_id")?,
        reporter_name: row.try_get("reporter_name")?,
        reported_id: crate::rows::id(row, "reported_id")?,
        reported_name: row.try_get("reported_name")?,
        reason: ReportReason::from_str_opt(&reason)
            .ok_or_else(|| anyhow::anyhow!("unknown reason {reason:?}"))?,
        note: row.try_get("note")?,
        created_at: crate::rows::time(row, "created_at")?,
    })
}

fn block(row: &AnyRow) -> anyhow::Result<Block> {
    Ok(Block {
        user_id: crate::rows::id(row, "blocked_id")?,
        name: row.try_get("name")?,
        created_at: crate::rows::time(row, "created_at")?,
    })
}

/// Records that the host switched off `media` of each of `people` (again:
/// the hold's time moves on), in the transaction that decided it.
async fn hold_in(
    conn: &mut AnyConnection,
    session_id: &Id,
    people: &[Id],
    media: SilencedMedia,
) -> StoreResult<()> {
    let held_at = now();
    for user_id in people {
        sqlx::query(
            "INSERT INTO media_holds (session_id, user_id, media, held_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (session_id, user_id, media) DO UPDATE SET held_at = excluded.held_at",
        )
        .bind(session_id.as_str())
        .bind(user_id.as_str())
        .bind(media.as_str())
        .bind(held_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Refuses a join the host's controls forbid (`rules::admit`): called by
/// every join of a person, inside its transaction, on the locked session.
pub(crate) async fn admit_locked(
    conn: &mut AnyConnection,
    session: &Session,
    user_id: &Id,
    existing: Option<&Participant>,
) -> StoreResult<()> {
    let blocked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
            .bind(session.creator_id.as_str())
            .bind(user_id.as_str())
            .fetch_one(&mut *conn)
            .await?;
    rules::admit(session, user_id, existing, blocked > 0)?;
    Ok(())
}

impl SqlStore {
    pub(crate) async fn moderate_session(
        &self,
        session_id: &Id,
        actor: &Id,
        target: &Id,
        action: HostAction,
    ) -> StoreResult<Moderated> {
        let mut tx = self.writer.begin().await?;
        let session = lock_session(&mut tx, session_id).await?;
        let seat = participant_in(&mut tx, session_id, target).await?;
        let plan = rules::moderate(&session, actor, seat.as_ref(), action)?;
        match plan {
            ModerationPlan::Remove => {
                leave_locked(
                    &mut tx,
                    session_id,
                    target,
                    LeavePlan::Leave { frees_seat: true },
                )
                .await?;
                sqlx::query(
                    "UPDATE participants SET removed_at = $3 WHERE session_id = $1 AND user_id = $2",
                )
                .bind(session_id.as_str())
                .bind(target.as_str())
                .bind(now())
                .execute(&mut *tx)
                .await?;
                let participant = seat_in(&mut tx, session_id, target).await?;
                tx.commit().await?;
                Ok(Moderated {
                    participant,
                    action,
                })
            }
            ModerationPlan::Silence(media) => {
                hold_in(&mut tx, session_id, std::slice::from_ref(target), media).await?;
                tx.commit().await?;
                Ok(Moderated {
                    participant: seat.ok_or(StoreError::NotFound)?,
                    action,
                })
            }
        }
    }

    pub(crate) async fn mute_everyone_in(
        &self,
        session_id: &Id,
        actor: &Id,
    ) -> StoreResult<MutedEveryone> {
        let mut tx = self.writer.begin().await?;
        let session = lock_session(&mut tx, session_id).await?;
        rules::mute_everyone(&session, actor)?;
        let muted: Vec<String> = sqlx::query_scalar(
            "SELECT user_id FROM participants WHERE session_id = $1 AND status = 'joined' \
             AND role = 'participant' ORDER BY joined_at, user_id",
        )
        .bind(session_id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let muted: Vec<Id> = muted.into_iter().map(Id::from_trusted).collect();
        hold_in(&mut tx, session_id, &muted, SilencedMedia::Microphone).await?;
        tx.commit().await?;
        Ok(MutedEveryone {
            session_id: session_id.clone(),
            muted,
        })
    }

    pub(crate) async fn holds_of(
        &self,
        session_id: &Id,
        user_id: &Id,
    ) -> StoreResult<Vec<SilencedMedia>> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT media FROM media_holds WHERE session_id = $1 AND user_id = $2 ORDER BY media",
        )
        .bind(session_id.as_str())
        .bind(user_id.as_str())
        .fetch_all(&self.reader)
        .await?;
        Ok(names
            .iter()
            .map(|name| {
                SilencedMedia::from_str_opt(name)
                    .ok_or_else(|| anyhow::anyhow!("unknown held media {name:?}"))
            })
            .collect::<anyhow::Result<_>>()?)
    }

    pub(crate) async fn let_go_of_holds(
        &self,
        session_id: &Id,
        user_id: &Id,
        media: &[SilencedMedia],
    ) -> StoreResult<()> {
        for media in media {
            sqlx::query(
                "DELETE FROM media_holds WHERE session_id = $1 AND user_id = $2 AND media = $3",
            )
            .bind(session_id.as_str())
            .bind(user_id.as_str())
            .bind(media.as_str())
            .execute(&self.writer)
            .await?;
        }
        Ok(())
    }

    pub(crate) async fn lock_room(
        &self,
        session_id: &Id,
        actor: &Id,
        locked: bool,
    ) -> StoreResult<Session> {
        let mut tx = self.writer.begin().await?;
        let session = lock_session(&mut tx, session_id).await?;
        rules::lock(&session, actor)?;
        sqlx::query("UPDATE sessions SET locked = $2 WHERE id = $1")
            .bind(session_id.as_str())
            .bind(i64::from(locked))
            .execute(&mut *tx)
            .await?;
        let session = session_in(&mut tx, session_id).await?;
        tx.commit().await?;
        Ok(session)
    }

    /// Seats are never deleted, so "is or was in the session" read inside
    /// this transaction stays true while it writes; no session lock is
    /// needed (nor wanted: a report changes nothing anyone in the room sees).
    pub(crate) async fn insert_report(&self, new: NewReport) -> StoreResult<Report> {
        let mut tx = self.writer.begin().await?;
        session_in(&mut tx, &new.session_id).await?;
        let reporter = participant_in(&mut tx, &new.session_id, &new.reporter_id).await?;
        let reported = participant_in(&mut tx, &new.session_id, &new.reported_id).await?;
        rules::report(&new.reporter_id, reporter.as_ref(), reported.as_ref())?;
        let id = Id::generate();
        sqlx::query(
            "INSERT INTO reports (id, session_id, reporter_id, reported_id, reason, note, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.as_str())
        .bind(new.session_id.as_str())
        .bind(new.reporter_id.as_str())
        .bind(new.reported_id.as_str())
        .bind(new.reason.as_str())
        .bind(&new.note)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let sql = format!("{REPORT_SELECT} WHERE r.id = $1");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(report(&row)?)
    }

    pub(crate) async fn newest_reports(&self, limit: usize) -> StoreResult<Vec<Report>> {
        let sql = format!("{REPORT_SELECT} ORDER BY r.created_at DESC, r.id DESC LIMIT {limit}");
        let found = sqlx::query(&sql).fetch_all(&self.reader).await?;
        Ok(records(&found, report)?)
    }

    pub(crate) async fn insert_block(&self, blocker: &Id, blocked: &Id) -> StoreResult<Block> {
        rules::block(blocker, blocked)?;
        let mut tx = self.writer.begin().await?;
        let exists: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = $1")
            .bind(blocked.as_str())
            .fetch_one(&mut *tx)
            .await?;
        if exists == 0 {
            return Err(StoreError::NotFound);
        }
        // Blocking twice is harmless: the first block stays, with its date.
        sqlx::query(
            "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (blocker_id, blocked_id) DO NOTHING",
        )
        .bind(blocker.as_str())
        .bind(blocked.as_str())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let sql = format!("{BLOCK_SELECT} WHERE k.blocker_id = $1 AND k.blocked_id = $2");
        let row = sqlx::query(&sql)
            .bind(blocker.as_str())
            .bind(blocked.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(block(&row)?)
    }

    pub(crate) async fn delete_block(&self, blocker: &Id, blocked: &Id) -> StoreResult<()> {
        sqlx::query("DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
            .bind(blocker.as_str())
            .bind(blocked.as_str())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub(crate) async fn blocks_of(&self, blocker: &Id) -> StoreResult<Vec<Block>> {
        let sql = format!(
            "{BLOCK_SELECT} WHERE k.blocker_id = $1 ORDER BY k.created_at DESC, k.blocked_id LIMIT 1000"
        );
        let found = sqlx::query(&sql)
            .bind(blocker.as_str())
            .fetch_all(&self.reader)
            .await?;
        Ok(records(&found, block)?)
    }
}

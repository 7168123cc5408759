//! Favourites in the database: the [`Store`] methods of
//! `domain::favourite`, each one transaction that decides with its rules on
//! the rows as they are inside it, and the notices a favourite's new
//! session becomes, written in the transaction that creates it.
//!
//! [`Store`]: crate::Store

use domain::Id;
use domain::favourite::{self, Candidate, Favourite, MarkPlan};
use domain::session::Session;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::sql::{AGENT_EMAIL, SqlStore, now, records};
use crate::{StoreError, StoreResult};

const FAVOURITE_SELECT: &str = "SELECT f.favourite_id, u.name, f.created_at FROM favourites f \
     JOIN users u ON u.id = f.favourite_id";

/// The condition a `sessions` row meets when someone the person `$N` keeps
/// as a favourite hosts it, is in it now, or (before it starts) asked to be
/// reminded of it: they mean to be there. `{keeper}` stands for the bind
/// parameter (`$N`) that carries the person.
pub(crate) const WITH_FAVOURITES_OF: &str = "(creator_id IN (SELECT favourite_id FROM favourites WHERE user_id = {keeper}) \
     OR id IN (SELECT p.session_id FROM participants p \
               JOIN favourites f ON f.favourite_id = p.user_id \
               WHERE f.user_id = {keeper} AND p.status = 'joined') \
     OR (status = 'scheduled' AND id IN (SELECT r.session_id FROM reminders r \
               JOIN favourites f ON f.favourite_id = r.user_id WHERE f.user_id = {keeper})))";

fn favourite(row: &AnyRow) -> anyhow::Result<Favourite> {
    Ok(Favourite {
        user_id: crate::rows::id(row, "favourite_id")?,
        name: row.try_get("name")?,
        since: crate::rows::time(row, "created_at")?,
    })
}

/// The person `user_id` as a candidate favourite, read in the transaction;
/// `NotFound` when there is no such person.
async fn candidate_in<'a>(conn: &mut AnyConnection, user_id: &'a Id) -> StoreResult<Candidate<'a>> {
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user_id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    let email = email.ok_or(StoreError::NotFound)?;
    Ok(Candidate {
        user_id,
        is_assistant: email == AGENT_EMAIL,
    })
}

/// Takes the marker's user row's lock for the rest of the transaction on
/// PostgreSQL (SQLite's single writer orders transactions anyway), so two
/// marks at once count each other against the cap.
async fn lock_marker(conn: &mut AnyConnection, marker: &Id) -> StoreResult<()> {
    let locked = sqlx::query("UPDATE users SET name = name WHERE id = $1")
        .bind(marker.as_str())
        .execute(&mut *conn)
        .await?;
    if locked.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Tells everyone who keeps `session`'s creator as a favourite that it was
/// scheduled: one notification each (once per person and session), in the
/// transaction that creates it. People the creator blocked are not told: they
/// could not join. Answers whom it told.
pub(crate) async fn tell_keepers(
    conn: &mut AnyConnection,
    session: &Session,
) -> StoreResult<Vec<Id>> {
    let Some(starts_at) = session.scheduled_start else {
        return Ok(Vec::new());
    };
    let keepers: Vec<String> = sqlx::query_scalar(
        "SELECT f.user_id FROM favourites f WHERE f.favourite_id = $1 \
         AND f.user_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = $1) \
         ORDER BY f.user_id",
    )
    .bind(session.creator_id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let message = favourite::scheduled_notice(&session.creator_name, &session.title, starts_at);
    let now = now();
    for keeper in &keepers {
        sqlx::query(
            "INSERT INTO notifications (id, user_id, kind, session_id, message, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, kind, session_id) DO NOTHING",
        )
        .bind(Id::generate().as_str())
        .bind(keeper.as_str())
        .bind(favourite::SCHEDULED_KIND)
        .bind(session.id.as_str())
        .bind(&message)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(keepers.into_iter().map(Id::from_trusted).collect())
}

impl SqlStore {
    pub(crate) async fn insert_favourite(
        &self,
        marker: &Id,
        marked: &Id,
    ) -> StoreResult<Favourite> {
        let mut tx = self.writer.begin().await?;
        lock_marker(&mut tx, marker).await?;
        let candidate = candidate_in(&mut tx, marked).await?;
        let already: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM favourites WHERE user_id = $1 AND favourite_id = $2",
        )
        .bind(marker.as_str())
        .bind(marked.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM favourites WHERE user_id = $1")
            .bind(marker.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let plan = favourite::mark(
            marker,
            candidate,
            already > 0,
            usize::try_from(kept).unwrap_or(usize::MAX),
        )?;
        if plan == MarkPlan::Add {
            sqlx::query(
                "INSERT INTO favourites (user_id, favourite_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(marker.as_str())
            .bind(marked.as_str())
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        let sql = format!("{FAVOURITE_SELECT} WHERE f.user_id = $1 AND f.favourite_id = $2");
        let row = sqlx::query(&sql)
            .bind(marker.as_str())
            .bind(marked.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(favourite(&row)?)
    }

    /// Unmarking someone not marked is harmless; someone who could never be
    /// a favourite (no such person, yourself, the assistant) is refused as
    /// a mark would be.
    pub(crate) async fn delete_favourite(&self, marker: &Id, marked: &Id) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        favourite::check_candidate(marker, candidate_in(&mut tx, marked).await?)?;
        sqlx::query("DELETE FROM favourites WHERE user_id = $1 AND favourite_id = $2")
            .bind(marker.as_str())
            .bind(marked.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn favourites_kept(&self, marker: &Id) -> StoreResult<Vec<Favourite>> {
        let sql = format!(
            "{FAVOURITE_SELECT} WHERE f.user_id = $1 \
             ORDER BY f.created_at DESC, f.favourite_id LIMIT {}",
            favourite::MAX_FAVOURITES
        );
        let found = sqlx::query(&sql)
            .bind(marker.as_str())
            .fetch_all(&self.reader)
            .await?;
        Ok(records(&found, favourite)?)
    }
}

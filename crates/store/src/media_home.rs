//! Which node holds each session's media (docs/MEDIA.md, "One media home
//! per session"). A pin is taken and taken over by one conditional statement
//! each, so two nodes racing for a session's media always meet on one home.

use std::time::Duration;

use domain::Id;
use sqlx::{AnyConnection, Row};

use crate::sql::{SqlStore, now};
use crate::{MediaHome, StoreError, StoreResult};

/// The session's home as it is under the transaction.
async fn home_in(conn: &mut AnyConnection, session_id: &Id) -> StoreResult<MediaHome> {
    let row = sqlx::query("SELECT node_id, media_address FROM media_homes WHERE session_id = $1")
        .bind(session_id.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(MediaHome {
        node_id: row.try_get("node_id")?,
        media_address: row.try_get("media_address")?,
    })
}

impl SqlStore {
    pub(crate) async fn pin_home(
        &self,
        session_id: &Id,
        here: &MediaHome,
        dead_after: Duration,
    ) -> StoreResult<MediaHome> {
        let now = now();
        let alive_since = now - i64::try_from(dead_after.as_micros()).unwrap_or(i64::MAX / 2);
        let mut tx = self.writer.begin().await?;
        // Inserted, or taken over from a node with no living heartbeat; a
        // living home is left as it is. A racing insert waits for the first
        // to commit and then finds its row (and its living node) in place.
        sqlx::query(
            "INSERT INTO media_homes (session_id, node_id, media_address, pinned_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (session_id) DO UPDATE SET node_id = excluded.node_id, \
             media_address = excluded.media_address, pinned_at = excluded.pinned_at \
             WHERE media_homes.node_id = excluded.node_id OR NOT EXISTS \
             (SELECT 1 FROM nodes WHERE nodes.id = media_homes.node_id AND nodes.heartbeat_at >= $5)",
        )
        .bind(session_id.as_str())
        .bind(&here.node_id)
        .bind(&here.media_address)
        .bind(now)
        .bind(alive_since)
        .execute(&mut *tx)
        .await?;
        let home = home_in(&mut tx, session_id).await?;
        tx.commit().await?;
        Ok(home)
    }

    pub(crate) async fn take_over_home(
        &self,
        session_id: &Id,
        gone: &str,
        here: &MediaHome,
    ) -> StoreResult<MediaHome> {
        let mut tx = self.writer.begin().await?;
        // A home given up meanwhile (its node stopped on purpose) is free.
        sqlx::query(
            "INSERT INTO media_homes (session_id, node_id, media_address, pinned_at) \
             VALUES ($1, $3, $4, $5) \
             ON CONFLICT (session_id) DO UPDATE SET node_id = excluded.node_id, \
             media_address = excluded.media_address, pinned_at = excluded.pinned_at \
             WHERE media_homes.node_id = $2",
        )
        .bind(session_id.as_str())
        .bind(gone)
        .bind(&here.node_id)
        .bind(&here.media_address)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let home = home_in(&mut tx, session_id).await?;
        tx.commit().await?;
        Ok(home)
    }
}

//! The [`Store`] over SQLite or PostgreSQL.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use chrono::Utc;
use domain::Id;
use domain::ai_log::{AiLog, LoggedBy};
use domain::chat::{ChatMessage, Notification};
use domain::favourite::Favourite;
use domain::focus::Run;
use domain::goal::{self, CheckOut, Goal};
use domain::moderation::{Block, HostAction, Moderated, MutedEveryone, Report, SilencedMedia};
use domain::project::Project;
use domain::project::Timelapse;
use domain::recap::{RecapRecord, WrittenSummary};
use domain::ritual::{self, TimerAction, TimerPhase, TimerRecord};
use domain::rules::{self, JoinPlan, LeavePlan};
use domain::session::{AgentStatus, Participant, Session, SessionHistory, SessionStatus};
use domain::user::User;
use sqlx::any::AnyRow;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyConnection, AnyPool, Executor};

use crate::focus;
use crate::rows::TIMELAPSE_COLUMNS;
use crate::rows::{
    self, AI_LOG_COLUMNS, MESSAGE_COLUMNS, NOTIFICATION_COLUMNS, PARTICIPANT_COLUMNS,
    PROJECT_COLUMNS, SESSION_COLUMNS, USER_COLUMNS, micros,
};
use crate::{
    CreatedSession, FocusRecord, Gauges, ListCursor, MediaHome, NewAiLog, NewProject, NewReport,
    NewSession, NewSummary, NewTimelapse, NewUser, ProjectChanges, SessionPage, Store, StoreError,
    StoreResult, SweepReport, Timeouts, Versioned,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            bail!("unsupported database URL: expected sqlite:… or postgres://…")
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

pub struct SqlStore {
    /// Serves plain reads.
    pub(crate) reader: AnyPool,
    /// Serves every transaction. On SQLite it holds a single connection: SQLite
    /// has one writer at a time anyway, and queueing here instead of in SQLite
    /// means a transaction never fails with "database is locked" halfway through.
    /// On PostgreSQL it is the same pool as `reader`, and row locks order writers.
    pub(crate) writer: AnyPool,
    backend: Backend,
}

impl SqlStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let options = AnyConnectOptions::from_str(url).context("parsing the database URL")?;
        let store = match backend {
            Backend::Sqlite => {
                let pool = |connections| {
                    AnyPoolOptions::new()
                        .max_connections(connections)
                        .acquire_timeout(Duration::from_secs(30))
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                // WAL lets readers run beside the writer; with synchronous=NORMAL
                                // a committed write survives the process being killed.
                                conn.execute(sqlx::raw_sql(
                                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                                ))
                                .await?;
                                Ok(())
                            })
                        })
                };
                let writer = pool(1).connect_with(options.clone()).await?;
                let reader = pool(8).connect_with(options).await?;
                Self {
                    reader,
                    writer,
                    backend,
                }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(32)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await
                    .context("connecting to PostgreSQL")?;
                Self {
                    reader: pool.clone(),
                    writer: pool,
                    backend,
                }
            }
        };
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR
            .run(&self.writer)
            .await
            .context("running migrations")
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// The assistant's account. `.invalid` is reserved: no person can have it.
pub(crate) const AGENT_EMAIL: &str = "assistant@lockin.invalid";

pub(crate) fn now() -> i64 {
    micros(Utc::now())
}

/// Now, and when a claim taken now for `lease` runs out.
pub(crate) fn lease_from_now(lease: Duration) -> (i64, i64) {
    let now = now();
    (
        now,
        now + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2),
    )
}

/// Takes the session row's write lock for the rest of the transaction and
/// returns the row as it is under that lock. Bumping `version` is the write
/// that takes the lock on both backends.
pub(crate) async fn lock_session(conn: &mut AnyConnection, id: &Id) -> StoreResult<Session> {
    let sql = format!(
        "UPDATE sessions SET version = version + 1 WHERE id = $1 RETURNING {SESSION_COLUMNS}"
    );
    fetch_record(&mut *conn, &sql, id.as_str(), rows::session)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The timer of a session as stored: its record, and since when its current
/// run has been running (for the focus records).
type StoredTimer = (TimerRecord, Option<chrono::DateTime<Utc>>);

/// As [`lock_session`], with the session's timer as stored.
async fn lock_session_timer(
    conn: &mut AnyConnection,
    id: &Id,
) -> StoreResult<(Session, StoredTimer)> {
    let sql = format!(
        "UPDATE sessions SET version = version + 1 WHERE id = $1 \
         RETURNING {SESSION_COLUMNS}, timer_running_since"
    );
    fetch_record(&mut *conn, &sql, id.as_str(), session_and_timer)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The session and its timer, of a session already locked in this transaction.
async fn session_timer_in(
    conn: &mut AnyConnection,
    id: &Id,
) -> StoreResult<(Session, StoredTimer)> {
    let sql = format!("SELECT {SESSION_COLUMNS}, timer_running_since FROM sessions WHERE id = $1");
    fetch_record(&mut *conn, &sql, id.as_str(), session_and_timer)
        .await?
        .ok_or(StoreError::NotFound)
}

fn session_and_timer(row: &AnyRow) -> anyhow::Result<(Session, StoredTimer)> {
    let since = rows::optional_time(row, "timer_running_since")?;
    Ok((rows::session(row)?, (rows::timer_record(row)?, since)))
}

/// Changes the locked session's timer from `before` to `after` at `now`:
/// keeps the runs the change closed, then writes the new timer.
async fn change_timer(
    conn: &mut AnyConnection,
    session: &Session,
    (before, since): StoredTimer,
    after: &TimerRecord,
    now: chrono::DateTime<Utc>,
) -> StoreResult<()> {
    let plan = after.plan(session);
    let since = focus::keep_runs(
        conn,
        &session.id,
        &plan,
        (before.phase, since),
        after.phase,
        now,
    )
    .await?;
    write_timer(conn, &session.id, after, since).await
}

/// Writes the timer of the locked session.
async fn write_timer(
    conn: &mut AnyConnection,
    id: &Id,
    record: &TimerRecord,
    running_since: Option<chrono::DateTime<Utc>>,
) -> StoreResult<()> {
    let (ends_at, remaining) = match record.phase {
        TimerPhase::Running { ends_at, .. } => (Some(micros(ends_at)), None),
        TimerPhase::Paused { remaining, .. } => {
            (None, Some(remaining.num_microseconds().unwrap_or(i64::MAX)))
        }
        TimerPhase::NotStarted | TimerPhase::Finished => (None, None),
    };
    let state = serde_json::to_value(record.phase.state()).context("naming a timer state")?;
    sqlx::query(
        "UPDATE sessions SET timer_state = $2, timer_block = $3, timer_ends_at = $4, \
         timer_remaining = $5, timer_minutes = $6, timer_running_since = $7 WHERE id = $1",
    )
    .bind(id.as_str())
    .bind(state.as_str().unwrap_or("not_started").to_owned())
    .bind(record.phase.block().unwrap_or(0))
    .bind(ends_at)
    .bind(remaining)
    .bind(record.adhoc_minutes)
    .bind(running_since.map(micros))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn session_in(conn: &mut AnyConnection, id: &Id) -> StoreResult<Session> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    fetch_record(&mut *conn, &sql, id.as_str(), rows::session)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The seat a write in this transaction just changed.
pub(crate) async fn seat_in(
    conn: &mut AnyConnection,
    session_id: &Id,
    user_id: &Id,
) -> StoreResult<Participant> {
    participant_in(conn, session_id, user_id)
        .await?
        .ok_or_else(|| {
            StoreError::Other(anyhow::anyhow!(
                "a seat vanished inside its own transaction"
            ))
        })
}

pub(crate) async fn participant_in(
    conn: &mut AnyConnection,
    session_id: &Id,
    user_id: &Id,
) -> StoreResult<Option<Participant>> {
    let sql = format!(
        "SELECT {PARTICIPANT_COLUMNS} FROM participants p JOIN users u ON u.id = p.user_id \
         WHERE p.session_id = $1 AND p.user_id = $2"
    );
    let row = sqlx::query(&sql)
        .bind(session_id.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(rows::participant).transpose()?)
}

/// Joins `user_id` to the locked `session`, as the rules decide.
async fn join_locked(
    conn: &mut AnyConnection,
    session: &Session,
    user_id: &Id,
    is_agent: bool,
) -> StoreResult<(Participant, JoinPlan)> {
    let existing = participant_in(conn, &session.id, user_id).await?;
    if !is_agent {
        crate::moderation::admit_locked(conn, session, user_id, existing.as_ref()).await?;
    }
    let plan = rules::join(session, user_id, is_agent, existing.as_ref())?;
    if let JoinPlan::Join { role } = plan {
        let joined_at = now();
        // The departure clock starts at the join: someone who never opens a
        // live connection to the session departs like someone who closed it.
        // A connection already open (a presence row) keeps them in; one
        // opened later stops the clock (`mark_present`).
        sqlx::query(
            "INSERT INTO participants (session_id, user_id, role, status, joined_at, left_at, departed_at) \
             VALUES ($1, $2, $3, 'joined', $4, NULL, $4) \
             ON CONFLICT (session_id, user_id) DO UPDATE \
             SET role = excluded.role, status = 'joined', joined_at = excluded.joined_at, left_at = NULL, \
             departed_at = excluded.departed_at",
        )
        .bind(session.id.as_str())
        .bind(user_id.as_str())
        .bind(role.as_str())
        .bind(joined_at)
        .execute(&mut *conn)
        .await?;
        focus::open_stay(conn, &session.id, user_id, joined_at).await?;
        if plan.takes_seat() {
            sqlx::query(
                "UPDATE sessions SET participant_count = participant_count + 1, emptied_at = NULL \
                 WHERE id = $1",
            )
            .bind(session.id.as_str())
            .execute(&mut *conn)
            .await?;
        }
    }
    let participant = seat_in(conn, &session.id, user_id).await?;
    Ok((participant, plan))
}

/// Marks a participant of the locked session left, as `plan` says.
pub(crate) async fn leave_locked(
    conn: &mut AnyConnection,
    session_id: &Id,
    user_id: &Id,
    plan: LeavePlan,
) -> StoreResult<()> {
    let LeavePlan::Leave { frees_seat } = plan else {
        return Ok(());
    };
    let now = now();
    sqlx::query("UPDATE participants SET status = 'left', left_at = $3, departed_at = NULL WHERE session_id = $1 AND user_id = $2")
        .bind(session_id.as_str())
        .bind(user_id.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    focus::close_stays(conn, session_id, Some(user_id), now).await?;
    if frees_seat {
        // The empty timeout starts when the last person leaves.
        sqlx::query(
            "UPDATE sessions SET participant_count = participant_count - 1, \
             emptied_at = CASE WHEN participant_count = 1 THEN $2 ELSE emptied_at END WHERE id = $1",
        )
        .bind(session_id.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Ends the locked session: everyone is marked left, and a running timer's
/// run is closed where the session ended.
pub(crate) async fn end_locked(conn: &mut AnyConnection, session_id: &Id) -> StoreResult<()> {
    let ended_at = Utc::now();
    let now = micros(ended_at);
    let (session, (record, since)) = session_timer_in(conn, session_id).await?;
    let plan = record.plan(&session);
    let current = ritual::advance(&record, &plan, ended_at).unwrap_or(record);
    let since = focus::keep_runs(
        conn,
        session_id,
        &plan,
        (record.phase, since),
        current.phase,
        ended_at,
    )
    .await?;
    focus::keep_runs(
        conn,
        session_id,
        &plan,
        (current.phase, since),
        TimerPhase::Finished,
        ended_at,
    )
    .await?;
    // A timer stops with its session.
    sqlx::query("UPDATE sessions SET status = 'ended', ended_at = $2, participant_count = 0, emptied_at = NULL, \
         agent_status = 'off', timer_ends_at = NULL, timer_remaining = NULL, timer_running_since = NULL, \
         timer_state = CASE WHEN timer_state = 'not_started' THEN timer_state ELSE 'finished' END WHERE id = $1")
        .bind(session_id.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE participants SET status = 'left', left_at = $2, departed_at = NULL WHERE session_id = $1 AND status = 'joined'")
        .bind(session_id.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    focus::close_stays(conn, session_id, None, now).await?;
    crate::recap::want_summary_locked(conn, session_id).await?;
    Ok(())
}

/// Writes a seat's goal, in a transaction that decided it may.
async fn write_goal(
    conn: &mut AnyConnection,
    session_id: &Id,
    user_id: &Id,
    goal: &Goal,
) -> StoreResult<()> {
    let tasks = serde_json::to_string(&goal.tasks).context("writing a goal's tasks")?;
    sqlx::query(
        "UPDATE participants SET goal = $3, goal_tasks = $4, goal_set_at = $5 \
         WHERE session_id = $1 AND user_id = $2",
    )
    .bind(session_id.as_str())
    .bind(user_id.as_str())
    .bind(&goal.text)
    .bind(tasks)
    .bind(micros(goal.set_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes a seat's check-out, in a transaction that decided it may.
async fn write_check_out(
    conn: &mut AnyConnection,
    session_id: &Id,
    user_id: &Id,
    check_out: CheckOut,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE participants SET check_out = $3, check_out_note = $4, checked_out_at = $5 \
         WHERE session_id = $1 AND user_id = $2",
    )
    .bind(session_id.as_str())
    .bind(user_id.as_str())
    .bind(check_out.outcome.as_str())
    .bind(check_out.note)
    .bind(micros(check_out.at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_reminder(
    conn: &mut AnyConnection,
    session_id: &Id,
    user_id: &Id,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO reminders (session_id, user_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (session_id, user_id) DO NOTHING",
    )
    .bind(session_id.as_str())
    .bind(user_id.as_str())
    .bind(now())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The project row, locked for the rest of the transaction on PostgreSQL
/// (SQLite's single writer orders transactions anyway).
async fn lock_project(conn: &mut AnyConnection, id: &Id) -> StoreResult<Project> {
    let sql = format!("UPDATE projects SET name = name WHERE id = $1 RETURNING {PROJECT_COLUMNS}");
    fetch_record(&mut *conn, &sql, id.as_str(), rows::project)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The bytes of the videos `uploader_id` keeps. `SUM` of a `BIGINT` is a
/// `NUMERIC` on PostgreSQL, hence the cast back.
async fn kept_video_bytes(conn: &mut AnyConnection, uploader_id: &Id) -> StoreResult<u64> {
    let kept: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM timelapses WHERE uploader_id = $1",
    )
    .bind(uploader_id.as_str())
    .fetch_one(&mut *conn)
    .await?;
    Ok(u64::try_from(kept).unwrap_or_default())
}

/// Refuses unless the session exists and `viewer` is or was in it. Being in
/// a session once is for good (seats are marked left, never deleted), so a
/// decision made here stays true for the rest of the read.
pub(crate) async fn history_viewer_in(
    conn: &mut AnyConnection,
    session_id: &Id,
    viewer: &Id,
) -> StoreResult<()> {
    session_in(conn, session_id).await?;
    rules::view_session_history(participant_in(conn, session_id, viewer).await?.as_ref())?;
    Ok(())
}

impl SqlStore {
    /// A page of one status's sessions in its list order (active: newest
    /// first; scheduled: soonest first), after `after`; with `favourites_of`,
    /// only those with someone that person keeps as a favourite.
    async fn session_page(
        &self,
        status: SessionStatus,
        limit: usize,
        after: Option<ListCursor>,
        favourites_of: Option<&Id>,
    ) -> StoreResult<SessionPage> {
        // Active: newest first. Scheduled: soonest first. Ended: most recently ended first.
        let (column, order, before) = match status {
            SessionStatus::Active => ("started_at", "DESC", "<"),
            SessionStatus::Scheduled => ("scheduled_start", "ASC", ">"),
            SessionStatus::Ended => ("ended_at", "DESC", "<"),
        };
        let keyset = if after.is_some() {
            format!("AND ({column} {before} $2 OR ({column} = $2 AND id {before} $3))")
        } else {
            String::new()
        };
        // The keeper's bind parameter comes after the cursor's, if there is one.
        let keeper = if after.is_some() { "$4" } else { "$2" };
        let with_favourites = match favourites_of {
            Some(_) => format!(
                "AND {}",
                crate::favourites::WITH_FAVOURITES_OF.replace("{keeper}", keeper)
            ),
            None => String::new(),
        };
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE status = $1 {keyset} {with_favourites} \
             ORDER BY {column} {order}, id {order} LIMIT {}",
            limit + 1
        );
        let mut query = sqlx::query(&sql).bind(status.as_str());
        if let Some(cursor) = &after {
            query = query.bind(micros(cursor.at)).bind(cursor.id.as_str());
        }
        if let Some(keeper) = favourites_of {
            query = query.bind(keeper.as_str());
        }
        let found = query.fetch_all(&self.reader).await?;
        let mut sessions = records(&found, rows::session)?;
        let next = if sessions.len() > limit {
            sessions.truncate(limit);
            sessions.last().and_then(|last| {
                let at = match status {
                    SessionStatus::Active => last.started_at,
                    SessionStatus::Scheduled => last.scheduled_start,
                    SessionStatus::Ended => last.ended_at,
                };
                at.map(|at| ListCursor {
                    at,
                    id: last.id.clone(),
                })
            })
        } else {
            None
        };
        Ok(SessionPage { sessions, next })
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn gauges(&self) -> StoreResult<Gauges> {
        let sessions_active =
            sqlx::query_scalar("SELECT count(*) FROM sessions WHERE status = 'active'")
                .fetch_one(&self.reader)
                .await?;
        let participants_joined = sqlx::query_scalar(
            "SELECT count(*) FROM participants WHERE status = 'joined' AND role <> 'agent'",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(Gauges {
            sessions_active,
            participants_joined,
        })
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let sql = format!(
            "INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING {USER_COLUMNS}"
        );
        let result = sqlx::query(&sql)
            .bind(Id::generate().as_str())
            .bind(&user.email)
            .bind(&user.name)
            .bind(&user.password_hash)
            .bind(now())
            .fetch_one(&self.writer)
            .await;
        match result {
            Ok(row) => Ok(rows::user(&row)?),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    async fn user_credentials(&self, email: &str) -> StoreResult<Option<(User, String)>> {
        let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(&self.reader)
            .await?
        else {
            return Ok(None);
        };
        let hash: String = sqlx::Row::try_get(&row, "password_hash")?;
        Ok(Some((rows::user(&row)?, hash)))
    }

    async fn insert_token(&self, user_id: &Id, token_hash: &str) -> StoreResult<()> {
        sqlx::query("INSERT INTO tokens (token_hash, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(user_id.as_str())
            .bind(now())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn user_by_token(&self, token_hash: &str) -> StoreResult<Option<User>> {
        // A token older than a sign-in's lifetime names nobody, swept or not.
        let row = sqlx::query(
            "SELECT u.id, u.email, u.name, u.created_at FROM tokens t \
             JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.created_at > $2",
        )
        .bind(token_hash)
        .bind(micros(Utc::now() - domain::user::SIGN_IN_LIFETIME))
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.as_ref().map(rows::user).transpose()?)
    }

    async fn revoke_token(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn create_project(&self, owner_id: &Id, project: NewProject) -> StoreResult<Project> {
        let sql = format!(
            "INSERT INTO projects (id, owner_id, name, description, repo_url, tech_stack, created_at, \
             timelapses_shared) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {PROJECT_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(Id::generate().as_str())
            .bind(owner_id.as_str())
            .bind(&project.name)
            .bind(&project.description)
            .bind(&project.repo_url)
            .bind(serde_json::to_string(&project.tech_stack).context("tech_stack")?)
            .bind(now())
            .bind(i64::from(project.timelapses_shared))
            .fetch_one(&self.writer)
            .await?;
        Ok(rows::project(&row)?)
    }

    async fn project(&self, id: &Id) -> StoreResult<Option<Project>> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1");
        fetch_record(&self.reader, &sql, id.as_str(), rows::project).await
    }

    async fn projects_of(&self, owner_id: &Id) -> StoreResult<Vec<Project>> {
        let sql = format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE owner_id = $1 ORDER BY created_at DESC, id DESC"
        );
        fetch_records(&self.reader, &sql, owner_id.as_str(), rows::project).await
    }

    async fn can_see_project(&self, project_id: &Id, user_id: &Id) -> StoreResult<bool> {
        let visible: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM projects pr WHERE pr.id = $1 AND (pr.owner_id = $2 OR EXISTS ( \
               SELECT 1 FROM sessions s JOIN participants p ON p.session_id = s.id \
               WHERE s.project_id = pr.id AND s.status = 'active' AND p.user_id = $2 \
               AND p.status = 'joined'))",
        )
        .bind(project_id.as_str())
        .bind(user_id.as_str())
        .fetch_one(&self.reader)
        .await?;
        Ok(visible > 0)
    }

    async fn update_project(
        &self,
        id: &Id,
        actor: &Id,
        changes: ProjectChanges,
    ) -> StoreResult<Project> {
        let mut tx = self.writer.begin().await?;
        let current = lock_project(&mut tx, id).await?;
        rules::change_project(&current, actor)?;
        let sql = format!(
            "UPDATE projects SET name = $2, description = $3, repo_url = $4, tech_stack = $5, \
             timelapses_shared = $6 WHERE id = $1 RETURNING {PROJECT_COLUMNS}"
        );
        let tech_stack = changes.tech_stack.unwrap_or(current.tech_stack);
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .bind(changes.name.unwrap_or(current.name))
            .bind(changes.description.unwrap_or(current.description))
            .bind(changes.repo_url.unwrap_or(current.repo_url))
            .bind(serde_json::to_string(&tech_stack).context("tech_stack")?)
            .bind(i64::from(
                changes
                    .timelapses_shared
                    .unwrap_or(current.timelapses_shared),
            ))
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows::project(&row)?)
    }

    async fn delete_project(&self, id: &Id, actor: &Id) -> StoreResult<Vec<Timelapse>> {
        let mut tx = self.writer.begin().await?;
        let current = lock_project(&mut tx, id).await?;
        rules::change_project(&current, actor)?;
        let sql = format!("SELECT {TIMELAPSE_COLUMNS} FROM timelapses WHERE project_id = $1");
        let videos = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_all(&mut *tx)
            .await?;
        let videos = records(&videos, rows::timelapse)?;
        // Its timelapses' rows go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(videos)
    }

    async fn create_session(&self, new: NewSession) -> StoreResult<CreatedSession> {
        let id = Id::generate();
        let now = now();
        let status = new.schedule.initial_status();
        let mut tx = self.writer.begin().await?;
        if let Some(project_id) = &new.project_id {
            let project = lock_project(&mut tx, project_id)
                .await
                .map_err(|error| match error {
                    StoreError::NotFound => StoreError::Rule(rules::RuleError::Invalid {
                        field: "project_id",
                        message: "no project with this id that you own",
                    }),
                    other => other,
                })?;
            rules::link_project(&project, &new.creator_id)?;
        }
        sqlx::query(
            "INSERT INTO sessions (id, creator_id, title, description, session_type, status, scheduled_start, \
             started_at, project_id, max_participants, ai_agent_enabled, agent_status, created_at, creator_name, \
             planned_minutes, rhythm, quiet_work) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                     (SELECT name FROM users WHERE id = $2), $14, $15, $16)",
        )
        .bind(id.as_str())
        .bind(new.creator_id.as_str())
        .bind(&new.title)
        .bind(&new.description)
        .bind(new.session_type.as_str())
        .bind(status.as_str())
        .bind(new.schedule.start_at().map(micros))
        .bind((status == SessionStatus::Active).then_some(now))
        .bind(new.project_id.as_ref().map(Id::as_str))
        .bind(new.max_participants)
        .bind(i64::from(new.ai_agent_enabled))
        .bind(if new.ai_agent_enabled { AgentStatus::Joining } else { AgentStatus::Off }.as_str())
        .bind(now)
        .bind(new.shape.planned_minutes())
        .bind(
            new.shape
                .rhythm()
                .map(|rhythm| serde_json::to_string(&rhythm))
                .transpose()
                .context("encoding a rhythm")?,
        )
        .bind(i64::from(new.quiet_work))
        .execute(&mut *tx)
        .await?;
        let notified = if status == SessionStatus::Active {
            let session = session_in(&mut tx, &id).await?;
            join_locked(&mut tx, &session, &new.creator_id, false).await?;
            Vec::new()
        } else {
            // The creator of a scheduled session is always reminded.
            insert_reminder(&mut tx, &id, &new.creator_id).await?;
            let session = session_in(&mut tx, &id).await?;
            crate::favourites::tell_keepers(&mut tx, &session).await?
        };
        let session = session_in(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(CreatedSession { session, notified })
    }

    async fn session(&self, id: &Id) -> StoreResult<Option<Session>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
        fetch_record(&self.reader, &sql, id.as_str(), rows::session).await
    }

    async fn list_sessions(
        &self,
        status: SessionStatus,
        limit: usize,
        after: Option<ListCursor>,
    ) -> StoreResult<SessionPage> {
        self.session_page(status, limit, after, None).await
    }

    async fn list_favourite_sessions(
        &self,
        keeper: &Id,
        status: SessionStatus,
        limit: usize,
        after: Option<ListCursor>,
    ) -> StoreResult<SessionPage> {
        self.session_page(status, limit, after, Some(keeper)).await
    }

    async fn start_session(&self, id: &Id, actor: &Id) -> StoreResult<Session> {
        let mut tx = self.writer.begin().await?;
        let mut session = lock_session(&mut tx, id).await?;
        rules::start(&session, actor)?;
        sqlx::query("UPDATE sessions SET status = 'active', started_at = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(now())
            .execute(&mut *tx)
            .await?;
        session.status = SessionStatus::Active;
        join_locked(&mut tx, &session, actor, false).await?;
        let session = session_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn join_session(
        &self,
        id: &Id,
        user_id: &Id,
        is_agent: bool,
    ) -> StoreResult<Participant> {
        let mut tx = self.writer.begin().await?;
        let session = lock_session(&mut tx, id).await?;
        let (participant, plan) = join_locked(&mut tx, &session, user_id, is_agent).await?;
        if plan == JoinPlan::AlreadyJoined {
            // Joined before: nothing changed, so the version bump is undone too.
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(participant)
    }

    async fn leave_session(&self, id: &Id, user_id: &Id) -> StoreResult<Participant> {
        let mut tx = self.writer.begin().await?;
        lock_session(&mut tx, id).await?;
        let existing = participant_in(&mut tx, id, user_id).await?;
        let plan = rules::leave(existing.as_ref())?;
        if plan == LeavePlan::AlreadyLeft {
            // Leaving twice changes nothing, not even the version.
            tx.rollback().await?;
            return existing.ok_or(StoreError::NotFound);
        }
        leave_locked(&mut tx, id, user_id, plan).await?;
        let participant = participant_in(&mut tx, id, user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(participant)
    }

    async fn end_session(&self, id: &Id, actor: &Id) -> StoreResult<Session> {
        let mut tx = self.writer.begin().await?;
        let session = lock_session(&mut tx, id).await?;
        rules::end(&session, actor)?;
        end_locked(&mut tx, id).await?;
        let session = session_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn set_ai_agent(&self, id: &Id, actor: &Id, enabled: bool) -> StoreResult<Session> {
        let mut tx = self.writer.begin().await?;
        let session = lock_session(&mut tx, id).await?;
        let agent_status = rules::toggle_ai_agent(&session, actor, enabled)?;
        sqlx::query("UPDATE sessions SET ai_agent_enabled = $2, agent_status = $3 WHERE id = $1")
            .bind(id.as_str())
            .bind(i64::from(enabled))
            .bind(agent_status.as_str())
            .execute(&mut *tx)
            .await?;
        let session = session_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn act_on_timer(
        &self,
        id: &Id,
        actor: &Id,
        action: TimerAction,
        minutes: Option<i64>,
        now: chrono::DateTime<Utc>,
    ) -> StoreResult<Session> {
        let mut tx = self.writer.begin().await?;
        let (session, (record, since)) = lock_session_timer(&mut tx, id).await?;
        let plan = record.plan(&session);
        // What time did to the timer is kept apart from what the action does.
        let current = ritual::advance(&record, &plan, now).unwrap_or(record);
        let changed = ritual::act(&session, &current, actor, action, minutes, now)?;
        let since = focus::keep_runs(
            &mut tx,
            id,
            &plan,
            (record.phase, since),
            current.phase,
            now,
        )
        .await?;
        change_timer(&mut tx, &session, (current, since), &changed, now).await?;
        let session = session_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn advance_timers(&self, now: chrono::DateTime<Utc>) -> StoreResult<Vec<Id>> {
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM sessions WHERE timer_state = 'running' AND timer_ends_at <= $1 \
             AND status = 'active' ORDER BY timer_ends_at LIMIT 500",
        )
        .bind(micros(now))
        .fetch_all(&self.reader)
        .await?;
        let mut changed = Vec::new();
        for id in due {
            let id = Id::from_trusted(id);
            let mut tx = self.writer.begin().await?;
            // Re-read under the lock: a pause, a skip or another node's sweep
            // may have got here first.
            let (session, stored) = lock_session_timer(&mut tx, &id).await?;
            if session.status != SessionStatus::Active {
                continue;
            }
            let Some(next) = ritual::advance(&stored.0, &stored.0.plan(&session), now) else {
                continue;
            };
            change_timer(&mut tx, &session, stored, &next, now).await?;
            tx.commit().await?;
            changed.push(id);
        }
        Ok(changed)
    }

    async fn set_goal(
        &self,
        session_id: &Id,
        user_id: &Id,
        goal: Goal,
    ) -> StoreResult<Participant> {
        let mut tx = self.writer.begin().await?;
        let session = lock_session(&mut tx, session_id).await?;
        goal::set_goal(
            &session,
            participant_in(&mut tx, session_id, user_id).await?.as_ref(),
        )?;
        write_goal(&mut tx, session_id, user_id, &goal).await?;
        let participant = seat_in(&mut tx, session_id, user_id).await?;
        tx.commit().await?;
        Ok(participant)
    }

    async fn check_out(
        &self,
        session_id: &Id,
        user_id: &Id,
        check_out: CheckOut,
    ) -> StoreResult<Participant> {
        let mut tx = self.writer.begin().await?;
        lock_session(&mut tx, session_id).await?;
        goal::check_out(participant_in(&mut tx, session_id, user_id).await?.as_ref())?;
        write_check_out(&mut tx, session_id, user_id, check_out).await?;
        let participant = seat_in(&mut tx, session_id, user_id).await?;
        tx.commit().await?;
        Ok(participant)
    }

    async fn mark_goal_done(
        &self,
        session_id: &Id,
        user_id: &Id,
        at: chrono::DateTime<Utc>,
    ) -> StoreResult<Option<Participant>> {
        let mut tx = self.writer.begin().await?;
        let session = lock_session(&mut tx, session_id).await?;
        let seat = participant_in(&mut tx, session_id, user_id).await?;
        let Some((goal, done)) = goal::mark_done(&session, seat.as_ref(), at)? else {
            return Ok(None);
        };
        write_goal(&mut tx, session_id, user_id, &goal).await?;
        write_check_out(&mut tx, session_id, user_id, done).await?;
        let participant = seat_in(&mut tx, session_id, user_id).await?;
        tx.commit().await?;
        Ok(Some(participant))
    }

    async fn participant(&self, session_id: &Id, user_id: &Id) -> StoreResult<Option<Participant>> {
        let mut conn = self.reader.acquire().await?;
        participant_in(&mut conn, session_id, user_id).await
    }

    async fn media_seat(&self, session_id: &Id, user_id: &Id) -> StoreResult<Session> {
        let mut tx = self.reader.begin().await?;
        let session = session_in(&mut tx, session_id).await?;
        rules::hold_media(
            &session,
            participant_in(&mut tx, session_id, user_id).await?.as_ref(),
        )?;
        tx.commit().await?;
        Ok(session)
    }

    async fn check_history_viewer(&self, session_id: &Id, viewer: &Id) -> StoreResult<()> {
        let mut tx = self.reader.begin().await?;
        history_viewer_in(&mut tx, session_id, viewer).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_ai_log(&self, log: NewAiLog) -> StoreResult<AiLog> {
        let id = Id::generate();
        let mut tx = self.writer.begin().await?;
        lock_session(&mut tx, &log.session_id).await?;
        match (log.logged_by, &log.user_id) {
            (LoggedBy::Person, Some(person)) => rules::log_interaction(
                participant_in(&mut tx, &log.session_id, person)
                    .await?
                    .as_ref(),
            )?,
            (LoggedBy::Person, None) => rules::log_interaction(None)?,
            (LoggedBy::Assistant, Some(asker)) => rules::log_for_asker(
                participant_in(&mut tx, &log.session_id, asker)
                    .await?
                    .as_ref(),
            )?,
            (LoggedBy::Assistant, None) => {}
        }
        sqlx::query(
            "INSERT INTO ai_logs (id, session_id, user_id, question, answer, trigger_kind, error, latency_ms, \
             providers, created_at, logged_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id.as_str())
        .bind(log.session_id.as_str())
        .bind(log.user_id.as_ref().map(Id::as_str))
        .bind(&log.question)
        .bind(&log.answer)
        .bind(log.trigger.as_str())
        .bind(&log.error)
        .bind(serde_json::to_string(&log.latency_ms).context("latency_ms")?)
        .bind(serde_json::to_string(&log.providers).context("providers")?)
        .bind(now())
        .bind(log.logged_by.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.ai_log(&id).await?.ok_or(StoreError::NotFound)
    }

    async fn ai_log(&self, id: &Id) -> StoreResult<Option<AiLog>> {
        let sql = format!("SELECT {AI_LOG_COLUMNS} FROM ai_logs l WHERE l.id = $1");
        fetch_record(&self.reader, &sql, id.as_str(), rows::ai_log).await
    }

    async fn user_ai_logs(&self, user_id: &Id, search: Option<&str>) -> StoreResult<Vec<AiLog>> {
        let filter = if search.is_some() {
            "AND (lower(l.question) LIKE $2 ESCAPE '\\' OR lower(l.answer) LIKE $2 ESCAPE '\\')"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {AI_LOG_COLUMNS} FROM ai_logs l WHERE l.user_id = $1 {filter} \
             ORDER BY l.created_at DESC, l.id DESC LIMIT 500"
        );
        let mut query = sqlx::query(&sql).bind(user_id.as_str());
        if let Some(text) = search {
            // Matched literally: % and _ typed by a person are not wildcards.
            let escaped = text
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            query = query.bind(format!("%{escaped}%"));
        }
        let found = query.fetch_all(&self.reader).await?;
        Ok(records(&found, rows::ai_log)?)
    }

    async fn vote(&self, log_id: &Id, user_id: &Id, helpful: bool) -> StoreResult<AiLog> {
        let session_id: String = sqlx::query_scalar("SELECT session_id FROM ai_logs WHERE id = $1")
            .bind(log_id.as_str())
            .fetch_optional(&self.reader)
            .await?
            .ok_or(StoreError::NotFound)?;
        let session_id = Id::from_trusted(session_id);
        let mut tx = self.writer.begin().await?;
        lock_session(&mut tx, &session_id).await?;
        rules::view_session_history(
            participant_in(&mut tx, &session_id, user_id)
                .await?
                .as_ref(),
        )?;
        sqlx::query(
            "INSERT INTO ai_log_votes (log_id, user_id, helpful, voted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (log_id, user_id) DO UPDATE SET helpful = excluded.helpful, voted_at = excluded.voted_at",
        )
        .bind(log_id.as_str())
        .bind(user_id.as_str())
        .bind(i64::from(helpful))
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.ai_log(log_id).await?.ok_or(StoreError::NotFound)
    }

    async fn participants_snapshot(
        &self,
        session_id: &Id,
    ) -> StoreResult<Option<Versioned<Vec<Participant>>>> {
        // One statement is one snapshot on both backends: the version and the
        // rows cannot come from different moments.
        let sql = format!(
            "SELECT s.version AS session_version, {PARTICIPANT_COLUMNS} FROM sessions s \
             LEFT JOIN participants p ON p.session_id = s.id LEFT JOIN users u ON u.id = p.user_id \
             WHERE s.id = $1 ORDER BY CASE p.status WHEN 'joined' THEN 0 ELSE 1 END, p.joined_at, p.user_id"
        );
        snapshot(&self.reader, &sql, session_id, "user_id", rows::participant).await
    }

    async fn ai_logs_snapshot(
        &self,
        session_id: &Id,
        limit: usize,
    ) -> StoreResult<Option<Versioned<Vec<AiLog>>>> {
        // Still one statement, so the version and the entries are one moment.
        let sql = format!(
            "SELECT s.version AS session_version, {AI_LOG_COLUMNS} FROM sessions s \
             LEFT JOIN (SELECT * FROM ai_logs WHERE session_id = $1 \
                        ORDER BY created_at DESC, id DESC LIMIT {limit}) l ON l.session_id = s.id \
             WHERE s.id = $1 ORDER BY l.created_at, l.id"
        );
        snapshot(&self.reader, &sql, session_id, "id", rows::ai_log).await
    }

    async fn session_ai_logs(
        &self,
        session_id: &Id,
        viewer: &Id,
        limit: usize,
        before: Option<&Id>,
    ) -> StoreResult<Vec<AiLog>> {
        let mut tx = self.reader.begin().await?;
        history_viewer_in(&mut tx, session_id, viewer).await?;
        let keyset = if before.is_some() {
            "AND (l.created_at, l.id) < (SELECT b.created_at, b.id FROM ai_logs b \
             WHERE b.id = $2 AND b.session_id = $1)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {AI_LOG_COLUMNS} FROM ai_logs l WHERE l.session_id = $1 {keyset} \
             ORDER BY l.created_at DESC, l.id DESC LIMIT {limit}"
        );
        let mut query = sqlx::query(&sql).bind(session_id.as_str());
        if let Some(before) = before {
            let in_session: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM ai_logs WHERE id = $1 AND session_id = $2",
            )
            .bind(before.as_str())
            .bind(session_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if in_session == 0 {
                return Err(StoreError::Rule(rules::RuleError::Invalid {
                    field: "before",
                    message: "is not an entry of this session's log",
                }));
            }
            query = query.bind(before.as_str());
        }
        let found = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let mut logs = records(&found, rows::ai_log)?;
        logs.reverse();
        Ok(logs)
    }

    async fn chat_snapshot(
        &self,
        session_id: &Id,
        limit: usize,
    ) -> StoreResult<Option<Versioned<Vec<ChatMessage>>>> {
        let sql = format!(
            "SELECT s.version AS session_version, {MESSAGE_COLUMNS} FROM sessions s \
             LEFT JOIN messages m ON m.session_id = s.id LEFT JOIN users u ON u.id = m.user_id \
             WHERE s.id = $1 ORDER BY m.created_at DESC, m.id DESC LIMIT {limit}"
        );
        let newest_first = snapshot(&self.reader, &sql, session_id, "message_id", rows::message);
        Ok(newest_first.await?.map(|(version, mut messages)| {
            messages.reverse();
            (version, messages)
        }))
    }

    async fn post_message(
        &self,
        session_id: &Id,
        user_id: &Id,
        body: String,
    ) -> StoreResult<ChatMessage> {
        let mut tx = self.writer.begin().await?;
        lock_session(&mut tx, session_id).await?;
        rules::post_message(participant_in(&mut tx, session_id, user_id).await?.as_ref())?;
        let id = Id::generate();
        sqlx::query("INSERT INTO messages (id, session_id, user_id, body, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.as_str())
            .bind(session_id.as_str())
            .bind(user_id.as_str())
            .bind(&body)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.user_id WHERE m.id = $1"
        );
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows::message(&row)?)
    }

    async fn messages(
        &self,
        session_id: &Id,
        viewer: &Id,
        limit: usize,
        before: Option<ListCursor>,
    ) -> StoreResult<(Vec<ChatMessage>, Option<ListCursor>)> {
        let mut tx = self.reader.begin().await?;
        history_viewer_in(&mut tx, session_id, viewer).await?;
        let keyset = if before.is_some() {
            "AND (m.created_at < $2 OR (m.created_at = $2 AND m.id < $3))"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.user_id \
             WHERE m.session_id = $1 {keyset} ORDER BY m.created_at DESC, m.id DESC LIMIT {}",
            limit + 1
        );
        let mut query = sqlx::query(&sql).bind(session_id.as_str());
        if let Some(cursor) = &before {
            query = query.bind(micros(cursor.at)).bind(cursor.id.as_str());
        }
        let found = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let mut messages = records(&found, rows::message)?;
        let next = (messages.len() > limit).then(|| {
            messages.truncate(limit);
            let oldest = messages.last().expect("limit is at least 1");
            ListCursor {
                at: oldest.created_at,
                id: oldest.id.clone(),
            }
        });
        messages.reverse();
        Ok((messages, next))
    }

    async fn request_reminder(&self, session_id: &Id, user_id: &Id) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        let session = session_in(&mut tx, session_id).await?;
        rules::request_reminder(&session)?;
        insert_reminder(&mut tx, session_id, user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn notifications(&self, user_id: &Id, limit: usize) -> StoreResult<Vec<Notification>> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT {limit}"
        );
        fetch_records(&self.reader, &sql, user_id.as_str(), rows::notification).await
    }

    async fn set_calendar_secret(
        &self,
        user_id: &Id,
        secret_hash: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM calendar_secrets WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        if let Some(hash) = secret_hash {
            sqlx::query("INSERT INTO calendar_secrets (user_id, secret_hash, created_at) VALUES ($1, $2, $3)")
                .bind(user_id.as_str())
                .bind(hash)
                .bind(now())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn has_calendar_secret(&self, user_id: &Id) -> StoreResult<bool> {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM calendar_secrets WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_one(&self.reader)
                .await?;
        Ok(count > 0)
    }

    async fn user_by_calendar_secret(&self, secret_hash: &str) -> StoreResult<Option<User>> {
        let sql = "SELECT u.id, u.email, u.name, u.created_at FROM calendar_secrets c \
                   JOIN users u ON u.id = c.user_id WHERE c.secret_hash = $1";
        fetch_record(&self.reader, sql, secret_hash, rows::user).await
    }

    async fn calendar_sessions(&self, user_id: &Id) -> StoreResult<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE creator_id = $1 \
             OR id IN (SELECT session_id FROM reminders WHERE user_id = $1) \
             ORDER BY COALESCE(scheduled_start, started_at, created_at) DESC, id DESC LIMIT 500"
        );
        fetch_records(&self.reader, &sql, user_id.as_str(), rows::session).await
    }

    async fn mark_present(&self, node_id: &str, session_id: &Id, user_id: &Id) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO presence (node_id, session_id, user_id) VALUES ($1, $2, $3) \
             ON CONFLICT (node_id, session_id, user_id) DO NOTHING",
        )
        .bind(node_id)
        .bind(session_id.as_str())
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE participants SET departed_at = NULL WHERE session_id = $1 AND user_id = $2",
        )
        .bind(session_id.as_str())
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn mark_absent(&self, node_id: &str, session_id: &Id, user_id: &Id) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM presence WHERE node_id = $1 AND session_id = $2 AND user_id = $3")
            .bind(node_id)
            .bind(session_id.as_str())
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE participants SET departed_at = $3 WHERE session_id = $1 AND user_id = $2 AND status = 'joined'",
        )
        .bind(session_id.as_str())
        .bind(user_id.as_str())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn heartbeat(&self, node_id: &str) -> StoreResult<bool> {
        // The writer first, then the clock: on SQLite the wait for the one
        // writer connection is where a stall shows.
        let mut conn = self.writer.acquire().await?;
        let now = now();
        let known = sqlx::query("UPDATE nodes SET heartbeat_at = $2 WHERE id = $1")
            .bind(node_id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            > 0;
        if !known {
            sqlx::query(
                "INSERT INTO nodes (id, heartbeat_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            )
            .bind(node_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Ok(known)
    }

    async fn forget_node(&self, node_id: &str) -> StoreResult<()> {
        self.close_node_connections(node_id, None, now()).await
    }

    async fn pin_media_home(
        &self,
        session_id: &Id,
        here: &MediaHome,
        dead_after: Duration,
    ) -> StoreResult<MediaHome> {
        self.pin_home(session_id, here, dead_after).await
    }

    async fn release_media_homes(&self, node_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM media_homes WHERE node_id = $1")
            .bind(node_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn take_over_media_home(
        &self,
        session_id: &Id,
        gone: &str,
        here: &MediaHome,
    ) -> StoreResult<MediaHome> {
        self.take_over_home(session_id, gone, here).await
    }

    async fn project_sessions(&self, project_id: &Id) -> StoreResult<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE project_id = $1 \
             ORDER BY COALESCE(scheduled_start, started_at, created_at) DESC, id DESC LIMIT 500"
        );
        fetch_records(&self.reader, &sql, project_id.as_str(), rows::session).await
    }

    async fn session_history(&self, user_id: &Id) -> StoreResult<Vec<SessionHistory>> {
        let columns = SESSION_COLUMNS
            .split(", ")
            .map(|column| format!("s.{}", column.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, p.joined_at AS my_joined_at, p.left_at AS my_left_at, \
             (SELECT count(*) FROM participants q WHERE q.session_id = s.id AND q.role <> 'agent') AS people, \
             (SELECT count(*) FROM ai_logs l WHERE l.session_id = s.id) AS ai_questions \
             FROM participants p JOIN sessions s ON s.id = p.session_id \
             WHERE p.user_id = $1 AND (s.status = 'ended' OR p.status = 'left') \
             ORDER BY COALESCE(s.ended_at, p.left_at) DESC, s.id DESC LIMIT 500"
        );
        fetch_records(&self.reader, &sql, user_id.as_str(), rows::session_history).await
    }

    async fn create_timelapse(
        &self,
        uploader_id: &Id,
        timelapse: NewTimelapse,
        quota_bytes: u64,
    ) -> StoreResult<Timelapse> {
        let mut tx = self.writer.begin().await?;
        let project = lock_project(&mut tx, &timelapse.project_id).await?;
        rules::change_project(&project, uploader_id)?;
        // The uploader's row is the lock every upload of theirs takes, whichever
        // project it is for; what they keep is summed under it.
        sqlx::query("UPDATE users SET name = name WHERE id = $1")
            .bind(uploader_id.as_str())
            .execute(&mut *tx)
            .await?;
        let kept = kept_video_bytes(&mut tx, uploader_id).await?;
        let size = u64::try_from(timelapse.size_bytes).context("a negative video size")?;
        rules::keep_video(kept, size, quota_bytes)?;
        let sql = format!(
            "INSERT INTO timelapses (id, project_id, uploader_id, filename, content_type, size_bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {TIMELAPSE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(timelapse.id.as_str())
            .bind(timelapse.project_id.as_str())
            .bind(uploader_id.as_str())
            .bind(&timelapse.filename)
            .bind(&timelapse.content_type)
            .bind(timelapse.size_bytes)
            .bind(now())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows::timelapse(&row)?)
    }

    async fn kept_video_bytes(&self, uploader_id: &Id) -> StoreResult<u64> {
        let mut conn = self.reader.acquire().await?;
        kept_video_bytes(&mut conn, uploader_id).await
    }

    async fn timelapses(&self, project_id: &Id) -> StoreResult<Vec<Timelapse>> {
        let sql = format!(
            "SELECT {TIMELAPSE_COLUMNS} FROM timelapses WHERE project_id = $1 ORDER BY created_at DESC, id DESC"
        );
        fetch_records(&self.reader, &sql, project_id.as_str(), rows::timelapse).await
    }

    async fn timelapse(&self, id: &Id) -> StoreResult<Option<Timelapse>> {
        let sql = format!("SELECT {TIMELAPSE_COLUMNS} FROM timelapses WHERE id = $1");
        fetch_record(&self.reader, &sql, id.as_str(), rows::timelapse).await
    }

    async fn delete_timelapse(&self, id: &Id, actor: &Id) -> StoreResult<Timelapse> {
        let mut tx = self.writer.begin().await?;
        let sql = format!("SELECT {TIMELAPSE_COLUMNS} FROM timelapses WHERE id = $1");
        let timelapse = fetch_record(&mut *tx, &sql, id.as_str(), rows::timelapse)
            .await?
            .ok_or(StoreError::NotFound)?;
        let project = lock_project(&mut tx, &timelapse.project_id).await?;
        rules::change_project(&project, actor)?;
        sqlx::query("DELETE FROM timelapses WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(timelapse)
    }

    async fn ensure_agent_user(&self) -> StoreResult<User> {
        // "!" is not a hash argon2 can parse, so no password ever matches.
        sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, '!', $4) \
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(Id::generate().as_str())
        .bind(AGENT_EMAIL)
        .bind("Lock In Assistant")
        .bind(now())
        .execute(&self.writer)
        .await?;
        let (user, _) = self
            .user_credentials(AGENT_EMAIL)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(user)
    }

    async fn agent_sessions(&self) -> StoreResult<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE status = 'active' AND ai_agent_enabled = 1 \
             ORDER BY started_at, id"
        );
        let found = sqlx::query(&sql).fetch_all(&self.reader).await?;
        Ok(records(&found, rows::session)?)
    }

    async fn set_agent_status(&self, session_id: &Id, status: AgentStatus) -> StoreResult<Session> {
        let mut tx = self.writer.begin().await?;
        let session = lock_session(&mut tx, session_id).await?;
        rules::agent_serves(&session)?;
        if session.agent_status == status {
            tx.rollback().await?;
            return Ok(session);
        }
        sqlx::query("UPDATE sessions SET agent_status = $2 WHERE id = $1")
            .bind(session_id.as_str())
            .bind(status.as_str())
            .execute(&mut *tx)
            .await?;
        let session = session_in(&mut tx, session_id).await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn agent_join(&self, session_id: &Id, agent_id: &Id) -> StoreResult<Participant> {
        let mut tx = self.writer.begin().await?;
        let session = lock_session(&mut tx, session_id).await?;
        rules::agent_serves(&session)?;
        let (participant, _) = join_locked(&mut tx, &session, agent_id, true).await?;
        sqlx::query("UPDATE sessions SET agent_status = $2 WHERE id = $1")
            .bind(session_id.as_str())
            .bind(AgentStatus::Listening.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(participant)
    }

    async fn claim_agent_session(
        &self,
        session_id: &Id,
        worker_id: &str,
        lease: Duration,
    ) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await?;
        let session = session_in(&mut tx, session_id).await?;
        rules::agent_serves(&session)?;
        let (now, expires_at) = lease_from_now(lease);
        // One statement decides: insert, or take over an expired or own claim.
        let claimed = sqlx::query(
            "INSERT INTO agent_claims (session_id, worker_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (session_id) DO UPDATE SET worker_id = excluded.worker_id, expires_at = excluded.expires_at \
             WHERE agent_claims.worker_id = excluded.worker_id OR agent_claims.expires_at <= $4",
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

    async fn release_agent_session(&self, session_id: &Id, worker_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM agent_claims WHERE session_id = $1 AND worker_id = $2")
            .bind(session_id.as_str())
            .bind(worker_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn focus_record(
        &self,
        user_id: &Id,
        since: chrono::DateTime<Utc>,
    ) -> StoreResult<FocusRecord> {
        self.focus_record_of(user_id, since).await
    }

    async fn session_runs(&self, session_id: &Id) -> StoreResult<Vec<Run>> {
        self.runs_of(session_id).await
    }

    async fn sweep(&self, node_id: &str, timeouts: &Timeouts) -> StoreResult<SweepReport> {
        self.sweep_due(node_id, timeouts).await
    }

    async fn moderate(
        &self,
        session_id: &Id,
        actor: &Id,
        target: &Id,
        action: HostAction,
    ) -> StoreResult<Moderated> {
        self.moderate_session(session_id, actor, target, action)
            .await
    }

    async fn mute_everyone(&self, session_id: &Id, actor: &Id) -> StoreResult<MutedEveryone> {
        self.mute_everyone_in(session_id, actor).await
    }

    async fn media_holds(&self, session_id: &Id, user_id: &Id) -> StoreResult<Vec<SilencedMedia>> {
        self.holds_of(session_id, user_id).await
    }

    async fn release_media_holds(
        &self,
        session_id: &Id,
        user_id: &Id,
        media: &[SilencedMedia],
    ) -> StoreResult<()> {
        self.let_go_of_holds(session_id, user_id, media).await
    }

    async fn set_locked(&self, session_id: &Id, actor: &Id, locked: bool) -> StoreResult<Session> {
        self.lock_room(session_id, actor, locked).await
    }

    async fn report(&self, report: NewReport) -> StoreResult<Report> {
        self.insert_report(report).await
    }

    async fn reports(&self, limit: usize) -> StoreResult<Vec<Report>> {
        self.newest_reports(limit).await
    }

    async fn block(&self, blocker: &Id, blocked: &Id) -> StoreResult<Block> {
        self.insert_block(blocker, blocked).await
    }

    async fn unblock(&self, blocker: &Id, blocked: &Id) -> StoreResult<()> {
        self.delete_block(blocker, blocked).await
    }

    async fn blocks(&self, blocker: &Id) -> StoreResult<Vec<Block>> {
        self.blocks_of(blocker).await
    }

    async fn mark_favourite(&self, keeper: &Id, marked: &Id) -> StoreResult<Favourite> {
        self.insert_favourite(keeper, marked).await
    }

    async fn unmark_favourite(&self, keeper: &Id, marked: &Id) -> StoreResult<()> {
        self.delete_favourite(keeper, marked).await
    }

    async fn favourites(&self, keeper: &Id) -> StoreResult<Vec<Favourite>> {
        self.favourites_kept(keeper).await
    }

    async fn recap(&self, session_id: &Id, viewer: &Id) -> StoreResult<RecapRecord> {
        self.recap_record(session_id, viewer).await
    }

    async fn summaries_wanted(&self, limit: usize) -> StoreResult<Vec<Id>> {
        self.wanted_summaries(limit).await
    }

    async fn claim_summary(
        &self,
        session_id: &Id,
        worker_id: &str,
        lease: Duration,
    ) -> StoreResult<bool> {
        self.claim_summary_for(session_id, worker_id, lease).await
    }

    async fn write_summary(
        &self,
        session_id: &Id,
        worker_id: &str,
        summary: NewSummary,
    ) -> StoreResult<WrittenSummary> {
        self.keep_summary(session_id, worker_id, summary).await
    }
}

/// Reads one row into its record.
type Record<T> = fn(&AnyRow) -> anyhow::Result<T>;

/// Every row as a record; one corrupt row fails the read.
pub(crate) fn records<T>(found: &[AnyRow], record: Record<T>) -> anyhow::Result<Vec<T>> {
    found.iter().map(record).collect()
}

/// The row `sql` finds with `$1` bound to `key` (a unique key), as a record;
/// `None` when there is none.
async fn fetch_record<'e, T>(
    executor: impl Executor<'e, Database = Any>,
    sql: &'e str,
    key: &'e str,
    record: Record<T>,
) -> StoreResult<Option<T>> {
    let row = sqlx::query(sql).bind(key).fetch_optional(executor).await?;
    Ok(row.as_ref().map(record).transpose()?)
}

/// Every row `sql` finds with `$1` bound to `key`, as records.
async fn fetch_records<'e, T>(
    executor: impl Executor<'e, Database = Any>,
    sql: &'e str,
    key: &'e str,
    record: Record<T>,
) -> StoreResult<Vec<T>> {
    let found = sqlx::query(sql).bind(key).fetch_all(executor).await?;
    Ok(records(&found, record)?)
}

/// A `sessions s LEFT JOIN …` snapshot of the session `$1`: its version and
/// the joined records (none when the join found nothing), read in one
/// statement so that both are one moment. `None` when there is no such
/// session.
async fn snapshot<'e, T>(
    executor: impl Executor<'e, Database = Any>,
    sql: &'e str,
    session_id: &'e Id,
    key_column: &str,
    record: Record<T>,
) -> StoreResult<Option<Versioned<Vec<T>>>> {
    let found = sqlx::query(sql)
        .bind(session_id.as_str())
        .fetch_all(executor)
        .await?;
    let Some(first) = found.first() else {
        return Ok(None);
    };
    let version = rows::session_version(first)?;
    let mut records = Vec::with_capacity(found.len());
    for row in &found {
        if rows::has(row, key_column)? {
            records.push(record(row)?);
        }
    }
    Ok(Some((version, records)))
}

//! The [`Store`] over SQLite or PostgreSQL.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use chrono::Utc;
use domain::Id;
use domain::ai_log::AiLog;
use domain::project::Project;
use domain::rules::{self, JoinPlan, LeavePlan};
use domain::session::{Participant, Session, SessionStatus};
use domain::user::User;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Executor};

use crate::rows::{
    self, AI_LOG_SELECT, PARTICIPANT_SELECT, PROJECT_COLUMNS, SESSION_COLUMNS, USER_COLUMNS, micros,
};
use crate::{
    Gauges, ListCursor, NewAiLog, NewProject, NewSession, NewUser, ProjectChanges, SessionPage,
    Store, StoreError, StoreResult,
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
    reader: AnyPool,
    /// Serves every transaction. On SQLite it holds a single connection: SQLite
    /// has one writer at a time anyway, and queueing here instead of in SQLite
    /// means a transaction never fails with "database is locked" halfway through.
    /// On PostgreSQL it is the same pool as `reader`, and row locks order writers.
    writer: AnyPool,
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

fn now() -> i64 {
    micros(Utc::now())
}

/// Takes the session row's write lock for the rest of the transaction and
/// returns the row as it is under that lock. Bumping `version` is the write
/// that takes the lock on both backends.
async fn lock_session(conn: &mut AnyConnection, id: &Id) -> StoreResult<Session> {
    let sql = format!(
        "UPDATE sessions SET version = version + 1 WHERE id = $1 RETURNING {SESSION_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(rows::session(&row.ok_or(StoreError::NotFound)?)?)
}

async fn session_in(conn: &mut AnyConnection, id: &Id) -> StoreResult<Session> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(rows::session(&row.ok_or(StoreError::NotFound)?)?)
}

async fn participant_in(
    conn: &mut AnyConnection,
    session_id: &Id,
    user_id: &Id,
) -> StoreResult<Option<Participant>> {
    let sql = format!("{PARTICIPANT_SELECT} WHERE p.session_id = $1 AND p.user_id = $2");
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
) -> StoreResult<Participant> {
    let existing = participant_in(conn, &session.id, user_id).await?;
    let plan = rules::join(session, user_id, is_agent, existing.as_ref())?;
    if let JoinPlan::Join { role } = plan {
        sqlx::query(
            "INSERT INTO participants (session_id, user_id, role, status, joined_at, left_at) \
             VALUES ($1, $2, $3, 'joined', $4, NULL) \
             ON CONFLICT (session_id, user_id) DO UPDATE \
             SET role = excluded.role, status = 'joined', joined_at = excluded.joined_at, left_at = NULL",
        )
        .bind(session.id.as_str())
        .bind(user_id.as_str())
        .bind(role.as_str())
        .bind(now())
        .execute(&mut *conn)
        .await?;
        if plan.takes_seat() {
            sqlx::query(
                "UPDATE sessions SET participant_count = participant_count + 1 WHERE id = $1",
            )
            .bind(session.id.as_str())
            .execute(&mut *conn)
            .await?;
        }
    }
    participant_in(conn, &session.id, user_id)
        .await?
        .ok_or_else(|| {
            StoreError::Other(anyhow::anyhow!(
                "participant vanished inside its own transaction"
            ))
        })
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
        let row = sqlx::query(
            "SELECT u.id, u.email, u.name, u.created_at FROM tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1",
        )
        .bind(token_hash)
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

    async fn create_project(&self, project: NewProject) -> StoreResult<Project> {
        let sql = format!(
            "INSERT INTO projects (id, owner_id, name, description, repo_url, tech_stack, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {PROJECT_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(Id::generate().as_str())
            .bind(project.owner_id.as_str())
            .bind(&project.name)
            .bind(&project.description)
            .bind(&project.repo_url)
            .bind(serde_json::to_string(&project.tech_stack).context("tech_stack")?)
            .bind(now())
            .fetch_one(&self.writer)
            .await?;
        Ok(rows::project(&row)?)
    }

    async fn project(&self, id: &Id) -> StoreResult<Option<Project>> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(rows::project).transpose()?)
    }

    async fn projects_of(&self, owner_id: &Id) -> StoreResult<Vec<Project>> {
        let sql = format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE owner_id = $1 ORDER BY created_at DESC, id DESC"
        );
        let found = sqlx::query(&sql)
            .bind(owner_id.as_str())
            .fetch_all(&self.reader)
            .await?;
        Ok(found
            .iter()
            .map(rows::project)
            .collect::<anyhow::Result<_>>()?)
    }

    async fn can_see_project(&self, project_id: &Id, user_id: &Id) -> StoreResult<bool> {
        let visible: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM projects pr WHERE pr.id = $1 AND (pr.owner_id = $2 OR EXISTS ( \
               SELECT 1 FROM sessions s JOIN participants p ON p.session_id = s.id \
               WHERE s.project_id = pr.id AND p.user_id = $2))",
        )
        .bind(project_id.as_str())
        .bind(user_id.as_str())
        .fetch_one(&self.reader)
        .await?;
        Ok(visible > 0)
    }

    async fn update_project(&self, id: &Id, changes: ProjectChanges) -> StoreResult<Project> {
        let mut tx = self.writer.begin().await?;
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let current = rows::project(&row.ok_or(StoreError::NotFound)?)?;
        let sql = format!(
            "UPDATE projects SET name = $2, description = $3, repo_url = $4, tech_stack = $5 WHERE id = $1 \
             RETURNING {PROJECT_COLUMNS}"
        );
        let tech_stack = changes.tech_stack.unwrap_or(current.tech_stack);
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .bind(changes.name.unwrap_or(current.name))
            .bind(changes.description.unwrap_or(current.description))
            .bind(changes.repo_url.unwrap_or(current.repo_url))
            .bind(serde_json::to_string(&tech_stack).context("tech_stack")?)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows::project(&row)?)
    }

    async fn delete_project(&self, id: &Id) -> StoreResult<()> {
        let deleted = sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.writer)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn create_session(&self, new: NewSession) -> StoreResult<Session> {
        let id = Id::generate();
        let now = now();
        let status = if new.scheduled_start.is_some() {
            SessionStatus::Scheduled
        } else {
            SessionStatus::Active
        };
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, creator_id, title, description, session_type, status, scheduled_start, \
             started_at, project_id, max_participants, ai_agent_enabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id.as_str())
        .bind(new.creator_id.as_str())
        .bind(&new.title)
        .bind(&new.description)
        .bind(new.session_type.as_str())
        .bind(status.as_str())
        .bind(new.scheduled_start.map(micros))
        .bind((status == SessionStatus::Active).then_some(now))
        .bind(new.project_id.as_ref().map(Id::as_str))
        .bind(new.max_participants)
        .bind(i64::from(new.ai_agent_enabled))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if status == SessionStatus::Active {
            let session = session_in(&mut tx, &id).await?;
            join_locked(&mut tx, &session, &new.creator_id, false).await?;
        }
        let session = session_in(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn session(&self, id: &Id) -> StoreResult<Option<Session>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(rows::session).transpose()?)
    }

    async fn list_sessions(
        &self,
        status: SessionStatus,
        limit: usize,
        after: Option<ListCursor>,
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
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE status = $1 {keyset} \
             ORDER BY {column} {order}, id {order} LIMIT {}",
            limit + 1
        );
        let mut query = sqlx::query(&sql).bind(status.as_str());
        if let Some(cursor) = &after {
            query = query.bind(micros(cursor.at)).bind(cursor.id.as_str());
        }
        let found = query.fetch_all(&self.reader).await?;
        let mut sessions = found
            .iter()
            .map(rows::session)
            .collect::<anyhow::Result<Vec<_>>>()?;
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
        let participant = join_locked(&mut tx, &session, user_id, is_agent).await?;
        tx.commit().await?;
        Ok(participant)
    }

    async fn leave_session(&self, id: &Id, user_id: &Id) -> StoreResult<Participant> {
        let mut tx = self.writer.begin().await?;
        lock_session(&mut tx, id).await?;
        let existing = participant_in(&mut tx, id, user_id).await?;
        match rules::leave(existing.as_ref())? {
            LeavePlan::AlreadyLeft => {}
            LeavePlan::Leave { frees_seat } => {
                sqlx::query("UPDATE participants SET status = 'left', left_at = $3 WHERE session_id = $1 AND user_id = $2")
                    .bind(id.as_str())
                    .bind(user_id.as_str())
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                if frees_seat {
                    sqlx::query("UPDATE sessions SET participant_count = participant_count - 1 WHERE id = $1")
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
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
        let now = now();
        sqlx::query("UPDATE sessions SET status = 'ended', ended_at = $2, participant_count = 0 WHERE id = $1")
            .bind(id.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE participants SET status = 'left', left_at = $2 WHERE session_id = $1 AND status = 'joined'")
            .bind(id.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let session = session_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn set_ai_agent(&self, id: &Id, actor: &Id, enabled: bool) -> StoreResult<Session> {
        let mut tx = self.writer.begin().await?;
        let session = lock_session(&mut tx, id).await?;
        rules::toggle_ai_agent(&session, actor)?;
        sqlx::query("UPDATE sessions SET ai_agent_enabled = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(i64::from(enabled))
            .execute(&mut *tx)
            .await?;
        let session = session_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn participants(&self, session_id: &Id) -> StoreResult<Vec<Participant>> {
        let sql = format!(
            "{PARTICIPANT_SELECT} WHERE p.session_id = $1 \
             ORDER BY CASE p.status WHEN 'joined' THEN 0 ELSE 1 END, p.joined_at, p.user_id"
        );
        let found = sqlx::query(&sql)
            .bind(session_id.as_str())
            .fetch_all(&self.reader)
            .await?;
        Ok(found
            .iter()
            .map(rows::participant)
            .collect::<anyhow::Result<_>>()?)
    }

    async fn participant(&self, session_id: &Id, user_id: &Id) -> StoreResult<Option<Participant>> {
        let mut conn = self.reader.acquire().await?;
        participant_in(&mut conn, session_id, user_id).await
    }

    async fn insert_ai_log(&self, log: NewAiLog) -> StoreResult<AiLog> {
        let id = Id::generate();
        sqlx::query(
            "INSERT INTO ai_logs (id, session_id, user_id, question, answer, trigger_kind, error, latency_ms, \
             providers, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
        .execute(&self.writer)
        .await?;
        self.ai_log(&id).await?.ok_or(StoreError::NotFound)
    }

    async fn ai_log(&self, id: &Id) -> StoreResult<Option<AiLog>> {
        let sql = format!("{AI_LOG_SELECT} WHERE l.id = $1");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(rows::ai_log).transpose()?)
    }

    async fn session_ai_logs(&self, session_id: &Id) -> StoreResult<Vec<AiLog>> {
        let sql = format!("{AI_LOG_SELECT} WHERE l.session_id = $1 ORDER BY l.created_at, l.id");
        let found = sqlx::query(&sql)
            .bind(session_id.as_str())
            .fetch_all(&self.reader)
            .await?;
        Ok(found
            .iter()
            .map(rows::ai_log)
            .collect::<anyhow::Result<_>>()?)
    }

    async fn user_ai_logs(&self, user_id: &Id) -> StoreResult<Vec<AiLog>> {
        let sql =
            format!("{AI_LOG_SELECT} WHERE l.user_id = $1 ORDER BY l.created_at DESC, l.id DESC");
        let found = sqlx::query(&sql)
            .bind(user_id.as_str())
            .fetch_all(&self.reader)
            .await?;
        Ok(found
            .iter()
            .map(rows::ai_log)
            .collect::<anyhow::Result<_>>()?)
    }

    async fn vote(&self, log_id: &Id, user_id: &Id, helpful: bool) -> StoreResult<AiLog> {
        sqlx::query(
            "INSERT INTO ai_log_votes (log_id, user_id, helpful, voted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (log_id, user_id) DO UPDATE SET helpful = excluded.helpful, voted_at = excluded.voted_at",
        )
        .bind(log_id.as_str())
        .bind(user_id.as_str())
        .bind(i64::from(helpful))
        .bind(now())
        .execute(&self.writer)
        .await?;
        self.ai_log(log_id).await?.ok_or(StoreError::NotFound)
    }
}

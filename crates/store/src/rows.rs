//! Rows back into domain records. The store wrote every value here itself, so a
//! value that does not fit its type is corruption and reported as an error.

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use domain::Id;
use domain::ai_log::{AiLog, LoggedBy, Trigger};
use domain::chat::{ChatMessage, Notification};
use domain::goal::{CheckOut, Goal, Outcome};
use domain::project::Project;
use domain::project::Timelapse;
use domain::ritual::{TimerPhase, TimerRecord};
use domain::session::{
    AgentStatus, Participant, ParticipantStatus, Role, Session, SessionHistory, SessionStatus,
    SessionType,
};
use domain::user::User;
use sqlx::Row;
use sqlx::any::AnyRow;

pub(crate) const USER_COLUMNS: &str = "id, email, name, created_at";

pub(crate) const PROJECT_COLUMNS: &str =
    "id, owner_id, name, description, repo_url, tech_stack, timelapses_shared, created_at";

pub(crate) const SESSION_COLUMNS: &str = "id, creator_id, title, description, session_type, status, \
     scheduled_start, started_at, ended_at, project_id, max_participants, ai_agent_enabled, \
     participant_count, agent_status, created_at, version, creator_name, planned_minutes, rhythm, \
     quiet_work, timer_state, timer_block, timer_ends_at, timer_remaining, timer_minutes, locked";

/// A seat's columns, `p` the participant and `u` its user.
pub(crate) const PARTICIPANT_COLUMNS: &str = "p.session_id, p.user_id, u.name, p.role, \
     p.status, p.joined_at, p.left_at, p.goal, p.goal_tasks, p.goal_set_at, p.check_out, \
     p.check_out_note, p.checked_out_at, p.removed_at";

/// Vote counts are computed on read: one row per vote keeps "one vote a person,
/// the last one counts" a primary-key upsert instead of counter bookkeeping.
pub(crate) const AI_LOG_COLUMNS: &str = "l.id, l.session_id, l.user_id, l.question, \
     l.answer, l.trigger_kind, l.logged_by, l.error, l.latency_ms, l.providers, l.created_at, \
     (SELECT count(*) FROM ai_log_votes v WHERE v.log_id = l.id AND v.helpful = 1) AS helpful_votes, \
     (SELECT count(*) FROM ai_log_votes v WHERE v.log_id = l.id AND v.helpful = 0) AS unhelpful_votes, \
     (SELECT v.helpful FROM ai_log_votes v WHERE v.log_id = l.id AND v.user_id = l.user_id) AS asker_vote";

pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn time(row: &AnyRow, column: &str) -> anyhow::Result<DateTime<Utc>> {
    let value: i64 = row.try_get(column)?;
    DateTime::from_timestamp_micros(value).ok_or_else(|| anyhow!("{column} out of range: {value}"))
}

pub(crate) fn optional_time(row: &AnyRow, column: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
    let value: Option<i64> = row.try_get(column)?;
    value
        .map(|v| {
            DateTime::from_timestamp_micros(v).ok_or_else(|| anyhow!("{column} out of range: {v}"))
        })
        .transpose()
}

pub(crate) fn id(row: &AnyRow, column: &str) -> anyhow::Result<Id> {
    Ok(Id::from_trusted(row.try_get(column)?))
}

fn optional_id(row: &AnyRow, column: &str) -> anyhow::Result<Option<Id>> {
    Ok(row
        .try_get::<Option<String>, _>(column)?
        .map(Id::from_trusted))
}

fn text_enum<T>(row: &AnyRow, column: &str, parse: fn(&str) -> Option<T>) -> anyhow::Result<T> {
    let text: String = row.try_get(column)?;
    parse(&text).ok_or_else(|| anyhow!("unknown {column} {text:?}"))
}

pub(crate) fn user(row: &AnyRow) -> anyhow::Result<User> {
    Ok(User {
        id: id(row, "id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn project(row: &AnyRow) -> anyhow::Result<Project> {
    let tech_stack: String = row.try_get("tech_stack")?;
    Ok(Project {
        id: id(row, "id")?,
        owner_id: id(row, "owner_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        repo_url: row.try_get("repo_url")?,
        tech_stack: serde_json::from_str(&tech_stack).context("tech_stack")?,
        timelapses_shared: row.try_get::<i64, _>("timelapses_shared")? != 0,
        created_at: time(row, "created_at")?,
    })
}

/// A session's timer as stored: its phase and its ad-hoc length.
pub(crate) fn timer_record(row: &AnyRow) -> anyhow::Result<TimerRecord> {
    let state = text_enum(row, "timer_state", |text| {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
    })?;
    let remaining = row
        .try_get::<Option<i64>, _>("timer_remaining")?
        .map(chrono::Duration::microseconds);
    let phase = TimerPhase::from_parts(
        state,
        row.try_get("timer_block")?,
        optional_time(row, "timer_ends_at")?,
        remaining,
    )
    .ok_or_else(|| anyhow!("a timer {state:?} without its time"))?;
    Ok(TimerRecord {
        phase,
        adhoc_minutes: row.try_get("timer_minutes")?,
    })
}

pub(crate) fn session(row: &AnyRow) -> anyhow::Result<Session> {
    let rhythm = row
        .try_get::<Option<String>, _>("rhythm")?
        .map(|text| serde_json::from_str(&text).context("rhythm"))
        .transpose()?;
    let mut session = Session {
        id: id(row, "id")?,
        creator_id: id(row, "creator_id")?,
        creator_name: row.try_get("creator_name")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        session_type: text_enum(row, "session_type", SessionType::from_str_opt)?,
        status: text_enum(row, "status", SessionStatus::from_str_opt)?,
        scheduled_start: optional_time(row, "scheduled_start")?,
        started_at: optional_time(row, "started_at")?,
        ended_at: optional_time(row, "ended_at")?,
        project_id: optional_id(row, "project_id")?,
        max_participants: row.try_get("max_participants")?,
        ai_agent_enabled: row.try_get::<i64, _>("ai_agent_enabled")? != 0,
        participant_count: row.try_get("participant_count")?,
        agent_status: text_enum(row, "agent_status", AgentStatus::from_str_opt)?,
        created_at: time(row, "created_at")?,
        version: row.try_get("version")?,
        open_for_joining: false,
        planned_minutes: row.try_get("planned_minutes")?,
        rhythm,
        quiet_work: row.try_get::<i64, _>("quiet_work")? != 0,
        timer: TimerPhase::NotStarted.view(&[], None),
        locked: row.try_get::<i64, _>("locked")? != 0,
    };
    session.open_for_joining = domain::rules::open_for_joining(&session);
    let timer = timer_record(row)?;
    session.timer = timer.phase.view(&timer.plan(&session), timer.adhoc_minutes);
    Ok(session)
}

pub(crate) fn participant(row: &AnyRow) -> anyhow::Result<Participant> {
    Ok(Participant {
        session_id: id(row, "session_id")?,
        user_id: id(row, "user_id")?,
        name: row.try_get("name")?,
        role: text_enum(row, "role", Role::from_str_opt)?,
        status: text_enum(row, "status", ParticipantStatus::from_str_opt)?,
        joined_at: time(row, "joined_at")?,
        left_at: optional_time(row, "left_at")?,
        goal: goal(row)?,
        check_out: check_out(row)?,
        removed: row.try_get::<Option<i64>, _>("removed_at")?.is_some(),
    })
}

fn goal(row: &AnyRow) -> anyhow::Result<Option<Goal>> {
    let Some(text) = row.try_get::<Option<String>, _>("goal")? else {
        return Ok(None);
    };
    let tasks = match row.try_get::<Option<String>, _>("goal_tasks")? {
        Some(json) => serde_json::from_str(&json).context("reading a goal's tasks")?,
        None => Vec::new(),
    };
    let set_at =
        optional_time(row, "goal_set_at")?.ok_or_else(|| anyhow!("a goal without its time"))?;
    Ok(Some(Goal {
        text,
        tasks,
        set_at,
    }))
}

fn check_out(row: &AnyRow) -> anyhow::Result<Option<CheckOut>> {
    if row.try_get::<Option<String>, _>("check_out")?.is_none() {
        return Ok(None);
    }
    Ok(Some(CheckOut {
        outcome: text_enum(row, "check_out", Outcome::from_str_opt)?,
        note: row.try_get("check_out_note")?,
        at: optional_time(row, "checked_out_at")?
            .ok_or_else(|| anyhow!("a check-out without its time"))?,
    }))
}

pub(crate) fn ai_log(row: &AnyRow) -> anyhow::Result<AiLog> {
    let latency: String = row.try_get("latency_ms")?;
    let providers: String = row.try_get("providers")?;
    Ok(AiLog {
        id: id(row, "id")?,
        session_id: id(row, "session_id")?,
        user_id: optional_id(row, "user_id")?,
        question: row.try_get("question")?,
        answer: row.try_get("answer")?,
        trigger: text_enum(row, "trigger_kind", Trigger::from_str_opt)?,
        logged_by: text_enum(row, "logged_by", LoggedBy::from_str_opt)?,
        helpful: row
            .try_get::<Option<i64>, _>("asker_vote")?
            .map(|vote| vote != 0),
        helpful_votes: row.try_get("helpful_votes")?,
        unhelpful_votes: row.try_get("unhelpful_votes")?,
        error: row.try_get("error")?,
        latency_ms: serde_json::from_str(&latency).context("latency_ms")?,
        providers: serde_json::from_str(&providers).context("providers")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) const MESSAGE_COLUMNS: &str = "m.id AS message_id, m.session_id AS message_session_id, \
     m.user_id AS message_user_id, u.name AS message_name, m.body, m.created_at AS message_created_at";

pub(crate) fn message(row: &AnyRow) -> anyhow::Result<ChatMessage> {
    Ok(ChatMessage {
        id: id(row, "message_id")?,
        session_id: id(row, "message_session_id")?,
        user_id: id(row, "message_user_id")?,
        name: row.try_get("message_name")?,
        body: row.try_get("body")?,
        created_at: time(row, "message_created_at")?,
    })
}

pub(crate) const NOTIFICATION_COLUMNS: &str = "id, user_id, kind, session_id, message, created_at";

pub(crate) fn notification(row: &AnyRow) -> anyhow::Result<Notification> {
    Ok(Notification {
        id: id(row, "id")?,
        user_id: id(row, "user_id")?,
        kind: row.try_get("kind")?,
        session_id: optional_id(row, "session_id")?,
        message: row.try_get("message")?,
        created_at: time(row, "created_at")?,
    })
}

/// The session version read beside a snapshot's rows.
pub(crate) fn session_version(row: &AnyRow) -> anyhow::Result<i64> {
    Ok(row.try_get("session_version")?)
}

/// Whether a LEFT JOIN found a row on its right side.
pub(crate) fn has(row: &AnyRow, column: &str) -> anyhow::Result<bool> {
    Ok(row.try_get::<Option<String>, _>(column)?.is_some())
}

pub(crate) const TIMELAPSE_COLUMNS: &str =
    "id, project_id, uploader_id, filename, content_type, size_bytes, created_at";

pub(crate) fn timelapse(row: &AnyRow) -> anyhow::Result<Timelapse> {
    let timelapse_id = id(row, "id")?;
    Ok(Timelapse {
        url: format!("/api/timelapses/{timelapse_id}/video"),
        id: timelapse_id,
        project_id: id(row, "project_id")?,
        uploader_id: id(row, "uploader_id")?,
        filename: row.try_get("filename")?,
        content_type: row.try_get("content_type")?,
        size_bytes: row.try_get("size_bytes")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn session_history(row: &AnyRow) -> anyhow::Result<SessionHistory> {
    let session = session(row)?;
    let joined_at = time(row, "my_joined_at")?;
    let left_at = optional_time(row, "my_left_at")?;
    let began = session.started_at.unwrap_or(joined_at);
    let finished = session.ended_at.or(left_at).unwrap_or(began);
    Ok(SessionHistory {
        duration_seconds: (finished - began).num_seconds().max(0),
        joined_at,
        left_at,
        people: row.try_get("people")?,
        ai_questions: row.try_get("ai_questions")?,
        session,
    })
}

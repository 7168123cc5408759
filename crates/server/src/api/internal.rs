//! What the AI agent calls, with the agent token: it joins sessions as a
//! participant of its own (role `agent`), reports what it is doing, reads the
//! context it answers in, and speaks in the chat. It never touches the store
//! itself, so an agent worker in another process works the same as the one
//! inside `lockin serve`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::ai_log::AiLog;
use domain::chat::{ChatMessage, MessageBody};
use domain::event::Event;
use domain::project::Project;
use domain::rules;
use domain::session::{AgentStatus, Participant, Session};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sessions::{announce, existing_session};
use crate::AppState;
use crate::auth::AgentCaller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, PathId};

/// How many earlier exchanges of a session the agent is given as context.
const RECENT_EXCHANGES: usize = 4;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(agent_sessions))
        .routes(routes!(claim))
        .routes(routes!(release))
        .routes(routes!(join))
        .routes(routes!(leave))
        .routes(routes!(report_status))
        .routes(routes!(context))
        .routes(routes!(say_in_chat))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerClaim {
    /// The worker's own id, stable while it runs.
    worker_id: String,
    /// How long the claim lasts unless renewed; 1–300 s, default 30.
    lease_seconds: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct Claimed {
    /// False: another worker serves this session.
    claimed: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    /// listening, thinking or speaking (or joining).
    status: AgentStatus,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentMessage {
    body: String,
}

#[derive(Serialize, ToSchema)]
pub struct AgentContext {
    session: Session,
    project: Option<Project>,
    /// The latest exchanges of this session, oldest first.
    recent: Vec<AiLog>,
}

fn worker_id(raw: &str) -> ApiResult<&str> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 100 {
        return Err(ApiError::invalid(
            "worker_id",
            "must be 1 to 100 characters",
        ));
    }
    Ok(raw)
}

#[utoipa::path(get, path = "/internal/sessions", tag = "agent", security(("agent" = [])),
    responses((status = 200, description = "active sessions with the assistant on", body = [Session]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn agent_sessions(
    State(state): State<AppState>,
    _agent: AgentCaller,
) -> ApiResult<Json<Vec<Session>>> {
    Ok(Json(state.store.agent_sessions().await?))
}

/// A session is served by exactly one worker: the one holding its claim.
#[utoipa::path(post, path = "/internal/sessions/{id}/claim", tag = "agent", security(("agent" = [])),
    params(("id" = String, Path, description = "session id")), request_body = WorkerClaim,
    responses((status = 200, body = Claimed), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn claim(
    State(state): State<AppState>,
    _agent: AgentCaller,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<WorkerClaim>,
) -> ApiResult<Json<Claimed>> {
    let worker = worker_id(&body.worker_id)?;
    let lease = match body.lease_seconds {
        None => 30,
        Some(seconds @ 1..=300) => seconds,
        Some(_) => return Err(ApiError::invalid("lease_seconds", "must be from 1 to 300")),
    };
    rules::agent_serves(&existing_session(&state, &session_id).await?)?;
    let claimed = state
        .store
        .claim_agent_session(&session_id, worker, Duration::from_secs(lease))
        .await?;
    Ok(Json(Claimed { claimed }))
}

#[utoipa::path(post, path = "/internal/sessions/{id}/release", tag = "agent", security(("agent" = [])),
    params(("id" = String, Path, description = "session id")), request_body = WorkerClaim,
    responses((status = 204, description = "released (or it was not ours)"), (status = 404, body = ErrorBody)))]
async fn release(
    State(state): State<AppState>,
    _agent: AgentCaller,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<WorkerClaim>,
) -> ApiResult<StatusCode> {
    let worker = worker_id(&body.worker_id)?;
    existing_session(&state, &session_id).await?;
    state
        .store
        .release_agent_session(&session_id, worker)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/internal/sessions/{id}/join", tag = "agent", security(("agent" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = Participant), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn join(
    State(state): State<AppState>,
    _agent: AgentCaller,
    PathId(session_id): PathId,
) -> ApiResult<Json<Participant>> {
    rules::agent_serves(&existing_session(&state, &session_id).await?)?;
    let participant = state
        .store
        .join_session(&session_id, &state.agent_user.id, true)
        .await?;
    state
        .store
        .set_agent_status(&session_id, AgentStatus::Listening)
        .await?;
    announce(&state, &session_id, true).await;
    Ok(Json(participant))
}

#[utoipa::path(post, path = "/internal/sessions/{id}/leave", tag = "agent", security(("agent" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = Participant), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn leave(
    State(state): State<AppState>,
    _agent: AgentCaller,
    PathId(session_id): PathId,
) -> ApiResult<Json<Participant>> {
    let participant = state
        .store
        .leave_session(&session_id, &state.agent_user.id)
        .await?;
    announce(&state, &session_id, true).await;
    Ok(Json(participant))
}

#[utoipa::path(post, path = "/internal/sessions/{id}/agent-status", tag = "agent", security(("agent" = [])),
    params(("id" = String, Path, description = "session id")), request_body = StatusReport,
    responses((status = 200, body = Session), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn report_status(
    State(state): State<AppState>,
    _agent: AgentCaller,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<StatusReport>,
) -> ApiResult<Json<Session>> {
    if body.status == AgentStatus::Off {
        return Err(ApiError::invalid(
            "status",
            "only the session's creator switches the assistant off",
        ));
    }
    let session = state
        .store
        .set_agent_status(&session_id, body.status)
        .await?;
    announce(&state, &session_id, false).await;
    Ok(Json(session))
}

#[utoipa::path(get, path = "/internal/sessions/{id}/context", tag = "agent", security(("agent" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = AgentContext), (status = 404, body = ErrorBody)))]
async fn context(
    State(state): State<AppState>,
    _agent: AgentCaller,
    PathId(session_id): PathId,
) -> ApiResult<Json<AgentContext>> {
    let session = existing_session(&state, &session_id).await?;
    let project = match &session.project_id {
        Some(id) => state.store.project(id).await?,
        None => None,
    };
    let (_, logs) = state
        .store
        .ai_logs_snapshot(&session_id)
        .await?
        .unwrap_or_default();
    let recent = logs[logs.len().saturating_sub(RECENT_EXCHANGES)..].to_vec();
    Ok(Json(AgentContext {
        session,
        project,
        recent,
    }))
}

#[utoipa::path(post, path = "/internal/sessions/{id}/messages", tag = "agent", security(("agent" = [])),
    params(("id" = String, Path, description = "session id")), request_body = AgentMessage,
    responses((status = 201, body = ChatMessage), (status = 403, description = "the agent is not in the session", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn say_in_chat(
    State(state): State<AppState>,
    _agent: AgentCaller,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<AgentMessage>,
) -> ApiResult<(StatusCode, Json<ChatMessage>)> {
    let body = MessageBody::parse(&body.body)?;
    let message = state
        .store
        .post_message(&session_id, &state.agent_user.id, body.into_inner())
        .await?;
    state.bus.publish(Event::ChatChanged { session_id }).await;
    Ok((StatusCode::CREATED, Json(message)))
}

//! What the AI agent calls, with the agent token: it joins sessions as a
//! participant of its own (role `agent`), reports what it is doing, reads the
//! context it answers in, speaks in the chat, and writes the summaries of
//! ended sessions (claimed like sessions, held to their facts by
//! `app::recap`). It never touches the store itself, so an agent worker in
//! another process works the same as the one inside `lockin serve`.

use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use domain::Id;
use domain::chat::{ChatMessage, MessageBody};
use domain::recap::{SessionSummary, SummaryDraft, SummaryFacts};
use domain::session::{Participant, Session};
use protocol::internal::{
    AgentContext, AgentMessage, Claimed, RoomReply, RoomRequest, StatusReport, SummaryReport,
    WorkerClaim,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::AgentCaller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, PathId};

/// How many earlier exchanges of a session the agent is given as context.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(agent_sessions))
        .routes(routes!(claim))
        .routes(routes!(release))
        .routes(routes!(join))
        .routes(routes!(leave))
        .routes(routes!(report_status))
        .routes(routes!(context))
        .routes(routes!(room_command))
        .routes(routes!(say_in_chat))
        .routes(routes!(summaries_wanted))
        .routes(routes!(claim_summary))
        .routes(routes!(summary_facts))
        .routes(routes!(write_summary))
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
    responses((status = 200, description = "active sessions with the assistant on", body = [Session]), (status = 403, body = ErrorBody)))]
async fn agent_sessions(agent: AgentCaller) -> ApiResult<Json<Vec<Session>>> {
    Ok(Json(agent.app.agent_sessions(&agent.caller).await?))
}

/// A claim's worker and lease: the lease is 30 s when not given, else 1
/// to 300 s.
fn worker_lease(body: &WorkerClaim) -> ApiResult<(&str, Duration)> {
    let worker = worker_id(&body.worker_id)?;
    let seconds = match body.lease_seconds {
        None => 30,
        Some(seconds @ 1..=300) => seconds,
        Some(_) => return Err(ApiError::invalid("lease_seconds", "must be from 1 to 300")),
    };
    Ok((worker, Duration::from_secs(seconds)))
}

/// A session is served by exactly one worker: the one holding its claim.
#[utoipa::path(post, path = "/internal/sessions/{id}/claim", tag = "agent", security(("agent" = [])),
    request_body = WorkerClaim,
    responses((status = 200, body = Claimed), (status = 409, body = ErrorBody)))]
async fn claim(
    agent: AgentCaller,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<WorkerClaim>,
) -> ApiResult<Json<Claimed>> {
    let (worker, lease) = worker_lease(&body)?;
    let claimed = agent
        .app
        .claim_for_worker(&agent.caller, &session_id, worker, lease)
        .await?;
    Ok(Json(Claimed { claimed }))
}

#[utoipa::path(post, path = "/internal/sessions/{id}/release", tag = "agent", security(("agent" = [])),
    request_body = WorkerClaim,
    responses((status = 204, description = "released (or it was not ours)")))]
async fn release(
    agent: AgentCaller,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<WorkerClaim>,
) -> ApiResult<StatusCode> {
    // The same body as a claim, checked the same way, though release has no use for the lease.
    let (worker, _) = worker_lease(&body)?;
    agent
        .app
        .release_for_worker(&agent.caller, &session_id, worker)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/internal/sessions/{id}/join", tag = "agent", security(("agent" = [])),
    responses((status = 200, body = Participant), (status = 409, body = ErrorBody)))]
async fn join(agent: AgentCaller, PathId(session_id): PathId) -> ApiResult<Json<Participant>> {
    Ok(Json(
        agent.app.agent_join(&agent.caller, &session_id).await?,
    ))
}

#[utoipa::path(post, path = "/internal/sessions/{id}/leave", tag = "agent", security(("agent" = [])),
    responses((status = 200, body = Participant), (status = 409, body = ErrorBody)))]
async fn leave(agent: AgentCaller, PathId(session_id): PathId) -> ApiResult<Json<Participant>> {
    Ok(Json(
        agent.app.agent_leave(&agent.caller, &session_id).await?,
    ))
}

#[utoipa::path(post, path = "/internal/sessions/{id}/agent-status", tag = "agent", security(("agent" = [])),
    request_body = StatusReport,
    responses((status = 200, body = Session), (status = 409, body = ErrorBody)))]
async fn report_status(
    agent: AgentCaller,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<StatusReport>,
) -> ApiResult<Json<Session>> {
    Ok(Json(
        agent
            .app
            .report_agent_status(&agent.caller, &session_id, body.status)
            .await?,
    ))
}

#[utoipa::path(get, path = "/internal/sessions/{id}/context", tag = "agent", security(("agent" = [])),
    responses((status = 200, body = AgentContext)))]
async fn context(agent: AgentCaller, PathId(session_id): PathId) -> ApiResult<Json<AgentContext>> {
    Ok(Json(
        agent.app.agent_context(&agent.caller, &session_id).await?,
    ))
}

/// A question about the room (the timer, goals, who is here, the project),
/// answered from the session's data and acted on as the person who asked.
#[utoipa::path(post, path = "/internal/sessions/{id}/room", tag = "agent", security(("agent" = [])),
    request_body = RoomRequest,
    responses((status = 200, body = RoomReply),
        (status = 403, description = "the asker is not in the room", body = ErrorBody)))]
async fn room_command(
    agent: AgentCaller,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<RoomRequest>,
) -> ApiResult<Json<RoomReply>> {
    let asker = Id::parse("user_id", &body.user_id)?;
    Ok(Json(
        agent
            .app
            .room_command(&agent.caller, &session_id, &asker, body.command)
            .await?,
    ))
}

#[utoipa::path(post, path = "/internal/sessions/{id}/messages", tag = "agent", security(("agent" = [])),
    request_body = AgentMessage,
    responses((status = 201, body = ChatMessage), (status = 403, description = "the agent is not in the session", body = ErrorBody)))]
async fn say_in_chat(
    agent: AgentCaller,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<AgentMessage>,
) -> ApiResult<(StatusCode, Json<ChatMessage>)> {
    let body = MessageBody::parse(&body.body)?;
    let message = agent
        .app
        .agent_say(&agent.caller, &session_id, body)
        .await?;
    Ok((StatusCode::CREATED, Json(message)))
}

/// The ended sessions whose summary waits for a worker (none claimed, or
/// the claim expired), the longest waiting first.
#[utoipa::path(get, path = "/internal/summaries", tag = "agent", security(("agent" = [])),
    responses((status = 200, description = "session ids", body = [String])))]
async fn summaries_wanted(agent: AgentCaller) -> ApiResult<Json<Vec<String>>> {
    let wanted = agent.app.summaries_wanted(&agent.caller).await?;
    Ok(Json(wanted.into_iter().map(|id| id.to_string()).collect()))
}

/// A session's summary is written by exactly one worker: the one holding
/// its claim when it posts it.
#[utoipa::path(post, path = "/internal/sessions/{id}/summary/claim", tag = "agent", security(("agent" = [])),
    request_body = WorkerClaim,
    responses((status = 200, body = Claimed),
        (status = 409, description = "no summary is wanted (the assistant was off, or the session runs), or it is written", body = ErrorBody)))]
async fn claim_summary(
    agent: AgentCaller,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<WorkerClaim>,
) -> ApiResult<Json<Claimed>> {
    let (worker, lease) = worker_lease(&body)?;
    let claimed = agent
        .app
        .claim_summary(&agent.caller, &session_id, worker, lease)
        .await?;
    Ok(Json(Claimed { claimed }))
}

/// What the summary may say, and all it may name.
#[utoipa::path(get, path = "/internal/sessions/{id}/summary-facts", tag = "agent", security(("agent" = [])),
    responses((status = 200, body = SummaryFacts),
        (status = 409, description = "the session has not ended", body = ErrorBody)))]
async fn summary_facts(
    agent: AgentCaller,
    PathId(session_id): PathId,
) -> ApiResult<Json<SummaryFacts>> {
    Ok(Json(
        agent.app.summary_facts(&agent.caller, &session_id).await?,
    ))
}

#[utoipa::path(post, path = "/internal/sessions/{id}/summary", tag = "agent", security(("agent" = [])),
    request_body = SummaryReport,
    responses((status = 200, description = "the summary kept: the model's text, or one composed from the facts", body = SessionSummary),
        (status = 409, description = "not this worker's claim, already written, or none wanted", body = ErrorBody)))]
async fn write_summary(
    agent: AgentCaller,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<SummaryReport>,
) -> ApiResult<Json<SessionSummary>> {
    let worker = worker_id(&body.worker_id)?;
    let draft = SummaryDraft::parse(body.text, body.provider, body.latency_ms)?;
    Ok(Json(
        agent
            .app
            .write_summary(&agent.caller, &session_id, worker, draft)
            .await?,
    ))
}

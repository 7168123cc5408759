//! The assistant's log: written by people and by the agent, read and rated by
//! anyone who was in the session.

use axum::Json;
use axum::http::StatusCode;
use domain::Id;
use domain::ai_log::LoggedBy;
use domain::ai_log::{self, AiLog, Answer, LatencyMs, Providers, Question, Trigger};
use domain::input::{NonBlank, Text};
use protocol::internal::LogInteractionInternal;
use serde::Deserialize;
use store::NewAiLog;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::app::ai_logs::AI_LOG_PAGE;
use crate::auth::{AgentCaller, CurrentUser};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::paging;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(log_interaction, session_logs))
        .routes(routes!(log_interaction_internal))
        .routes(routes!(my_logs))
        .routes(routes!(mark_helpful))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogInteraction {
    #[schema(value_type = NonBlank<4000>)]
    question: String,
    #[schema(value_type = Text<20000>)]
    answer: String,
    /// Default `text`.
    trigger: Option<Trigger>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    helpful: bool,
}

#[utoipa::path(post, path = "/api/sessions/{id}/ai-logs", tag = "ai logs", security(("bearer" = []), ("cookie" = [])),
    request_body = LogInteraction,
    responses((status = 201, body = AiLog), (status = 403, description = "not in the session", body = ErrorBody), (status = 429, description = "too many entries by hand this minute", body = ErrorBody)))]
async fn log_interaction(
    me: CurrentUser,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<LogInteraction>,
) -> ApiResult<(StatusCode, Json<AiLog>)> {
    let log = NewAiLog {
        // Set by the use case: a person logs as a person, for themselves.
        logged_by: LoggedBy::Person,
        user_id: None,
        question: Question::parse(&body.question)?.into_inner(),
        answer: Answer::parse(&body.answer)?.into_inner(),
        trigger: body.trigger.unwrap_or_default(),
        error: None,
        latency_ms: LatencyMs::default(),
        providers: Providers::default(),
        session_id,
    };
    let saved = me.app.log_interaction(&me.caller, log).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

#[utoipa::path(post, path = "/internal/ai-logs", tag = "ai logs", security(("agent" = [])), request_body = LogInteractionInternal,
    responses((status = 201, body = AiLog), (status = 403, description = "a person's token", body = ErrorBody)))]
async fn log_interaction_internal(
    agent: AgentCaller,
    ApiJson(body): ApiJson<LogInteractionInternal>,
) -> ApiResult<(StatusCode, Json<AiLog>)> {
    let session_id = Id::parse("session_id", &body.session_id)?;
    let user_id = body
        .user_id
        .as_deref()
        .map(|raw| Id::parse("user_id", raw))
        .transpose()?;
    let log = NewAiLog {
        logged_by: LoggedBy::Assistant,
        question: Question::parse(&body.question)?.into_inner(),
        answer: Answer::parse(&body.answer)?.into_inner(),
        trigger: body.trigger,
        error: ai_log::parse_error_text(body.error.as_deref())?,
        latency_ms: body.latency_ms.unwrap_or_default().parse()?,
        providers: body.providers.unwrap_or_default().parse()?,
        session_id,
        user_id,
    };
    let saved = agent.app.log_interaction(&agent.caller, log).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionLogsQuery {
    /// 1–100, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// An entry's id: the page ends just before it (none: at the newest).
    #[param(format = "uuid")]
    before: Option<String>,
}

#[utoipa::path(get, path = "/api/sessions/{id}/ai-logs", tag = "ai logs", security(("bearer" = []), ("cookie" = [])),
    params(SessionLogsQuery),
    responses((status = 200, description = "the latest `limit` entries before `before`, oldest first", body = [AiLog]), (status = 403, body = ErrorBody)))]
async fn session_logs(
    me: CurrentUser,
    PathId(session_id): PathId,
    ApiQuery(query): ApiQuery<SessionLogsQuery>,
) -> ApiResult<Json<Vec<AiLog>>> {
    let limit = paging::parse_limit(query.limit.as_deref(), AI_LOG_PAGE, 100)?;
    let before = query
        .before
        .as_deref()
        .map(|raw| Id::parse("before", raw))
        .transpose()?;
    Ok(Json(
        me.app
            .session_ai_logs(&me.caller, &session_id, limit, before.as_ref())
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MyLogsQuery {
    /// Only interactions whose question or answer contains this text (any case).
    #[param(max_length = 200)]
    q: Option<String>,
}

#[utoipa::path(get, path = "/api/me/ai-logs", tag = "ai logs", security(("bearer" = []), ("cookie" = [])), params(MyLogsQuery),
    responses((status = 200, description = "the questions I asked, newest first", body = [AiLog])))]
async fn my_logs(
    me: CurrentUser,
    ApiQuery(query): ApiQuery<MyLogsQuery>,
) -> ApiResult<Json<Vec<AiLog>>> {
    let search = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty());
    if search.is_some_and(|text| text.chars().count() > 200) {
        return Err(ApiError::invalid("q", "must be at most 200 characters"));
    }
    Ok(Json(me.app.my_ai_logs(&me.caller, search).await?))
}

#[utoipa::path(post, path = "/api/ai-logs/{id}/feedback", tag = "ai logs", security(("bearer" = []), ("cookie" = [])),
    request_body = Feedback,
    responses((status = 200, body = AiLog), (status = 403, body = ErrorBody)))]
async fn mark_helpful(
    me: CurrentUser,
    PathId(log_id): PathId,
    ApiJson(body): ApiJson<Feedback>,
) -> ApiResult<Json<AiLog>> {
    Ok(Json(
        me.app
            .rate_answer(&me.caller, &log_id, body.helpful)
            .await?,
    ))
}

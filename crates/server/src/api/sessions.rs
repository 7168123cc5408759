//! Lock In sessions: the ten functions of the seed, from create to end, and
//! the shared timer (docs/RITUAL.md).

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use domain::Id;
use domain::input::{NonBlank, Text};
use domain::project;
use domain::ritual::{Rhythm, SessionShape, TimerAction};
use domain::session::{
    MaxParticipants, Participant, Schedule, Session, SessionDraft, SessionStatus, SessionTitle,
    SessionType,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::app::sessions::{SessionList, SessionTimer};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::paging;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_session, list_sessions))
        .routes(routes!(get_session))
        .routes(routes!(start_session))
        .routes(routes!(join_session))
        .routes(routes!(leave_session))
        .routes(routes!(end_session))
        .routes(routes!(get_participants))
        .routes(routes!(toggle_ai_agent))
        .routes(routes!(run_timer, get_timer))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    #[schema(value_type = NonBlank<120>)]
    title: String,
    /// Empty means none.
    #[schema(value_type = Option<Text<2000>>)]
    description: Option<String>,
    session_type: SessionType,
    /// Absent, or not in the future: the session starts now with you as host.
    scheduled_start: Option<DateTime<Utc>>,
    /// One of your projects.
    #[schema(value_type = Option<String>, format = "uuid")]
    project_id: Option<String>,
    /// 2–50 people; the assistant takes no seat.
    #[schema(minimum = 2, maximum = 50)]
    max_participants: i64,
    ai_agent_enabled: bool,
    /// How long the session is planned to last: 1–180 minutes (the form
    /// offers 25, 50, 75 and 90). Absent: not planned.
    #[schema(minimum = 1, maximum = 180)]
    planned_minutes: Option<i64>,
    /// How the time is divided. Absent: no rhythm.
    rhythm: Option<Rhythm>,
    /// Mute each person's microphone when a work block starts (they may unmute).
    #[serde(default)]
    quiet_work: bool,
}

impl CreateSession {
    fn parse(self) -> ApiResult<SessionDraft> {
        Ok(SessionDraft {
            title: SessionTitle::parse(&self.title)?,
            description: project::parse_description(self.description.as_deref())?,
            max_participants: MaxParticipants::parse(self.max_participants)?,
            schedule: Schedule::decide(self.scheduled_start, Utc::now())?,
            project_id: self
                .project_id
                .as_deref()
                .map(|raw| Id::parse("project_id", raw))
                .transpose()?,
            session_type: self.session_type,
            ai_agent_enabled: self.ai_agent_enabled,
            shape: SessionShape::parse(self.planned_minutes, self.rhythm)?,
            quiet_work: self.quiet_work,
        })
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `active` (default, newest first) or `scheduled` (soonest first).
    #[param(pattern = "^(active|scheduled)$")]
    status: Option<String>,
    /// 1–100, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(
        pattern = r"^-?[0-9]{1,16}_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
    /// `favourites`: only the sessions that someone you keep as a favourite
    /// hosts, is in now, or (before it starts) asked to be reminded of.
    #[param(pattern = "^favourites$")]
    with: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunTimer {
    action: TimerAction,
    /// For `start` of a session without a planned length or a pomodoro
    /// rhythm: the ad-hoc timer's length, 1–180 (default 25).
    #[schema(minimum = 1, maximum = 180)]
    minutes: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToggleAiAgent {
    enabled: bool,
}

#[utoipa::path(post, path = "/api/sessions", tag = "sessions", security(("bearer" = []), ("cookie" = [])), request_body = CreateSession,
    responses((status = 201, body = Session)))]
async fn create_session(
    me: CurrentUser,
    ApiJson(body): ApiJson<CreateSession>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let session = me.app.create_session(&me.caller, body.parse()?).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

#[utoipa::path(get, path = "/api/sessions", tag = "sessions", security(("bearer" = []), ("cookie" = [])), params(ListQuery),
    responses((status = 200, body = SessionList)))]
async fn list_sessions(
    me: CurrentUser,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<SessionList>> {
    let status = match query.status.as_deref() {
        None | Some("active") => SessionStatus::Active,
        Some("scheduled") => SessionStatus::Scheduled,
        Some(_) => return Err(ApiError::invalid("status", "must be active or scheduled")),
    };
    let limit = paging::parse_limit(query.limit.as_deref(), 20, 100)?;
    let after = query
        .cursor
        .as_deref()
        .map(paging::decode_cursor)
        .transpose()?;
    let list = match query.with.as_deref() {
        None => me.app.list_sessions(status, limit, after).await?,
        Some("favourites") => {
            me.app
                .favourite_sessions(&me.caller, status, limit, after)
                .await?
        }
        Some(_) => return Err(ApiError::invalid("with", "must be favourites")),
    };
    Ok(Json(list))
}

#[utoipa::path(get, path = "/api/sessions/{id}", tag = "sessions", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Session)))]
async fn get_session(me: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Session>> {
    Ok(Json(me.app.session(&id).await?))
}

#[utoipa::path(post, path = "/api/sessions/{id}/start", tag = "sessions", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Session), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn start_session(me: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Session>> {
    Ok(Json(me.app.start_session(&me.caller, &id).await?))
}

#[utoipa::path(post, path = "/api/sessions/{id}/join", tag = "sessions", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Participant), (status = 409, description = "full, or not active", body = ErrorBody)))]
async fn join_session(me: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Participant>> {
    Ok(Json(me.app.join_session(&me.caller, &id).await?))
}

#[utoipa::path(post, path = "/api/sessions/{id}/leave", tag = "sessions", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Participant), (status = 409, description = "never joined", body = ErrorBody)))]
async fn leave_session(me: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Participant>> {
    Ok(Json(me.app.leave_session(&me.caller, &id).await?))
}

#[utoipa::path(post, path = "/api/sessions/{id}/end", tag = "sessions", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Session), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn end_session(me: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Session>> {
    Ok(Json(me.app.end_session(&me.caller, &id).await?))
}

#[utoipa::path(get, path = "/api/sessions/{id}/participants", tag = "sessions", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "joined first, then those who left", body = [Participant])))]
async fn get_participants(
    me: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Vec<Participant>>> {
    Ok(Json(me.app.participants(&id).await?))
}

#[utoipa::path(post, path = "/api/sessions/{id}/ai-agent", tag = "sessions", security(("bearer" = []), ("cookie" = [])),
    request_body = ToggleAiAgent,
    responses((status = 200, body = Session), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn toggle_ai_agent(
    me: CurrentUser,
    PathId(id): PathId,
    ApiJson(body): ApiJson<ToggleAiAgent>,
) -> ApiResult<Json<Session>> {
    Ok(Json(
        me.app
            .switch_assistant(&me.caller, &id, body.enabled)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/sessions/{id}/timer", tag = "sessions", security(("bearer" = []), ("cookie" = [])),
    request_body = RunTimer,
    responses((status = 200, body = SessionTimer), (status = 400, body = ErrorBody),
        (status = 403, description = "not the host", body = ErrorBody),
        (status = 409, description = "the session is not active, or the timer is not in a state for this action", body = ErrorBody)))]
async fn run_timer(
    me: CurrentUser,
    PathId(id): PathId,
    ApiJson(body): ApiJson<RunTimer>,
) -> ApiResult<Json<SessionTimer>> {
    Ok(Json(
        me.app
            .run_timer(&me.caller, &id, body.action, body.minutes)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/sessions/{id}/timer", tag = "sessions", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = SessionTimer)))]
async fn get_timer(me: CurrentUser, PathId(id): PathId) -> ApiResult<Json<SessionTimer>> {
    Ok(Json(me.app.timer(&id).await?))
}

//! Lock In sessions: the ten functions of the seed, from create to end.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use domain::Id;
use domain::event::Event;
use domain::project;
use domain::session::{
    MaxParticipants, Participant, Schedule, Session, SessionStatus, SessionTitle, SessionType,
};
use serde::{Deserialize, Serialize};
use store::{ListCursor, NewSession};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PathId};

use super::paging;

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
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// 1–120 characters.
    pub(crate) title: String,
    pub(crate) description: Option<String>,
    pub(crate) session_type: SessionType,
    /// Absent, or not in the future: the session starts now with you as host.
    pub(crate) scheduled_start: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>)]
    pub(crate) project_id: Option<String>,
    /// 2–50 people; the assistant takes no seat.
    pub(crate) max_participants: i64,
    pub(crate) ai_agent_enabled: bool,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `active` (default, newest first) or `scheduled` (soonest first).
    status: Option<String>,
    /// 1–100, default 20.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub(crate) sessions: Vec<Session>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToggleAiAgent {
    enabled: bool,
}

/// Tells listeners on every node that a session (and maybe its people) changed.
pub(crate) async fn announce(state: &AppState, session_id: &Id, participants_too: bool) {
    state
        .bus
        .publish(Event::SessionChanged {
            session_id: session_id.clone(),
        })
        .await;
    if participants_too {
        state
            .bus
            .publish(Event::ParticipantsChanged {
                session_id: session_id.clone(),
            })
            .await;
    }
}

/// The session, or 404.
pub(crate) async fn existing_session(state: &AppState, id: &Id) -> ApiResult<Session> {
    state
        .store
        .session(id)
        .await?
        .ok_or(ApiError::NotFound("no such session"))
}

#[utoipa::path(post, path = "/api/sessions", tag = "sessions", security(("bearer" = [])), request_body = CreateSession,
    responses((status = 201, body = Session), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn create_session(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiJson(body): ApiJson<CreateSession>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let session = create(&state, caller.user.id, body).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// Parses and creates a session for `creator`; shared by the API and the create-session form.
pub(crate) async fn create(
    state: &AppState,
    creator: Id,
    body: CreateSession,
) -> ApiResult<Session> {
    let title = SessionTitle::parse(&body.title)?;
    let description = project::parse_description(body.description.as_deref())?;
    let max_participants = MaxParticipants::parse(body.max_participants)?;
    let schedule = Schedule::decide(body.scheduled_start, Utc::now())?;
    let project_id = match body.project_id.as_deref() {
        None => None,
        Some(raw) => {
            let id = Id::parse("project_id", raw)?;
            if !state.store.can_see_project(&id, &creator).await? {
                return Err(ApiError::invalid(
                    "project_id",
                    "no project with this id that you can see",
                ));
            }
            Some(id)
        }
    };
    let session = state
        .store
        .create_session(NewSession {
            creator_id: creator,
            title: title.into_inner(),
            description,
            session_type: body.session_type,
            scheduled_start: match schedule {
                Schedule::Instant => None,
                Schedule::At(at) => Some(at),
            },
            project_id,
            max_participants: max_participants.get(),
            ai_agent_enabled: body.ai_agent_enabled,
        })
        .await?;
    announce(state, &session.id, session.status == SessionStatus::Active).await;
    Ok(session)
}

#[utoipa::path(get, path = "/api/sessions", tag = "sessions", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = SessionList), (status = 400, body = ErrorBody)))]
async fn list_sessions(
    State(state): State<AppState>,
    _caller: CurrentUser,
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
    Ok(Json(page(&state, status, limit, after).await?))
}

/// How many sessions the live lists (`sessions:active`, `sessions:upcoming`) hold.
pub const LIVE_LIST_LIMIT: usize = 50;

/// The first page of a list, as the live lists show it.
pub(crate) async fn first_page(state: &AppState, status: SessionStatus) -> ApiResult<SessionList> {
    page(state, status, LIVE_LIST_LIMIT, None).await
}

async fn page(
    state: &AppState,
    status: SessionStatus,
    limit: usize,
    after: Option<ListCursor>,
) -> ApiResult<SessionList> {
    let page = state.store.list_sessions(status, limit, after).await?;
    Ok(SessionList {
        sessions: page.sessions,
        next_cursor: page.next.as_ref().map(paging::encode_cursor),
    })
}

#[utoipa::path(get, path = "/api/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = Session), (status = 404, body = ErrorBody)))]
async fn get_session(
    State(state): State<AppState>,
    _caller: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Session>> {
    Ok(Json(existing_session(&state, &id).await?))
}

#[utoipa::path(post, path = "/api/sessions/{id}/start", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = Session), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn start_session(
    State(state): State<AppState>,
    caller: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Session>> {
    Ok(Json(start(&state, &id, &caller.user.id).await?))
}

/// Starts a scheduled session, the creator joining as host; shared with the session page.
pub(crate) async fn start(state: &AppState, id: &Id, actor: &Id) -> ApiResult<Session> {
    let session = state.store.start_session(id, actor).await?;
    announce(state, id, true).await;
    Ok(session)
}

#[utoipa::path(post, path = "/api/sessions/{id}/join", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = Participant), (status = 404, body = ErrorBody), (status = 409, description = "full, or not active", body = ErrorBody)))]
async fn join_session(
    State(state): State<AppState>,
    caller: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Participant>> {
    Ok(Json(join(&state, &id, &caller.user.id).await?))
}

/// Takes a seat for a person; shared with the pages' join buttons.
pub(crate) async fn join(state: &AppState, id: &Id, user: &Id) -> ApiResult<Participant> {
    let participant = state.store.join_session(id, user, false).await?;
    announce(state, id, true).await;
    Ok(participant)
}

#[utoipa::path(post, path = "/api/sessions/{id}/leave", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = Participant), (status = 404, body = ErrorBody), (status = 409, description = "never joined", body = ErrorBody)))]
async fn leave_session(
    State(state): State<AppState>,
    caller: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Participant>> {
    Ok(Json(leave(&state, &id, &caller.user.id).await?))
}

/// Gives up a person's seat; shared with the room's leave button.
pub(crate) async fn leave(state: &AppState, id: &Id, user: &Id) -> ApiResult<Participant> {
    let participant = state.store.leave_session(id, user).await?;
    announce(state, id, true).await;
    Ok(participant)
}

#[utoipa::path(post, path = "/api/sessions/{id}/end", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = Session), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn end_session(
    State(state): State<AppState>,
    caller: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Session>> {
    Ok(Json(end(&state, &id, &caller.user.id).await?))
}

/// Ends a session, every participant leaving; shared with the room's end button.
pub(crate) async fn end(state: &AppState, id: &Id, actor: &Id) -> ApiResult<Session> {
    let session = state.store.end_session(id, actor).await?;
    announce(state, id, true).await;
    Ok(session)
}

#[utoipa::path(get, path = "/api/sessions/{id}/participants", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, description = "joined first, then those who left", body = [Participant]), (status = 404, body = ErrorBody)))]
async fn get_participants(
    State(state): State<AppState>,
    _caller: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Vec<Participant>>> {
    // The same snapshot the live `participants:` query sends.
    let (_, participants) = state
        .store
        .participants_snapshot(&id)
        .await?
        .ok_or(ApiError::NotFound("no such session"))?;
    Ok(Json(participants))
}

#[utoipa::path(post, path = "/api/sessions/{id}/ai-agent", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")), request_body = ToggleAiAgent,
    responses((status = 200, body = Session), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn toggle_ai_agent(
    State(state): State<AppState>,
    caller: CurrentUser,
    PathId(id): PathId,
    ApiJson(body): ApiJson<ToggleAiAgent>,
) -> ApiResult<Json<Session>> {
    let session = state
        .store
        .set_ai_agent(&id, &caller.user.id, body.enabled)
        .await?;
    announce(&state, &id, false).await;
    Ok(Json(session))
}

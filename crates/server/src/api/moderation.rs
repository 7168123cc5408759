//! The host's controls in a session (mute, camera off, stop share, remove,
//! mute everyone, lock), and everyone's reports and blocks
//! (docs/RITUAL.md, "Host controls").

use axum::Json;
use axum::http::StatusCode;
use domain::input::Text;
use domain::moderation::{Block, HostAction, MutedEveryone, Report, ReportNote, ReportReason};
use domain::session::{Participant, Session};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, PathId, PathIdAndUser};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(moderate))
        .routes(routes!(mute_everyone))
        .routes(routes!(lock_room))
        .routes(routes!(report))
        .routes(routes!(block, unblock))
        .routes(routes!(list_blocks))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Moderate {
    action: HostAction,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockRoom {
    /// `true`: nobody new can join; `false`: open again.
    locked: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// Who is reported: someone who is or was in the session, not yourself.
    #[schema(value_type = String, format = "uuid")]
    user_id: String,
    reason: ReportReason,
    /// In your own words, at most 1000 characters; empty means none.
    #[schema(value_type = Option<Text<1000>>)]
    note: Option<String>,
}

#[utoipa::path(post, path = "/api/sessions/{id}/participants/{user_id}/moderate", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("user_id" = String, Path, format = "uuid", description = "the person acted on")),
    request_body = Moderate,
    responses((status = 200, description = "their seat as it is now (`removed` after a removal)", body = Participant),
        (status = 400, description = "the host themselves, or the assistant", body = ErrorBody),
        (status = 403, description = "not the session's host", body = ErrorBody),
        (status = 409, description = "they are not in the session, or it is not active", body = ErrorBody)))]
async fn moderate(
    me: CurrentUser,
    PathIdAndUser(session_id, user_id): PathIdAndUser,
    ApiJson(body): ApiJson<Moderate>,
) -> ApiResult<Json<Participant>> {
    Ok(Json(
        me.app
            .moderate(&me.caller, &session_id, &user_id, body.action)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/sessions/{id}/mute-all", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = MutedEveryone),
        (status = 403, description = "not the session's host", body = ErrorBody),
        (status = 409, description = "the session is not active", body = ErrorBody)))]
async fn mute_everyone(me: CurrentUser, PathId(id): PathId) -> ApiResult<Json<MutedEveryone>> {
    Ok(Json(me.app.mute_everyone(&me.caller, &id).await?))
}

#[utoipa::path(post, path = "/api/sessions/{id}/lock", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    request_body = LockRoom,
    responses((status = 200, body = Session),
        (status = 403, description = "not the session's host", body = ErrorBody),
        (status = 409, description = "the session is not active", body = ErrorBody)))]
async fn lock_room(
    me: CurrentUser,
    PathId(id): PathId,
    ApiJson(body): ApiJson<LockRoom>,
) -> ApiResult<Json<Session>> {
    Ok(Json(me.app.lock_room(&me.caller, &id, body.locked).await?))
}

#[utoipa::path(post, path = "/api/sessions/{id}/reports", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    request_body = NewReport,
    responses((status = 201, body = Report),
        (status = 400, description = "yourself, the assistant, or a note too long", body = ErrorBody),
        (status = 403, description = "you were never in the session", body = ErrorBody),
        (status = 409, description = "they were never in the session", body = ErrorBody),
        (status = 429, description = "too many reports in a minute", body = ErrorBody)))]
async fn report(
    me: CurrentUser,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<NewReport>,
) -> ApiResult<(StatusCode, Json<Report>)> {
    let reported = domain::Id::parse("user_id", &body.user_id)?;
    let note = ReportNote::parse(body.note.as_deref())?;
    let kept = me
        .app
        .report(&me.caller, &session_id, &reported, body.reason, note)
        .await?;
    Ok((StatusCode::CREATED, Json(kept)))
}

#[utoipa::path(put, path = "/api/blocks/{user_id}", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("user_id" = String, Path, format = "uuid", description = "the person blocked")),
    responses((status = 200, description = "blocked (blocking twice is harmless)", body = Block),
        (status = 404, description = "no such person", body = ErrorBody),
        (status = 409, description = "yourself", body = ErrorBody)))]
async fn block(me: CurrentUser, PathId(user_id): PathId) -> ApiResult<Json<Block>> {
    Ok(Json(me.app.block(&me.caller, &user_id).await?))
}

#[utoipa::path(delete, path = "/api/blocks/{user_id}", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    params(("user_id" = String, Path, format = "uuid", description = "the person unblocked")),
    responses((status = 204, description = "not blocked (any more)")))]
async fn unblock(me: CurrentUser, PathId(user_id): PathId) -> ApiResult<StatusCode> {
    me.app.unblock(&me.caller, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/blocks", tag = "moderation",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "whom you blocked, the latest first", body = [Block])))]
async fn list_blocks(me: CurrentUser) -> ApiResult<Json<Vec<Block>>> {
    Ok(Json(me.app.blocks(&me.caller).await?))
}

//! Favourites: the people someone likes to focus with (docs/RITUAL.md,
//! "Favourites"). The sessions with them are `GET /api/sessions?with=favourites`.

use axum::Json;
use axum::http::StatusCode;
use domain::favourite::Favourite;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::PathId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_favourites))
        .routes(routes!(mark_favourite, unmark_favourite))
}

#[utoipa::path(get, path = "/api/me/favourites", tag = "favourites",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "whom you marked, the latest first", body = [Favourite])))]
async fn list_favourites(me: CurrentUser) -> ApiResult<Json<Vec<Favourite>>> {
    Ok(Json(me.app.favourites(&me.caller).await?))
}

#[utoipa::path(put, path = "/api/me/favourites/{user_id}", tag = "favourites",
    security(("bearer" = []), ("cookie" = [])),
    params(("user_id" = String, Path, format = "uuid", description = "the person marked")),
    responses((status = 200, description = "marked (marking twice is harmless)", body = Favourite),
        (status = 400, description = "yourself, or the assistant", body = ErrorBody),
        (status = 404, description = "no such person", body = ErrorBody),
        (status = 409, description = "you keep as many favourites as there can be (500)", body = ErrorBody)))]
async fn mark_favourite(me: CurrentUser, PathId(user_id): PathId) -> ApiResult<Json<Favourite>> {
    Ok(Json(me.app.mark_favourite(&me.caller, &user_id).await?))
}

#[utoipa::path(delete, path = "/api/me/favourites/{user_id}", tag = "favourites",
    security(("bearer" = []), ("cookie" = [])),
    params(("user_id" = String, Path, format = "uuid", description = "the person unmarked")),
    responses((status = 204, description = "not a favourite (any more)"),
        (status = 400, description = "yourself, or the assistant", body = ErrorBody),
        (status = 404, description = "no such person", body = ErrorBody)))]
async fn unmark_favourite(me: CurrentUser, PathId(user_id): PathId) -> ApiResult<StatusCode> {
    me.app.unmark_favourite(&me.caller, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

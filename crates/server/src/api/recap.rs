//! An ended session's recap (docs/RITUAL.md, "The recap").

use axum::Json;
use domain::recap::Recap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::PathId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(recap))
}

#[utoipa::path(get, path = "/api/sessions/{id}/recap", tag = "sessions", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the recap, for you", body = Recap),
        (status = 403, description = "you were never in the session", body = ErrorBody),
        (status = 409, description = "the session has not ended", body = ErrorBody)))]
async fn recap(me: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Recap>> {
    Ok(Json(me.app.recap(&me.caller, &id).await?))
}

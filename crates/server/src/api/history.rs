//! A person's look back: the sessions they were in.

use axum::Json;
use domain::session::SessionHistory;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::ApiResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(my_sessions))
}

#[utoipa::path(get, path = "/api/me/sessions", tag = "history", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "sessions I was in that ended or that I left, most recent first", body = [SessionHistory])))]
async fn my_sessions(me: CurrentUser) -> ApiResult<Json<Vec<SessionHistory>>> {
    Ok(Json(me.app.session_history(&me.caller).await?))
}

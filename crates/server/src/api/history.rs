//! A person's look back: the sessions they were in, and their focus.

use axum::Json;
use domain::focus::{self, FocusStats};
use domain::session::SessionHistory;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiQuery;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_sessions))
        .routes(routes!(my_focus))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FocusQuery {
    /// The reader's offset from UTC in minutes (east positive), for where
    /// their days begin; default 0.
    #[param(value_type = Option<i32>, minimum = -840, maximum = 840)]
    utc_offset_minutes: Option<String>,
}

#[utoipa::path(get, path = "/api/me/focus", tag = "history", security(("bearer" = []), ("cookie" = [])),
    params(FocusQuery),
    responses((status = 200, description = "my focused minutes, completed blocks and streaks over the last year, worked out from my sessions", body = FocusStats),
        (status = 400, description = "an offset no clock shows", body = ErrorBody)))]
async fn my_focus(
    me: CurrentUser,
    ApiQuery(query): ApiQuery<FocusQuery>,
) -> ApiResult<Json<FocusStats>> {
    let offset = focus::parse_utc_offset(query.utc_offset_minutes.as_deref())?;
    Ok(Json(me.app.focus_stats(&me.caller, offset).await?))
}

#[utoipa::path(get, path = "/api/me/sessions", tag = "history", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "sessions I was in that ended or that I left, most recent first", body = [SessionHistory])))]
async fn my_sessions(me: CurrentUser) -> ApiResult<Json<Vec<SessionHistory>>> {
    Ok(Json(me.app.session_history(&me.caller).await?))
}

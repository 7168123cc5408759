//! Reminders before a scheduled session, the notifications they become, and
//! the calendar feed that puts sessions in people's calendars.

use axum::Json;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use domain::chat::Notification;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiQuery, PathId};
use crate::{AppState, app};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(remind_me))
        .routes(routes!(my_notifications))
        .routes(routes!(calendar_status, enable_calendar, revoke_calendar))
        .routes(routes!(calendar_feed))
}

#[utoipa::path(post, path = "/api/sessions/{id}/remind-me", tag = "reminders", security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "you will be notified 10 minutes before the start"), (status = 409, description = "already started or ended", body = ErrorBody)))]
async fn remind_me(me: CurrentUser, PathId(session_id): PathId) -> ApiResult<StatusCode> {
    me.app.remind_me(&me.caller, &session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/me/notifications", tag = "reminders", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "newest first", body = [Notification])))]
async fn my_notifications(me: CurrentUser) -> ApiResult<Json<Vec<Notification>>> {
    Ok(Json(me.app.notifications(&me.caller).await?))
}

#[derive(Serialize, ToSchema)]
pub struct CalendarStatus {
    /// Whether a feed URL is live. Its secret is shown only when it is made.
    enabled: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CalendarFeed {
    /// Subscribe to this URL in a calendar program. Anyone with it can read the feed.
    url: String,
}

#[utoipa::path(get, path = "/api/me/calendar", tag = "reminders", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CalendarStatus)))]
async fn calendar_status(me: CurrentUser) -> ApiResult<Json<CalendarStatus>> {
    Ok(Json(CalendarStatus {
        enabled: me.app.has_calendar_feed(&me.caller).await?,
    }))
}

/// Makes a new feed URL; any earlier one stops working.
#[utoipa::path(post, path = "/api/me/calendar", tag = "reminders", security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = CalendarFeed)))]
async fn enable_calendar(
    me: CurrentUser,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<CalendarFeed>)> {
    let secret = me.app.enable_calendar_feed(&me.caller).await?;
    let host = headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost:8080");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .filter(|proto| *proto == "https")
        .unwrap_or("http");
    let url = format!("{scheme}://{host}/api/me/calendar.ics?secret={secret}");
    Ok((StatusCode::CREATED, Json(CalendarFeed { url })))
}

#[utoipa::path(delete, path = "/api/me/calendar", tag = "reminders", security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "the feed URL no longer works")))]
async fn revoke_calendar(me: CurrentUser) -> ApiResult<StatusCode> {
    me.app.revoke_calendar_feed(&me.caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The secret from the feed URL.
    secret: Option<String>,
}

/// An iCalendar feed of the sessions I created or asked to be reminded of.
/// Calendar programs cannot sign in, so the secret in the URL is the key.
#[utoipa::path(get, path = "/api/me/calendar.ics", tag = "reminders", params(FeedQuery),
    responses((status = 200, description = "text/calendar", content_type = "text/calendar"), (status = 401, body = ErrorBody)))]
async fn calendar_feed(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<FeedQuery>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let invalid =
        app::Error::Unauthenticated("this calendar link is not valid (it may have been replaced)");
    let Some(secret) = query.secret else {
        return Err(invalid.into());
    };
    let (_, sessions) = state.app.calendar_feed(&secret).await?;
    let host = headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost:8080");
    let calendar = crate::calendar::calendar_of(&sessions, host);
    Ok((
        [(CONTENT_TYPE, "text/calendar; charset=utf-8")],
        calendar.to_string(),
    ))
}

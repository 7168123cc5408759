//! Reminders before a scheduled session, the notifications they become, and
//! the calendar feed that puts sessions in people's calendars.

use axum::Json;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{Duration, Utc};
use domain::chat::Notification;
use domain::session::{Session, SessionStatus};
use icalendar::{Calendar, Component, EventLike};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sessions::existing_session;
use crate::AppState;
use crate::auth::{self, CurrentUser};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, PathId};

/// How many notifications a person sees, live and by REST.
pub const NOTIFICATIONS_SHOWN: usize = 50;

/// How long a calendar entry lasts when the session has not ended yet.
const PLANNED_LENGTH: Duration = Duration::hours(1);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(remind_me))
        .routes(routes!(my_notifications))
        .routes(routes!(calendar_status, enable_calendar, revoke_calendar))
        .routes(routes!(calendar_feed))
}

#[utoipa::path(post, path = "/api/sessions/{id}/remind-me", tag = "reminders", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 204, description = "you will be notified 10 minutes before the start"), (status = 404, body = ErrorBody), (status = 409, description = "already started or ended", body = ErrorBody)))]
async fn remind_me(
    State(state): State<AppState>,
    caller: CurrentUser,
    PathId(session_id): PathId,
) -> ApiResult<StatusCode> {
    existing_session(&state, &session_id).await?;
    state
        .store
        .request_reminder(&session_id, &caller.user.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/me/notifications", tag = "reminders", security(("bearer" = [])),
    responses((status = 200, description = "newest first", body = [Notification]), (status = 401, body = ErrorBody)))]
async fn my_notifications(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<Vec<Notification>>> {
    Ok(Json(
        state
            .store
            .notifications(&caller.user.id, NOTIFICATIONS_SHOWN)
            .await?,
    ))
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

#[utoipa::path(get, path = "/api/me/calendar", tag = "reminders", security(("bearer" = [])),
    responses((status = 200, body = CalendarStatus), (status = 401, body = ErrorBody)))]
async fn calendar_status(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<CalendarStatus>> {
    Ok(Json(CalendarStatus {
        enabled: state.store.has_calendar_secret(&caller.user.id).await?,
    }))
}

/// Makes a new feed URL; any earlier one stops working.
#[utoipa::path(post, path = "/api/me/calendar", tag = "reminders", security(("bearer" = [])),
    responses((status = 201, body = CalendarFeed), (status = 401, body = ErrorBody)))]
async fn enable_calendar(
    State(state): State<AppState>,
    caller: CurrentUser,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<CalendarFeed>)> {
    let secret = auth::new_token("");
    state
        .store
        .set_calendar_secret(&caller.user.id, Some(&auth::hash_token(&secret)))
        .await?;
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

#[utoipa::path(delete, path = "/api/me/calendar", tag = "reminders", security(("bearer" = [])),
    responses((status = 204, description = "the feed URL no longer works"), (status = 401, body = ErrorBody)))]
async fn revoke_calendar(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<StatusCode> {
    state
        .store
        .set_calendar_secret(&caller.user.id, None)
        .await?;
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
        ApiError::Unauthenticated("this calendar link is not valid (it may have been replaced)");
    let Some(secret) = query.secret else {
        return Err(invalid);
    };
    let user = state
        .store
        .user_by_calendar_secret(&auth::hash_token(&secret))
        .await?
        .ok_or(invalid)?;
    let host = headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost:8080");
    let sessions = state.store.calendar_sessions(&user.id).await?;
    let calendar = calendar_of(&sessions, host);
    Ok((
        [(CONTENT_TYPE, "text/calendar; charset=utf-8")],
        calendar.to_string(),
    ))
}

pub(crate) fn calendar_of(sessions: &[Session], host: &str) -> Calendar {
    let mut calendar = Calendar::new();
    calendar.name("Lock In");
    for session in sessions {
        let Some(start) = session.scheduled_start.or(session.started_at) else {
            continue;
        };
        let end = session
            .ended_at
            .filter(|ended| *ended > start)
            .unwrap_or(start + PLANNED_LENGTH);
        let mut event = icalendar::Event::new();
        event
            .uid(&format!("{}@lockin", session.id))
            .summary(&session.title)
            .starts(start)
            .ends(end)
            .timestamp(Utc::now())
            .url(&format!("http://{host}/sessions/{}", session.id));
        if let Some(description) = &session.description {
            event.description(description);
        }
        if session.status == SessionStatus::Ended {
            event.status(icalendar::EventStatus::Cancelled);
        }
        calendar.push(event.done());
    }
    calendar.done()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use domain::Id;
    use domain::session::SessionType;

    use super::*;

    #[test]
    fn a_scheduled_session_becomes_an_event_with_escaped_text() {
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 0).unwrap();
        let session = Session {
            id: Id::generate(),
            creator_id: Id::generate(),
            creator_name: "Ada".into(),
            title: "Rust, async; and more".into(),
            description: Some("bring\\nquestions".into()),
            session_type: SessionType::Coding,
            status: SessionStatus::Scheduled,
            scheduled_start: Some(start),
            started_at: None,
            ended_at: None,
            project_id: None,
            max_participants: 5,
            ai_agent_enabled: true,
            participant_count: 0,
            agent_status: domain::session::AgentStatus::Off,
            created_at: start,
            version: 1,
        };
        let text = calendar_of(std::slice::from_ref(&session), "lockin.example").to_string();
        assert!(text.starts_with("BEGIN:VCALENDAR\r\n"), "{text}");
        assert!(text.contains("DTSTART:20261201T093000Z"), "{text}");
        assert!(text.contains("DTEND:20261201T103000Z"), "{text}");
        assert!(text.contains("SUMMARY:Rust\\, async\\; and more"), "{text}");
        assert!(
            text.contains(&format!("UID:{}@lockin", session.id)),
            "{text}"
        );
        assert!(text.trim_end().ends_with("END:VCALENDAR"));
    }
}

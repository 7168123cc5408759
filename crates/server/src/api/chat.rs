//! The room's chat.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::Id;
use domain::chat::{ChatMessage, MessageBody};
use domain::event::Event;
use domain::rules;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging;
use super::sessions::existing_session;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PathId};

/// Messages in a page, and in the live `chat:{id}` query.
pub const PAGE: usize = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_message, list_messages))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// 1–2000 characters.
    body: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// 1–100, default 50.
    limit: Option<String>,
    /// `next_cursor` of the previous page: continue further back in time.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MessagePage {
    /// Oldest first.
    messages: Vec<ChatMessage>,
    /// Older messages are behind this cursor; null at the beginning of the chat.
    next_cursor: Option<String>,
}

/// The latest page with the session's version, read in one snapshot. `None`: no such session.
pub(crate) async fn latest_page(
    state: &AppState,
    session_id: &Id,
) -> ApiResult<Option<(i64, MessagePage)>> {
    let Some((version, mut messages)) = state.store.chat_snapshot(session_id, PAGE + 1).await?
    else {
        return Ok(None);
    };
    let next_cursor = (messages.len() > PAGE).then(|| {
        messages.remove(0);
        let oldest = &messages[0];
        paging::encode_cursor(&store::ListCursor {
            at: oldest.created_at,
            id: oldest.id.clone(),
        })
    });
    Ok(Some((
        version,
        MessagePage {
            messages,
            next_cursor,
        },
    )))
}

#[utoipa::path(post, path = "/api/sessions/{id}/messages", tag = "chat", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")), request_body = NewMessage,
    responses((status = 201, body = ChatMessage), (status = 400, body = ErrorBody), (status = 403, description = "not in the session", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn post_message(
    State(state): State<AppState>,
    caller: CurrentUser,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<NewMessage>,
) -> ApiResult<(StatusCode, Json<ChatMessage>)> {
    let body = MessageBody::parse(&body.body)?;
    let message = state
        .store
        .post_message(&session_id, &caller.user.id, body.into_inner())
        .await?;
    state.bus.publish(Event::ChatChanged { session_id }).await;
    Ok((StatusCode::CREATED, Json(message)))
}

#[utoipa::path(get, path = "/api/sessions/{id}/messages", tag = "chat", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id"), MessagesQuery),
    responses((status = 200, body = MessagePage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_messages(
    State(state): State<AppState>,
    caller: CurrentUser,
    PathId(session_id): PathId,
    ApiQuery(query): ApiQuery<MessagesQuery>,
) -> ApiResult<Json<MessagePage>> {
    let limit = paging::parse_limit(query.limit.as_deref(), PAGE, 100)?;
    let before = query
        .cursor
        .as_deref()
        .map(paging::decode_cursor)
        .transpose()?;
    existing_session(&state, &session_id).await?;
    rules::view_session_history(
        state
            .store
            .participant(&session_id, &caller.user.id)
            .await?
            .as_ref(),
    )?;
    let (messages, next) = state.store.messages(&session_id, limit, before).await?;
    Ok(Json(MessagePage {
        messages,
        next_cursor: next.as_ref().map(paging::encode_cursor),
    }))
}

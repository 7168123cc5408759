//! The room's chat.

use axum::Json;
use axum::http::StatusCode;
use domain::chat::{ChatMessage, MessageBody};
use domain::input::NonBlank;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::app::chat::{CHAT_PAGE, MessagePage};
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::paging;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_message, list_messages))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    #[schema(value_type = NonBlank<2000>)]
    body: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// 1–100, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// `next_cursor` of the previous page: continue further back in time.
    #[param(
        pattern = r"^-?[0-9]{1,16}_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
}

#[utoipa::path(post, path = "/api/sessions/{id}/messages", tag = "chat", security(("bearer" = []), ("cookie" = [])),
    request_body = NewMessage,
    responses((status = 201, body = ChatMessage), (status = 403, description = "not in the session", body = ErrorBody)))]
async fn post_message(
    me: CurrentUser,
    PathId(session_id): PathId,
    ApiJson(body): ApiJson<NewMessage>,
) -> ApiResult<(StatusCode, Json<ChatMessage>)> {
    let body = MessageBody::parse(&body.body)?;
    let message = me.app.post_message(&me.caller, &session_id, body).await?;
    Ok((StatusCode::CREATED, Json(message)))
}

#[utoipa::path(get, path = "/api/sessions/{id}/messages", tag = "chat", security(("bearer" = []), ("cookie" = [])),
    params(MessagesQuery),
    responses((status = 200, body = MessagePage), (status = 403, body = ErrorBody)))]
async fn list_messages(
    me: CurrentUser,
    PathId(session_id): PathId,
    ApiQuery(query): ApiQuery<MessagesQuery>,
) -> ApiResult<Json<MessagePage>> {
    let limit = paging::parse_limit(query.limit.as_deref(), CHAT_PAGE, 100)?;
    let before = query
        .cursor
        .as_deref()
        .map(paging::decode_cursor)
        .transpose()?;
    Ok(Json(
        me.app
            .messages(&me.caller, &session_id, limit, before)
            .await?,
    ))
}

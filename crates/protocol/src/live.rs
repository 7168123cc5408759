//! The live queries of `/api/live`: the messages of docs/LIVE.md that are
//! not `media.*`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Asks for `query`'s result now and after every change, under `id`
    /// (chosen by the client, unique on its connection).
    Subscribe {
        id: String,
        query: String,
    },
    Unsubscribe {
        id: String,
    },
    Ping,
}

impl ClientMessage {
    pub fn subscribe(id: impl Into<String>, query: impl Into<String>) -> Self {
        Self::Subscribe {
            id: id.into(),
            query: query.into(),
        }
    }

    pub fn unsubscribe(id: impl Into<String>) -> Self {
        Self::Unsubscribe { id: id.into() }
    }
}

/// A message from the server. `D` is a result's data: the server sends one
/// it has already encoded (`&RawValue`, shared by every subscriber of the
/// query); a reader takes a [`serde_json::Value`] or the record it expects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<D = serde_json::Value> {
    /// The whole result of the query subscribed under `id`: sent on
    /// subscribe and after every change. `version` only grows.
    Result {
        id: String,
        query: String,
        version: i64,
        data: D,
    },
    /// A subscription refused (`id`), or a message not understood (`id`
    /// null).
    Error {
        id: Option<String>,
        error: ErrorDetail,
    },
    Pong,
}

/// The WebSocket close code of a connection whose token was signed out
/// (reason `signed out`): the page goes to sign in instead of reconnecting.
/// 4401 is in the range left to applications, after HTTP's 401.
pub const SIGNED_OUT_CLOSE_CODE: u16 = 4401;

/// Why a request or a message was refused; it changed nothing. The same
/// object an HTTP error answers in `{"error": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// One of invalid, unauthenticated, forbidden, not_found, conflict, too_large,
    /// unsupported_media_type, rate_limited, internal.
    pub code: String,
    pub message: String,
    /// The input field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;
    use crate::wire::round_trip;

    #[test]
    fn client_messages_keep_their_format() {
        round_trip(
            r#"{"type":"subscribe","id":"s1","query":"participants:0190a0a0-0000-7000-8000-000000000001"}"#,
            ClientMessage::subscribe("s1", "participants:0190a0a0-0000-7000-8000-000000000001"),
        );
        round_trip(
            r#"{"type":"unsubscribe","id":"s1"}"#,
            ClientMessage::unsubscribe("s1"),
        );
        round_trip(r#"{"type":"ping"}"#, ClientMessage::Ping);
    }

    #[test]
    fn client_messages_refuse_unknown_fields_and_types() {
        for text in [
            r#"{"type":"subscribe","id":"a"}"#,
            r#"{"type":"shout"}"#,
            r#"{"id":"a"}"#,
        ] {
            assert!(
                serde_json::from_str::<ClientMessage>(text).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn server_messages_keep_their_format() {
        round_trip(
            r#"{"type":"result","id":"s1","query":"participants:x","version":3,"data":[{"status":"joined","user_id":"u"}]}"#,
            ServerMessage::Result {
                id: "s1".into(),
                query: "participants:x".into(),
                version: 3,
                data: serde_json::json!([{"status": "joined", "user_id": "u"}]),
            },
        );
        round_trip(
            r#"{"type":"error","id":"s1","error":{"code":"invalid","message":"is already in use on this connection","field":"id"}}"#,
            ServerMessage::<serde_json::Value>::Error {
                id: Some("s1".into()),
                error: ErrorDetail {
                    code: "invalid".into(),
                    message: "is already in use on this connection".into(),
                    field: Some("id".into()),
                },
            },
        );
        round_trip(
            r#"{"type":"error","id":null,"error":{"code":"invalid","message":"malformed message: missing field `id`"}}"#,
            ServerMessage::<serde_json::Value>::Error {
                id: None,
                error: ErrorDetail {
                    code: "invalid".into(),
                    message: "malformed message: missing field `id`".into(),
                    field: None,
                },
            },
        );
        round_trip(
            r#"{"type":"pong"}"#,
            ServerMessage::<serde_json::Value>::Pong,
        );
    }

    #[test]
    fn the_server_sends_encoded_data_as_it_is() {
        let data = RawValue::from_string(r#"[{"id":"m1"}]"#.into()).unwrap();
        let message = ServerMessage::Result {
            id: "chat".into(),
            query: "chat:x".into(),
            version: 7,
            data: &*data,
        };
        assert_eq!(
            serde_json::to_string(&message).unwrap(),
            r#"{"type":"result","id":"chat","query":"chat:x","version":7,"data":[{"id":"m1"}]}"#
        );
    }
}

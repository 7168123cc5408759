//! Chat in the session room, and the notifications people get.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::input::bounded_text;
use crate::{Id, InvalidInput};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    #[schema(value_type = String)]
    pub id: Id,
    #[schema(value_type = String)]
    pub session_id: Id,
    #[schema(value_type = String)]
    pub user_id: Id,
    /// The sender's name, so a transcript reads without another lookup.
    pub name: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// Messages oldest first, and the cursor to the ones before, as the API and
/// the live `chat:` query send them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    /// Oldest first.
    pub messages: Vec<ChatMessage>,
    /// Older messages are behind this cursor; null at the beginning of the chat.
    pub next_cursor: Option<String>,
}

pub struct MessageBody(String);

impl MessageBody {
    pub const MAX_CHARS: usize = 2000;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        bounded_text("body", raw, 1, Self::MAX_CHARS).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Notification {
    #[schema(value_type = String)]
    pub id: Id,
    #[schema(value_type = String)]
    pub user_id: Id,
    /// `reminder`: a session you asked about (or created) starts soon.
    /// `favourite_scheduled`: one of your favourites scheduled a session.
    pub kind: String,
    #[schema(value_type = Option<String>)]
    pub session_id: Option<Id>,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_body_bounds() {
        assert!(MessageBody::parse(" ").is_err());
        assert!(MessageBody::parse(&"x".repeat(2000)).is_ok());
        assert!(MessageBody::parse(&"x".repeat(2001)).is_err());
    }
}

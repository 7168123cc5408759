//! The room's chat.

use domain::Id;
pub use domain::chat::MessagePage;
use domain::chat::{ChatMessage, MessageBody};
use store::ListCursor;

use crate::paging::encode_cursor;

use super::{App, Caller, Result};

/// How many messages the live `chat:` query and a first page hold.
pub const CHAT_PAGE: usize = 50;

impl App {
    /// Posts to the room: for the people joined to it now (the assistant too),
    /// decided on the locked session.
    pub async fn post_message(
        &self,
        caller: &Caller,
        session_id: &Id,
        body: MessageBody,
    ) -> Result<ChatMessage> {
        let message = self
            .store
            .post_message(session_id, &caller.user().id, body.into_inner())
            .await
            .map_err(super::error::named("no such session"))?;
        Ok(self.publish(message).await)
    }

    /// A page going back from `before`, for anyone who is or was in the session.
    pub async fn messages(
        &self,
        caller: &Caller,
        session_id: &Id,
        limit: usize,
        before: Option<ListCursor>,
    ) -> Result<MessagePage> {
        let (messages, next) = self
            .store
            .messages(session_id, &caller.user().id, limit, before)
            .await
            .map_err(super::error::named("no such session"))?;
        Ok(MessagePage {
            messages,
            next_cursor: next.as_ref().map(encode_cursor),
        })
    }

    /// The latest page as the live `chat:` query shows it, with the session's
    /// version; `None` when there is no such session.
    pub async fn latest_messages(&self, session_id: &Id) -> Result<Option<(i64, MessagePage)>> {
        let Some((version, mut messages)) =
            self.store.chat_snapshot(session_id, CHAT_PAGE + 1).await?
        else {
            return Ok(None);
        };
        let next_cursor = (messages.len() > CHAT_PAGE).then(|| {
            messages.remove(0);
            let oldest = &messages[0];
            encode_cursor(&ListCursor {
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
}

//! What changed. The bus carries these between nodes; live queries re-run on them.

use serde::{Deserialize, Serialize};

use crate::Id;
use crate::moderation::SilencedMedia;

/// One change to the shared state. An event names what changed, not how, so a
/// listener re-reads the current state instead of patching an old copy: a lost
/// or duplicated event can never leave a screen wrong, only re-read once more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The session row itself: status, title, AI switch, participant count.
    /// Also moves the session lists.
    SessionChanged {
        session_id: Id,
    },
    ParticipantsChanged {
        session_id: Id,
    },
    AiLogsChanged {
        session_id: Id,
    },
    ChatChanged {
        session_id: Id,
    },
    NotificationsChanged {
        user_id: Id,
    },
    /// The host switched off some people's media of one kind: whichever node
    /// holds their media stops forwarding it until they turn it off and on
    /// again. The event carries who and what, so no node need read it back
    /// (the store keeps the holds for the next media join of each).
    MediaSilenced {
        session_id: Id,
        user_ids: Vec<Id>,
        media: SilencedMedia,
    },
    /// A person signed out: the token with this hash (never the token itself)
    /// no longer works, and live connections opened with it close on every node.
    TokenRevoked {
        token_hash: String,
    },
    /// Events may have been missed (the bus reconnected): re-read everything.
    Resync,
}

impl Event {
    /// The session this event is about, if it is about one.
    pub fn session_id(&self) -> Option<&Id> {
        match self {
            Self::SessionChanged { session_id }
            | Self::ParticipantsChanged { session_id }
            | Self::AiLogsChanged { session_id }
            | Self::ChatChanged { session_id }
            | Self::MediaSilenced { session_id, .. } => Some(session_id),
            Self::NotificationsChanged { .. } | Self::TokenRevoked { .. } | Self::Resync => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_a_stable_wire_form() {
        let id = Id::generate();
        let json = serde_json::to_value(Event::ChatChanged {
            session_id: id.clone(),
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "chat_changed", "session_id": id.as_str()})
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back.session_id(), Some(&id));
        let revoked = Event::TokenRevoked {
            token_hash: "ab12".into(),
        };
        assert_eq!(
            serde_json::to_value(&revoked).unwrap(),
            serde_json::json!({"kind": "token_revoked", "token_hash": "ab12"})
        );
    }
}

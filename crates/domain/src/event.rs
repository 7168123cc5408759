//! What changed. The bus carries these between nodes; live queries re-run on them.

use serde::{Deserialize, Serialize};

use crate::Id;

/// One change to the shared state. An event names what changed, not how, so a
/// subscriber re-reads the current state instead of patching an old copy: a lost
/// or duplicated event can never leave a screen wrong, only re-read once more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The session row itself: status, title, AI switch, participant count.
    SessionChanged {
        session_id: Id,
    },
    ParticipantsChanged {
        session_id: Id,
    },
    AiLogsChanged {
        session_id: Id,
    },
}

impl Event {
    pub fn session_id(&self) -> &Id {
        match self {
            Self::SessionChanged { session_id }
            | Self::ParticipantsChanged { session_id }
            | Self::AiLogsChanged { session_id } => session_id,
        }
    }
}

//! The one error type of the crate: what a join or a signal can be refused for.

/// Why the SFU refused a request. None of these changes anything in the room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SfuError {
    /// The room already holds its seat limit of peers.
    #[error("the room is full ({seats} seats)")]
    RoomFull { seats: usize },
    /// A signal or leave for someone who is not in the room (any more).
    #[error("not in this media room")]
    UnknownPeer,
    /// The browser's SDP or candidate could not be used.
    #[error("bad {what}: {reason}")]
    BadSignal { what: &'static str, reason: String },
    /// The SFU task has stopped (the server is shutting down).
    #[error("the media server has stopped")]
    Stopped,
}

impl SfuError {
    pub(crate) fn bad(what: &'static str, reason: impl ToString) -> Self {
        Self::BadSignal {
            what,
            reason: reason.to_string(),
        }
    }
}

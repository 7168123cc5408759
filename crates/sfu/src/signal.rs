//! What a room and a browser say to each other outside the media path: SDP
//! offers and answers, ICE candidates, and which remote person and source each
//! received media line carries.
//!
//! These are plain values. How they are spelled on the wire (the `media.*`
//! messages of the live WebSocket) is the server's business; docs/MEDIA.md
//! describes that spelling.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares an id that is a string the server chose, with the same
/// conversions for every one of them.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self::new(id)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }
    };
}

string_id! {
    /// Who a peer is inside a room: the server's id for the person (their user
    /// id), so one person holds at most one media connection per room. Joining
    /// again with the same id replaces the earlier connection.
    PeerId
}

string_id! {
    /// Which media room: the server uses the session id, so everyone joined to a
    /// session meets in one room.
    RoomId
}

/// Audio or video, as the browser's `MediaStreamTrack.kind` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    Audio,
    Video,
}

impl From<str0m::media::MediaKind> for TrackKind {
    fn from(kind: str0m::media::MediaKind) -> Self {
        match kind {
            str0m::media::MediaKind::Audio => Self::Audio,
            str0m::media::MediaKind::Video => Self::Video,
        }
    }
}

/// What a published track shows. The browser names it, because only the
/// browser knows whether a video track is a camera or a shared screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaSource {
    Camera,
    Microphone,
    Screen,
    ScreenAudio,
}

impl MediaSource {
    /// The guess for a track the browser did not name: a microphone or a camera.
    pub fn default_for(kind: TrackKind) -> Self {
        match kind {
            TrackKind::Audio => Self::Microphone,
            TrackKind::Video => Self::Camera,
        }
    }

    /// Whether the source belongs to a screen share, which the browser shows
    /// apart from the person's camera (and which has its own media stream id).
    pub fn is_screen(self) -> bool {
        matches!(self, Self::Screen | Self::ScreenAudio)
    }
}

/// The browser's names for its own media lines, by `mid` (the transceiver's
/// `mid` once the local description is set).
pub type Sources = HashMap<String, MediaSource>;

/// One media line the room sends to a browser, and whose media it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInfo {
    /// The media line in the receiving browser's session (`transceiver.mid`).
    pub mid: String,
    /// Who publishes it.
    pub peer_id: PeerId,
    /// The publisher's display name.
    pub name: String,
    pub kind: TrackKind,
    pub source: MediaSource,
}

/// From a browser to its room, after it has joined.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalIn {
    /// The answer to the room's latest [`SignalOut::Offer`].
    Answer { sdp: String },
    /// A renegotiation the browser starts (a screen share added or stopped, or
    /// an ICE restart). The room is the polite side: it drops an offer of its
    /// own that is still waiting for an answer, answers this one, and offers
    /// its own changes again afterwards.
    Offer { sdp: String, sources: Sources },
    /// A trickled ICE candidate, the `candidate` string of an
    /// `RTCIceCandidate` (`candidate:…`). An empty string ends the candidates.
    Candidate { candidate: String },
    /// Asks the room to offer an ICE restart (new credentials), for a browser
    /// whose connection went `disconnected` or `failed`.
    IceRestart,
    /// Names (or renames) the sources of the browser's own media lines.
    Publish { sources: Sources },
    /// What the browser sends now, by its own account: each device on or
    /// off (`None`: not said). A source the host held is forwarded again
    /// only after the browser said it off and then on again (see
    /// [`RoomInput::Hold`](crate::RoomInput::Hold)).
    Sending {
        microphone: Option<bool>,
        camera: Option<bool>,
        screen: Option<bool>,
    },
}

/// From a room to one browser.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalOut {
    /// The answer to a [`SignalIn::Offer`]. (The answer to the offer that
    /// joined comes back from the join itself.)
    Answer { sdp: String },
    /// The room's renegotiation: media lines added for people who started
    /// publishing, stopped for people who left. Answer with
    /// [`SignalIn::Answer`].
    Offer { sdp: String },
    /// Every media line the room now sends this browser and what it carries:
    /// the whole list, sent before each offer and whenever it changes. A mid
    /// missing from the list carries nothing any more.
    Tracks { tracks: Vec<TrackInfo> },
    /// The room let this connection go; nothing more comes. The browser may
    /// join again.
    Closed { reason: CloseReason },
    /// The host switched these sources of the browser's off: the room
    /// forwards nothing of them until the browser turns them off and on
    /// again. `renewed`: a hold made on an earlier connection, renewed as
    /// this one joined (the browser may well have them off already).
    Held {
        sources: Vec<MediaSource>,
        renewed: bool,
    },
    /// Who in the room is speaking now, loudest first (empty: nobody). Sent
    /// to everyone when the set changes, and to a joiner when anyone speaks.
    Speakers { speakers: Vec<PeerId> },
}

/// Why a room let a connection go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The server asked (the person left the session, or was marked left).
    Left,
    /// The same person joined again from another connection.
    Replaced,
    /// The browser closed its connection.
    Hangup,
    /// The network path stayed broken for longer than the grace period.
    Disconnected,
    /// The WebRTC connection failed (DTLS or a protocol error).
    Failed,
    /// The room was closed (the session ended).
    RoomClosed,
    /// The host removed the person from the session.
    Removed,
    /// Never the room's own: the server moved the session's media to
    /// another room (its node is stopping, or stopped answering). The page
    /// joins again, and lands in the new one.
    Moved,
}

/// One ICE server handed to the browser for its `RTCPeerConnection`
/// (`iceServers`): usually the TURN servers that relay for browsers behind
/// strict firewalls. Serialises to the browser's `RTCIceServer` shape. The
/// SFU itself never uses one: the server fills them, with each person's own
/// TURN credentials where it makes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_snake_case() {
        let info = TrackInfo {
            mid: "3".into(),
            peer_id: "ada".into(),
            name: "Ada".into(),
            kind: TrackKind::Audio,
            source: MediaSource::ScreenAudio,
        };
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"mid":"3","peer_id":"ada","name":"Ada","kind":"audio","source":"screen_audio"})
        );
    }

    #[test]
    fn ice_server_leaves_out_missing_credentials() {
        let stun = IceServer {
            urls: vec!["stun:turn.example.org:3478".into()],
            username: None,
            credential: None,
        };
        assert_eq!(
            serde_json::to_string(&stun).unwrap(),
            r#"{"urls":["stun:turn.example.org:3478"]}"#
        );
    }
}

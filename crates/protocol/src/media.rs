//! The `media.*` messages of the live WebSocket (docs/MEDIA.md): a page or
//! the assistant signalling its WebRTC connection to the SFU, and the
//! server's answers, offers, track lists, on/off states and refusals.

use std::collections::BTreeMap;

use domain::Id;
use serde::{Deserialize, Serialize};
pub use sfu::{CloseReason, IceServer, MediaSource, SfuError, Sources, TrackInfo, TrackKind};

/// A `media.*` message from a page. Its `session_id` is the client's text:
/// the server parses it, and names it in a refusal as it was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientMessage {
    /// Asks for the ICE servers (TURN credentials) before making an offer.
    #[serde(rename = "media.config")]
    Config { session_id: String },
    /// Joins the session's media with an SDP offer; answered by
    /// `media.answer`.
    #[serde(rename = "media.join")]
    Join {
        session_id: String,
        offer: String,
        #[serde(default)]
        sources: Sources,
    },
    /// The answer to the server's latest `media.offer`.
    #[serde(rename = "media.answer")]
    Answer { session_id: String, sdp: String },
    /// A renegotiation the page starts (a screen share added or stopped).
    #[serde(rename = "media.offer")]
    Offer {
        session_id: String,
        sdp: String,
        #[serde(default)]
        sources: Sources,
    },
    /// A trickled ICE candidate; an empty one ends the candidates.
    #[serde(rename = "media.candidate")]
    Candidate {
        session_id: String,
        candidate: String,
    },
    /// Names (or renames) the sources of the page's own media lines.
    #[serde(rename = "media.publish")]
    Publish {
        session_id: String,
        sources: Sources,
    },
    #[serde(rename = "media.restart_ice")]
    RestartIce { session_id: String },
    /// What the page sends now, for the others' mute indicators. `screen`
    /// (whether it shares its screen) may be left out; a screen share the
    /// host stopped is forwarded again only after the page said `false`
    /// and then `true` (as for the microphone and the camera).
    #[serde(rename = "media.state")]
    State {
        session_id: String,
        microphone: bool,
        camera: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        screen: Option<bool>,
    },
    #[serde(rename = "media.leave")]
    Leave { session_id: String },
}

impl ClientMessage {
    pub fn session_id(&self) -> &str {
        match self {
            Self::Config { session_id }
            | Self::Join { session_id, .. }
            | Self::Answer { session_id, .. }
            | Self::Offer { session_id, .. }
            | Self::Candidate { session_id, .. }
            | Self::Publish { session_id, .. }
            | Self::RestartIce { session_id }
            | Self::State { session_id, .. }
            | Self::Leave { session_id } => session_id,
        }
    }
}

/// A `media.*` message to a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    #[serde(rename = "media.config")]
    Config {
        session_id: Id,
        ice_servers: Vec<IceServer>,
    },
    /// The answer to the page's `media.join` or `media.offer`.
    #[serde(rename = "media.answer")]
    Answer { session_id: Id, sdp: String },
    /// The server's renegotiation; the page answers with `media.answer`.
    #[serde(rename = "media.offer")]
    Offer { session_id: Id, sdp: String },
    /// Every media line the server sends the page now, and whose it is.
    #[serde(rename = "media.tracks")]
    Tracks { session_id: Id, tracks: Vec<Track> },
    /// What everyone holding media in the session sends, by user id.
    #[serde(rename = "media.states")]
    States {
        session_id: Id,
        states: BTreeMap<Id, MediaState>,
    },
    /// The page's media connection was let go; nothing more comes for it.
    #[serde(rename = "media.closed")]
    Closed { session_id: Id, reason: CloseReason },
    /// The host switched off these sources of the page's: the server
    /// forwards nothing of them until the page turns them off and on again
    /// (its `media.state` says so). A hold outlives the connection: a page
    /// joining media again is told of what is still held, `renewed` (its
    /// sources may well be off already).
    #[serde(rename = "media.held")]
    Held {
        session_id: Id,
        sources: Vec<MediaSource>,
        #[serde(default)]
        renewed: bool,
    },
    /// Who is speaking now, loudest first, by user id (empty: nobody), as
    /// the server hears it from the microphones' audio levels. Sent when it
    /// changes, and on joining while anyone speaks.
    #[serde(rename = "media.speakers")]
    Speakers {
        session_id: Id,
        user_ids: Vec<String>,
    },
    /// A `media.*` message refused; it changed nothing. `session_id` is the
    /// one the message named, if it could be read.
    #[serde(rename = "media.error")]
    Error {
        session_id: Option<String>,
        error: Refusal,
    },
}

impl ServerMessage {
    /// The session the message is about, if it names one.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Self::Config { session_id, .. }
            | Self::Answer { session_id, .. }
            | Self::Offer { session_id, .. }
            | Self::Tracks { session_id, .. }
            | Self::States { session_id, .. }
            | Self::Closed { session_id, .. }
            | Self::Held { session_id, .. }
            | Self::Speakers { session_id, .. } => Some(session_id.as_str()),
            Self::Error { session_id, .. } => session_id.as_deref(),
        }
    }
}

/// One media line the server sends a page, as `media.tracks` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    /// The media line in the receiving page's session (`transceiver.mid`).
    pub mid: String,
    /// Who publishes it.
    pub user_id: String,
    /// The publisher's display name.
    pub name: String,
    pub kind: TrackKind,
    pub source: MediaSource,
}

impl From<&TrackInfo> for Track {
    fn from(info: &TrackInfo) -> Self {
        Self {
            mid: info.mid.clone(),
            user_id: info.peer_id.as_str().to_owned(),
            name: info.name.clone(),
            kind: info.kind,
            source: info.source,
        }
    }
}

/// What a person sends, as their page says: shown to the others as mute
/// indicators and as a camera tile or a name tile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaState {
    pub microphone: bool,
    pub camera: bool,
}

/// Why a `media.*` message was refused; it changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// `invalid`, `forbidden`, `full`, `not_found`, `unavailable` (or
    /// `internal`, a bug).
    pub code: String,
    pub message: String,
}

impl Refusal {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// A signal from a connection that holds no media in the session.
    pub fn not_in_media() -> Self {
        Self::new(
            "not_found",
            "you are not in this session's media; join it first",
        )
    }
}

impl From<SfuError> for Refusal {
    fn from(error: SfuError) -> Self {
        let code = match error {
            SfuError::RoomFull { .. } => "full",
            SfuError::UnknownPeer => "not_found",
            SfuError::BadSignal { .. } => "invalid",
            SfuError::Stopped => "unavailable",
        };
        Self::new(code, error.to_string())
    }
}

/// Whether a client message is a `media.*` one, without reading the rest.
pub fn is_media(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<Kind<'_>>(text).is_ok_and(|message| message.kind.starts_with("media."))
}

#[cfg(test)]
mod tests {
    use sfu::PeerId;

    use super::*;
    use crate::wire::round_trip;

    const SESSION: &str = "0190a0a0-0000-7000-8000-000000000001";
    const ADA: &str = "0190a0a0-0000-7000-8000-00000000000a";

    fn session() -> Id {
        Id::from_trusted(SESSION.into())
    }

    #[test]
    fn page_messages_keep_their_format() {
        let id = || SESSION.to_owned();
        let sources = |mid: &str, source| Sources::from([(mid.to_owned(), source)]);
        round_trip(
            &format!(r#"{{"type":"media.config","session_id":"{SESSION}"}}"#),
            ClientMessage::Config { session_id: id() },
        );
        round_trip(
            &format!(
                r#"{{"type":"media.join","session_id":"{SESSION}","offer":"v=0\r\n","sources":{{"0":"microphone"}}}}"#
            ),
            ClientMessage::Join {
                session_id: id(),
                offer: "v=0\r\n".into(),
                sources: sources("0", MediaSource::Microphone),
            },
        );
        round_trip(
            &format!(r#"{{"type":"media.answer","session_id":"{SESSION}","sdp":"v=0"}}"#),
            ClientMessage::Answer {
                session_id: id(),
                sdp: "v=0".into(),
            },
        );
        round_trip(
            &format!(
                r#"{{"type":"media.offer","session_id":"{SESSION}","sdp":"v=0","sources":{{"2":"screen_audio"}}}}"#
            ),
            ClientMessage::Offer {
                session_id: id(),
                sdp: "v=0".into(),
                sources: sources("2", MediaSource::ScreenAudio),
            },
        );
        round_trip(
            &format!(
                r#"{{"type":"media.candidate","session_id":"{SESSION}","candidate":"candidate:1 1 udp 2122260223 10.0.0.2 5000 typ host"}}"#
            ),
            ClientMessage::Candidate {
                session_id: id(),
                candidate: "candidate:1 1 udp 2122260223 10.0.0.2 5000 typ host".into(),
            },
        );
        round_trip(
            &format!(
                r#"{{"type":"media.publish","session_id":"{SESSION}","sources":{{"1":"screen"}}}}"#
            ),
            ClientMessage::Publish {
                session_id: id(),
                sources: sources("1", MediaSource::Screen),
            },
        );
        round_trip(
            &format!(r#"{{"type":"media.restart_ice","session_id":"{SESSION}"}}"#),
            ClientMessage::RestartIce { session_id: id() },
        );
        round_trip(
            &format!(
                r#"{{"type":"media.state","session_id":"{SESSION}","microphone":true,"camera":false}}"#
            ),
            ClientMessage::State {
                session_id: id(),
                microphone: true,
                camera: false,
                screen: None,
            },
        );
        round_trip(
            &format!(
                r#"{{"type":"media.state","session_id":"{SESSION}","microphone":false,"camera":true,"screen":false}}"#
            ),
            ClientMessage::State {
                session_id: id(),
                microphone: false,
                camera: true,
                screen: Some(false),
            },
        );
        round_trip(
            &format!(r#"{{"type":"media.leave","session_id":"{SESSION}"}}"#),
            ClientMessage::Leave { session_id: id() },
        );
    }

    #[test]
    fn sources_may_be_left_out_of_a_join_but_nothing_unknown_is_taken() {
        let join = format!(r#"{{"type":"media.join","session_id":"{SESSION}","offer":"v=0"}}"#);
        let ClientMessage::Join { sources, .. } = serde_json::from_str(&join).unwrap() else {
            panic!("not a join: {join}");
        };
        assert!(sources.is_empty());
        let extra = format!(r#"{{"type":"media.leave","session_id":"{SESSION}","peer":"x"}}"#);
        assert!(serde_json::from_str::<ClientMessage>(&extra).is_err());
    }

    #[test]
    fn server_messages_keep_their_format() {
        round_trip(
            &format!(
                r#"{{"type":"media.config","session_id":"{SESSION}","ice_servers":[{{"urls":["turn:turn.example.org:3478"],"username":"u","credential":"p"}},{{"urls":["stun:turn.example.org:3478"]}}]}}"#
            ),
            ServerMessage::Config {
                session_id: session(),
                ice_servers: vec![
                    IceServer {
                        urls: vec!["turn:turn.example.org:3478".into()],
                        username: Some("u".into()),
                        credential: Some("p".into()),
                    },
                    IceServer {
                        urls: vec!["stun:turn.example.org:3478".into()],
                        username: None,
                        credential: None,
                    },
                ],
            },
        );
        round_trip(
            &format!(r#"{{"type":"media.answer","session_id":"{SESSION}","sdp":"v=0"}}"#),
            ServerMessage::Answer {
                session_id: session(),
                sdp: "v=0".into(),
            },
        );
        round_trip(
            &format!(r#"{{"type":"media.offer","session_id":"{SESSION}","sdp":"v=0"}}"#),
            ServerMessage::Offer {
                session_id: session(),
                sdp: "v=0".into(),
            },
        );
        round_trip(
            &format!(
                r#"{{"type":"media.states","session_id":"{SESSION}","states":{{"{ADA}":{{"microphone":true,"camera":false}}}}}}"#
            ),
            ServerMessage::States {
                session_id: session(),
                states: BTreeMap::from([(
                    Id::from_trusted(ADA.into()),
                    MediaState {
                        microphone: true,
                        camera: false,
                    },
                )]),
            },
        );
        round_trip(
            &format!(
                r#"{{"type":"media.held","session_id":"{SESSION}","sources":["screen","screen_audio"],"renewed":false}}"#
            ),
            ServerMessage::Held {
                session_id: session(),
                sources: vec![MediaSource::Screen, MediaSource::ScreenAudio],
                renewed: false,
            },
        );
        round_trip(
            &format!(
                r#"{{"type":"media.held","session_id":"{SESSION}","sources":["microphone"],"renewed":true}}"#
            ),
            ServerMessage::Held {
                session_id: session(),
                sources: vec![MediaSource::Microphone],
                renewed: true,
            },
        );
        round_trip(
            &format!(r#"{{"type":"media.closed","session_id":"{SESSION}","reason":"removed"}}"#),
            ServerMessage::Closed {
                session_id: session(),
                reason: CloseReason::Removed,
            },
        );
        round_trip(
            &format!(r#"{{"type":"media.closed","session_id":"{SESSION}","reason":"moved"}}"#),
            ServerMessage::Closed {
                session_id: session(),
                reason: CloseReason::Moved,
            },
        );
        round_trip(
            &format!(
                r#"{{"type":"media.closed","session_id":"{SESSION}","reason":"room_closed"}}"#
            ),
            ServerMessage::Closed {
                session_id: session(),
                reason: CloseReason::RoomClosed,
            },
        );
        round_trip(
            &format!(
                r#"{{"type":"media.error","session_id":"{SESSION}","error":{{"code":"full","message":"the room is full"}}}}"#
            ),
            ServerMessage::Error {
                session_id: Some(SESSION.into()),
                error: Refusal::new("full", "the room is full"),
            },
        );
        round_trip(
            r#"{"type":"media.error","session_id":null,"error":{"code":"invalid","message":"malformed message: missing field `session_id`"}}"#,
            ServerMessage::Error {
                session_id: None,
                error: Refusal::new("invalid", "malformed message: missing field `session_id`"),
            },
        );
    }

    #[test]
    fn tracks_name_the_publisher_as_user_id() {
        let info = TrackInfo {
            mid: "3".into(),
            peer_id: PeerId::new(ADA),
            name: "Ada".into(),
            kind: TrackKind::Video,
            source: MediaSource::Screen,
        };
        round_trip(
            &format!(
                r#"{{"type":"media.tracks","session_id":"{SESSION}","tracks":[{{"mid":"3","user_id":"{ADA}","name":"Ada","kind":"video","source":"screen"}}]}}"#
            ),
            ServerMessage::Tracks {
                session_id: session(),
                tracks: vec![Track::from(&info)],
            },
        );
    }

    #[test]
    fn media_messages_are_told_apart() {
        assert!(is_media(
            r#"{"type":"media.join","session_id":"x","offer":"v=0"}"#
        ));
        assert!(is_media(r#"{"session_id":"x","type":"media.leave"}"#));
        assert!(!is_media(
            r#"{"type":"subscribe","id":"a","query":"sessions:active"}"#
        ));
        assert!(!is_media("not json"));
    }
}

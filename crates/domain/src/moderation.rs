//! Host controls, reports and blocks: what a session's host may do to the
//! people in it, what anyone may say about someone to the operator, and whom
//! a person keeps out of the sessions they host.
//!
//! The values a request carries parse here (`ReportNote::parse`); the
//! decisions are plain functions in [`crate::rules`], made by the store on
//! the rows as they are under the session's lock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::input::bounded_text;
use crate::session::Participant;
use crate::{Id, InvalidInput};

/// What the host does to one person in the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostAction {
    /// Their microphone stops reaching the others until they turn it on again.
    MuteMicrophone,
    /// Their camera stops reaching the others until they turn it on again.
    TurnOffCamera,
    /// Their screen share (and its sound) stops until they share again.
    StopScreen,
    /// They leave at once and cannot join this session again.
    Remove,
}

impl HostAction {
    /// The media the action silences; `None` for a removal, which takes
    /// everything of theirs out with their seat.
    pub fn silences(self) -> Option<SilencedMedia> {
        match self {
            Self::MuteMicrophone => Some(SilencedMedia::Microphone),
            Self::TurnOffCamera => Some(SilencedMedia::Camera),
            Self::StopScreen => Some(SilencedMedia::Screen),
            Self::Remove => None,
        }
    }
}

/// A kind of media the host can switch off for someone. The person may turn
/// it on again themselves; until they do, the media server forwards nothing
/// of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SilencedMedia {
    Microphone,
    Camera,
    /// The screen share's video and its sound.
    Screen,
}

/// The names the store writes for each kind.
impl SilencedMedia {
    pub const ALL: [Self; 3] = [Self::Microphone, Self::Camera, Self::Screen];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Microphone => "microphone",
            Self::Camera => "camera",
            Self::Screen => "screen",
        }
    }

    pub fn from_str_opt(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|media| media.as_str() == text)
    }
}

/// Why someone is reported: a fixed list, so the operator can sort them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportReason {
    Harassment,
    Spam,
    InappropriateContent,
    Disruptive,
    Other,
}

/// The names the store writes for each reason.
impl ReportReason {
    pub const ALL: [Self; 5] = [
        Self::Harassment,
        Self::Spam,
        Self::InappropriateContent,
        Self::Disruptive,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Harassment => "harassment",
            Self::Spam => "spam",
            Self::InappropriateContent => "inappropriate_content",
            Self::Disruptive => "disruptive",
            Self::Other => "other",
        }
    }

    pub fn from_str_opt(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == text)
    }
}

/// What a reporter adds in their own words: at most 1000 characters; empty
/// means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportNote(Option<String>);

impl ReportNote {
    pub const MAX: usize = 1000;

    pub fn parse(raw: Option<&str>) -> Result<Self, InvalidInput> {
        match raw.map(str::trim) {
            None | Some("") => Ok(Self(None)),
            Some(text) => bounded_text("note", text, 1, Self::MAX).map(|note| Self(Some(note))),
        }
    }

    pub fn into_inner(self) -> Option<String> {
        self.0
    }
}

/// A report, kept for the operator (`lockin reports`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Report {
    #[schema(value_type = String)]
    pub id: Id,
    #[schema(value_type = String)]
    pub session_id: Id,
    #[schema(value_type = String)]
    pub reporter_id: Id,
    pub reporter_name: String,
    #[schema(value_type = String)]
    pub reported_id: Id,
    pub reported_name: String,
    pub reason: ReportReason,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Someone a person has blocked: they cannot join sessions the blocker hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Block {
    /// The person blocked.
    #[schema(value_type = String)]
    pub user_id: Id,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// What a host action did: the person's seat as it is now, and the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moderated {
    pub participant: Participant,
    pub action: HostAction,
}

/// Whom "mute everyone" muted: everyone joined but the host and the assistant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MutedEveryone {
    #[schema(value_type = String)]
    pub session_id: Id,
    /// The user ids of the people muted.
    #[schema(value_type = Vec<String>)]
    pub muted: Vec<Id>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_optional_and_bounded() {
        assert_eq!(ReportNote::parse(None).unwrap().into_inner(), None);
        assert_eq!(ReportNote::parse(Some("  ")).unwrap().into_inner(), None);
        assert_eq!(
            ReportNote::parse(Some(" rude ")).unwrap().into_inner(),
            Some("rude".into())
        );
        let longest = "é".repeat(ReportNote::MAX);
        assert!(ReportNote::parse(Some(&longest)).is_ok());
        let refused = ReportNote::parse(Some(&format!("{longest}é"))).unwrap_err();
        assert_eq!(refused.field, "note");
    }

    #[test]
    fn reasons_round_trip_through_their_stored_names() {
        for reason in ReportReason::ALL {
            assert_eq!(ReportReason::from_str_opt(reason.as_str()), Some(reason));
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::Value::String(reason.as_str().into())
            );
        }
        assert_eq!(ReportReason::from_str_opt("boring"), None);
    }

    #[test]
    fn silenced_media_round_trips_through_its_stored_names() {
        for media in SilencedMedia::ALL {
            assert_eq!(SilencedMedia::from_str_opt(media.as_str()), Some(media));
            assert_eq!(
                serde_json::to_value(media).unwrap(),
                serde_json::Value::String(media.as_str().into())
            );
        }
        assert_eq!(SilencedMedia::from_str_opt("speaker"), None);
    }

    #[test]
    fn every_host_action_but_removal_silences_one_kind_of_media() {
        assert_eq!(
            HostAction::MuteMicrophone.silences(),
            Some(SilencedMedia::Microphone)
        );
        assert_eq!(
            HostAction::TurnOffCamera.silences(),
            Some(SilencedMedia::Camera)
        );
        assert_eq!(
            HostAction::StopScreen.silences(),
            Some(SilencedMedia::Screen)
        );
        assert_eq!(HostAction::Remove.silences(), None);
    }
}

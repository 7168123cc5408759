//! Lock In sessions and the people in them.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::goal::{CheckOut, Goal};
use crate::input::bounded_text;
use crate::ritual::{Rhythm, SessionShape, Timer};
use crate::{Id, InvalidInput};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    #[schema(value_type = String)]
    pub id: Id,
    #[schema(value_type = String)]
    pub creator_id: Id,
    /// The host's name, for lists and cards.
    pub creator_name: String,
    pub title: String,
    pub description: Option<String>,
    pub session_type: SessionType,
    pub status: SessionStatus,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>)]
    pub project_id: Option<Id>,
    pub max_participants: i64,
    pub ai_agent_enabled: bool,
    /// People joined right now; the agent is not counted.
    pub participant_count: i64,
    /// Whether someone not in it can take a seat now: active, with a seat
    /// free (`rules::open_for_joining`). Pages follow it live instead of
    /// deciding for themselves.
    pub open_for_joining: bool,
    /// What the AI assistant is doing in the room right now.
    pub agent_status: AgentStatus,
    pub created_at: DateTime<Utc>,
    /// Raised by every change to the session, its people, its AI log or its
    /// chat; live results of one session with equal versions show one moment.
    pub version: i64,
    /// How long the session is planned to last, 1–180 minutes; null: not planned.
    pub planned_minutes: Option<i64>,
    /// How its time is divided; null: no rhythm chosen.
    pub rhythm: Option<Rhythm>,
    /// When a work block starts, each person's microphone is muted (they may unmute).
    pub quiet_work: bool,
    /// The timer everyone in the room shares.
    pub timer: Timer,
    /// The host locked the room: nobody new can join (people who were in
    /// it, and the host, still can).
    #[serde(default)]
    pub locked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Participant {
    #[schema(value_type = String)]
    pub session_id: Id,
    #[schema(value_type = String)]
    pub user_id: Id,
    pub name: String,
    pub role: Role,
    pub status: ParticipantStatus,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    /// What they said they will do in this session; null: no goal stated.
    pub goal: Option<Goal>,
    /// How they said it went; null: not checked out.
    pub check_out: Option<CheckOut>,
    /// The host removed them: their status is `left`, and they cannot join
    /// this session again.
    #[serde(default)]
    pub removed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionType {
    Coding,
    Study,
    General,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Scheduled,
    Active,
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    Off,
    /// Switched on; the agent has not reported in yet.
    Joining,
    Listening,
    Thinking,
    Speaking,
}

/// A past session as its history shows it to one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SessionHistory {
    pub session: Session,
    /// When I (last) joined it.
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    /// How long the session ran, from its start to its end (or to my leaving, if it goes on).
    pub duration_seconds: i64,
    /// How many people were ever in it (the agent not counted).
    pub people: i64,
    /// How many questions the assistant was asked in it.
    pub ai_questions: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Host,
    Participant,
    Agent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantStatus {
    Joined,
    Left,
}

/// The names the store writes in its text columns, one place for each enum.
macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn from_str_opt(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

text_enum!(SessionType { Coding => "coding", Study => "study", General => "general" });
text_enum!(SessionStatus { Scheduled => "scheduled", Active => "active", Ended => "ended" });
text_enum!(AgentStatus {
    Off => "off",
    Joining => "joining",
    Listening => "listening",
    Thinking => "thinking",
    Speaking => "speaking",
});
text_enum!(Role { Host => "host", Participant => "participant", Agent => "agent" });
text_enum!(ParticipantStatus { Joined => "joined", Left => "left" });

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTitle(String);

impl SessionTitle {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        bounded_text("title", raw, 1, 120).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// How many people a session seats. The agent never takes a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxParticipants(i64);

impl MaxParticipants {
    pub const MIN: i64 = 2;
    pub const MAX: i64 = 50;

    pub fn parse(raw: i64) -> Result<Self, InvalidInput> {
        if (Self::MIN..=Self::MAX).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(Self::out_of_range())
        }
    }

    /// From a form's text: anything but a whole number in range is refused
    /// in the same words as a number out of range.
    pub fn parse_text(raw: &str) -> Result<Self, InvalidInput> {
        raw.trim()
            .parse::<i64>()
            .map_err(|_| Self::out_of_range())
            .and_then(Self::parse)
    }

    fn out_of_range() -> InvalidInput {
        InvalidInput::new(
            "max_participants",
            format!("must be between {} and {}", Self::MIN, Self::MAX),
        )
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// When a new session begins: now, or at a time in the future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Instant,
    At(DateTime<Utc>),
}

impl Schedule {
    /// How far ahead a session may be planned; further is almost surely a typo in the year.
    pub const HORIZON_DAYS: i64 = 366;

    /// A start that is missing or not in the future means "now", as the API promises.
    pub fn decide(
        scheduled_start: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidInput> {
        match scheduled_start {
            Some(at) if at > now => Self::later(at, now),
            _ => Ok(Self::Instant),
        }
    }

    /// A start someone chose explicitly as "later" (the form's choice): it
    /// must be in the future, and within the horizon like any other.
    pub fn later(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<Self, InvalidInput> {
        if at <= now {
            Err(InvalidInput::new(
                "scheduled_start",
                "must be in the future",
            ))
        } else if at > now + Duration::days(Self::HORIZON_DAYS) {
            Err(InvalidInput::new(
                "scheduled_start",
                format!("must be within {} days", Self::HORIZON_DAYS),
            ))
        } else {
            Ok(Self::At(at))
        }
    }

    /// The status a session is created in.
    pub fn initial_status(self) -> SessionStatus {
        match self {
            Self::Instant => SessionStatus::Active,
            Self::At(_) => SessionStatus::Scheduled,
        }
    }

    pub fn start_at(self) -> Option<DateTime<Utc>> {
        match self {
            Self::Instant => None,
            Self::At(at) => Some(at),
        }
    }
}

/// A new session, every field parsed: what the API's JSON and the page's form
/// both turn into before anything is written.
#[derive(Debug, Clone)]
pub struct SessionDraft {
    pub title: SessionTitle,
    pub description: Option<String>,
    pub session_type: SessionType,
    pub schedule: Schedule,
    pub project_id: Option<Id>,
    pub max_participants: MaxParticipants,
    pub ai_agent_enabled: bool,
    pub shape: SessionShape,
    pub quiet_work: bool,
}

#[cfg(test)]
impl Participant {
    /// `user`'s seat in `session`, as `role` and `status`, with nothing
    /// else set, for the domain's tests.
    pub(crate) fn example(
        session: &Session,
        user: &Id,
        role: Role,
        status: ParticipantStatus,
    ) -> Self {
        Participant {
            session_id: session.id.clone(),
            user_id: user.clone(),
            name: "Ada".into(),
            role,
            status,
            joined_at: Utc::now(),
            left_at: None,
            goal: None,
            check_out: None,
            removed: false,
        }
    }
}

#[cfg(test)]
impl Session {
    /// An active coding session with one person in it and nothing else
    /// set, for the domain's tests to adjust.
    pub(crate) fn example() -> Self {
        Session {
            id: Id::generate(),
            creator_id: Id::generate(),
            creator_name: "Ada".into(),
            title: "Deep work".into(),
            description: None,
            session_type: SessionType::Coding,
            status: SessionStatus::Active,
            scheduled_start: None,
            started_at: None,
            ended_at: None,
            project_id: None,
            max_participants: 3,
            ai_agent_enabled: false,
            participant_count: 1,
            agent_status: AgentStatus::Off,
            created_at: Utc::now(),
            version: 0,
            open_for_joining: true,
            planned_minutes: None,
            rhythm: None,
            quiet_work: false,
            timer: crate::ritual::TimerPhase::NotStarted.view(&[], None),
            locked: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_participants_bounds() {
        assert!(MaxParticipants::parse(1).is_err());
        assert_eq!(MaxParticipants::parse(2).unwrap().get(), 2);
        assert_eq!(MaxParticipants::parse(50).unwrap().get(), 50);
        assert!(MaxParticipants::parse(51).is_err());
        assert_eq!(MaxParticipants::parse_text(" 8 ").unwrap().get(), 8);
        assert_eq!(
            MaxParticipants::parse_text("eight").unwrap_err(),
            MaxParticipants::parse(1).unwrap_err()
        );
    }

    #[test]
    fn title_bounds() {
        assert!(SessionTitle::parse("").is_err());
        assert!(SessionTitle::parse(&"t".repeat(120)).is_ok());
        assert!(SessionTitle::parse(&"t".repeat(121)).is_err());
    }

    #[test]
    fn past_or_missing_start_is_instant() {
        let now = Utc::now();
        assert_eq!(Schedule::decide(None, now).unwrap(), Schedule::Instant);
        assert_eq!(
            Schedule::decide(Some(now - Duration::minutes(1)), now).unwrap(),
            Schedule::Instant
        );
        assert_eq!(Schedule::decide(Some(now), now).unwrap(), Schedule::Instant);
        let later = now + Duration::hours(2);
        assert_eq!(
            Schedule::decide(Some(later), now).unwrap(),
            Schedule::At(later)
        );
        assert!(Schedule::decide(Some(now + Duration::days(400)), now).is_err());
    }

    #[test]
    fn a_chosen_later_start_must_be_ahead_and_within_the_horizon() {
        let now = Utc::now();
        assert!(Schedule::later(now, now).is_err());
        assert!(Schedule::later(now - Duration::minutes(1), now).is_err());
        assert!(Schedule::later(now + Duration::days(400), now).is_err());
        let later = now + Duration::hours(2);
        assert_eq!(Schedule::later(later, now).unwrap(), Schedule::At(later));
        // The API's reading agrees wherever both accept the input.
        assert_eq!(
            Schedule::decide(Some(later), now).unwrap(),
            Schedule::At(later)
        );
        assert_eq!(
            Schedule::At(later).initial_status(),
            SessionStatus::Scheduled
        );
        assert_eq!(Schedule::Instant.initial_status(), SessionStatus::Active);
    }

    #[test]
    fn enum_text_round_trips() {
        for status in [
            SessionStatus::Scheduled,
            SessionStatus::Active,
            SessionStatus::Ended,
        ] {
            assert_eq!(SessionStatus::from_str_opt(status.as_str()), Some(status));
        }
        assert_eq!(Role::from_str_opt("admin"), None);
    }
}

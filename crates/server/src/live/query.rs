//! The named queries a live client can subscribe to: parsing, who may see
//! them, which events touch them, and running them.

use std::fmt;

use domain::Id;
use domain::event::Event;
use domain::session::SessionStatus;
use domain::user::User;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::app::{App, Caller};
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Query {
    Session(Id),
    Participants(Id),
    AiLogs(Id),
    Chat(Id),
    ActiveSessions,
    UpcomingSessions,
    /// Always the caller's own: the id comes from the connection, not the client.
    Notifications(Id),
    /// For the AI agent only: the active sessions with the assistant on.
    AgentSessions,
}

/// One result of a query, serialized once and shared by every subscriber.
#[derive(Debug)]
pub struct Snapshot {
    /// The session's version for session queries; `None` for the others,
    /// whose subscriptions count their own pushes.
    pub version: Option<i64>,
    pub data: Box<RawValue>,
}

/// Whether `user_id` is joined in a `participants:` snapshot.
pub fn joined(roster: &Snapshot, user_id: &Id) -> bool {
    #[derive(serde::Deserialize)]
    struct Seat {
        user_id: Id,
        status: domain::session::ParticipantStatus,
    }
    serde_json::from_str::<Vec<Seat>>(roster.data.get()).is_ok_and(|seats| {
        seats.iter().any(|seat| {
            &seat.user_id == user_id && seat.status == domain::session::ParticipantStatus::Joined
        })
    })
}

impl Query {
    pub fn parse(text: &str, caller: &User) -> ApiResult<Self> {
        let unknown = || {
            ApiError::invalid(
                "query",
                "unknown query; expected session:, participants:, ai_logs: or chat: with a session id, \
                 sessions:active, sessions:upcoming or notifications",
            )
        };
        let session = |raw: &str| {
            Id::parse("query", raw)
                .map_err(|_| ApiError::invalid("query", "is not a valid session id"))
        };
        Ok(match text.split_once(':') {
            Some(("session", id)) => Self::Session(session(id)?),
            Some(("participants", id)) => Self::Participants(session(id)?),
            Some(("ai_logs", id)) => Self::AiLogs(session(id)?),
            Some(("chat", id)) => Self::Chat(session(id)?),
            Some(("sessions", "active")) => Self::ActiveSessions,
            Some(("sessions", "upcoming")) => Self::UpcomingSessions,
            None if text == "notifications" => Self::Notifications(caller.id.clone()),
            Some(("agent", "sessions")) => Self::AgentSessions,
            _ => return Err(unknown()),
        })
    }

    pub fn session_id(&self) -> Option<&Id> {
        match self {
            Self::Session(id) | Self::Participants(id) | Self::AiLogs(id) | Self::Chat(id) => {
                Some(id)
            }
            Self::ActiveSessions
            | Self::UpcomingSessions
            | Self::Notifications(_)
            | Self::AgentSessions => None,
        }
    }

    /// Whether `event` may change this query's result.
    pub fn affected_by(&self, event: &Event) -> bool {
        match (self, event) {
            (_, Event::Resync) => true,
            (Self::Session(id), Event::SessionChanged { session_id })
            | (Self::Participants(id), Event::ParticipantsChanged { session_id })
            | (Self::AiLogs(id), Event::AiLogsChanged { session_id })
            | (Self::Chat(id), Event::ChatChanged { session_id }) => id == session_id,
            (
                Self::ActiveSessions | Self::UpcomingSessions | Self::AgentSessions,
                Event::SessionChanged { .. },
            ) => true,
            (Self::Notifications(user), Event::NotificationsChanged { user_id }) => user == user_id,
            _ => false,
        }
    }

    /// The same rules as the matching REST call.
    pub async fn authorize(&self, app: &App, caller: &Caller) -> ApiResult<()> {
        match self {
            Self::Session(id) | Self::Participants(id) => {
                app.session(id).await?;
            }
            Self::AiLogs(id) | Self::Chat(id) => app.watch_session_record(caller, id).await?,
            Self::AgentSessions => app.watch_agent_sessions(caller).await?,
            Self::ActiveSessions | Self::UpcomingSessions | Self::Notifications(_) => {}
        }
        Ok(())
    }

    /// Reads the current result. `None` when the session is gone.
    pub async fn run(&self, app: &App) -> ApiResult<Option<Snapshot>> {
        fn snapshot(version: Option<i64>, data: &impl Serialize) -> ApiResult<Option<Snapshot>> {
            let data = serde_json::value::to_raw_value(data).map_err(anyhow::Error::from)?;
            Ok(Some(Snapshot { version, data }))
        }
        match self {
            Self::Session(id) => match app.session_snapshot(id).await? {
                Some(session) => snapshot(Some(session.version), &session),
                None => Ok(None),
            },
            Self::Participants(id) => match app.participants_snapshot(id).await? {
                Some((version, participants)) => snapshot(Some(version), &participants),
                None => Ok(None),
            },
            Self::AiLogs(id) => match app.ai_logs_snapshot(id).await? {
                Some((version, logs)) => snapshot(Some(version), &logs),
                None => Ok(None),
            },
            Self::Chat(id) => match app.latest_messages(id).await? {
                Some((version, page)) => snapshot(Some(version), &page),
                None => Ok(None),
            },
            Self::ActiveSessions => {
                snapshot(None, &app.first_sessions(SessionStatus::Active).await?)
            }
            Self::UpcomingSessions => {
                snapshot(None, &app.first_sessions(SessionStatus::Scheduled).await?)
            }
            Self::AgentSessions => snapshot(None, &app.agent_sessions_snapshot().await?),
            Self::Notifications(user) => snapshot(None, &app.notifications_snapshot(user).await?),
        }
    }
}

/// The query as the client wrote it.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Session(id) => write!(f, "session:{id}"),
            Self::Participants(id) => write!(f, "participants:{id}"),
            Self::AiLogs(id) => write!(f, "ai_logs:{id}"),
            Self::Chat(id) => write!(f, "chat:{id}"),
            Self::ActiveSessions => f.write_str("sessions:active"),
            Self::UpcomingSessions => f.write_str("sessions:upcoming"),
            Self::Notifications(_) => f.write_str("notifications"),
            Self::AgentSessions => f.write_str("agent:sessions"),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn ada() -> User {
        User {
            id: Id::generate(),
            email: "ada@example.com".into(),
            name: "Ada".into(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn parses_every_query_and_prints_it_back() {
        let caller = ada();
        let id = Id::generate();
        for text in [
            format!("session:{id}"),
            format!("participants:{id}"),
            format!("ai_logs:{id}"),
            format!("chat:{id}"),
            "sessions:active".into(),
            "sessions:upcoming".into(),
            "notifications".into(),
            "agent:sessions".into(),
        ] {
            assert_eq!(Query::parse(&text, &caller).unwrap().to_string(), text);
        }
    }

    #[test]
    fn refuses_unknown_queries_and_bad_ids() {
        let caller = ada();
        for text in [
            "",
            "session",
            "session:nope",
            "sessions:ended",
            "users:all",
            "notifications:someone",
        ] {
            assert!(Query::parse(text, &caller).is_err(), "{text:?}");
        }
    }

    #[test]
    fn notifications_are_always_the_callers() {
        let caller = ada();
        assert_eq!(
            Query::parse("notifications", &caller).unwrap(),
            Query::Notifications(caller.id.clone())
        );
    }

    #[test]
    fn events_touch_only_their_queries() {
        let id = Id::generate();
        let other = Id::generate();
        let joined = Event::ParticipantsChanged {
            session_id: id.clone(),
        };
        assert!(Query::Participants(id.clone()).affected_by(&joined));
        assert!(!Query::Participants(other.clone()).affected_by(&joined));
        assert!(!Query::Session(id.clone()).affected_by(&joined));
        let changed = Event::SessionChanged { session_id: other };
        assert!(Query::ActiveSessions.affected_by(&changed));
        assert!(Query::UpcomingSessions.affected_by(&changed));
        assert!(!Query::Chat(id.clone()).affected_by(&changed));
        assert!(Query::Chat(id).affected_by(&Event::Resync));
    }
}

//! Sessions as iCalendar events: the calendar feed and "Add to calendar".

use chrono::{Duration, Utc};
use domain::session::{Session, SessionStatus};
use icalendar::{Calendar, Component, EventLike};

/// A session with no end yet and no planned length is shown this long.
const PLANNED_LENGTH: Duration = Duration::hours(1);

/// One calendar of `sessions`, linking each to its page on `host`.
pub fn calendar_of(sessions: &[Session], host: &str) -> Calendar {
    let mut calendar = Calendar::new();
    calendar.name("Lock In");
    for session in sessions {
        let Some(start) = session.scheduled_start.or(session.started_at) else {
            continue;
        };
        let planned = session
            .planned_minutes
            .map_or(PLANNED_LENGTH, Duration::minutes);
        let end = session
            .ended_at
            .filter(|ended| *ended > start)
            .unwrap_or(start + planned);
        let mut event = icalendar::Event::new();
        event
            .uid(&format!("{}@lockin", session.id))
            .summary(&session.title)
            .starts(start)
            .ends(end)
            .timestamp(Utc::now())
            .url(&format!("http://{host}/sessions/{}", session.id));
        let description = [
            session.description.clone(),
            domain::ritual::describe_shape(session.planned_minutes, session.rhythm.as_ref()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n\n");
        if !description.is_empty() {
            event.description(&description);
        }
        if session.status == SessionStatus::Ended {
            event.status(icalendar::EventStatus::Cancelled);
        }
        calendar.push(event.done());
    }
    calendar.done()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use domain::Id;
    use domain::session::SessionType;

    use super::*;

    #[test]
    fn a_scheduled_session_becomes_an_event_with_escaped_text() {
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 0).unwrap();
        let session = Session {
            id: Id::generate(),
            creator_id: Id::generate(),
            creator_name: "Ada".into(),
            title: "Rust, async; and more".into(),
            description: Some("bring\\nquestions".into()),
            session_type: SessionType::Coding,
            status: SessionStatus::Scheduled,
            scheduled_start: Some(start),
            started_at: None,
            ended_at: None,
            project_id: None,
            max_participants: 5,
            ai_agent_enabled: true,
            participant_count: 0,
            agent_status: domain::session::AgentStatus::Off,
            created_at: start,
            version: 1,
            open_for_joining: false,
            planned_minutes: None,
            rhythm: None,
            quiet_work: false,
            timer: domain::ritual::TimerPhase::NotStarted.view(&[], None),
            locked: false,
        };
        let text = calendar_of(std::slice::from_ref(&session), "lockin.example").to_string();
        assert!(text.starts_with("BEGIN:VCALENDAR\r\n"), "{text}");
        assert!(text.contains("DTSTART:20261201T093000Z"), "{text}");
        assert!(text.contains("DTEND:20261201T103000Z"), "{text}");
        assert!(text.contains("SUMMARY:Rust\\, async\\; and more"), "{text}");
        assert!(
            text.contains(&format!("UID:{}@lockin", session.id)),
            "{text}"
        );
        assert!(text.trim_end().ends_with("END:VCALENDAR"));
    }
}

//! The one place where a write becomes events.
//!
//! A use case hands what its transaction wrote to [`App::publish`]; which
//! events that implies is decided here, by the kind of record written, so no
//! use case chooses (or forgets) its events by hand. An event names what
//! changed, not how, so one too many only makes a live query re-read once more;
//! one too few would leave a screen stale, which is why this list is not
//! spread over the callers.

use domain::Id;
use domain::ai_log::AiLog;
use domain::chat::ChatMessage;
use domain::event::Event;
use domain::favourite::Favourite;
use domain::moderation::{Block, Moderated, MutedEveryone, Report};
use domain::recap::WrittenSummary;
use domain::session::{Participant, Session};
use store::{CreatedSession, StoreResult, SweepReport};

use super::error::named;
use super::{App, Result};

/// A record a write returned, and what its change means for live queries.
pub trait Written {
    fn events(&self) -> Vec<Event>;
}

/// The session row changed (status, seats, switches); its people may have too.
fn session_and_people(session_id: &Id) -> Vec<Event> {
    vec![
        Event::SessionChanged {
            session_id: session_id.clone(),
        },
        Event::ParticipantsChanged {
            session_id: session_id.clone(),
        },
    ]
}

impl Written for Session {
    fn events(&self) -> Vec<Event> {
        session_and_people(&self.id)
    }
}

/// A new session, and the notification lists of the people its scheduling
/// told (those who keep its creator as a favourite).
impl Written for CreatedSession {
    fn events(&self) -> Vec<Event> {
        let mut events = self.session.events();
        events.extend(notifications_of(&self.notified));
        events
    }
}

/// Each person's notification list changed.
fn notifications_of(user_ids: &[Id]) -> impl Iterator<Item = Event> + '_ {
    user_ids.iter().map(|user_id| Event::NotificationsChanged {
        user_id: user_id.clone(),
    })
}

impl Written for Participant {
    fn events(&self) -> Vec<Event> {
        session_and_people(&self.session_id)
    }
}

/// A summary is part of the session's recap: a recap on screen follows the
/// session's version.
impl Written for WrittenSummary {
    fn events(&self) -> Vec<Event> {
        vec![Event::SessionChanged {
            session_id: self.session_id.clone(),
        }]
    }
}

impl Written for ChatMessage {
    fn events(&self) -> Vec<Event> {
        vec![Event::ChatChanged {
            session_id: self.session_id.clone(),
        }]
    }
}

impl Written for AiLog {
    fn events(&self) -> Vec<Event> {
        vec![Event::AiLogsChanged {
            session_id: self.session_id.clone(),
        }]
    }
}

/// A host action: a removal changes the seat (and the session's count);
/// silencing someone's media changes nothing stored, so the event itself
/// tells every node's media which person and which media.
impl Written for Moderated {
    fn events(&self) -> Vec<Event> {
        match self.action.silences() {
            Some(media) => vec![Event::MediaSilenced {
                session_id: self.participant.session_id.clone(),
                user_ids: vec![self.participant.user_id.clone()],
                media,
            }],
            None => self.participant.events(),
        }
    }
}

impl Written for MutedEveryone {
    fn events(&self) -> Vec<Event> {
        if self.muted.is_empty() {
            return Vec::new();
        }
        vec![Event::MediaSilenced {
            session_id: self.session_id.clone(),
            user_ids: self.muted.clone(),
            media: domain::moderation::SilencedMedia::Microphone,
        }]
    }
}

/// Reports and blocks are read by no live query: nothing to tell.
impl Written for Report {
    fn events(&self) -> Vec<Event> {
        Vec::new()
    }
}

impl Written for Block {
    fn events(&self) -> Vec<Event> {
        Vec::new()
    }
}

/// Nor are favourites: the home page reads them when it is drawn.
impl Written for Favourite {
    fn events(&self) -> Vec<Event> {
        Vec::new()
    }
}

/// A person's token, revoked by signing out; known by its hash only.
pub struct RevokedToken {
    pub token_hash: String,
}

impl Written for RevokedToken {
    fn events(&self) -> Vec<Event> {
        vec![Event::TokenRevoked {
            token_hash: self.token_hash.clone(),
        }]
    }
}

impl Written for SweepReport {
    fn events(&self) -> Vec<Event> {
        let sessions = self.sessions_changed.iter().flat_map(session_and_people);
        sessions
            .chain(notifications_of(&self.users_notified))
            .collect()
    }
}

impl App {
    /// Tells listeners on every node what `written` changed, and hands it back.
    pub(crate) async fn publish<T: Written>(&self, written: T) -> T {
        for event in written.events() {
            self.bus.publish(event).await;
        }
        written
    }

    /// Publishes what a store write wrote, its "not found" told as `missing`
    /// (e.g. "no such session"): the last step of every use case that
    /// changes one record.
    pub(crate) async fn publish_write<T: Written>(
        &self,
        written: StoreResult<T>,
        missing: &'static str,
    ) -> Result<T> {
        let written = written.map_err(named(missing))?;
        Ok(self.publish(written).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_tells_each_session_and_each_person_notified() {
        let session_id = Id::generate();
        let user_id = Id::generate();
        let report = SweepReport {
            sessions_changed: vec![session_id.clone()],
            users_notified: vec![user_id.clone()],
        };
        assert_eq!(
            report.events(),
            vec![
                Event::SessionChanged {
                    session_id: session_id.clone()
                },
                Event::ParticipantsChanged { session_id },
                Event::NotificationsChanged { user_id },
            ]
        );
    }
}

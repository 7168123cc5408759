//! What a page shows of a session: the `session` of the API plus the names a
//! person reads (host, project) and whether, and why not, they can join.

use std::collections::HashMap;

use crate::app::sessions::JoinOffer as Joinable;
use domain::Id;
use domain::session::{Session, SessionStatus, SessionType};

use super::Viewer;
use super::display::{self, When};
use crate::AppState;
use crate::app::Result;

pub struct SessionCard {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    /// `coding`, `study` or `general`, for styling.
    pub kind: &'static str,
    pub kind_label: &'static str,
    pub status: SessionStatus,
    /// "Started", "Starts" or "Ended", before [`Self::when`].
    pub when_label: &'static str,
    pub when: When,
    pub host: Option<String>,
    pub project: Option<ProjectLink>,
    pub seats_taken: i64,
    pub seats_max: i64,
    pub ai: bool,
    /// Its planned length and rhythm in words, if it has them.
    pub shape: Option<String>,
    pub agent_status: &'static str,
    pub creator_is_viewer: bool,
    pub joinable: Joinable,
    /// Someone the viewer keeps as a favourite hosts it or is in it; the
    /// home page lists it under "With your favourites" too.
    pub with_favourite: bool,
    /// Changes whenever anything the card shows changes; the home page's
    /// script compares it with the live list to know when to redraw.
    pub signature: String,
}

/// A project as a session shows it: its name to everyone, a link to those who may open it.
#[derive(Clone)]
pub struct ProjectLink {
    pub id: String,
    pub name: String,
    pub linked: bool,
}

impl SessionCard {
    pub fn can_join(&self) -> bool {
        self.joinable == Joinable::Open
    }

    pub fn is_joined(&self) -> bool {
        self.joinable == Joinable::Joined
    }

    pub fn is_active(&self) -> bool {
        self.status == SessionStatus::Active
    }

    pub fn is_scheduled(&self) -> bool {
        self.status == SessionStatus::Scheduled
    }

    pub fn is_ended(&self) -> bool {
        self.status == SessionStatus::Ended
    }

    /// Why the join button is disabled, in a few words.
    pub fn join_blocked_reason(&self) -> &'static str {
        match self.joinable {
            Joinable::Full => "Full",
            Joinable::Locked => "Locked by the host",
            Joinable::NotStarted => "Not started yet",
            Joinable::Ended => "Ended",
            Joinable::Open | Joinable::Joined => "",
        }
    }

    pub fn seats_label(&self) -> String {
        format!("{} of {} seats taken", self.seats_taken, self.seats_max)
    }

    pub fn ai_label(&self) -> &'static str {
        if self.ai { "AI on" } else { "AI off" }
    }
}

pub fn kind_label(kind: SessionType) -> &'static str {
    match kind {
        SessionType::Coding => "Coding",
        SessionType::Study => "Study",
        SessionType::General => "General",
    }
}

/// Builds cards for one viewer, looking each host and project up once.
pub struct CardMaker<'a> {
    state: &'a AppState,
    viewer: &'a Viewer,
    projects: HashMap<Id, Option<ProjectLink>>,
}

impl<'a> CardMaker<'a> {
    pub fn new(state: &'a AppState, viewer: &'a Viewer) -> Self {
        Self {
            state,
            viewer,
            projects: HashMap::new(),
        }
    }

    pub async fn cards(&mut self, sessions: Vec<Session>) -> Result<Vec<SessionCard>> {
        let offers = self
            .state
            .app
            .join_offers(&self.viewer.caller, &sessions)
            .await?;
        let mut cards = Vec::with_capacity(sessions.len());
        for (session, joinable) in sessions.into_iter().zip(offers) {
            cards.push(self.card_with(session, joinable).await?);
        }
        Ok(cards)
    }

    pub async fn card(&mut self, session: Session) -> Result<SessionCard> {
        let mut cards = self.cards(vec![session]).await?;
        Ok(cards.pop().expect("one card per session"))
    }

    async fn card_with(&mut self, session: Session, joinable: Joinable) -> Result<SessionCard> {
        let viewer = &self.viewer.user;
        let creator_is_viewer = session.creator_id == viewer.id;
        let project = match &session.project_id {
            Some(id) => self.project(id).await?,
            None => None,
        };
        let (when_label, at) = match session.status {
            SessionStatus::Scheduled => ("Starts", session.scheduled_start),
            SessionStatus::Active => ("Started", session.started_at),
            SessionStatus::Ended => ("Ended", session.ended_at),
        };
        let signature = format!(
            "{}:{}:{}:{}:{}",
            session.id,
            session.status.as_str(),
            session.participant_count,
            session.max_participants,
            session.ai_agent_enabled,
        );
        Ok(SessionCard {
            id: session.id.to_string(),
            kind: session.session_type.as_str(),
            kind_label: kind_label(session.session_type),
            status: session.status,
            when_label,
            when: display::when(at.unwrap_or(session.created_at)),
            host: Some(if creator_is_viewer {
                format!("{} (you)", viewer.name)
            } else {
                session.creator_name.clone()
            }),
            project,
            seats_taken: session.participant_count,
            seats_max: session.max_participants,
            ai: session.ai_agent_enabled,
            shape: domain::ritual::describe_shape(session.planned_minutes, session.rhythm.as_ref()),
            agent_status: session.agent_status.as_str(),
            creator_is_viewer,
            joinable,
            with_favourite: false,
            signature,
            title: session.title,
            description: session.description,
        })
    }

    async fn project(&mut self, id: &Id) -> Result<Option<ProjectLink>> {
        if let Some(known) = self.projects.get(id) {
            return Ok(known.clone());
        }
        let link = match self.state.app.project_name(id).await? {
            Some(name) => Some(ProjectLink {
                id: id.to_string(),
                linked: self
                    .state
                    .app
                    .can_see_project(&self.viewer.caller, id)
                    .await?,
                name,
            }),
            None => None,
        };
        self.projects.insert(id.clone(), link.clone());
        Ok(link)
    }
}

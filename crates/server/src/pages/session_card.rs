//! What a page shows of a session: the `session` of the API plus the names a
//! person reads (host, project) and whether, and why not, they can join.

use std::collections::HashMap;

use domain::Id;
use domain::session::{ParticipantStatus, Session, SessionStatus, SessionType};

use super::Viewer;
use super::display::{self, When};
use crate::AppState;
use crate::error::ApiResult;

pub struct SessionCard {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    /// `coding`, `study` or `general`, for styling.
    pub kind: &'static str,
    pub kind_label: &'static str,
    /// `scheduled`, `active` or `ended`.
    pub status: &'static str,
    /// "Started", "Starts" or "Ended", before [`Self::when`].
    pub when_label: &'static str,
    pub when: When,
    pub host: Option<String>,
    pub project: Option<ProjectLink>,
    pub seats_taken: i64,
    pub seats_max: i64,
    pub ai: bool,
    pub agent_status: &'static str,
    pub creator_is_viewer: bool,
    pub joinable: Joinable,
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

/// Whether the viewer can take a seat, and if not, why.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Joinable {
    Open,
    /// Already in it: the button goes back to the room.
    Joined,
    Full,
    NotStarted,
    Ended,
}

impl SessionCard {
    pub fn can_join(&self) -> bool {
        self.joinable == Joinable::Open
    }

    pub fn is_joined(&self) -> bool {
        self.joinable == Joinable::Joined
    }

    pub fn is_active(&self) -> bool {
        self.status == "active"
    }

    pub fn is_scheduled(&self) -> bool {
        self.status == "scheduled"
    }

    pub fn is_ended(&self) -> bool {
        self.status == "ended"
    }

    /// Why the join button is disabled, in a few words.
    pub fn join_blocked_reason(&self) -> &'static str {
        match self.joinable {
            Joinable::Full => "Full",
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

    pub async fn cards(&mut self, sessions: Vec<Session>) -> ApiResult<Vec<SessionCard>> {
        let mut cards = Vec::with_capacity(sessions.len());
        for session in sessions {
            cards.push(self.card(session).await?);
        }
        Ok(cards)
    }

    pub async fn card(&mut self, session: Session) -> ApiResult<SessionCard> {
        let viewer = &self.viewer.user;
        let creator_is_viewer = session.creator_id == viewer.id;
        let viewer_joined = self.viewer_joined(&session).await?;
        let project = match &session.project_id {
            Some(id) => self.project(id).await?,
            None => None,
        };
        let joinable = match session.status {
            SessionStatus::Ended => Joinable::Ended,
            SessionStatus::Scheduled => Joinable::NotStarted,
            SessionStatus::Active if viewer_joined => Joinable::Joined,
            SessionStatus::Active if session.participant_count >= session.max_participants => {
                Joinable::Full
            }
            SessionStatus::Active => Joinable::Open,
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
            status: session.status.as_str(),
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
            agent_status: session.agent_status.as_str(),
            creator_is_viewer,
            joinable,
            signature,
            title: session.title,
            description: session.description,
        })
    }

    /// Whether the viewer holds a seat in the session now.
    async fn viewer_joined(&self, session: &Session) -> ApiResult<bool> {
        if session.status != SessionStatus::Active {
            return Ok(false);
        }
        let me = self
            .state
            .store
            .participant(&session.id, &self.viewer.user.id)
            .await?;
        Ok(me.is_some_and(|me| me.status == ParticipantStatus::Joined))
    }

    async fn project(&mut self, id: &Id) -> ApiResult<Option<ProjectLink>> {
        if let Some(known) = self.projects.get(id) {
            return Ok(known.clone());
        }
        let link = match self.state.store.project(id).await? {
            Some(project) => Some(ProjectLink {
                id: project.id.to_string(),
                linked: self
                    .state
                    .store
                    .can_see_project(id, &self.viewer.user.id)
                    .await?,
                name: project.name,
            }),
            None => None,
        };
        self.projects.insert(id.clone(), link.clone());
        Ok(link)
    }
}

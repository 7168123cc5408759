//! Home: the sessions with the viewer's favourites first, then the sessions
//! running now and those coming up, kept live by the page's script, which
//! redraws a list from `/home/{list}` when the live query says it changed.
//!
//! A session with a favourite shows twice, on purpose: first under "With
//! your favourites", and in its place in "Active now" or "Upcoming" marked
//! "With a favourite", so those lists stay the whole, live-checked list.

use askama::Template;
use std::collections::HashSet;

use axum::extract::{Path, State};
use domain::session::{Session, SessionStatus};

use super::session_card::{CardMaker, SessionCard};
use super::sessions::{CreateDialog, create_dialog};
use super::viewer::MaybeViewer;
use super::{Layout, PageError, PageResult, Section, Viewer, ok};
use crate::AppState;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    favourites: SessionList,
    active: SessionList,
    upcoming: SessionList,
    create: CreateDialog,
}

#[derive(Template)]
#[template(path = "welcome.html")]
struct WelcomePage {
    layout: Layout,
}

/// One list of the home page; also answered alone, for the script to swap in.
#[derive(Template)]
#[template(path = "home_list.html")]
pub struct SessionList {
    /// `favourites`, `active` or `upcoming`.
    pub name: &'static str,
    pub cards: Vec<SessionCard>,
    pub csrf: String,
}

impl SessionList {
    pub fn empty_text(&self) -> &'static str {
        match self.name {
            "favourites" => {
                "None of your favourites has a session running or planned. \
                 Mark people with the star in a session's People list."
            }
            "active" => "No one is locked in right now. Start a session and others can join you.",
            _ => "Nothing is planned yet. Schedule a session and it will show here.",
        }
    }
}

/// The lists of the home page, by the name `/home/{list}` knows them by.
fn list_name(raw: &str) -> Option<&'static str> {
    ["favourites", "active", "upcoming"]
        .into_iter()
        .find(|name| *name == raw)
}

/// The sessions with the viewer's favourites: those running now (newest
/// first), then those planned (soonest first).
async fn favourite_sessions(state: &AppState, viewer: &Viewer) -> PageResult<Vec<Session>> {
    let mut sessions = Vec::new();
    for status in [SessionStatus::Active, SessionStatus::Scheduled] {
        let list = state
            .app
            .first_favourite_sessions(&viewer.caller, status)
            .await?;
        sessions.extend(list.sessions);
    }
    Ok(sessions)
}

async fn session_list(
    state: &AppState,
    viewer: &Viewer,
    name: &'static str,
) -> PageResult<SessionList> {
    let (sessions, with_favourites) = match name {
        "favourites" => (favourite_sessions(state, viewer).await?, HashSet::new()),
        _ => {
            let status = if name == "active" {
                SessionStatus::Active
            } else {
                SessionStatus::Scheduled
            };
            let with_favourites: HashSet<String> = state
                .app
                .first_favourite_sessions(&viewer.caller, status)
                .await?
                .sessions
                .into_iter()
                .map(|session| session.id.to_string())
                .collect();
            (
                state.app.first_sessions(status).await?.sessions,
                with_favourites,
            )
        }
    };
    let mut cards = CardMaker::new(state, viewer).cards(sessions).await?;
    for card in &mut cards {
        card.with_favourite = with_favourites.contains(&card.id);
    }
    Ok(SessionList {
        name,
        cards,
        csrf: viewer.csrf.clone(),
    })
}

pub async fn page(State(state): State<AppState>, MaybeViewer(viewer): MaybeViewer) -> PageResult {
    let Some(viewer) = viewer else {
        return ok(&WelcomePage {
            layout: Layout::new("Focus together", Section::Home, None),
        });
    };
    let page = HomePage {
        favourites: session_list(&state, &viewer, "favourites").await?,
        active: session_list(&state, &viewer, "active").await?,
        upcoming: session_list(&state, &viewer, "upcoming").await?,
        create: create_dialog(&state, &viewer, None).await?,
        layout: Layout::new("Sessions", Section::Home, Some(&viewer)),
    };
    ok(&page)
}

/// `/home/favourites`, `/home/active` or `/home/upcoming`: one list, as the
/// home page shows it.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(list): Path<String>,
) -> PageResult {
    let name = list_name(&list).ok_or(PageError::NotFound)?;
    ok(&session_list(&state, &viewer, name).await?)
}

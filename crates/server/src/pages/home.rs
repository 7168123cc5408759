//! Home: the sessions running now and those coming up, kept live by the page's
//! script, which redraws a list from `/home/{list}` when the live query says it changed.

use askama::Template;
use axum::extract::{Path, State};
use domain::session::SessionStatus;

use super::session_card::{CardMaker, SessionCard};
use super::sessions::{CreateDialog, create_dialog};
use super::viewer::MaybeViewer;
use super::{Layout, PageError, PageResult, Section, Viewer, ok};
use crate::AppState;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
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
    /// `active` or `upcoming`.
    pub name: &'static str,
    pub cards: Vec<SessionCard>,
    pub csrf: String,
}

impl SessionList {
    pub fn empty_text(&self) -> &'static str {
        if self.name == "active" {
            "No one is locked in right now. Start a session and others can join you."
        } else {
            "Nothing is planned yet. Schedule a session and it will show here."
        }
    }
}

async fn session_list(
    state: &AppState,
    viewer: &Viewer,
    name: &'static str,
) -> PageResult<SessionList> {
    let status = if name == "active" {
        SessionStatus::Active
    } else {
        SessionStatus::Scheduled
    };
    let sessions = state.app.first_sessions(status).await?.sessions;
    let cards = CardMaker::new(state, viewer).cards(sessions).await?;
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
        active: session_list(&state, &viewer, "active").await?,
        upcoming: session_list(&state, &viewer, "upcoming").await?,
        create: create_dialog(&state, &viewer, None).await?,
        layout: Layout::new("Sessions", Section::Home, Some(&viewer)),
    };
    ok(&page)
}

/// `/home/active` or `/home/upcoming`: one list, as the home page shows it.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(list): Path<String>,
) -> PageResult {
    let name = match list.as_str() {
        "active" => "active",
        "upcoming" => "upcoming",
        _ => return Err(PageError::NotFound),
    };
    ok(&session_list(&state, &viewer, name).await?)
}

//! A person's look back: their focus, the sessions they were in, and what
//! they asked the assistant.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::display::{self, When};
use super::focus::{self, FocusView};
use super::session_card::kind_label;
use super::{Layout, PageResult, Section, Viewer, html, ok};
use crate::AppState;

pub struct PastSession {
    pub id: String,
    pub title: String,
    pub kind: &'static str,
    pub kind_label: &'static str,
    pub when: When,
    pub duration: String,
    pub people: String,
    pub ai_questions: i64,
    /// Whether it ended, so its recap can be read (a session left while it
    /// goes on has none yet).
    pub ended: bool,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    layout: Layout,
    focus: FocusView,
    sessions: Vec<PastSession>,
}

pub async fn sessions(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
) -> PageResult {
    let stats = state
        .app
        .focus_stats(&viewer.caller, focus::reader_offset(&headers))
        .await?;
    let sessions = state
        .app
        .session_history(&viewer.caller)
        .await?
        .into_iter()
        .map(|past| PastSession {
            id: past.session.id.to_string(),
            kind: past.session.session_type.as_str(),
            kind_label: kind_label(past.session.session_type),
            when: display::when(past.session.started_at.unwrap_or(past.joined_at)),
            duration: display::duration(past.duration_seconds),
            people: display::people(past.people),
            ai_questions: past.ai_questions,
            ended: past.session.status == domain::session::SessionStatus::Ended,
            title: past.session.title,
        })
        .collect();
    ok(&HistoryPage {
        layout: Layout::new("History", Section::History, Some(&viewer)),
        focus: FocusView::new(&stats),
        sessions,
    })
}

pub struct AskedView {
    pub session_id: String,
    pub question: String,
    pub answer: Vec<display::AnswerPart>,
    pub failed: bool,
    pub helpful: Option<bool>,
    pub helpful_votes: i64,
    pub unhelpful_votes: i64,
    pub when: When,
}

#[derive(Template)]
#[template(path = "history_ai.html")]
struct AiHistoryPage {
    layout: Layout,
    query: String,
    error: Option<&'static str>,
    logs: Vec<AskedView>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SearchQuery {
    q: String,
}

/// Searches longer than this are refused, as by `GET /api/me/ai-logs`.
const MAX_SEARCH_CHARS: usize = 200;

pub async fn ai(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<SearchQuery>,
) -> PageResult {
    let search = query.q.trim();
    let layout = Layout::new("AI history", Section::History, Some(&viewer));
    if search.chars().count() > MAX_SEARCH_CHARS {
        let page = AiHistoryPage {
            layout,
            error: Some("Search for at most 200 characters."),
            logs: Vec::new(),
            query: query.q,
        };
        return html(StatusCode::BAD_REQUEST, &page);
    }
    let logs = state
        .app
        .my_ai_logs(&viewer.caller, Some(search).filter(|text| !text.is_empty()))
        .await?
        .into_iter()
        .map(|log| AskedView {
            session_id: log.session_id.to_string(),
            failed: log.error.is_some(),
            question: log.question,
            answer: display::answer_parts(&log.answer),
            helpful: log.helpful,
            helpful_votes: log.helpful_votes,
            unhelpful_votes: log.unhelpful_votes,
            when: display::when(log.created_at),
        })
        .collect();
    ok(&AiHistoryPage {
        layout,
        error: None,
        logs,
        query: search.to_owned(),
    })
}

pub struct NotificationView {
    pub message: String,
    pub session_id: Option<String>,
    pub when: When,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    layout: Layout,
    notifications: Vec<NotificationView>,
}

/// The reminders people asked for ("Remind me"), newest first.
pub async fn notifications(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    let notifications = state
        .app
        .notifications(&viewer.caller)
        .await?
        .into_iter()
        .map(|notification| NotificationView {
            message: notification.message,
            session_id: notification.session_id.map(|id| id.to_string()),
            when: display::when(notification.created_at),
        })
        .collect();
    ok(&NotificationsPage {
        layout: Layout::new("Reminders", Section::Reminders, Some(&viewer)),
        notifications,
    })
}

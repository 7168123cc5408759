//! The web app: server-rendered pages, and the static CSS and JavaScript that
//! bring them to life. The templates and assets live in `web/` and are built
//! into the binary.
//!
//! # Layout
//!
//! - [`viewer`]: who is looking, from the session cookie; the CSRF check of form posts
//!   before a handler sees the form (`CheckedForm`: the sign-in's token;
//!   `VisitorForm`, signing in or up: the visitor's cookie);
//!   the redirect to `/login?next=…` for pages a visitor may not see.
//! - [`assets`]: `/static/<version>/…`, the CSS and ES modules, cached forever per version.
//! - [`session_card`]: what the lists show of a session (host, project, seats, whether you can join).
//! - [`display`]: times and sizes as people read them.
//! - [`focus`]: a person's focus stats as History draws them (the year's
//!   heatmap is inline SVG), in the reader's days (`lockin_utc_offset` cookie).
//! - one module per area: [`accounts`], [`home`], [`projects`], [`sessions`], [`history`].
//!
//! Every page works without JavaScript (its forms post here and come back with
//! errors next to the field at fault); the session room needs it. Pages change
//! state through the same functions as the JSON API, so the rules are the API's.

mod accounts;
mod assets;
mod display;
mod focus;
mod history;
mod home;
mod projects;
mod session_card;
mod sessions;
mod viewer;

pub use viewer::refresh_csrf_cookie;

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::error::ApiError;

pub use viewer::Viewer;

pub fn router() -> Router<crate::AppState> {
    Router::new()
        .route("/", get(home::page))
        .route("/home/{list}", get(home::list))
        .route(
            "/signup",
            get(accounts::form_page::<true>).post(accounts::submit::<true>),
        )
        .route(
            "/login",
            get(accounts::form_page::<false>).post(accounts::submit::<false>),
        )
        .route("/logout", post(accounts::logout))
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/new", get(projects::new_page))
        .route("/projects/{id}", get(projects::show).post(projects::update))
        .route("/projects/{id}/edit", get(projects::edit_page))
        .route("/projects/{id}/timelapses/new", get(projects::upload_page))
        .route("/sessions", post(sessions::create))
        .route("/sessions/new", get(sessions::new_page))
        .route("/sessions/{id}", get(sessions::show))
        .route("/sessions/{id}/{button}", post(sessions::press))
        .route("/sessions/{id}/check-out", post(sessions::check_out))
        .route(
            "/sessions/{id}/questions/{log_id}/rate",
            post(sessions::rate),
        )
        .route(
            "/sessions/{id}/people/{user_id}/favourite",
            post(sessions::favourite),
        )
        .route("/sessions/{id}/calendar.ics", get(sessions::calendar))
        .route("/history", get(history::sessions))
        .route("/history/ai", get(history::ai))
        .route("/reminders", get(history::notifications))
        .route("/static/{version}/{*path}", get(assets::serve))
}

/// Which part of the site a page belongs to, so the navigation can mark it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Projects,
    History,
    Reminders,
    Account,
}

/// What every page's frame needs: its title, who is looking, and the CSRF
/// token its forms carry.
pub struct Layout {
    pub title: String,
    pub section: Section,
    /// The signed-in person's name, or none for a visitor.
    pub viewer_name: Option<String>,
    pub csrf: String,
}

impl Layout {
    pub fn new(title: impl Into<String>, section: Section, viewer: Option<&Viewer>) -> Self {
        Self {
            title: title.into(),
            section,
            viewer_name: viewer.map(|viewer| viewer.user.name.clone()),
            csrf: viewer.map(|viewer| viewer.csrf.clone()).unwrap_or_default(),
        }
    }

    /// The URL of a static file, under the current asset version.
    pub fn asset(&self, path: &str) -> String {
        assets::url(path)
    }

    /// Whether the page is in the part of the site the navigation calls `name`.
    pub fn at(&self, name: &str) -> bool {
        let section = match name {
            "home" => Section::Home,
            "projects" => Section::Projects,
            "history" => Section::History,
            "reminders" => Section::Reminders,
            _ => Section::Account,
        };
        self.section == section
    }
}

/// Why a page could not be shown. Each becomes a page of its own, in words a
/// person can act on, or a redirect.
#[derive(Debug)]
pub enum PageError {
    /// A visitor asked for a page that needs an account: sign in, then come back here.
    SignIn {
        next: String,
    },
    NotFound,
    Api(ApiError),
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::App(crate::app::Error::NotFound(_)) => Self::NotFound,
            other => Self::Api(other),
        }
    }
}

impl From<crate::app::Error> for PageError {
    fn from(error: crate::app::Error) -> Self {
        ApiError::from(error).into()
    }
}

impl From<askama::Error> for PageError {
    fn from(error: askama::Error) -> Self {
        Self::Api(ApiError::from(anyhow::anyhow!("rendering a page: {error}")))
    }
}

pub type PageResult<T = Response> = Result<T, PageError>;

/// The `{id}` of a page's path. One that is not an id names no page.
pub struct PageId(pub domain::Id);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PageId {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(params) =
            axum::extract::Path::<HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .map_err(|_| PageError::NotFound)?;
        let raw = params.get("id").ok_or(PageError::NotFound)?;
        let id = domain::Id::parse("id", raw).map_err(|_| PageError::NotFound)?;
        Ok(Self(id))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: String,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match self {
            Self::SignIn { next } => return see_other(&login_url(&next)),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found".to_owned(),
                "There is nothing here, or it is not yours to see.".to_owned(),
            ),
            Self::Api(error) => {
                let (status, _) = error.status_and_code();
                let detail = error.detail();
                let heading = match status {
                    StatusCode::FORBIDDEN => "Not allowed",
                    StatusCode::CONFLICT => "That cannot be done now",
                    StatusCode::TOO_MANY_REQUESTS => "Slow down",
                    status if status.is_server_error() => "Something went wrong",
                    _ => "That did not work",
                };
                (status, heading.to_owned(), sentence(&detail.message))
            }
        };
        // The frame is drawn for a visitor: an error page must not depend on
        // the store that may have caused it.
        let page = ErrorPage {
            layout: Layout::new(heading.clone(), Section::Home, None),
            heading,
            message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => status.into_response(),
        }
    }
}

/// A rendered page, with the status it is answered with.
pub fn html<T: Template>(status: StatusCode, page: &T) -> PageResult {
    Ok((status, Html(page.render()?)).into_response())
}

pub fn ok<T: Template>(page: &T) -> PageResult {
    html(StatusCode::OK, page)
}

/// The answer to a form post that worked: go to the page that shows the result.
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

pub fn login_url(next: &str) -> String {
    if next == "/" || next.is_empty() {
        "/login".to_owned()
    } else {
        format!("/login?next={}", urlencode(next))
    }
}

pub fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|pair| pair[1..].to_owned())
        .unwrap_or_default()
}

/// A message from the API as a sentence: "must not be empty" → "Must not be empty."
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut text = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => return String::new(),
    };
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

/// Errors of a form, each next to the field at fault; those about no one
/// field are shown above the form.
#[derive(Default)]
pub struct FieldErrors {
    pub fields: Vec<(String, String)>,
    pub form: Option<String>,
}

impl FieldErrors {
    /// Files an API refusal under the field it names (`fields` maps the API's
    /// field names to the form's), or above the form.
    pub fn from_api(error: &ApiError, fields: &[&str]) -> Self {
        let detail = error.detail();
        let message = sentence(&detail.message);
        match detail
            .field
            .filter(|field| fields.contains(&field.as_str()))
        {
            Some(field) => Self {
                fields: vec![(field, message)],
                form: None,
            },
            None => Self {
                fields: Vec::new(),
                form: Some(message),
            },
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, message)| message.as_str())
    }

    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    /// `aria-invalid` for a field.
    pub fn invalid(&self, field: &str) -> &'static str {
        if self.has(field) { "true" } else { "false" }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.form.is_none()
    }

    /// The status a form page with these errors is answered with.
    pub fn status(error: &ApiError) -> StatusCode {
        error.status_and_code().0
    }
}

/// `Cache-Control` of every page: what a page shows depends on who is looking and on now.
pub fn no_store() -> (header::HeaderName, HeaderValue) {
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

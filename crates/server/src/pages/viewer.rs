//! Who is looking at a page: the person of the `lockin_session` cookie.
//!
//! Pages are for browsers, so only the cookie counts here (programs use the
//! API with a bearer token). A form post proves it comes from one of our pages
//! by carrying the sign-in's CSRF token (`auth::csrf_token`) in a hidden
//! `_csrf` field: a page on another site can make the browser post, but
//! cannot read our pages, and cannot make the token without the sign-in's.
//! A visitor's sign-in and sign-up forms, with no sign-in yet, carry a random
//! token that must match the `lockin_csrf` cookie instead.

use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::user::User;
use serde::de::DeserializeOwned;

use super::PageError;
use crate::AppState;
use crate::app::{self, Caller};
use crate::auth::{self, CSRF_COOKIE, SESSION_COOKIE};

/// The signed-in person looking at a page. Extracting it from a visitor's
/// request sends them to sign in, and back to this page afterwards.
pub struct Viewer {
    pub user: User,
    /// Who the use cases see: this person, with the token this browser holds
    /// (so sign-out revokes exactly it).
    pub caller: Caller,
    /// The sign-in's CSRF token, which this page's forms carry (its scripts
    /// read the same from the `lockin_csrf` cookie).
    pub csrf: String,
}

impl Viewer {
    /// Refuses a form post whose `_csrf` field is not this sign-in's CSRF token.
    pub fn check_csrf(&self, given: &str) -> Result<(), PageError> {
        csrf_matches(&self.csrf, given)
    }
}

pub fn csrf_matches(expected: &str, given: &str) -> Result<(), PageError> {
    if !auth::secrets_match(expected, given) {
        return Err(app::Error::Forbidden(
            "this form has expired; go back, reload the page and try again",
        )
        .into());
    }
    Ok(())
}

/// A form that only carries its CSRF token: a button that does one thing.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    pub csrf: String,
}

/// A form that carries, in its `_csrf` field, the CSRF token of the page it
/// was posted from.
pub trait CarriesCsrf {
    fn csrf(&self) -> &str;
}

impl CarriesCsrf for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A signed-in person's form post whose `_csrf` field is their sign-in's
/// CSRF token (`auth::csrf_token` of the session cookie), checked before the
/// handler sees it.
pub struct CheckedForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + CarriesCsrf> FromRequest<S> for CheckedForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let expected = auth::cookie(request.headers(), SESSION_COOKIE)
            .map(auth::csrf_token)
            .unwrap_or_default();
        checked_form(request, state, &expected).await.map(Self)
    }
}

/// A visitor's form post (signing in or up), with no sign-in to bind a
/// token to: its `_csrf` field must be the visitor's `lockin_csrf` cookie.
pub struct VisitorForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + CarriesCsrf> FromRequest<S> for VisitorForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let expected = posted_csrf(request.headers()).to_owned();
        checked_form(request, state, &expected).await.map(Self)
    }
}

async fn checked_form<S: Send + Sync, T: DeserializeOwned + CarriesCsrf>(
    request: Request,
    state: &S,
    expected: &str,
) -> Result<T, Response> {
    let Form(form) = Form::<T>::from_request(request, state)
        .await
        .map_err(IntoResponse::into_response)?;
    csrf_matches(expected, form.csrf()).map_err(IntoResponse::into_response)?;
    Ok(form)
}

/// The viewer, if the cookie names a live sign-in.
pub struct MaybeViewer(pub Option<Viewer>);

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = auth::cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(Self(None));
        };
        let Some(caller @ Caller::Person { .. }) = state.app.caller(token).await? else {
            return Ok(Self(None));
        };
        let csrf = auth::csrf_token(token);
        Ok(Self(Some(Viewer {
            user: caller.user().clone(),
            caller,
            csrf,
        })))
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match MaybeViewer::from_request_parts(parts, state).await? {
            MaybeViewer(Some(viewer)) => Ok(viewer),
            MaybeViewer(None) => Err(PageError::SignIn {
                next: return_path(parts),
            }),
        }
    }
}

/// Where to come back to after signing in: this page, or for a form post the
/// page the form was on (the post itself cannot be replayed).
fn return_path(parts: &Parts) -> String {
    if parts.method == axum::http::Method::GET {
        return parts
            .uri
            .path_and_query()
            .map_or("/", |path| path.as_str())
            .to_owned();
    }
    parts
        .headers
        .get(axum::http::header::REFERER)
        .and_then(|value| value.to_str().ok())
        .and_then(|referer| referer.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|at| rest[at..].to_owned()))
        .and_then(|path| local_path(&path))
        .unwrap_or_else(|| "/".to_owned())
}

/// `next` if it is a path on this site: a link to `/login?next=https://evil`
/// must not send people elsewhere after they sign in.
pub fn local_path(next: &str) -> Option<String> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    local.then(|| next.to_owned())
}

/// The CSRF token for a visitor's sign-in or sign-up form: the visitor's
/// `lockin_csrf` cookie, or, without one, a new token the response must set.
pub fn visitor_csrf(headers: &HeaderMap, cookies: auth::Cookies) -> (String, Option<HeaderMap>) {
    if let Some(existing) = auth::cookie(headers, CSRF_COOKIE).filter(|value| !value.is_empty()) {
        return (existing.to_owned(), None);
    }
    let csrf = auth::new_token("");
    let set = cookies.visitor_csrf(&csrf);
    (csrf, Some(set))
}

/// The CSRF cookie's value as sent with a visitor's form post.
pub fn posted_csrf(headers: &HeaderMap) -> &str {
    auth::cookie(headers, CSRF_COOKIE).unwrap_or_default()
}

/// A page sets the CSRF cookie its sign-in calls for, when the browser holds
/// another (see [`auth::Cookies::csrf_to_refresh`]).
pub async fn refresh_csrf_cookie(
    State(cookies): State<auth::Cookies>,
    request: Request,
    next: Next,
) -> Response {
    let refresh = cookies.csrf_to_refresh(request.headers());
    let mut response = next.run(request).await;
    if let Some(set_cookies) = refresh {
        // A page that sets its own cookies (signing in or out) has the last word.
        if !response.headers().contains_key(SET_COOKIE) {
            response.headers_mut().extend(set_cookies);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path("/projects/1").as_deref(), Some("/projects/1"));
        assert_eq!(
            local_path("/history/ai?q=x").as_deref(),
            Some("/history/ai?q=x")
        );
        assert_eq!(local_path("//evil.example"), None);
        assert_eq!(local_path("https://evil.example"), None);
        assert_eq!(local_path("/\\evil.example"), None);
    }

    #[test]
    fn csrf_must_match_a_cookie() {
        assert!(csrf_matches("abc", "abc").is_ok());
        assert!(csrf_matches("abc", "abd").is_err());
        assert!(csrf_matches("", "").is_err());
    }
}

//! Who is calling: passwords, tokens, cookies with CSRF, the agent's secret,
//! and which client a request comes from (the limits are in `limits`).
//!
//! A token is 32 random bytes shown to the client once; only its SHA-256 is
//! stored, so the tokens table opens no account if it leaks. The browser holds
//! the same token in an HttpOnly cookie; a state-changing request authenticated
//! by that cookie must also carry the sign-in's CSRF token in a header (or form
//! field). The page's script reads it from the `lockin_csrf` cookie, which a
//! cross-site page cannot read; the server never trusts that cookie, only
//! [`csrf_token`] of the sign-in token, so a CSRF token planted in the
//! browser (a sibling sub-domain can set cookies) or taken from another
//! sign-in is refused.

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::user::User;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::app::{self, App, Caller};
use crate::error::ApiError;
use crate::limits::{ClientKey, client_address};

pub const SESSION_COOKIE: &str = "lockin_session";
pub const CSRF_COOKIE: &str = "lockin_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A new random token, e.g. for a sign-in or the agent.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The CSRF token of a sign-in: HMAC-SHA256 of a fixed label, keyed by the
/// sign-in token itself. Only whoever holds the token can make it; every node
/// makes the same one with no key to share and nothing stored; it dies with
/// the token; and it tells nothing of the token, so scripts may read it.
pub fn csrf_token(sign_in_token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(sign_in_token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(b"lockin csrf v1");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether `given` is the secret `expected`, in a time that does not tell how
/// much of it was right. Nothing matches an empty secret.
pub fn secrets_match(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The signed-in person making this request (always a [`Caller::Person`]),
/// by bearer token or by cookie with the sign-in's CSRF token, and the use
/// cases they call: `me.app.start_session(&me.caller, &id)`.
pub struct CurrentUser {
    pub app: App,
    pub caller: Caller,
}

impl CurrentUser {
    pub fn user(&self) -> &User {
        self.caller.user()
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (token, by_cookie) = match bearer(&parts.headers) {
            Some(token) => (token.to_owned(), false),
            None => match cookie(&parts.headers, SESSION_COOKIE) {
                Some(token) => (token.to_owned(), true),
                None => return Err(app::Error::Unauthenticated("sign in first").into()),
            },
        };
        if by_cookie && !is_safe(&parts.method) {
            let given = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !secrets_match(&csrf_token(&token), given.unwrap_or_default()) {
                return Err(app::Error::Forbidden("missing or wrong CSRF token").into());
            }
        }
        match state.app.caller(&token).await? {
            Some(caller @ Caller::Person { .. }) => Ok(Self {
                app: state.app.clone(),
                caller,
            }),
            _ => Err(app::Error::Unauthenticated(
                "your sign-in has expired or was revoked; sign in again",
            )
            .into()),
        }
    }
}

/// The AI agent, proven by the agent token (always a [`Caller::Agent`]), and
/// the use cases it calls. A person's token is refused with 403.
pub struct AgentCaller {
    pub app: App,
    pub caller: Caller,
}

impl FromRequestParts<AppState> for AgentCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer(&parts.headers) else {
            return Err(app::Error::Unauthenticated("the agent token is required").into());
        };
        match state.app.caller(token).await? {
            Some(caller @ Caller::Agent(_)) => Ok(Self {
                app: state.app.clone(),
                caller,
            }),
            Some(Caller::Person { .. }) => {
                Err(app::Error::Forbidden("only the AI agent may call this").into())
            }
            None => Err(app::Error::Unauthenticated("the agent token is required").into()),
        }
    }
}

/// Whoever scrapes `/metrics`, proven by the metrics token
/// (`--metrics-token`). Nothing else opens it: not the agent token, which
/// belongs to the assistant's workers, nor a person's, which anyone can get
/// by signing up.
pub struct MetricsScraper;

impl FromRequestParts<AppState> for MetricsScraper {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match bearer(&parts.headers) {
            Some(token) if state.app.is_metrics_token(token) => Ok(Self),
            _ => Err(app::Error::Unauthenticated("the metrics token is required").into()),
        }
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// How this site's cookies are set. Behind https (`--public-url https://…`)
/// they are `Secure`, so a browser never sends them over plain http.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cookies {
    pub secure: bool,
}

impl Cookies {
    fn set_cookie(self, headers: &mut HeaderMap, cookie: String) {
        let cookie = if self.secure {
            format!("{cookie}; Secure")
        } else {
            cookie
        };
        headers.append(
            SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("cookie values are URL-safe base64"),
        );
    }

    /// A new browser sign-in: the session token (HttpOnly) and its CSRF
    /// token, which the page's script can read and echo.
    pub fn sign_in(self, token: &str) -> HeaderMap {
        let lifetime = domain::user::SIGN_IN_LIFETIME.num_seconds();
        let csrf = csrf_token(token);
        let mut headers = HeaderMap::new();
        self.set_cookie(
            &mut headers,
            format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={lifetime}"),
        );
        self.set_cookie(
            &mut headers,
            format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Lax; Max-Age={lifetime}"),
        );
        headers
    }

    /// Forgets a browser's sign-in.
    pub fn sign_out(self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for name in [SESSION_COOKIE, CSRF_COOKIE] {
            self.set_cookie(&mut headers, format!("{name}=; Path=/; Max-Age=0"));
        }
        headers
    }

    /// The CSRF cookie a signed-in browser should hold, when the one it sent
    /// is not it: a browser signed in before CSRF tokens were bound to the
    /// sign-in still holds a random one, which its page's script would echo
    /// and have refused. Nothing when the request has no sign-in cookie or
    /// already the right token.
    pub fn csrf_to_refresh(self, request: &HeaderMap) -> Option<HeaderMap> {
        let token = cookie(request, SESSION_COOKIE).filter(|token| !token.is_empty())?;
        let csrf = csrf_token(token);
        if cookie(request, CSRF_COOKIE) == Some(csrf.as_str()) {
            return None;
        }
        let lifetime = domain::user::SIGN_IN_LIFETIME.num_seconds();
        let mut headers = HeaderMap::new();
        self.set_cookie(
            &mut headers,
            format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Lax; Max-Age={lifetime}"),
        );
        Some(headers)
    }

    /// A visitor's CSRF cookie, for the sign-in and sign-up forms: with no
    /// sign-in to bind it to, it is a random double-submit token.
    pub fn visitor_csrf(self, csrf: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        self.set_cookie(
            &mut headers,
            format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Lax; Max-Age=86400"),
        );
        headers
    }
}

/// Who a request comes from, for the limits: the peer's address, or the
/// client a trusted proxy forwarded for (`--trusted-proxy`), as a
/// [`ClientKey`].
pub struct ClientAddress(pub ClientKey);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        let forwarded_for = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok());
        Ok(Self(ClientKey::of(client_address(
            peer,
            forwarded_for,
            &state.trusted_proxies,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_are_stable() {
        let (a, b) = (new_token("lk_"), new_token("lk_"));
        assert_ne!(a, b);
        assert!(a.starts_with("lk_") && a.len() > 40);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(hash_token("x").len(), 64);
    }

    #[test]
    fn a_csrf_token_belongs_to_one_sign_in() {
        let (a, b) = (new_token("lk_"), new_token("lk_"));
        assert_eq!(csrf_token(&a), csrf_token(&a));
        assert_ne!(csrf_token(&a), csrf_token(&b));
        assert!(secrets_match(&csrf_token(&a), &csrf_token(&a)));
        assert!(!secrets_match(&csrf_token(&a), &csrf_token(&b)));
        assert!(!secrets_match("", ""));
        assert!(!secrets_match("abc", "ab"));
    }

    #[test]
    fn reads_bearer_and_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; lockin_session=tok; b=2"),
        );
        assert_eq!(bearer(&headers), Some("abc"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}

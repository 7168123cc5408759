//! Who is calling: passwords, tokens, cookies with CSRF, the agent's secret,
//! and which client a request comes from (the limits are in `limits`).
//!
//! A token is 32 random bytes shown to the client once; only its SHA-256 is
//! stored, so the tokens table opens no account if it leaks. The browser holds
//! the same token in an HttpOnly cookie; a state-changing request authenticated
//! by that cookie must also echo the `lockin_csrf` cookie in a header (or form
//! field), which a cross-site page cannot read.

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::user::{Password, User};
use rand::RngCore;
use sha2::{Digest, Sha256};

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

/// argon2id with the crate's default (OWASP-recommended) cost. Runs off the async
/// runtime: one hash is tens of milliseconds of CPU.
pub async fn hash_password(password: Password) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await
    .context("password hashing task")?
}

/// Checks `password` against `stored`. With no stored hash (unknown email) it
/// still spends the same work, so timing does not tell which emails exist.
pub async fn verify_password(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        // An account without a usable hash (the assistant's) never matches,
        // after the same work as any other.
        let usable = stored
            .as_deref()
            .and_then(|stored| PasswordHash::new(stored).ok());
        let decoy =
            PasswordHash::new(&DECOY_HASH).map_err(|e| anyhow::anyhow!("decoy hash: {e}"))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), usable.as_ref().unwrap_or(&decoy))
            .is_ok();
        Ok(matches && usable.is_some())
    })
    .await
    .context("password verification task")?
}

static DECOY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(b"decoy password for unknown emails", &salt)
        .expect("argon2 hashes a constant")
        .to_string()
});

/// The signed-in person making this request (always a [`Caller::Person`]),
/// by bearer token or by cookie with its CSRF echo, and the use cases they
/// call: `me.app.start_session(&me.caller, &id)`.
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
            let expected = cookie(&parts.headers, CSRF_COOKIE);
            let given = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if expected.is_none() || expected != given {
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

/// Either the agent token or a signed-in person: for operational endpoints.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer(&parts.headers)
            && let Some(Caller::Agent(_)) = state.app.caller(token).await?
        {
            return Ok(Self);
        }
        CurrentUser::from_request_parts(parts, state).await?;
        Ok(Self)
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

    /// A new browser sign-in: the session token (HttpOnly) and a CSRF token
    /// the page's script can read and echo.
    pub fn sign_in(self, token: &str) -> HeaderMap {
        let lifetime = domain::user::SIGN_IN_LIFETIME.num_seconds();
        let csrf = new_token("");
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

    /// A visitor's CSRF cookie, for the sign-in and sign-up forms.
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

    #[tokio::test]
    async fn passwords_verify_only_themselves() {
        let hash = hash_password(Password::parse("correct horse".into()).unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify_password("wrong horse".into(), Some(hash))
                .await
                .unwrap()
        );
        assert!(!verify_password("anything".into(), None).await.unwrap());
        assert!(!verify_password("!".into(), Some("!".into())).await.unwrap());
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

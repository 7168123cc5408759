//! Who is asking. Every credential — a person's bearer token or cookie, the
//! agent token, the metrics token — is resolved here and nowhere else; the adapters only find
//! the token in the request (and check what is theirs to check: CSRF, origin).

use domain::user::User;

use super::{App, Error, Result};
use crate::auth::{hash_token, secrets_match};

#[derive(Debug, Clone)]
pub enum Caller {
    /// A signed-in person.
    Person {
        user: User,
        /// The hash of the token they used, so signing out revokes exactly it.
        token_hash: String,
    },
    /// The assistant's worker, proven by the agent token; it acts as the
    /// assistant's own account.
    Agent(User),
}

impl Caller {
    /// The account acting: the person, or the assistant's.
    pub fn user(&self) -> &User {
        match self {
            Self::Person { user, .. } | Self::Agent(user) => user,
        }
    }

    /// The hash of the token a person signed in with; the agent has none to revoke.
    pub fn token_hash(&self) -> Option<&str> {
        match self {
            Self::Person { token_hash, .. } => Some(token_hash),
            Self::Agent(_) => None,
        }
    }

    pub fn is_agent(&self) -> bool {
        matches!(self, Self::Agent(_))
    }

    /// The person, for what only people do.
    pub fn person(&self) -> Result<&User> {
        match self {
            Self::Person { user, .. } => Ok(user),
            Self::Agent(_) => Err(Error::Forbidden("only a signed-in person may do this")),
        }
    }

    /// Only the assistant's worker may go on.
    pub fn agent(&self) -> Result<&User> {
        match self {
            Self::Agent(user) => Ok(user),
            Self::Person { .. } => Err(Error::Forbidden("only the AI agent may call this")),
        }
    }
}

impl App {
    /// Whoever `token` belongs to, or `None` when it belongs to nobody (never
    /// issued, expired or revoked).
    pub async fn caller(&self, token: &str) -> Result<Option<Caller>> {
        // No credential is empty: an empty one names nobody, whatever is configured.
        if token.trim().is_empty() {
            return Ok(None);
        }
        let token_hash = hash_token(token);
        // Both sides are hashes of equal length, so comparing them leaks nothing useful.
        if token_hash == self.agent_token_hash {
            return Ok(Some(Caller::Agent(self.agent_user.clone())));
        }
        Ok(self
            .store
            .user_by_token(&token_hash)
            .await?
            .map(|user| Caller::Person { user, token_hash }))
    }

    /// Whether `token` is the metrics token. It names no caller: it opens
    /// `/metrics` and nothing else.
    pub fn is_metrics_token(&self, token: &str) -> bool {
        self.metrics_token_hash
            .as_deref()
            .is_some_and(|expected| secrets_match(expected, &hash_token(token)))
    }

    /// Whether the caller's credential still works: a live connection asks
    /// once it listens for sign-outs, so one that raced its own revocation closes.
    pub async fn still_signed_in(&self, caller: &Caller) -> Result<bool> {
        match caller.token_hash() {
            Some(token_hash) => Ok(self.store.user_by_token(token_hash).await?.is_some()),
            None => Ok(true),
        }
    }
}

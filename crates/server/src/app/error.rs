//! What a use case refuses with. Nothing here knows of HTTP: the JSON API,
//! the pages and the media signalling each turn it into their own answer.

use domain::{InvalidInput, RuleError};
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input does not parse, or names something that does not fit (a
    /// project the caller cannot link): the field is at fault.
    #[error("{0}")]
    Invalid(#[from] InvalidInput),
    /// No (valid) credential.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The rules say this caller may not.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    /// The state is not right for it (full, not started, ended, taken).
    #[error("{message}")]
    Conflict {
        message: &'static str,
        field: Option<&'static str>,
    },
    /// Past a limit on how much may be kept or sent (the upload quota).
    #[error("{0}")]
    TooLarge(String),
    #[error("too many attempts; wait a minute and try again")]
    RateLimited,
    /// The server is at capacity for this work (password hashing); the
    /// request was turned away rather than queued.
    #[error("the server is busy; try again in a moment")]
    Busy,
    /// The disk uploads are written to is nearly full (`--min-free-space`).
    #[error("the server is short of disk space; try again later")]
    InsufficientStorage,
    /// A bug or an outage: the cause is logged, never shown.
    #[error("something went wrong on our side")]
    Internal(#[from] anyhow::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(InvalidInput::new(field, message))
    }
}

impl From<RuleError> for Error {
    fn from(error: RuleError) -> Self {
        match error {
            RuleError::Forbidden(message) => Self::Forbidden(message),
            RuleError::Conflict(message) => Self::Conflict {
                message,
                field: None,
            },
            RuleError::Invalid { field, message } => Self::invalid(field, message),
            RuleError::TooLarge(message) => Self::TooLarge(message.to_owned()),
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound("not found"),
            StoreError::Rule(rule) => rule.into(),
            StoreError::EmailTaken => Self::Conflict {
                message: "that email address is already registered",
                field: Some("email"),
            },
            StoreError::Other(cause) => Self::Internal(cause),
        }
    }
}

/// A store's "not found" named for what was looked for.
pub(crate) fn named(what: &'static str) -> impl FnOnce(StoreError) -> Error {
    move |error| match error {
        StoreError::NotFound => Error::NotFound(what),
        other => other.into(),
    }
}

//! The one error type at the HTTP edge. Clients get a code and a message they can
//! show; the cause of an internal error goes to the log and nowhere else.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::InvalidInput;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(#[from] InvalidInput),
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in first")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict {
        message: &'static str,
        field: Option<&'static str>,
    },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("too many attempts; wait a minute and try again")]
    RateLimited,
    #[error("the server is busy; try again in a moment")]
    Unavailable,
    #[error("the server is short of disk space; try again later")]
    InsufficientStorage,
    #[error(
        "the request took too long (its body came too slowly, or the server was stalled); try again"
    )]
    Timeout,
    /// Past a limit on open connections (not on attempts over time).
    #[error("{0}")]
    TooManyConnections(String),
    #[error("something went wrong on our side")]
    Internal(#[from] anyhow::Error),
}

/// What every non-2xx answer carries.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The error object of every refusal, over HTTP and on the live socket.
pub use protocol::live::ErrorDetail;

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(InvalidInput::new(field, message))
    }

    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Invalid(_) | Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid"),
            Self::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::RateLimited | Self::TooManyConnections(_) => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
            }
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::InsufficientStorage => (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage"),
            Self::Timeout => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<app::Error> for ApiError {
    fn from(error: app::Error) -> Self {
        match error {
            app::Error::Invalid(invalid) => Self::Invalid(invalid),
            app::Error::Unauthenticated(message) => Self::Unauthenticated(message),
            app::Error::Forbidden(message) => Self::Forbidden(message),
            app::Error::NotFound(message) => Self::NotFound(message),
            app::Error::Conflict { message, field } => Self::Conflict { message, field },
            app::Error::TooLarge(message) => Self::TooLarge(message),
            app::Error::RateLimited => Self::RateLimited,
            app::Error::Busy => Self::Unavailable,
            app::Error::InsufficientStorage => Self::InsufficientStorage,
            app::Error::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl ApiError {
    /// The code, message and field a client sees; logs the cause of an internal error.
    pub fn detail(&self) -> ErrorDetail {
        let (_, code) = self.status_and_code();
        let (message, field) = match self {
            Self::Invalid(invalid) => (invalid.message.clone(), Some(invalid.field.clone())),
            Self::Conflict { message, field } => ((*message).to_owned(), field.map(str::to_owned)),
            Self::Unauthenticated(message) => ((*message).to_owned(), None),
            Self::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                (self.to_string(), None)
            }
            other => (other.to_string(), None),
        };
        ErrorDetail {
            code: code.to_owned(),
            message,
            field,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        (
            status,
            Json(ErrorBody {
                error: self.detail(),
            }),
        )
            .into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

//! The one error type at the HTTP edge. Clients get a code and a message they can
//! show; the cause of an internal error goes to the log and nowhere else.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::InvalidInput;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app;

/// A use case's refusal as it is, or one that only the edge can give (how
/// the request was sent, or how the server copes with it). The kinds a use
/// case refuses with are [`app::Error`]'s, and only there.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    App(#[from] app::Error),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error(
        "the request took too long (its body came too slowly, or the server was stalled); try again"
    )]
    Timeout,
    /// Past a limit on open connections (not on attempts over time).
    #[error("{0}")]
    TooManyConnections(String),
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
        app::Error::invalid(field, message).into()
    }

    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::App(error) => match error {
                app::Error::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
                app::Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
                app::Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
                app::Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                app::Error::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
                app::Error::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
                app::Error::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
                app::Error::Busy => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                app::Error::InsufficientStorage => {
                    (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage")
                }
                app::Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::TooManyConnections(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Timeout => (StatusCode::REQUEST_TIMEOUT, "timeout"),
        }
    }
}

/// A parse's refusal: the field is at fault.
impl From<InvalidInput> for ApiError {
    fn from(invalid: InvalidInput) -> Self {
        app::Error::Invalid(invalid).into()
    }
}

/// A bug or an outage at the edge (a file that would not write).
impl From<anyhow::Error> for ApiError {
    fn from(cause: anyhow::Error) -> Self {
        app::Error::Internal(cause).into()
    }
}

impl ApiError {
    /// The code, message and field a client sees; logs the cause of an internal error.
    pub fn detail(&self) -> ErrorDetail {
        let (_, code) = self.status_and_code();
        let (message, field) = match self {
            Self::App(app::Error::Invalid(invalid)) => {
                (invalid.message.clone(), Some(invalid.field.clone()))
            }
            Self::App(app::Error::Conflict { message, field }) => {
                ((*message).to_owned(), field.map(str::to_owned))
            }
            Self::App(app::Error::Internal(cause)) => {
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

//! Request parts parsed at the edge, refusing bad input with a clear 4xx.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use domain::Id;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body: `Content-Type: application/json`, at most the body limit, and
/// every field known and of the right type. Errors name the field at fault.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON, with Content-Type: application/json",
            ));
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::TooLarge(format!(
                        "the request body is larger than {} KiB",
                        crate::api::BODY_LIMIT_BYTES / 1024
                    ))
                } else {
                    ApiError::BadRequest("the request body could not be read".into())
                }
            })?;
        parse_json(&body).map(ApiJson)
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Two steps, so the two kinds of fault get their own answer: text that is
    // not JSON at all, then JSON whose shape is wrong (which names the field).
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(|error| {
        let message = error.to_string();
        ApiError::BadRequest(format!("the body is not valid JSON: {message}"))
    })?;
    whole_numbers_as_integers(&mut value);
    // Every body of this API is an object; an array would otherwise fill a
    // struct's fields by position.
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        // serde reports a missing or unknown field at the object that lacks or has
        // it; the field's own name is the one in backticks.
        let named = message.starts_with("missing field") || message.starts_with("unknown field");
        let field = named
            .then(|| message.split('`').nth(1).map(str::to_owned))
            .flatten()
            .or_else(|| (path != ".").then_some(path));
        match field {
            Some(field) => ApiError::invalid(&field, message),
            None => ApiError::BadRequest(message),
        }
    })
}

/// `2.0` is the integer 2 to JSON (and to JSON Schema, which the OpenAPI
/// document speaks), but not to serde; a whole number written with a
/// fraction is read as the integer it is. `2.5` stays a float and is refused
/// where an integer is wanted.
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => {
            if let Some(float) = number.as_f64()
                && float.fract() == 0.0
                && float.abs() < 9_007_199_254_740_992.0
            {
                // Exact: a whole float below 2^53 converts without loss.
                *value = Value::from(float as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// The `{id}` of a path, parsed: not an id is a 400, so a 404 always means
/// "well-formed, but nothing has it".
pub struct PathId(pub Id);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid("id", "is not a valid id"))?;
        Ok(Self(Id::parse("id", &raw)?))
    }
}

/// The `{id}` and `{user_id}` of a path (a session, and a person in it),
/// both parsed as [`PathId`] parses one.
pub struct PathIdAndUser(pub Id, pub Id);

impl<S: Send + Sync> FromRequestParts<S> for PathIdAndUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((id, user_id)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid("id", "is not a valid id"))?;
        Ok(Self(Id::parse("id", &id)?, Id::parse("user_id", &user_id)?))
    }
}

/// A query string parsed into `T`, refusing unknown parameters.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|error| {
                let message = error.to_string();
                match message.split('`').nth(1) {
                    Some(field) => ApiError::invalid(field, message.clone()),
                    None => ApiError::BadRequest(format!("bad query string: {message}")),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        seats: i64,
    }

    fn field_of(body: &str) -> Option<String> {
        match parse_json::<Body>(body.as_bytes()).unwrap_err() {
            ApiError::App(crate::app::Error::Invalid(invalid)) => Some(invalid.field),
            _ => None,
        }
    }

    #[test]
    fn names_the_field_of_a_wrong_type() {
        assert_eq!(
            field_of(r#"{"title": 5, "seats": 2}"#).as_deref(),
            Some("title")
        );
    }

    #[test]
    fn names_a_missing_field() {
        assert_eq!(field_of(r#"{"title": "x"}"#).as_deref(), Some("seats"));
    }

    #[test]
    fn names_an_unknown_field() {
        assert_eq!(
            field_of(r#"{"title": "x", "seats": 2, "admin": true}"#).as_deref(),
            Some("admin")
        );
    }

    #[test]
    fn names_the_field_of_an_enum_given_a_number() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Typed {
            kind: domain::session::SessionType,
        }
        match parse_json::<Typed>(br#"{"kind": 3}"#) {
            Err(ApiError::App(crate::app::Error::Invalid(invalid))) => {
                assert_eq!(invalid.field, "kind")
            }
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn a_whole_number_with_a_fraction_is_an_integer() {
        let body = parse_json::<Body>(br#"{"title": "x", "seats": 42.0}"#).unwrap();
        assert_eq!(body.seats, 42);
        assert_eq!(
            field_of(r#"{"title": "x", "seats": 2.5}"#).as_deref(),
            Some("seats")
        );
    }

    #[test]
    fn malformed_json_has_no_field() {
        assert!(matches!(
            parse_json::<Body>(b"{\"title\":"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b"[1,2]"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"title": "x", "seats": 2} trailing"#),
            Err(ApiError::BadRequest(_))
        ));
    }
}

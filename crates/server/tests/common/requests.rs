//! Requests and their answers. Every answer goes through [`Call::send`],
//! which fails the test on any 5xx: a 5xx is a bug whatever the request was.

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, SET_COOKIE};
use serde_json::Value;

use super::User;

/// Whom a request is sent as: a signed-up [`User`], or a bearer token as it
/// is (the agent's, or one a test makes up).
pub trait Credential {
    fn bearer_token(&self) -> &str;
}

impl Credential for User {
    fn bearer_token(&self) -> &str {
        &self.token
    }
}

impl Credential for str {
    fn bearer_token(&self) -> &str {
        self
    }
}

impl Credential for String {
    fn bearer_token(&self) -> &str {
        self
    }
}

/// One request being built.
pub struct Call {
    builder: reqwest::RequestBuilder,
    /// `METHOD /path`, for failure messages.
    label: String,
}

impl Call {
    pub fn new(label: String, builder: reqwest::RequestBuilder) -> Self {
        Self { builder, label }
    }

    /// Sends the request as `who`: a person, or a bare token (the agent's, a forged one).
    pub fn auth(self, who: &(impl Credential + ?Sized)) -> Self {
        Self {
            builder: self.builder.bearer_auth(who.bearer_token()),
            ..self
        }
    }

    pub fn json(self, body: &Value) -> Self {
        Self {
            builder: self.builder.json(body),
            ..self
        }
    }

    /// A body sent as is, with `content_type` if one is given.
    pub fn raw(self, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> Self {
        let mut builder = self.builder.body(body);
        if let Some(content_type) = content_type {
            builder = builder.header(CONTENT_TYPE, content_type);
        }
        Self { builder, ..self }
    }

    pub fn header(self, name: &str, value: &str) -> Self {
        Self {
            builder: self.builder.header(name, value),
            ..self
        }
    }

    /// Sends the request. Any 5xx fails the test here, with the answer's
    /// body, but 507: a disk too full to upload to is the machine's state, which
    /// a scenario may arrange (`--min-free-space`), not a bug.
    pub async fn send(self) -> Reply {
        let response = self
            .builder
            .send()
            .await
            .unwrap_or_else(|error| panic!("{}: the request failed: {error}", self.label));
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .text()
            .await
            .unwrap_or_else(|error| panic!("{}: reading the answer: {error}", self.label));
        assert!(
            !status.is_server_error() || status == reqwest::StatusCode::INSUFFICIENT_STORAGE,
            "{}: the server answered {status} (a 5xx is always a bug): {body}",
            self.label
        );
        Reply {
            status,
            headers,
            body,
            label: self.label,
        }
    }
}

/// An answer, read in full. Dropping one unread would let any status pass.
#[derive(Debug)]
#[must_use = "an answer's status is checked with `expect` or `expect_error`"]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    label: String,
}

impl Reply {
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| {
            panic!(
                "{} ({}): the body is not JSON ({error}): {:?}",
                self.label, self.status, self.body
            )
        })
    }

    /// Asserts the status and returns the JSON body (`null` for an empty one).
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}: expected {status}, got {}: {}",
            self.label,
            self.status,
            self.body
        );
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    /// Asserts an error answer `{"error":{"code","message"}}` with this status and code.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Value {
        match self.check_error(status, code, None) {
            Ok(body) => body,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// Asserts an error answer that names the input `field` at fault.
    #[track_caller]
    pub fn expect_field_error(self, status: u16, code: &str, field: &str) -> Value {
        match self.check_error(status, code, Some(field)) {
            Ok(body) => body,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// Checks an error answer: this status, `{"error":{"code","message"}}` with this code, and
    /// when `field` is given, naming that field (a path into it, `latency_ms.total` or
    /// `tech_stack[1]`, names it too). Says what is wrong instead of panicking, for [`Failures`].
    pub fn check_error(
        self,
        status: u16,
        code: &str,
        field: Option<&str>,
    ) -> Result<Value, String> {
        let wrong = |why: String| {
            Err(format!(
                "{}: {why}: {} {}",
                self.label, self.status, self.body
            ))
        };
        if self.status.as_u16() != status {
            return wrong(format!("expected {status} {code}"));
        }
        let Ok(body) = serde_json::from_str::<Value>(&self.body) else {
            return wrong("the error body is not JSON".into());
        };
        let error = &body["error"];
        if error["code"] != code {
            return wrong(format!("expected error code {code:?}"));
        }
        if error["message"].as_str().is_none_or(str::is_empty) {
            return wrong("an error without a message".into());
        }
        if let Some(field) = field {
            let named = error["field"].as_str().unwrap_or_default();
            let names_it = named == field
                || named
                    .strip_prefix(field)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['));
            if !names_it {
                return wrong(format!("expected the error to name field {field:?}"));
            }
        }
        Ok(body)
    }

    /// The cookies this answer sets, by name.
    pub fn cookies(&self) -> HashMap<String, SetCookie> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|header| header.to_str().ok())
            .filter_map(SetCookie::parse)
            .map(|cookie| (cookie.name.clone(), cookie))
            .collect()
    }
}

/// One `Set-Cookie` header.
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// The attributes after the value, lowercased (`httponly`, `samesite=lax`, `path=/`, …).
    pub attributes: Vec<String>,
}

impl SetCookie {
    fn parse(header: &str) -> Option<Self> {
        let mut parts = header.split(';').map(str::trim);
        let (name, value) = parts.next()?.split_once('=')?;
        Some(Self {
            name: name.to_owned(),
            value: value.trim_matches('"').to_owned(),
            attributes: parts
                .map(|part| part.to_lowercase().replace(' ', ""))
                .collect(),
        })
    }

    pub fn has(&self, attribute: &str) -> bool {
        self.attributes.iter().any(|a| a == attribute)
    }
}

/// Sends each body of `cases` with a request `call` makes, and checks that the
/// server refuses each with 400 `invalid` naming the case's field; fails the
/// test with every case it got wrong.
pub async fn refuses_each<'a>(
    call: impl Fn() -> Call,
    cases: impl IntoIterator<Item = (Value, &'a str)>,
) {
    let mut failures = Failures::default();
    for (body, field) in cases {
        let reply = call().json(&body).send().await;
        failures.check(
            reply
                .check_error(400, "invalid", Some(field))
                .map_err(|failure| format!("{failure} (sent {body})")),
        );
    }
    failures.assert_none();
}

/// Collects what went wrong across a table of cases, so one run shows every
/// case the server gets wrong rather than only the first.
#[derive(Default)]
pub struct Failures(Vec<String>);

impl Failures {
    pub fn check<T>(&mut self, outcome: Result<T, String>) {
        if let Err(failure) = outcome {
            self.0.push(failure);
        }
    }

    #[track_caller]
    pub fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "{} case(s) failed:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

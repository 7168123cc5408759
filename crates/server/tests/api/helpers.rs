//! The harness every scenario runs on: the real application, bound to
//! `127.0.0.1:0`, with a database of its own (a fresh SQLite file, or a fresh
//! PostgreSQL database), driven over HTTP like any client.
//!
//! Every answer goes through [`Call::send`], which fails the test on any 5xx:
//! a 5xx is a bug whatever the request was.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderMap, SET_COOKIE};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use server::Config;

use crate::running_server::RunningServer;
use crate::test_database::TestDatabase;

/// Where the application under test keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A running application and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub address: String,
    /// The token the agent authenticates with on `/internal/…`.
    pub agent_token: String,
    /// The database the server runs on, for scenarios that play another node.
    pub database_url: String,
    /// `None` once stopped.
    running: Option<RunningServer>,
    /// Kept so the directory (and a SQLite file in it) lives as long as the server.
    _data_dir: tempfile::TempDir,
    /// The database made for this test, dropped after a passing test.
    postgres: Option<TestDatabase>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    let data_dir = tempfile::tempdir().expect("creating a data directory");
    let (database_url, postgres) = match backend {
        Backend::Sqlite => {
            let file = data_dir.path().join("lockin.db");
            (format!("sqlite://{}?mode=rwc", file.display()), None)
        }
        Backend::Postgres => {
            let database = TestDatabase::create().await;
            (database.url.clone(), Some(database))
        }
    };
    let agent_token = format!("agent-secret-{}", uuid::Uuid::new_v4().simple());
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        // The media socket too: the default port would be taken by the first app.
        rtc_udp: "127.0.0.1:0".parse().expect("a socket address"),
        data_dir: data_dir.path().to_path_buf(),
        database_url: Some(database_url.clone()),
        agent_token: Some(SecretString::from(agent_token.clone())),
        ..Config::default()
    };
    let running = RunningServer::start(config).await;
    TestApp {
        address: running.address.clone(),
        agent_token,
        database_url,
        running: Some(running),
        _data_dir: data_dir,
        postgres,
    }
}

impl TestApp {
    /// Stops the server and waits for it, then drops the test's PostgreSQL database.
    /// Only passing tests get here: a failing test leaves its database for a look.
    pub async fn stop(mut self) {
        self.running.take().expect("the server").stop().await;
        if let Some(database) = self.postgres.take() {
            database.drop_database().await;
        }
    }

    fn server(&self) -> &RunningServer {
        self.running.as_ref().expect("the server runs")
    }

    pub fn request(&self, method: Method, path: &str) -> Call {
        Call {
            label: format!("{method} {path}"),
            builder: self
                .server()
                .client
                .request(method, format!("{}{path}", self.address)),
        }
    }

    pub fn get(&self, path: &str) -> Call {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Call {
        self.request(Method::POST, path)
    }

    pub fn patch(&self, path: &str) -> Call {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> Call {
        self.request(Method::DELETE, path)
    }

    /// Signs up `name` with a unique email address and [`PASSWORD`].
    pub async fn register(&self, name: &str) -> User {
        let email = format!(
            "{}.{}@example.com",
            name.to_lowercase().replace(' ', "."),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let reply = self
            .post("/api/auth/register")
            .json(&json!({"email": email, "password": PASSWORD, "name": name}))
            .send()
            .await;
        let body = reply.expect(201);
        User::from_auth_answer(&body)
    }

    /// Signs up `count` people at once (hashing passwords is slow; doing it concurrently saves time).
    pub async fn register_many(&self, prefix: &str, count: usize) -> Vec<User> {
        futures::future::join_all(
            (0..count).map(|n| async move { self.register(&format!("{prefix} {n}")).await }),
        )
        .await
    }

    pub async fn create_project(&self, owner: &User, body: Value) -> Value {
        self.post("/api/projects")
            .auth(owner)
            .json(&body)
            .send()
            .await
            .expect(201)
    }

    pub async fn project(&self, viewer: &User, id: &str) -> Value {
        self.get(&format!("/api/projects/{id}"))
            .auth(viewer)
            .send()
            .await
            .expect(200)
    }

    /// Creates a session from `overrides` laid over a valid instant coding session.
    pub async fn create_session(&self, creator: &User, overrides: Value) -> Value {
        self.post("/api/sessions")
            .auth(creator)
            .json(&session_body(overrides))
            .send()
            .await
            .expect(201)
    }

    /// An instant (active) session seating `max_participants`, with the creator as host.
    pub async fn instant_session(&self, creator: &User, max_participants: i64) -> Value {
        self.create_session(creator, json!({"max_participants": max_participants}))
            .await
    }

    /// A session planned to start `starts_in` from now.
    pub async fn scheduled_session(&self, creator: &User, starts_in: chrono::Duration) -> Value {
        self.create_session(
            creator,
            json!({"scheduled_start": rfc3339(Utc::now() + starts_in)}),
        )
        .await
    }

    /// `POST /api/sessions/{id}/{action}` (start, join, leave, end) with no body.
    pub async fn session_action(&self, user: &User, session_id: &str, action: &str) -> Reply {
        self.post(&format!("/api/sessions/{session_id}/{action}"))
            .auth(user)
            .send()
            .await
    }

    pub async fn join(&self, user: &User, session_id: &str) -> Reply {
        self.session_action(user, session_id, "join").await
    }

    pub async fn session(&self, viewer: &User, id: &str) -> Value {
        self.get(&format!("/api/sessions/{id}"))
            .auth(viewer)
            .send()
            .await
            .expect(200)
    }

    pub async fn participants(&self, viewer: &User, session_id: &str) -> Vec<Value> {
        let body = self
            .get(&format!("/api/sessions/{session_id}/participants"))
            .auth(viewer)
            .send()
            .await
            .expect(200);
        body.as_array()
            .unwrap_or_else(|| panic!("participants is not a list: {body}"))
            .clone()
    }

    /// Every session of a list (`active` or `scheduled`), walking all pages of `limit`.
    pub async fn all_sessions(&self, viewer: &User, status: &str, limit: usize) -> Vec<Value> {
        let mut sessions = Vec::new();
        let mut cursor: Option<String> = None;
        // A list of n sessions needs at most n / limit + 2 pages (the last may be empty).
        for _ in 0..1000 {
            let mut path = format!("/api/sessions?status={status}&limit={limit}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={}", encode_query(cursor)));
            }
            let page = self.get(&path).auth(viewer).send().await.expect(200);
            let items = page["sessions"]
                .as_array()
                .unwrap_or_else(|| panic!("{path}: no sessions list in {page}"));
            assert!(
                items.len() <= limit,
                "{path}: {} sessions on a page of {limit}",
                items.len()
            );
            sessions.extend(items.iter().cloned());
            match &page["next_cursor"] {
                Value::Null => return sessions,
                Value::String(next) => cursor = Some(next.clone()),
                other => panic!("{path}: next_cursor is neither a string nor null: {other}"),
            }
        }
        panic!("the {status} list never ended: paging loops")
    }

    /// The state a refused request must not change: both lists, in full.
    pub async fn sessions_snapshot(&self, viewer: &User) -> Value {
        json!({
            "active": self.all_sessions(viewer, "active", 100).await,
            "scheduled": self.all_sessions(viewer, "scheduled", 100).await,
        })
    }

    /// A session and its participants, to compare before and after a refused request.
    pub async fn session_snapshot(&self, viewer: &User, session_id: &str) -> Value {
        json!({
            "session": self.session(viewer, session_id).await,
            "participants": self.participants(viewer, session_id).await,
        })
    }

    /// Logs a typed question as `asker`, who must be in the session.
    pub async fn log_question(&self, asker: &User, session_id: &str, question: &str) -> Value {
        self.post(&format!("/api/sessions/{session_id}/ai-logs"))
            .auth(asker)
            .json(&json!({"question": question, "answer": format!("An answer to: {question}")}))
            .send()
            .await
            .expect(201)
    }

    pub async fn session_logs(&self, viewer: &User, session_id: &str) -> Vec<Value> {
        let body = self
            .get(&format!("/api/sessions/{session_id}/ai-logs"))
            .auth(viewer)
            .send()
            .await
            .expect(200);
        body.as_array()
            .unwrap_or_else(|| panic!("the AI log is not a list: {body}"))
            .clone()
    }

    pub async fn vote(&self, voter: &User, log_id: &str, helpful: bool) -> Reply {
        self.post(&format!("/api/ai-logs/{log_id}/feedback"))
            .auth(voter)
            .json(&json!({"helpful": helpful}))
            .send()
            .await
    }
}

/// A valid create-session body (instant, coding, 4 seats, assistant on) with `overrides` laid over it.
/// An override of `null` removes the field.
pub fn session_body(overrides: Value) -> Value {
    let mut body = json!({
        "title": "Deep work",
        "session_type": "coding",
        "max_participants": 4,
        "ai_agent_enabled": true,
    });
    let fields = body.as_object_mut().expect("an object");
    for (key, value) in overrides.as_object().expect("overrides are an object") {
        if value.is_null() {
            fields.remove(key);
        } else {
            fields.insert(key.clone(), value.clone());
        }
    }
    body
}

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads an RFC 3339 timestamp from an answer, failing the test on anything else.
#[track_caller]
pub fn timestamp(value: &Value) -> DateTime<Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("expected an RFC 3339 timestamp, got {value}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text:?} is not RFC 3339: {error}"))
        .with_timezone(&Utc)
}

/// Percent-encodes a query value (cursors are opaque and may hold `+`, `/`, `=`).
pub fn encode_query(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The `id`s of a list of records, in order.
#[track_caller]
pub fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|record| {
            record["id"]
                .as_str()
                .unwrap_or_else(|| panic!("a record without an id: {record}"))
                .to_owned()
        })
        .collect()
}

#[track_caller]
pub fn id_of(record: &Value) -> String {
    record["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a record without an id: {record}"))
        .to_owned()
}

/// A signed-up person and what they sign in with.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub token: String,
}

impl User {
    /// Reads the `{user, token}` answer of register or login.
    #[track_caller]
    pub fn from_auth_answer(body: &Value) -> Self {
        let text = |value: &Value| -> String {
            value
                .as_str()
                .filter(|text| !text.is_empty())
                .unwrap_or_else(|| panic!("a missing or empty field in {body}"))
                .to_owned()
        };
        Self {
            id: text(&body["user"]["id"]),
            email: text(&body["user"]["email"]),
            name: text(&body["user"]["name"]),
            token: text(&body["token"]),
        }
    }
}

/// One request being built.
pub struct Call {
    builder: reqwest::RequestBuilder,
    /// `METHOD /path`, for failure messages.
    label: String,
}

impl Call {
    pub fn auth(self, user: &User) -> Self {
        self.bearer(&user.token)
    }

    pub fn bearer(self, token: &str) -> Self {
        Self {
            builder: self.builder.bearer_auth(token),
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

    /// Sends the request. Any 5xx fails the test here, with the answer's body.
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
            !status.is_server_error(),
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

/// An answer, read in full.
#[derive(Debug)]
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

//! The application under test: one or more real servers on `127.0.0.1:0`
//! sharing one fresh database, started with the timings a scenario needs, and
//! a small HTTP client for the REST calls the scenarios make around their
//! live connections.
//!
//! Why not `tests/api/helpers.rs`: its `spawn_app` always uses the default
//! configuration, and its `TestApp` cannot be built any other way from
//! outside, while these scenarios need short sweep intervals and timeouts,
//! two nodes on one database and a bus, and a restart on the same data.

use std::path::Path;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reqwest::Method;
use reqwest::header::HeaderMap;
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

/// The NATS server the many-node scenarios share events through, unless `LOCKIN_TEST_NATS_URL` says otherwise.
const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

const PASSWORD: &str = "correct horse battery staple";

/// One fresh database (and data directory), outliving the servers started on it,
/// so that two nodes can share it and a restarted server finds it again.
pub struct Database {
    url: String,
    data_dir: tempfile::TempDir,
    /// The PostgreSQL database made for this test.
    postgres: Option<TestDatabase>,
}

impl Database {
    pub async fn fresh(backend: Backend) -> Self {
        let data_dir = tempfile::tempdir().expect("creating a data directory");
        let (url, postgres) = match backend {
            Backend::Sqlite => (
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.path().join("lockin.db").display()
                ),
                None,
            ),
            Backend::Postgres => {
                let database = TestDatabase::create().await;
                (database.url.clone(), Some(database))
            }
        };
        Self {
            url,
            data_dir,
            postgres,
        }
    }

    /// Drops the test's PostgreSQL database. Only passing tests get here: a
    /// failing one leaves its database for a look.
    pub async fn remove(mut self) {
        if let Some(database) = self.postgres.take() {
            database.drop_database().await;
        }
    }

    fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }
}

/// The timings a scenario runs with. The defaults are the server's, except a
/// sweep interval short enough that timed work shows up within a test.
#[derive(Debug, Clone)]
pub struct Settings {
    pub departure_timeout: Duration,
    pub empty_timeout: Duration,
    pub sweep_interval: Duration,
    /// `(NATS URL, subject prefix)`: nodes with the same pair share their events.
    pub bus: Option<(String, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        let server = Config::default();
        Self {
            departure_timeout: server.departure_timeout,
            empty_timeout: server.empty_timeout,
            sweep_interval: Duration::from_millis(100),
            bus: None,
        }
    }
}

impl Settings {
    /// A bus of its own on the test NATS server: a subject prefix no other test uses,
    /// so tests running at the same time do not hear each other's events.
    pub fn with_own_bus(self) -> Self {
        let url =
            std::env::var("LOCKIN_TEST_NATS_URL").unwrap_or_else(|_| DEFAULT_NATS_URL.to_owned());
        let subject = format!("lockin_t_{}", uuid::Uuid::new_v4().simple());
        Self {
            bus: Some((url, subject)),
            ..self
        }
    }
}

/// One running server (a node) and an HTTP client for it.
pub struct LiveApp {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub address: String,
    /// `None` once stopped.
    running: Option<RunningServer>,
}

impl LiveApp {
    /// Starts a node on `database` with `settings`.
    pub async fn start(database: &Database, settings: &Settings) -> Self {
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("a socket address"),
            // The media socket too: the default port would be taken by the first app.
            rtc_udp: "127.0.0.1:0".parse().expect("a socket address"),
            data_dir: database.data_dir().to_path_buf(),
            database_url: Some(database.url.clone()),
            agent_token: Some(SecretString::from(format!(
                "agent-secret-{}",
                uuid::Uuid::new_v4().simple()
            ))),
            departure_timeout: settings.departure_timeout,
            empty_timeout: settings.empty_timeout,
            sweep_interval: settings.sweep_interval,
            bus_url: settings.bus.as_ref().map(|(url, _)| url.clone()),
            bus_subject: settings
                .bus
                .as_ref()
                .map(|(_, subject)| subject.clone())
                .unwrap_or_else(|| Config::default().bus_subject),
            ..Config::default()
        };
        let running = RunningServer::start(config).await;
        Self {
            address: running.address.clone(),
            running: Some(running),
        }
    }

    /// Stops the node (as an operator would, with its shutdown signal) and waits for it.
    pub async fn stop(mut self) {
        self.running.take().expect("the server").stop().await;
    }

    /// `ws://…/api/live`, with `?token=` when one is given.
    pub fn live_url(&self, token: Option<&str>) -> String {
        let base = format!("{}/api/live", self.address.replacen("http", "ws", 1));
        match token {
            Some(token) => format!("{base}?token={}", encode_query(token)),
            None => base,
        }
    }

    /// Sends one request; any 5xx fails the test (a 5xx is always a bug).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        caller: Option<&User>,
        body: Option<Value>,
    ) -> Reply {
        let label = format!("{method} {path}");
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.address)
        };
        let client = &self.running.as_ref().expect("the node runs").client;
        let mut request = client.request(method, url);
        if let Some(caller) = caller {
            request = request.bearer_auth(&caller.token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{label}: the request failed: {error}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .unwrap_or_else(|error| panic!("{label}: reading the answer: {error}"));
        assert!(
            status < 500,
            "{label}: the server answered {status} (a 5xx is always a bug): {text}"
        );
        Reply {
            status,
            headers,
            text,
            label,
        }
    }

    pub async fn get(&self, caller: &User, path: &str) -> Reply {
        self.call(Method::GET, path, Some(caller), None).await
    }

    pub async fn post(&self, caller: &User, path: &str, body: Option<Value>) -> Reply {
        self.call(Method::POST, path, Some(caller), body).await
    }

    pub async fn delete(&self, caller: &User, path: &str) -> Reply {
        self.call(Method::DELETE, path, Some(caller), None).await
    }

    /// Signs up `name` with a unique email address.
    pub async fn register(&self, name: &str) -> User {
        let email = format!(
            "{}.{}@example.com",
            name.to_lowercase().replace(' ', "."),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let body = self
            .call(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({"email": email, "password": PASSWORD, "name": name})),
            )
            .await
            .expect(201);
        let text = |value: &Value| {
            value
                .as_str()
                .unwrap_or_else(|| panic!("register answered without ids: {body}"))
                .to_owned()
        };
        User {
            id: text(&body["user"]["id"]),
            name: text(&body["user"]["name"]),
            token: text(&body["token"]),
        }
    }

    /// Signs up `count` people at once (password hashing is slow; concurrency saves time).
    pub async fn register_many(&self, prefix: &str, count: usize) -> Vec<User> {
        futures::future::join_all(
            (0..count).map(|n| async move { self.register(&format!("{prefix} {n}")).await }),
        )
        .await
    }

    /// An instant (active) coding session seating `max_participants`, with `creator` as host.
    pub async fn instant_session(&self, creator: &User, max_participants: i64) -> Value {
        self.post(
            creator,
            "/api/sessions",
            Some(json!({
                "title": "Deep work",
                "session_type": "coding",
                "max_participants": max_participants,
                "ai_agent_enabled": false,
            })),
        )
        .await
        .expect(201)
    }

    /// A session planned to start `starts_in` from now, titled `title`.
    pub async fn scheduled_session(
        &self,
        creator: &User,
        title: &str,
        starts_in: chrono::Duration,
    ) -> Value {
        let session = self
            .post(
                creator,
                "/api/sessions",
                Some(json!({
                    "title": title,
                    "session_type": "study",
                    "max_participants": 4,
                    "ai_agent_enabled": false,
                    "scheduled_start": (Utc::now() + starts_in).to_rfc3339_opts(SecondsFormat::Secs, true),
                })),
            )
            .await
            .expect(201);
        assert_eq!(session["status"], "scheduled", "{session}");
        session
    }

    /// `POST /api/sessions/{id}/{action}` (start, join, leave, end, remind-me) with no body.
    pub async fn session_action(&self, caller: &User, session_id: &str, action: &str) -> Reply {
        self.post(
            caller,
            &format!("/api/sessions/{session_id}/{action}"),
            None,
        )
        .await
    }

    pub async fn join(&self, caller: &User, session_id: &str) -> Value {
        self.session_action(caller, session_id, "join")
            .await
            .expect(200)
    }

    pub async fn leave(&self, caller: &User, session_id: &str) -> Value {
        self.session_action(caller, session_id, "leave")
            .await
            .expect(200)
    }

    pub async fn session(&self, viewer: &User, session_id: &str) -> Value {
        self.get(viewer, &format!("/api/sessions/{session_id}"))
            .await
            .expect(200)
    }

    pub async fn participants(&self, viewer: &User, session_id: &str) -> Value {
        self.get(viewer, &format!("/api/sessions/{session_id}/participants"))
            .await
            .expect(200)
    }

    pub async fn notifications(&self, user: &User) -> Value {
        self.get(user, "/api/me/notifications").await.expect(200)
    }

    pub async fn post_message(&self, sender: &User, session_id: &str, body: &str) -> Reply {
        self.post(
            sender,
            &format!("/api/sessions/{session_id}/messages"),
            Some(json!({ "body": body })),
        )
        .await
    }
}

/// Percent-encodes a query value.
pub fn encode_query(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A signed-up person and what they sign in with.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub token: String,
}

/// An answer, read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// `METHOD /path`, for failure messages.
    label: String,
}

impl Reply {
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|error| {
            panic!(
                "{} ({}): the body is not JSON ({error}): {:?}",
                self.label, self.status, self.text
            )
        })
    }

    /// Asserts the status and returns the JSON body (`null` for an empty one).
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "{}: expected {status}, got {}: {}",
            self.label, self.status, self.text
        );
        if self.text.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    /// Asserts `{"error":{"code","message"}}` with this status and code, and
    /// naming `field` when one is given.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str, field: Option<&str>) -> Value {
        let body = self.json();
        assert_eq!(
            (self.status, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{}: expected {status} {code}: {}",
            self.label,
            self.text
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|message| !message.is_empty()),
            "{}: an error without a message: {}",
            self.label,
            self.text
        );
        if let Some(field) = field {
            assert_eq!(
                body["error"]["field"], field,
                "{}: the error should name field {field:?}: {}",
                self.label, self.text
            );
        }
        body
    }
}

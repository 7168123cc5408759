//! The REST calls scenarios make, as methods of [`TestApp`], and the records
//! they answer with.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::TestApp;
use super::requests::{Call, Reply};

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
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

    /// Ada and Bob, signed up, and Ada's instant session of four (Bob not in
    /// it yet): where most scenarios start. Answers `(ada, bob, session id)`.
    pub async fn ada_hosts_bob(&self) -> (User, User, String) {
        let ada = self.register("Ada").await;
        let bob = self.register("Bob").await;
        let id = id_of(&self.instant_session(&ada, 4).await);
        (ada, bob, id)
    }

    /// A session titled `title`, planned to start `starts_in` from now.
    pub async fn scheduled_session(
        &self,
        creator: &User,
        title: &str,
        starts_in: chrono::Duration,
    ) -> Value {
        let session = self
            .create_session(
                creator,
                json!({"title": title, "scheduled_start": rfc3339(Utc::now() + starts_in)}),
            )
            .await;
        assert_eq!(session["status"], "scheduled", "{session}");
        session
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

    pub async fn leave(&self, user: &User, session_id: &str) -> Reply {
        self.session_action(user, session_id, "leave").await
    }

    pub async fn session(&self, viewer: &User, id: &str) -> Value {
        self.get(&format!("/api/sessions/{id}"))
            .auth(viewer)
            .send()
            .await
            .expect(200)
    }

    pub async fn participants(&self, viewer: &User, session_id: &str) -> Vec<Value> {
        let path = format!("/api/sessions/{session_id}/participants");
        self.list(self.get(&path).auth(viewer)).await
    }

    /// Sends `call`, which must answer 200 with a list, and returns the list.
    async fn list(&self, call: Call) -> Vec<Value> {
        let body = call.send().await.expect(200);
        match body {
            Value::Array(items) => items,
            other => panic!("expected a list, got {other}"),
        }
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
        self.post_ai_log(
            asker,
            session_id,
            question,
            &format!("An answer to: {question}"),
        )
        .await
        .expect(201)
    }

    /// `POST /api/sessions/{id}/ai-logs`: an interaction `asker` had with the assistant.
    pub async fn post_ai_log(
        &self,
        asker: &User,
        session_id: &str,
        question: &str,
        answer: &str,
    ) -> Reply {
        self.post(&format!("/api/sessions/{session_id}/ai-logs"))
            .auth(asker)
            .json(&json!({ "question": question, "answer": answer }))
            .send()
            .await
    }

    pub async fn session_logs(&self, viewer: &User, session_id: &str) -> Vec<Value> {
        let path = format!("/api/sessions/{session_id}/ai-logs");
        self.list(self.get(&path).auth(viewer)).await
    }

    /// `POST /api/sessions/{id}/ai-agent`: switches the session's assistant on or off.
    pub async fn switch_assistant(&self, user: &User, session_id: &str, enabled: bool) -> Reply {
        self.post(&format!("/api/sessions/{session_id}/ai-agent"))
            .auth(user)
            .json(&json!({ "enabled": enabled }))
            .send()
            .await
    }

    /// The sessions the agent is asked to serve, as it lists them.
    pub async fn agent_sessions(&self) -> Vec<Value> {
        self.list(self.get("/internal/sessions").bearer(&self.agent_token))
            .await
    }

    /// `user`'s own AI log, across sessions.
    pub async fn my_ai_logs(&self, user: &User) -> Value {
        self.get("/api/me/ai-logs")
            .auth(user)
            .send()
            .await
            .expect(200)
    }

    pub async fn notifications(&self, user: &User) -> Value {
        self.get("/api/me/notifications")
            .auth(user)
            .send()
            .await
            .expect(200)
    }

    pub async fn post_message(&self, sender: &User, session_id: &str, body: &str) -> Reply {
        self.post(&format!("/api/sessions/{session_id}/messages"))
            .auth(sender)
            .json(&json!({ "body": body }))
            .send()
            .await
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

//! The REST calls scenarios make, as methods of [`TestApp`], and the records
//! they answer with.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::TestApp;
use super::requests::{Credential, Reply};

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// `GET path` as `who`.
    pub async fn get_as(&self, who: &(impl Credential + ?Sized), path: &str) -> Reply {
        self.get(path).auth(who).send().await
    }

    /// What `GET path` answers `who`, which must be a 200.
    pub async fn get_ok(&self, who: &(impl Credential + ?Sized), path: &str) -> Value {
        self.get_as(who, path).await.expect(200)
    }

    /// `POST path` as `who`, with `body` as JSON when one is given.
    pub async fn post_as<'a>(
        &self,
        who: &(impl Credential + ?Sized),
        path: &str,
        body: impl Into<Option<&'a Value>>,
    ) -> Reply {
        let call = self.post(path).auth(who);
        match body.into() {
            Some(body) => call.json(body),
            None => call,
        }
        .send()
        .await
    }

    /// `PATCH path` as `who`, with `body` as JSON.
    pub async fn patch_as(
        &self,
        who: &(impl Credential + ?Sized),
        path: &str,
        body: &Value,
    ) -> Reply {
        self.patch(path).auth(who).json(body).send().await
    }

    /// `PUT path` as `who`, with `body` as JSON.
    pub async fn put_as(
        &self,
        who: &(impl Credential + ?Sized),
        path: &str,
        body: &Value,
    ) -> Reply {
        self.put(path).auth(who).json(body).send().await
    }

    /// `DELETE path` as `who`.
    pub async fn delete_as(&self, who: &(impl Credential + ?Sized), path: &str) -> Reply {
        self.delete(path).auth(who).send().await
    }

    /// `POST /api/auth/register`, signed in as nobody.
    pub async fn sign_up(&self, email: &str, password: &str, name: &str) -> Reply {
        self.post("/api/auth/register")
            .json(&json!({"email": email, "password": password, "name": name}))
            .send()
            .await
    }

    /// `POST /api/auth/login`, signed in as nobody.
    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post("/api/auth/login")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
    }

    /// Signs up `name` with a unique email address and [`PASSWORD`].
    pub async fn register(&self, name: &str) -> User {
        let email = format!(
            "{}.{}@example.com",
            name.to_lowercase().replace(' ', "."),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let body = self.sign_up(&email, PASSWORD, name).await.expect(201);
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
        self.post_as(owner, "/api/projects", &body)
            .await
            .expect(201)
    }

    pub async fn project(&self, viewer: &User, id: &str) -> Value {
        let path = format!("/api/projects/{id}");
        self.get_ok(viewer, &path).await
    }

    /// Creates a session from `overrides` laid over a valid instant coding session.
    pub async fn create_session(&self, creator: &User, overrides: Value) -> Value {
        let body = session_body(overrides);
        self.post_as(creator, "/api/sessions", &body)
            .await
            .expect(201)
    }

    /// An instant (active) session seating `max_participants`, with the creator as host.
    pub async fn instant_session(&self, creator: &User, max_participants: i64) -> Value {
        self.create_session(creator, json!({"max_participants": max_participants}))
            .await
    }

    /// `host`'s instant session seating `max_participants`, with each of
    /// `guests` joined in turn. Answers the session's id.
    pub async fn hosted_session<'a>(
        &self,
        host: &User,
        max_participants: i64,
        guests: impl IntoIterator<Item = &'a User>,
    ) -> String {
        let id = id_of(&self.instant_session(host, max_participants).await);
        for guest in guests {
            self.join(guest, &id).await.expect(200);
        }
        id
    }

    /// Ada and Bob, signed up, and Ada's instant session of four (Bob not in
    /// it yet): where most scenarios start. Answers `(ada, bob, session id)`.
    pub async fn ada_hosts_bob(&self) -> (User, User, String) {
        let [ada, bob] = self.register_all(["Ada", "Bob"]).await;
        let id = id_of(&self.instant_session(&ada, 4).await);
        (ada, bob, id)
    }

    /// As [`TestApp::ada_hosts_bob`], with Bob joined.
    pub async fn ada_and_bob_in_session(&self) -> (User, User, String) {
        let (ada, bob, id) = self.ada_hosts_bob().await;
        self.join(&bob, &id).await.expect(200);
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
        let path = format!("/api/sessions/{session_id}/{action}");
        self.post_as(user, &path, None).await
    }

    pub async fn join(&self, user: &User, session_id: &str) -> Reply {
        self.session_action(user, session_id, "join").await
    }

    pub async fn leave(&self, user: &User, session_id: &str) -> Reply {
        self.session_action(user, session_id, "leave").await
    }

    pub async fn session(&self, viewer: &User, id: &str) -> Value {
        let path = format!("/api/sessions/{id}");
        self.get_ok(viewer, &path).await
    }

    pub async fn participants(&self, viewer: &User, session_id: &str) -> Vec<Value> {
        let path = format!("/api/sessions/{session_id}/participants");
        Self::list(self.get_as(viewer, &path).await)
    }

    /// The list `reply` answers with, which must be a 200.
    fn list(reply: Reply) -> Vec<Value> {
        match reply.expect(200) {
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
            let page = self.get_ok(viewer, &path).await;
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

    /// Asserts that `who`'s `action` on the session (see [`TestApp::session_action`])
    /// is refused with `status` and `code`, and changes nothing `viewer` sees of it.
    pub async fn refused_action(
        &self,
        viewer: &User,
        who: &User,
        session_id: &str,
        action: &str,
        status: u16,
        code: &str,
    ) {
        let before = self.session_snapshot(viewer, session_id).await;
        self.session_action(who, session_id, action)
            .await
            .expect_error(status, code);
        assert_eq!(
            self.session_snapshot(viewer, session_id).await,
            before,
            "a refused {action} changed the session"
        );
    }

    /// Signs up each of `names` at once (see [`TestApp::register`]), in their order.
    pub async fn register_all<const N: usize>(&self, names: [&str; N]) -> [User; N] {
        let users = futures::future::join_all(names.map(|name| self.register(name))).await;
        users.try_into().expect("one person a name")
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
        let path = format!("/api/sessions/{session_id}/ai-logs");
        let body = json!({ "question": question, "answer": answer });
        self.post_as(asker, &path, &body).await
    }

    pub async fn session_logs(&self, viewer: &User, session_id: &str) -> Vec<Value> {
        let path = format!("/api/sessions/{session_id}/ai-logs");
        Self::list(self.get_as(viewer, &path).await)
    }

    /// `POST /api/sessions/{id}/ai-agent`: switches the session's assistant on or off.
    pub async fn switch_assistant(&self, user: &User, session_id: &str, enabled: bool) -> Reply {
        let path = format!("/api/sessions/{session_id}/ai-agent");
        self.post_as(user, &path, &json!({ "enabled": enabled }))
            .await
    }

    /// `POST /internal/sessions/{id}/{action}` as the agent (join, leave, claim,
    /// release, agent-status, messages), with `body` as JSON when one is given.
    pub async fn agent_action<'a>(
        &self,
        session_id: &str,
        action: &str,
        body: impl Into<Option<&'a Value>>,
    ) -> Reply {
        let path = format!("/internal/sessions/{session_id}/{action}");
        self.post_as(&self.agent_token, &path, body).await
    }

    /// `POST /internal/ai-logs`: the agent logs an interaction.
    pub async fn agent_log(&self, body: &Value) -> Reply {
        self.post_as(&self.agent_token, "/internal/ai-logs", body)
            .await
    }

    /// The sessions the agent is asked to serve, as it lists them.
    pub async fn agent_sessions(&self) -> Vec<Value> {
        Self::list(self.get_as(&self.agent_token, "/internal/sessions").await)
    }

    /// `user`'s own AI log, across sessions.
    pub async fn my_ai_logs(&self, user: &User) -> Value {
        self.get_ok(user, "/api/me/ai-logs").await
    }

    pub async fn notifications(&self, user: &User) -> Value {
        self.get_ok(user, "/api/me/notifications").await
    }

    pub async fn post_message(&self, sender: &User, session_id: &str, body: &str) -> Reply {
        let path = format!("/api/sessions/{session_id}/messages");
        self.post_as(sender, &path, &json!({ "body": body })).await
    }

    pub async fn vote(&self, voter: &User, log_id: &str, helpful: bool) -> Reply {
        let path = format!("/api/ai-logs/{log_id}/feedback");
        self.post_as(voter, &path, &json!({"helpful": helpful}))
            .await
    }
}

/// A valid create-session body (instant, coding, 4 seats, assistant on) with `overrides` laid over it.
/// An override of `null` removes the field.
pub fn session_body(overrides: Value) -> Value {
    let valid = json!({
        "title": "Deep work",
        "session_type": "coding",
        "max_participants": 4,
        "ai_agent_enabled": true,
    });
    overlaid(valid, overrides)
}

/// `body` with each field of `overrides` laid over it; an override of `null` removes the field.
pub fn overlaid(mut body: Value, overrides: Value) -> Value {
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

//! A live client: one WebSocket to `/api/live`, speaking docs/LIVE.md.
//!
//! Every wait has a deadline and fails the test with what arrived instead, so
//! a scenario never sleeps: it waits for the message it expects. Messages read
//! while waiting for another one are kept, in order, for the next wait.
//!
//! **Every result read is checked against the protocol's invariants**: its
//! `query` is the one subscribed under its id; its `version` is above the
//! previous result's for that subscription (and, for the queries without a
//! session, counts pushes from 1); and its `data` differs from the previous
//! result's, since a change that leaves the data as it was sends nothing.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use protocol::live::{ClientMessage, ServerMessage};
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::harness::{TestApp, User};

/// How long an expected message may take. Generous: the machine running the
/// tests may be busy, and a passing wait ends as soon as the message arrives.
pub const PATIENCE: Duration = Duration::from_secs(15);

pub struct LiveClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Read while waiting for something else, oldest first.
    unread: VecDeque<Value>,
    /// What each subscription has seen, by id.
    subscriptions: HashMap<String, Seen>,
    /// Whose connection this is, for failure messages.
    label: String,
}

/// Why a handshake was refused: the HTTP status and the body, if any.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Option<Value>,
}

impl LiveClient {
    /// Connects as `user` with `?token=`.
    pub async fn connect(app: &TestApp, user: &User) -> Self {
        let url = app.live_url(Some(&user.token));
        Self::handshake(&url, &[])
            .await
            .unwrap_or_else(|refused| panic!("{}: live handshake refused: {refused:?}", user.name))
            .labelled(&user.name)
    }

    /// Opens `url` with these extra handshake headers.
    pub async fn handshake(url: &str, headers: &[(&'static str, &str)]) -> Result<Self, Refused> {
        let mut request = url
            .into_client_request()
            .expect("a valid WebSocket request");
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        let connected = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
            .await
            .unwrap_or_else(|_| panic!("the live handshake to {url} took over {PATIENCE:?}"));
        match connected {
            Ok((socket, _)) => Ok(Self {
                socket,
                unread: VecDeque::new(),
                subscriptions: HashMap::new(),
                label: "a live client".into(),
            }),
            Err(tungstenite::Error::Http(response)) => Err(Refused {
                status: response.status().as_u16(),
                body: response
                    .body()
                    .as_deref()
                    .and_then(|body| serde_json::from_slice(body).ok()),
            }),
            Err(error) => panic!("the live handshake to {url} failed: {error}"),
        }
    }

    pub fn labelled(self, label: &str) -> Self {
        Self {
            label: format!("{label}'s live connection"),
            ..self
        }
    }

    /// Sends a message: a [`ClientMessage`], a `media.*` one, or any JSON
    /// (a test of what the server refuses).
    pub async fn send(&mut self, message: impl Serialize) {
        let text = serde_json::to_string(&message).expect("a message serializes");
        self.send_text(&text).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::text(text))
            .await
            .unwrap_or_else(|error| panic!("{}: sending {text}: {error}", self.label));
    }

    /// Asks for `query` under `id`, without waiting for the answer. An id
    /// already subscribed keeps its query: the server must refuse the new one.
    pub async fn subscribe(&mut self, id: &str, query: &str) {
        self.subscriptions
            .entry(id.to_owned())
            .or_insert_with(|| Seen {
                query: query.to_owned(),
                last: None,
            });
        self.send(ClientMessage::subscribe(id, query)).await;
    }

    /// Subscribes and returns the first result.
    pub async fn subscribed(&mut self, id: &str, query: &str) -> Value {
        self.subscribe(id, query).await;
        self.next_result(id, PATIENCE).await
    }

    /// Unsubscribes and waits until the server has taken it in (a ping
    /// answered after it). Results already sent for `id` are dropped; from
    /// then on, any result for `id` fails the test.
    pub async fn unsubscribe(&mut self, id: &str) {
        self.send(ClientMessage::unsubscribe(id)).await;
        self.round_trip().await;
        self.unread.retain(|message| message["id"] != id);
        self.subscriptions.remove(id);
    }

    /// The next message, whatever it is.
    pub async fn next_message(&mut self, within: Duration) -> Value {
        if let Some(message) = self.unread.pop_front() {
            return message;
        }
        let deadline = Instant::now() + within;
        match self.read(deadline).await {
            Some(message) => message,
            None => panic!("{}: no message within {within:?}", self.label),
        }
    }

    /// The next result for subscription `id`. An error for `id` fails the test.
    pub async fn next_result(&mut self, id: &str, within: Duration) -> Value {
        self.next_result_matching(id, |_| true, within).await
    }

    /// Reads results for `id` until one whose `data` satisfies `predicate`,
    /// and returns that whole result message.
    pub async fn next_result_matching(
        &mut self,
        id: &str,
        predicate: impl Fn(&Value) -> bool,
        within: Duration,
    ) -> Value {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let Some(message) = self.take(id, deadline).await else {
                panic!(
                    "{}: no result for {id:?} matching the expectation within {within:?}; \
                     results for it meanwhile: {seen:#?}\nother messages: {:#?}",
                    self.label, self.unread
                );
            };
            match message["type"].as_str() {
                Some("result") if predicate(&message["data"]) => return message,
                Some("result") => seen.push(message),
                _ => panic!("{}: expected results for {id:?}, got {message}", self.label),
            }
        }
    }

    /// Watches results for `id` for `window` and fails the test if one satisfies
    /// `predicate`. For properties about time passing (nothing must happen),
    /// which no message can announce; the results seen are returned.
    pub async fn no_result_matching(
        &mut self,
        id: &str,
        predicate: impl Fn(&Value) -> bool,
        window: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + window;
        let mut seen = Vec::new();
        while let Some(message) = self.take(id, deadline).await {
            assert!(
                !(message["type"] == "result" && predicate(&message["data"])),
                "{}: within {window:?}, an unexpected result for {id:?}: {message}",
                self.label
            );
            seen.push(message);
        }
        seen
    }

    /// The next message satisfying `predicate` (from the unread ones first);
    /// others read meanwhile are kept, in order, for later waits.
    pub async fn next_message_matching(
        &mut self,
        what: &str,
        predicate: impl Fn(&Value) -> bool,
        within: Duration,
    ) -> Value {
        if let Some(at) = self.unread.iter().position(&predicate) {
            return self.unread.remove(at).expect("a present message");
        }
        let deadline = Instant::now() + within;
        loop {
            let Some(message) = self.read(deadline).await else {
                panic!(
                    "{}: no {what} within {within:?}; other messages: {:#?}",
                    self.label, self.unread
                );
            };
            if predicate(&message) {
                return message;
            }
            self.unread.push_back(message);
        }
    }

    /// The answer to this connection's `media.join` in `session_id`: its
    /// SDP (a `media.error` instead fails the test).
    pub async fn join_answer(&mut self, session_id: &str) -> String {
        let answer = self
            .next_message_matching(
                "the join's answer",
                |message| {
                    message["session_id"] == session_id
                        && (message["type"] == "media.answer" || message["type"] == "media.error")
                },
                PATIENCE,
            )
            .await;
        assert_eq!(answer["type"], "media.answer", "{answer}");
        answer["sdp"].as_str().expect("an sdp").to_owned()
    }

    /// The next `error` message with this `id` (`None`: `"id": null`), returning its `error` object.
    pub async fn next_error(&mut self, id: Option<&str>, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        let wanted = id.map_or(Value::Null, Value::from);
        let found = |message: &Value| message["type"] == "error" && message["id"] == wanted;
        let error = match self.unread.iter().position(found) {
            Some(at) => self.unread.remove(at).expect("a present message")["error"].clone(),
            None => loop {
                let Some(message) = self.read(deadline).await else {
                    panic!(
                        "{}: no error for id {wanted} within {within:?}; other messages: {:#?}",
                        self.label, self.unread
                    );
                };
                if found(&message) {
                    break message["error"].clone();
                }
                self.unread.push_back(message);
            },
        };
        // A refused subscription does not exist; a refused duplicate leaves the first one be.
        if let Some(id) = id
            && self
                .subscriptions
                .get(id)
                .is_some_and(|seen| seen.last.is_none())
        {
            self.subscriptions.remove(id);
        }
        error
    }

    /// Sends a ping and waits for the pong. Returns every other message that
    /// arrived before the pong: the server answers messages in order, so
    /// these are all it had sent before it read the ping.
    pub async fn round_trip(&mut self) -> Vec<Value> {
        self.send(ClientMessage::Ping).await;
        let deadline = Instant::now() + PATIENCE;
        let mut before = Vec::new();
        loop {
            let Some(message) = self.read(deadline).await else {
                panic!(
                    "{}: no pong within {PATIENCE:?}; got {before:#?}",
                    self.label
                );
            };
            if serde_json::from_value::<ServerMessage>(message.clone())
                .is_ok_and(|message| message == ServerMessage::Pong)
            {
                self.unread.extend(before.iter().cloned());
                return before;
            }
            before.push(message);
        }
    }

    /// Closes the connection from this side and waits for the server to let go.
    pub async fn close(mut self) {
        // An error here means the server closed first, which is as good.
        let _ = self.socket.close(None).await;
        self.until_closed(PATIENCE).await;
    }

    /// Waits for the server to close the connection (for example when its node stops).
    pub async fn closed_by_server(mut self, within: Duration) {
        self.until_closed(within).await;
    }

    /// Waits for the server to close the connection and returns the code and
    /// reason of its close frame (`None`: it closed without one).
    pub async fn close_frame(mut self, within: Duration) -> Option<(u16, String)> {
        let deadline = Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => panic!("{}: still open after {within:?}", self.label),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return frame.map(|frame| (frame.code.into(), frame.reason.to_string()));
                }
                Ok(None | Some(Err(_))) => return None,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    async fn until_closed(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => panic!("{}: still open after {within:?}", self.label),
                Ok(None | Some(Err(_) | Ok(Message::Close(_)))) => return,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// The next message about subscription `id` (a result, or an error for it),
    /// from the unread ones first; others read meanwhile are kept.
    async fn take(&mut self, id: &str, deadline: Instant) -> Option<Value> {
        let about = |message: &Value| {
            message["id"] == id && (message["type"] == "result" || message["type"] == "error")
        };
        if let Some(at) = self.unread.iter().position(about) {
            return self.unread.remove(at);
        }
        loop {
            let message = self.read(deadline).await?;
            if about(&message) {
                return Some(message);
            }
            self.unread.push_back(message);
        }
    }

    /// Reads one message from the socket; `None` at the deadline.
    async fn read(&mut self, deadline: Instant) -> Option<Value> {
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return None,
                Ok(frame) => frame,
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                // tungstenite answers the server's pings by itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => panic!("{}: unexpected frame {other:?}", self.label),
                Some(Err(error)) => panic!("{}: the connection failed: {error}", self.label),
                None => panic!("{}: the server closed the connection", self.label),
            };
            let message: Value = serde_json::from_str(&text)
                .unwrap_or_else(|error| panic!("{}: not JSON ({error}): {text}", self.label));
            if message["type"] == "result" {
                self.check_result(&message);
            }
            return Some(message);
        }
    }

    #[track_caller]
    fn check_result(&mut self, message: &Value) {
        let Ok(ServerMessage::Result {
            id, query, version, ..
        }) = serde_json::from_value::<ServerMessage>(message.clone())
        else {
            panic!(
                "{}: a result not in the protocol's shape: {message}",
                self.label
            );
        };
        let Some(seen) = self.subscriptions.get_mut(&id) else {
            panic!("{}: a result for an unknown id: {message}", self.label);
        };
        assert_eq!(
            query, seen.query,
            "{}: a result under {id:?} names another query: {message}",
            self.label
        );
        let counts_pushes = ["sessions:active", "sessions:upcoming", "notifications"]
            .contains(&seen.query.as_str());
        match &seen.last {
            None if counts_pushes => assert_eq!(
                version, 1,
                "{}: the first push of {id:?} should be version 1: {message}",
                self.label
            ),
            None => {}
            Some((last, _)) if counts_pushes => assert_eq!(
                version,
                last + 1,
                "{}: {id:?} counts its pushes, yet went from {last} to {version}: {message}",
                self.label
            ),
            Some((last, _)) => assert!(
                version > *last,
                "{}: version went from {last} to {version} on {id:?}: {message}",
                self.label
            ),
        }
        if let Some((_, data)) = &seen.last {
            assert_ne!(
                *data, message["data"],
                "{}: a push of {id:?} with unchanged data: {message}",
                self.label
            );
        }
        seen.last = Some((version, message["data"].clone()));
    }
}

/// What a subscription has seen.
struct Seen {
    query: String,
    /// The version and data of its last result.
    last: Option<(i64, Value)>,
}

/// Participants helpers over a `participants:` result's data.
pub fn status_of<'a>(participants: &'a Value, user: &User) -> Option<&'a str> {
    participants
        .as_array()?
        .iter()
        .find(|participant| participant["user_id"] == user.id.as_str())
        .and_then(|participant| participant["status"].as_str())
}

impl LiveClient {
    /// Reads results of the `participants:` subscription `id` until one in
    /// which `user`'s status is `status` (`joined`, `left`), and returns it.
    pub async fn until_status(
        &mut self,
        id: &str,
        user: &User,
        status: &str,
        within: Duration,
    ) -> Value {
        self.next_result_matching(id, |data| status_of(data, user) == Some(status), within)
            .await
    }
}

/// People joined right now, not counting the agent: what `participant_count` counts.
pub fn joined_people(participants: &Value) -> i64 {
    let list = participants
        .as_array()
        .unwrap_or_else(|| panic!("participants is not a list: {participants}"));
    let count = list
        .iter()
        .filter(|participant| participant["status"] == "joined" && participant["role"] != "agent")
        .count();
    i64::try_from(count).expect("a small count")
}

/// The ids of the records a page lists under `list` (`sessions` of a
/// `sessions:` result's data, `messages` of a chat page; `{list, next_cursor}`).
pub fn listed_ids(page: &Value, list: &str) -> Vec<String> {
    page[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} list in {page}"))
        .iter()
        .map(|record| record["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

impl LiveClient {
    /// Reads results for the paged subscription `id` until the ids it lists
    /// under `list` (see [`listed_ids`]) satisfy `predicate`; returns that result.
    pub async fn until_listed(
        &mut self,
        id: &str,
        list: &str,
        predicate: impl Fn(&[String]) -> bool,
    ) -> Value {
        self.next_result_matching(id, |data| predicate(&listed_ids(data, list)), PATIENCE)
            .await
    }

    /// Round-trips (see [`LiveClient::round_trip`]) and returns what came for
    /// subscription `id` before the pong.
    pub async fn arrived_for(&mut self, id: &str) -> Vec<Value> {
        self.round_trip()
            .await
            .into_iter()
            .filter(|message| message["id"] == id)
            .collect()
    }
}

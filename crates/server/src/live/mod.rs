//! `/api/live`: live queries over a WebSocket. The protocol is in docs/LIVE.md;
//! its messages are the `protocol` crate's (`protocol::live`,
//! `protocol::media`), shared with the worker, the benchmarks and the tests.
//!
//! # Layout
//!
//! - [`query`]: the named queries, their permissions and how to run them.
//! - [`hub`]: one run of each watched query per change, shared by all connections.
//! - [`media`]: the `media.*` messages (WebRTC signalling, docs/MEDIA.md) on
//!   the same connection, and who holds media in which session.
//! - [`turn`]: the TURN servers handed to pages in `media.config`, and the
//!   credentials each person gets for them.
//! - this module: one task per connection, turning subscriptions into pushes
//!   and holding the person's presence in the sessions they watch.

pub mod hub;
pub mod media;
pub mod query;
pub mod turn;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use domain::Id;
use futures::StreamExt;
use protocol::live::ClientMessage;
use serde_json::value::RawValue;
use tokio::time::Instant;
use tokio_stream::StreamMap;
use tokio_stream::wrappers::WatchStream;

use self::query::{Query, Snapshot};
use crate::AppState;
use crate::app::{self, Caller};
use crate::auth::{self, CurrentUser};
use crate::error::ApiError;
use crate::presence::{Change, Watching};

/// A connection may hold this many subscriptions at once.
pub const MAX_SUBSCRIPTIONS: usize = 100;
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENT_LIMIT: Duration = Duration::from_secs(60);
/// The largest message a client may send: room for the SDP answer of a page
/// in a large room (a few hundred media lines), far above any other message.
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024;
/// How long a subscription waits for its session's roster to decide presence;
/// past it, presence follows when the roster comes.
const FIRST_ROSTER_WITHIN: Duration = Duration::from_secs(5);

/// What one live connection may do, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Subscribes and unsubscribes a connection may send per second.
    pub subscriptions_per_second: std::num::NonZeroU32,
    /// Live connections one person may hold at once, on this node.
    pub connections_per_person: usize,
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/live", get(upgrade))
}

/// What this module sends: a result's data is encoded once per change and
/// shared by every subscriber.
type ServerMessage<'a> = protocol::live::ServerMessage<&'a RawValue>;

/// The caller of a live connection: a bearer header, `?token=`, or the cookie
/// (whose handshake must come from our own origin).
struct LiveCaller(Caller);

impl FromRequestParts<AppState> for LiveCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let query_token = parts.uri.query().and_then(|query| {
            serde_urlencoded::from_str::<HashMap<String, String>>(query)
                .ok()?
                .remove("token")
                // `?token=` with nothing after it is no token at all.
                .filter(|token| !token.trim().is_empty())
        });
        // A token in the query (or the AI agent's bearer token) is the caller.
        if let Some(token) = query_token {
            return match state.app.caller(&token).await? {
                Some(caller) => Ok(Self(caller)),
                None => Err(app::Error::Unauthenticated("that token is not valid").into()),
            };
        }
        if let Some(token) = auth::bearer(&parts.headers)
            && let Some(caller @ Caller::Agent(_)) = state.app.caller(token).await?
        {
            return Ok(Self(caller));
        }
        if auth::bearer(&parts.headers).is_none() && !same_origin(&parts.headers) {
            return Err(app::Error::Forbidden(
                "live connections by cookie must come from this site",
            )
            .into());
        }
        let CurrentUser { caller, .. } = CurrentUser::from_request_parts(parts, state).await?;
        Ok(Self(caller))
    }
}

/// A missing `Origin` (not a browser) is fine; a present one must name our host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|value| value.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, origin_host)| origin_host == host)
}

async fn upgrade(
    State(state): State<AppState>,
    LiveCaller(caller): LiveCaller,
    socket: WebSocketUpgrade,
) -> Response {
    // The assistant's worker holds one connection per session it serves.
    let held = if caller.is_agent() {
        None
    } else {
        let limit = state.live_limits.connections_per_person;
        match state.live_holders.hold(&caller.user().id, limit) {
            Some(held) => Some(held),
            None => {
                return ApiError::TooManyConnections(format!(
                    "at most {limit} live connections per person; close one first"
                ))
                .into_response();
            }
        }
    };
    socket
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            let connections = state.live_connections.clone();
            connections.track_future(async move {
                Connection::new(state, caller).run(socket).await;
                drop(held);
            })
        })
        .into_response()
}

struct Subscription {
    query: Query,
    /// Pushes sent, the version of queries that have no session version.
    pushes: i64,
}

struct Connection {
    state: AppState,
    /// Who holds this connection; for its whole life.
    caller: Caller,
    subscriptions: HashMap<String, Subscription>,
    results: StreamMap<String, WatchStream<Option<Arc<Snapshot>>>>,
    /// The sessions this connection's subscriptions are about, and whether the
    /// person is present in each: only while they are joined to it.
    watching: Watching,
    /// The participants of each watched session, followed so that joining
    /// or leaving while watching starts or ends presence.
    rosters: StreamMap<Id, WatchStream<Option<Arc<Snapshot>>>>,
    /// Subscribes and unsubscribes allowed per second: churn is refused, never
    /// turned into work for the store.
    churn: governor::DefaultDirectRateLimiter,
    /// The media this connection holds, and its signalling, on a task
    /// beside the connection.
    media: media::Signalling,
}

impl Connection {
    fn new(state: AppState, caller: Caller) -> Self {
        Self {
            media: media::Signalling::default(),
            caller,
            subscriptions: HashMap::new(),
            results: StreamMap::new(),
            watching: Watching::default(),
            rosters: StreamMap::new(),
            churn: governor::RateLimiter::direct(governor::Quota::per_second(
                state.live_limits.subscriptions_per_second,
            )),
            state,
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        // Held before asking the store, so a sign-out is either seen by the
        // question or heard while the connection runs.
        let sign_out = self
            .caller
            .token_hash()
            .map(|token_hash| self.state.hub.hold_token(token_hash));
        if sign_out.is_some()
            && matches!(
                self.state.app.still_signed_in(&self.caller).await,
                Ok(false)
            )
        {
            let _ = socket.send(signed_out_frame()).await;
            return;
        }
        let shutdown = self.state.shutdown.clone();
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        let mut last_heard = Instant::now();
        loop {
            let outgoing = tokio::select! {
                incoming = socket.recv() => match incoming {
                    Some(Ok(message)) => {
                        last_heard = Instant::now();
                        match message {
                            Message::Text(text) => self.handle(text).await,
                            Message::Binary(_) => Some(error_message(None, &ApiError::BadRequest("send JSON text frames".into()))),
                            Message::Close(_) => break,
                            Message::Ping(_) | Message::Pong(_) => None,
                        }
                    }
                    Some(Err(_)) | None => break,
                },
                Some((id, snapshot)) = self.results.next() => self.result_message(&id, snapshot),
                Some((session_id, snapshot)) = self.rosters.next() => {
                    self.roster_changed(&session_id, snapshot.as_deref()).await;
                    None
                }
                () = until(self.watching.next_due()) => {
                    self.let_go_idle().await;
                    None
                }
                message = self.media.next() => Some(message),
                _ = ping.tick() => {
                    if last_heard.elapsed() > SILENT_LIMIT {
                        break;
                    }
                    if socket.send(Message::Ping(Default::default())).await.is_err() {
                        break;
                    }
                    None
                }
                () = shutdown.cancelled() => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                () = signed_out(sign_out.as_ref()) => {
                    let _ = socket.send(signed_out_frame()).await;
                    break;
                }
            };
            if let Some(text) = outgoing
                && socket.send(Message::Text(text)).await.is_err()
            {
                break;
            }
        }
        std::mem::take(&mut self.media).close().await;
        for session_id in self.watching.close() {
            self.state
                .presence
                .depart(&session_id, &self.caller.user().id)
                .await;
        }
    }

    /// Handles one client message; returns the immediate answer, if any.
    async fn handle(&mut self, text: Utf8Bytes) -> Option<Utf8Bytes> {
        if protocol::media::is_media(&text) {
            return self.media.send(&self.state, &self.caller, text);
        }
        let message = match serde_json::from_str::<ClientMessage>(&text) {
            Ok(message) => message,
            Err(error) => {
                let message = error.to_string();
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_owned();
                return Some(error_message(
                    None,
                    &ApiError::BadRequest(format!("malformed message: {message}")),
                ));
            }
        };
        match message {
            ClientMessage::Ping => Some(encode(&ServerMessage::Pong)),
            ClientMessage::Unsubscribe { id } => {
                if self.churn.check().is_err() {
                    return Some(self.churn_refused(&id));
                }
                self.unsubscribe(&id);
                None
            }
            ClientMessage::Subscribe { id, .. } if self.churn.check().is_err() => {
                Some(self.churn_refused(&id))
            }
            ClientMessage::Subscribe { id, query } => match self.subscribe(&id, &query).await {
                Ok(()) => None,
                Err(error) => Some(error_message(Some(&id), &error)),
            },
        }
    }

    async fn subscribe(&mut self, id: &str, text: &str) -> Result<(), ApiError> {
        if id.is_empty() || id.chars().count() > 64 {
            return Err(ApiError::invalid("id", "must be 1 to 64 characters"));
        }
        if self.subscriptions.contains_key(id) {
            return Err(ApiError::invalid(
                "id",
                "is already in use on this connection",
            ));
        }
        if self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            return Err(ApiError::BadRequest(format!(
                "at most {MAX_SUBSCRIPTIONS} subscriptions per connection"
            )));
        }
        let query = Query::parse(text, self.caller.user())?;
        query.authorize(&self.state.app, &self.caller).await?;
        if let Some(session_id) = query.session_id()
            && self.watching.watch(session_id)
        {
            self.follow_roster(session_id).await;
        }
        let results = self.state.hub.watch(&self.state, query.clone());
        self.results
            .insert(id.to_owned(), WatchStream::new(results));
        self.subscriptions
            .insert(id.to_owned(), Subscription { query, pushes: 0 });
        Ok(())
    }

    fn unsubscribe(&mut self, id: &str) {
        self.results.remove(id);
        let Some(subscription) = self.subscriptions.remove(id) else {
            return;
        };
        if let Some(session_id) = subscription.query.session_id() {
            self.watching.unwatch(session_id, Instant::now());
        }
    }

    fn churn_refused(&self, id: &str) -> Utf8Bytes {
        let per_second = self.state.live_limits.subscriptions_per_second;
        encode(&ServerMessage::Error {
            id: Some(id.to_owned()),
            error: protocol::live::ErrorDetail {
                code: "rate_limited".into(),
                message: format!(
                    "at most {per_second} subscribes and unsubscribes a second; try again in a moment"
                ),
                field: None,
            },
        })
    }

    /// Starts following the participants of a session this connection now
    /// watches. The first roster is awaited (briefly), so a joined person is
    /// present by the time their subscription answers.
    async fn follow_roster(&mut self, session_id: &Id) {
        let mut roster = self
            .state
            .hub
            .watch(&self.state, Query::Participants(session_id.clone()));
        let first = tokio::time::timeout(FIRST_ROSTER_WITHIN, roster.wait_for(Option::is_some))
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|snapshot| snapshot.clone());
        if let Some(snapshot) = first {
            self.roster_changed(session_id, Some(&snapshot)).await;
        }
        self.rosters
            .insert(session_id.clone(), WatchStream::new(roster));
    }

    /// Arrives or departs as the person's place in the session's roster says.
    async fn roster_changed(&mut self, session_id: &Id, snapshot: Option<&Snapshot>) {
        let Some(snapshot) = snapshot else { return };
        let joined = query::joined(snapshot, &self.caller.user().id);
        if let Some(change) = self.watching.roster(session_id, joined) {
            self.tell_presence(change).await;
        }
    }

    /// Lets go of the sessions no subscription has watched for a while.
    async fn let_go_idle(&mut self) {
        for (session_id, change) in self.watching.let_go(Instant::now()) {
            self.rosters.remove(&session_id);
            if let Some(change) = change {
                self.tell_presence(change).await;
            }
        }
    }

    async fn tell_presence(&self, change: Change) {
        let user_id = &self.caller.user().id;
        match change {
            Change::Arrive(session_id) => self.state.presence.arrive(&session_id, user_id).await,
            Change::Depart(session_id) => self.state.presence.depart(&session_id, user_id).await,
        }
    }

    fn result_message(&mut self, id: &str, snapshot: Option<Arc<Snapshot>>) -> Option<Utf8Bytes> {
        let snapshot = snapshot?;
        let subscription = self.subscriptions.get_mut(id)?;
        subscription.pushes += 1;
        let version = snapshot.version.unwrap_or(subscription.pushes);
        Some(encode(&ServerMessage::Result {
            id: id.to_owned(),
            query: subscription.query.to_string(),
            version,
            data: &snapshot.data,
        }))
    }
}

/// Completes at `deadline`; never without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Completes when the connection's token is revoked; never for the agent's.
async fn signed_out(sign_out: Option<&hub::SignOut>) {
    match sign_out {
        Some(sign_out) => sign_out.signed_out().await,
        None => std::future::pending().await,
    }
}

/// How a signed-out connection ends: a close the page can tell from a lost connection.
fn signed_out_frame() -> Message {
    Message::Close(Some(CloseFrame {
        code: protocol::live::SIGNED_OUT_CLOSE_CODE,
        reason: "signed out".into(),
    }))
}

fn encode(message: &ServerMessage<'_>) -> Utf8Bytes {
    serde_json::to_string(message)
        .expect("live messages serialize")
        .into()
}

fn error_message(id: Option<&str>, error: &ApiError) -> Utf8Bytes {
    encode(&ServerMessage::Error {
        id: id.map(str::to_owned),
        error: error.detail(),
    })
}

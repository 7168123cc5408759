//! The agent worker: puts the assistant into every active session whose
//! assistant is on, and takes it out when switched off.
//!
//! It talks to the server only through its API, with the agent token: the
//! live WebSocket (`agent:sessions` says which sessions want the assistant,
//! `chat:{id}` brings typed questions) and the `/internal/…` endpoints
//! (claim, join, context, status, chat, AI log). So the worker inside
//! `lockin serve` and a `lockin agent --server URL` process are the same
//! code, and several workers can share the sessions: **a session is served
//! only by the worker holding its claim**, renewed every 10 s with a 30 s
//! lease, so a dead worker's sessions move on within 30–40 s.
//!
//! # Layout
//!
//! - [`Worker::run`]: the subscription to `agent:sessions`; starts and stops
//!   one task per listed session.
//! - `session`: one session's task: claim, join, the agent's session task,
//!   typed questions, status reports, interactions to the AI log, leaving.
//! - `media`: the assistant's peer connection in a session's media, an
//!   [`sfu::client`] peer: its voice out, every other speaker's microphone
//!   in.
//! - `summary`: the written summaries of ended sessions, one task beside
//!   the sessions' (claimed like a session, held to the facts by the server).
//! - `api`, `live`: the HTTP and WebSocket clients. What they send and read
//!   is the `protocol` crate's messages and the domain's records, never
//!   untyped JSON.
//! - `chat`: which chat messages are questions.

mod api;
mod chat;
mod live;
mod media;
mod session;
mod summary;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use domain::session::Session;
use protocol::live::ServerMessage;
use secrecy::SecretString;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

pub use api::ServerApi;
pub use chat::question_in;
use live::{LiveConnection, Push};
use session::SessionJob;
use summary::SummaryWriter;

use crate::agent::Agent;
use crate::providers::AgentConfig;

/// How long the worker waits before connecting again after losing the
/// server, at first and at most.
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// How long stopped sessions may take to leave when the worker shuts down.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// What a worker needs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The server's base URL, `http(s)://host:port` (no path).
    pub server_url: String,
    /// The server's agent token (`data_dir/agent_token` or its configuration).
    pub agent_token: SecretString,
    /// This worker's name in claims: unique among running workers, stable
    /// while this one runs (e.g. `hostname-pid`).
    pub worker_id: String,
    /// The engines the assistant answers with.
    pub agent: AgentConfig,
}

/// A running session task and the switch that stops it.
struct Served {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

pub struct Worker;

impl Worker {
    /// Loads the engines of `config.agent`, then serves sessions until
    /// `shutdown` completes. Errors only when the engines cannot load; a
    /// server that is down is waited for.
    pub async fn run(
        config: WorkerConfig,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let agent = Agent::new(config.agent.clone())
            .await
            .context("loading the assistant's engines")?;
        Self::run_with_agent(config, agent, shutdown).await
    }

    /// [`Worker::run`] with engines already loaded (tests give scripted ones;
    /// `config.agent` is then not read).
    pub async fn run_with_agent(
        config: WorkerConfig,
        agent: Agent,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let api = ServerApi::new(&config.server_url, config.agent_token.clone())?;
        let mut served: HashMap<String, Served> = HashMap::new();
        // Summaries are written beside the sessions, nudged whenever the
        // list of sessions changes (a session that ends leaves it).
        let nudge = Arc::new(Notify::new());
        let summaries = tokio::spawn(
            SummaryWriter {
                api: api.clone(),
                worker_id: config.worker_id.clone(),
                agent: agent.clone(),
            }
            .run(Arc::clone(&nudge)),
        );
        let mut backoff = RECONNECT_FIRST;
        tokio::pin!(shutdown);
        'connect: loop {
            let connected = tokio::select! {
                _ = &mut shutdown => break 'connect,
                connected = LiveConnection::connect(&api) => connected,
            };
            let mut live = match connected {
                Ok(mut live) => match live.subscribe("sessions", "agent:sessions").await {
                    Ok(()) => live,
                    Err(error) => {
                        tracing::warn!(error = %format!("{error:#}"), "subscribing to agent:sessions failed");
                        continue 'connect;
                    }
                },
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), retry_in = ?backoff, "the agent worker cannot reach the server");
                    tokio::select! {
                        _ = &mut shutdown => break 'connect,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(RECONNECT_MAX);
                    continue 'connect;
                }
            };
            tracing::info!(worker = %config.worker_id, "the agent worker is connected");
            loop {
                let push = tokio::select! {
                    _ = &mut shutdown => break 'connect,
                    push = live.next() => push,
                };
                match push {
                    Ok(Some(Push::Live(ServerMessage::Result { id, data, .. })))
                        if id == "sessions" =>
                    {
                        backoff = RECONNECT_FIRST;
                        nudge.notify_one();
                        let wanted = session_ids(data);
                        reconcile(&mut served, &wanted, |session_id, stop| SessionJob {
                            session_id: session_id.to_string(),
                            worker_id: config.worker_id.clone(),
                            api: api.clone(),
                            agent: agent.clone(),
                            stop,
                        });
                    }
                    Ok(Some(Push::Live(ServerMessage::Error { error, .. }))) => {
                        tracing::error!(code = %error.code, error = %error.message, "the server refused the agent's subscription")
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        // Sessions keep running; the next result after
                        // reconnecting says which to stop.
                        tracing::warn!("the agent worker lost the live connection");
                        continue 'connect;
                    }
                }
            }
        }
        summaries.abort();
        // Leave every room before going.
        let tasks: Vec<JoinHandle<()>> = served
            .drain()
            .map(|(_, s)| {
                let _ = s.stop.send(());
                s.task
            })
            .collect();
        let _ = tokio::time::timeout(SHUTDOWN_DEADLINE, futures::future::join_all(tasks)).await;
        Ok(())
    }
}

/// Starts a task for each wanted session not served yet and stops those no
/// longer wanted (they leave the room at once).
fn reconcile(
    served: &mut HashMap<String, Served>,
    wanted: &[String],
    new_job: impl Fn(&str, oneshot::Receiver<()>) -> SessionJob,
) {
    served.retain(|id, s| {
        let keep = wanted.contains(id) && !s.task.is_finished();
        if !keep {
            tracing::info!(session = %id, "the assistant leaves");
        }
        keep
    });
    // `retain` dropped the stop senders of removed sessions: a dropped
    // sender wakes the receiver just as a sent stop does.
    for id in wanted {
        if served.contains_key(id) {
            continue;
        }
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(new_job(id, stopped).run());
        served.insert(id.clone(), Served { stop, task });
    }
}

/// The ids of the `agent:sessions` result: the sessions the assistant serves.
fn session_ids(data: serde_json::Value) -> Vec<String> {
    match serde_json::from_value::<Vec<Session>>(data) {
        Ok(sessions) => sessions
            .into_iter()
            .map(|session| session.id.as_str().to_owned())
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "an unreadable list of sessions");
            Vec::new()
        }
    }
}

//! The server's agent API (`/internal/…`), called with the agent token. The
//! worker never touches the store: everything it reads or writes goes
//! through here, so a worker in another process works the same as one
//! inside `lockin serve`.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;
use domain::recap::{SessionSummary, SummaryFacts};
use domain::room::RoomCommand;
use domain::session::{AgentStatus, Participant};
use protocol::internal::{
    AgentContext, AgentMessage, Claimed, LogInteractionInternal, RoomReply, RoomRequest,
    StatusReport, SummaryReport, WorkerClaim,
};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How long one API call may take before the worker gives up on it.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A refusal from the server, kept apart from transport failures so callers
/// can tell "the session has ended" (409) from "the server is unreachable".
#[derive(Debug, thiserror::Error)]
#[error("{call}: HTTP status {status}: {body}")]
pub struct Refused {
    pub call: String,
    pub status: u16,
    pub body: String,
}

/// A client of the server's agent endpoints.
#[derive(Clone)]
pub struct ServerApi {
    /// `http(s)://host:port`, without a trailing slash.
    base: String,
    token: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for ServerApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl ServerApi {
    pub fn new(server_url: &str, token: SecretString) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            base: server_url.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    /// `ws(s)://…/api/live`.
    pub fn live_url(&self) -> String {
        let base = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.base.clone()
        };
        format!("{base}/api/live")
    }

    /// The server's IP address, from the host of its URL: media goes to the
    /// same machine (or at least by the same route), so the media socket's
    /// host candidate is the local address that reaches it.
    pub async fn server_ip(&self) -> anyhow::Result<IpAddr> {
        let url = url::Url::parse(&self.base).context("the server URL")?;
        let host = url.host_str().context("a server URL without a host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut addrs = tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("resolving {host}"))?;
        addrs
            .next()
            .map(|addr| addr.ip())
            .with_context(|| format!("{host} has no address"))
    }

    pub fn token(&self) -> &SecretString {
        &self.token
    }

    /// Sends `body` (if any); a refusal is an error ([`Refused`]).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<Answer> {
        let label = format!("{method} {path}");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token.expose_secret());
        if let Some(body) = body {
            request = request.json(body);
        }
        // reqwest errors carry the URL, which is harmless here (no key in it),
        // but the token is in a header and never printed.
        let response = request.send().await.with_context(|| label.clone())?;
        let status = response.status();
        let text = response.text().await.with_context(|| label.clone())?;
        if !status.is_success() {
            return Err(Refused {
                call: label,
                status: status.as_u16(),
                body: text.chars().take(300).collect(),
            }
            .into());
        }
        Ok(Answer { call: label, text })
    }

    /// Posts `body` (if any) to one of a session's actions, whose answer the
    /// worker does not need.
    async fn post_to_session(
        &self,
        session_id: &str,
        action: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<()> {
        let path = on_session(session_id, action);
        self.send(Method::POST, &path, body).await.map(drop)
    }

    /// Takes (or renews) this worker's claim on a session. `Ok(false)`:
    /// another worker serves it.
    pub async fn claim(
        &self,
        session_id: &str,
        worker_id: &str,
        lease: Duration,
    ) -> anyhow::Result<bool> {
        self.claim_on(session_id, "claim", worker_id, lease).await
    }

    /// Takes (or renews) one of a session's claims (`POST
    /// /internal/sessions/{id}/{action}`) for `lease`.
    async fn claim_on(
        &self,
        session_id: &str,
        action: &str,
        worker_id: &str,
        lease: Duration,
    ) -> anyhow::Result<bool> {
        let claim = WorkerClaim {
            worker_id: worker_id.to_owned(),
            lease_seconds: Some(lease.as_secs().max(1)),
        };
        let path = on_session(session_id, action);
        let reply: Claimed = self.send(Method::POST, &path, Some(&claim)).await?.read()?;
        Ok(reply.claimed)
    }

    pub async fn release(&self, session_id: &str, worker_id: &str) -> anyhow::Result<()> {
        let claim = WorkerClaim {
            worker_id: worker_id.to_owned(),
            lease_seconds: None,
        };
        self.post_to_session(session_id, "release", Some(&claim))
            .await
    }

    /// Joins as the assistant; answers the assistant's participant record.
    pub async fn join(&self, session_id: &str) -> anyhow::Result<Participant> {
        self.send(Method::POST, &on_session(session_id, "join"), None::<&()>)
            .await?
            .read()
    }

    pub async fn leave(&self, session_id: &str) -> anyhow::Result<()> {
        self.post_to_session(session_id, "leave", None::<&()>).await
    }

    pub async fn report_status(&self, session_id: &str, status: AgentStatus) -> anyhow::Result<()> {
        let report = StatusReport { status };
        self.post_to_session(session_id, "agent-status", Some(&report))
            .await
    }

    pub async fn context(&self, session_id: &str) -> anyhow::Result<AgentContext> {
        let path = on_session(session_id, "context");
        let answer = self.send(Method::GET, &path, None::<&()>).await;
        answer
            .and_then(Answer::read)
            .context("reading the session's context")
    }

    /// Says `body` in the session's chat as the assistant.
    pub async fn say_in_chat(&self, session_id: &str, body: &str) -> anyhow::Result<()> {
        let message = AgentMessage {
            body: body.to_owned(),
        };
        self.post_to_session(session_id, "messages", Some(&message))
            .await
    }

    /// Has the server answer a question about the room, asked by `user_id`
    /// (and act on it as them).
    pub async fn room(
        &self,
        session_id: &str,
        user_id: &str,
        command: RoomCommand,
    ) -> anyhow::Result<RoomReply> {
        let path = on_session(session_id, "room");
        let request = RoomRequest {
            user_id: user_id.to_owned(),
            command,
        };
        let answer = self.send(Method::POST, &path, Some(&request)).await;
        answer
            .and_then(Answer::read)
            .context("answering a room question")
    }

    /// The ended sessions whose summary waits for a worker.
    pub async fn summaries_wanted(&self) -> anyhow::Result<Vec<String>> {
        self.send(Method::GET, "/internal/summaries", None::<&()>)
            .await?
            .read()
    }

    /// Takes (or renews) this worker's claim on a session's summary.
    /// `Ok(false)`: another worker is writing it.
    pub async fn claim_summary(
        &self,
        session_id: &str,
        worker_id: &str,
        lease: Duration,
    ) -> anyhow::Result<bool> {
        self.claim_on(session_id, "summary/claim", worker_id, lease)
            .await
    }

    /// What an ended session's summary may say.
    pub async fn summary_facts(&self, session_id: &str) -> anyhow::Result<SummaryFacts> {
        let path = on_session(session_id, "summary-facts");
        self.send(Method::GET, &path, None::<&()>).await?.read()
    }

    /// Posts the model's summary; answers the one the server kept.
    pub async fn write_summary(
        &self,
        session_id: &str,
        report: &SummaryReport,
    ) -> anyhow::Result<SessionSummary> {
        let path = on_session(session_id, "summary");
        self.send(Method::POST, &path, Some(report)).await?.read()
    }

    /// Stores one interaction in the session's AI log.
    pub async fn log_interaction(&self, entry: &LogInteractionInternal) -> anyhow::Result<()> {
        self.send(Method::POST, "/internal/ai-logs", Some(entry))
            .await
            .map(drop)
    }
}

/// A call's answer, a success.
struct Answer {
    /// The call, as `POST /internal/…`.
    call: String,
    text: String,
}

impl Answer {
    /// The answer read as `T`.
    fn read<T: DeserializeOwned>(self) -> anyhow::Result<T> {
        serde_json::from_str(&self.text)
            .with_context(|| format!("{}: reading the answer", self.call))
    }
}

/// Where the calls about one session go.
fn on_session(session_id: &str, what: &str) -> String {
    format!("/internal/sessions/{session_id}/{what}")
}

/// The HTTP status of a refusal, if `error` is one.
pub fn refused_status(error: &anyhow::Error) -> Option<u16> {
    error.downcast_ref::<Refused>().map(|r| r.status)
}

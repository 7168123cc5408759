//! The worker's side of the live WebSocket (`/api/live`): subscribe to named
//! queries, read their results. Authenticated with the agent token in an
//! `Authorization` header (never in the URL, which proxies log).

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::api::ServerApi;

/// What the server pushes that the worker acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Push {
    /// A query's full result.
    Result { id: String, data: Value },
    /// A subscription refused, or a message not understood.
    Error { id: Option<String>, error: Value },
    /// Any other message (media signalling, pongs): the whole JSON.
    Other(Value),
}

pub struct LiveConnection {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl LiveConnection {
    pub async fn connect(api: &ServerApi) -> anyhow::Result<Self> {
        let mut request = api
            .live_url()
            .into_client_request()
            .context("the live URL")?;
        let bearer = HeaderValue::from_str(&format!("Bearer {}", api.token().expose_secret()))
            .context("the agent token is not a valid header value")?;
        request.headers_mut().insert("authorization", bearer);
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .context("connecting to the live WebSocket")?;
        Ok(Self { socket })
    }

    pub async fn send(&mut self, message: &Value) -> anyhow::Result<()> {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .context("sending on the live WebSocket")
    }

    pub async fn subscribe(&mut self, id: &str, query: &str) -> anyhow::Result<()> {
        self.send(&json!({"type": "subscribe", "id": id, "query": query}))
            .await
    }

    /// The next push; `None` when the server closed the connection.
    pub async fn next(&mut self) -> anyhow::Result<Option<Push>> {
        while let Some(frame) = self.socket.next().await {
            let text = match frame.context("reading the live WebSocket")? {
                Message::Text(text) => text,
                Message::Close(_) => return Ok(None),
                // tungstenite answers pings itself.
                _ => continue,
            };
            let value: Value = match serde_json::from_str(text.as_str()) {
                Ok(value) => value,
                Err(error) => {
                    tracing::warn!(%error, "unreadable live message");
                    continue;
                }
            };
            let push = match value["type"].as_str() {
                Some("result") => Push::Result {
                    id: value["id"].as_str().unwrap_or_default().to_string(),
                    data: value["data"].clone(),
                },
                Some("error") => Push::Error {
                    id: value["id"].as_str().map(str::to_string),
                    error: value["error"].clone(),
                },
                _ => Push::Other(value),
            };
            return Ok(Some(push));
        }
        Ok(None)
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

//! The worker's side of the live WebSocket (`/api/live`): subscribe to named
//! queries, read their results. Authenticated with the agent token in an
//! `Authorization` header (never in the URL, which proxies log).

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use protocol::live::{ClientMessage, ServerMessage};
use secrecy::ExposeSecret;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::api::ServerApi;

/// What the server pushes: a live query's message, or a `media.*` one.
#[derive(Debug, Clone, PartialEq)]
pub enum Push {
    Live(ServerMessage),
    Media(protocol::media::ServerMessage),
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

    /// Sends a live or a `media.*` message.
    pub async fn send(&mut self, message: &impl Serialize) -> anyhow::Result<()> {
        let text = serde_json::to_string(message).context("encoding a live message")?;
        self.socket
            .send(Message::text(text))
            .await
            .context("sending on the live WebSocket")
    }

    pub async fn subscribe(&mut self, id: &str, query: &str) -> anyhow::Result<()> {
        self.send(&ClientMessage::subscribe(id, query)).await
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
            let push = if protocol::media::is_media(text.as_str()) {
                serde_json::from_str(text.as_str()).map(Push::Media)
            } else {
                serde_json::from_str(text.as_str()).map(Push::Live)
            };
            let push = match push {
                Ok(push) => push,
                Err(error) => {
                    tracing::warn!(%error, "unreadable live message");
                    continue;
                }
            };
            return Ok(Some(push));
        }
        Ok(None)
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

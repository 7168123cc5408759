//! Deepgram's streaming speech-to-text over a WebSocket:
//! `wss://api.deepgram.com/v1/listen?model=…&encoding=linear16&sample_rate=16000&channels=1`
//! with header `Authorization: Token KEY`; binary frames of audio, then
//! `{"type":"CloseStream"}`; the server answers
//! `{"type":"Results","is_final":…,"channel":{"alternatives":[{"transcript","confidence"}]}}`
//! messages, then `{"type":"Metadata",…}`, and closes.
//!
//! One connection per utterance: the pipeline hands over an utterance when
//! it ends, so the audio goes out as fast as the socket takes it.

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::{SpeechToText, Transcript};
use crate::audio::s16le_bytes;
use crate::providers::ProviderError;

/// 100 ms of audio per WebSocket frame.
const CHUNK_SAMPLES: usize = 1600;

#[derive(Debug, Clone)]
pub struct Deepgram {
    /// `wss://…/v1/listen` without a query.
    url: String,
    api_key: SecretString,
    model: String,
}

impl Deepgram {
    pub fn new(url: &str, api_key: SecretString, model: &str) -> Self {
        Self {
            url: url.to_string(),
            api_key,
            model: model.to_string(),
        }
    }

    fn listen_url(&self) -> String {
        format!(
            "{}?model={}&encoding=linear16&sample_rate=16000&channels=1&punctuate=true&smart_format=true",
            self.url,
            self.model.replace(
                |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
                ""
            )
        )
    }
}

#[derive(Deserialize)]
struct Message_ {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    is_final: bool,
    #[serde(default)]
    channel: Option<Channel>,
}

#[derive(Deserialize)]
struct Channel {
    #[serde(default)]
    alternatives: Vec<Alternative>,
}

#[derive(Deserialize)]
struct Alternative {
    #[serde(default)]
    transcript: String,
    #[serde(default)]
    confidence: Option<f32>,
}

fn ws_error(error: tokio_tungstenite::tungstenite::Error) -> ProviderError {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        Error::Http(response) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).chars().take(300).collect())
                .unwrap_or_default();
            ProviderError::Status { status, body }
        }
        other => ProviderError::Connection(other.to_string()),
    }
}

#[async_trait]
impl SpeechToText for Deepgram {
    fn name(&self) -> &'static str {
        "deepgram"
    }

    async fn transcribe(&self, pcm: &[i16]) -> Result<Transcript, ProviderError> {
        let mut request = self
            .listen_url()
            .into_client_request()
            .map_err(|e| ProviderError::Connection(format!("bad Deepgram URL: {e}")))?;
        let token = HeaderValue::from_str(&format!("Token {}", self.api_key.expose_secret()))
            .map_err(|_| {
                ProviderError::Connection("the Deepgram key is not a valid header value".into())
            })?;
        request.headers_mut().insert("Authorization", token);
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(ws_error)?;
        let (mut sink, mut stream) = socket.split();

        // Send everything, then ask the server to finish. Reading runs at the
        // same time so a server that answers early is not blocked.
        let audio: Vec<Vec<u8>> = pcm.chunks(CHUNK_SAMPLES).map(s16le_bytes).collect();
        let send = async move {
            for chunk in audio {
                sink.send(Message::Binary(chunk.into()))
                    .await
                    .map_err(ws_error)?;
            }
            sink.send(Message::Text(r#"{"type":"CloseStream"}"#.into()))
                .await
                .map_err(ws_error)?;
            Ok::<_, ProviderError>(sink)
        };
        let receive = async move {
            let mut finals: Vec<String> = Vec::new();
            let mut confidences: Vec<f32> = Vec::new();
            while let Some(message) = stream.next().await {
                match message.map_err(ws_error)? {
                    Message::Text(text) => {
                        let message: Message_ = serde_json::from_str(&text).map_err(|e| {
                            ProviderError::Protocol(format!("bad Deepgram message: {e}"))
                        })?;
                        match message.kind.as_str() {
                            "Results" if message.is_final => {
                                if let Some(best) = message
                                    .channel
                                    .and_then(|c| c.alternatives.into_iter().next())
                                {
                                    if !best.transcript.trim().is_empty() {
                                        finals.push(best.transcript.trim().to_string());
                                    }
                                    confidences.extend(best.confidence);
                                }
                            }
                            // The summary comes after the last result.
                            "Metadata" => return Ok((finals, confidences)),
                            _ => {}
                        }
                    }
                    Message::Close(_) => return Ok((finals, confidences)),
                    _ => {}
                }
            }
            Err(ProviderError::Connection(
                "Deepgram closed the connection before the final transcript".into(),
            ))
        };
        let (sent, received) = tokio::join!(send, receive);
        let (finals, confidences) = received?;
        if let Ok(mut sink) = sent {
            let _ = sink.close().await;
        }
        let confidence = (!confidences.is_empty())
            .then(|| confidences.iter().sum::<f32>() / confidences.len() as f32);
        Ok(Transcript {
            text: finals.join(" "),
            confidence,
        })
    }
}

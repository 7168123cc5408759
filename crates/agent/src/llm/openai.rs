//! Any OpenAI-compatible chat-completions endpoint (OpenAI, Cloudflare
//! Workers AI, Ollama, llama.cpp's server), streamed as server-sent events:
//! `data: {"choices":[{"delta":{"content":"…"}}]}` lines, then
//! `data: [DONE]`.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{LanguageModel, TextStream};
use crate::prompt::ChatPrompt;
use crate::providers::{Endpoint, ProviderError};

/// Client of one endpoint and model.
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    /// Up to and including `/v1`.
    endpoint: Endpoint,
    api_key: Option<SecretString>,
    model: String,
}

impl OpenAiCompatible {
    pub fn new(
        base_url: &str,
        api_key: Option<SecretString>,
        model: &str,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            endpoint: Endpoint::new(base_url, connect_timeout),
            api_key,
            model: model.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

#[async_trait]
impl LanguageModel for OpenAiCompatible {
    fn name(&self) -> &'static str {
        "openai"
    }

    async fn stream(
        &self,
        prompt: &ChatPrompt,
        max_tokens: usize,
    ) -> Result<TextStream, ProviderError> {
        let body = serde_json::json!({
            "model": self.model,
            "messages": prompt.all_messages(),
            "stream": true,
            "max_tokens": max_tokens,
            "temperature": 0.3,
        });
        let mut request = self.endpoint.post("/chat/completions").json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = self.endpoint.send(request).await?;
        let bytes = response.bytes_stream();
        let events = futures::stream::unfold(
            (bytes, SseLines::default(), false),
            |(mut bytes, mut lines, mut done)| async move {
                loop {
                    if done {
                        return None;
                    }
                    if let Some(line) = lines.next_line() {
                        match parse_sse_line(&line) {
                            SseItem::Text(text) => return Some((Ok(text), (bytes, lines, done))),
                            SseItem::Done => done = true,
                            SseItem::Skip => {}
                            SseItem::Error(error) => {
                                return Some((Err(error), (bytes, lines, true)));
                            }
                        }
                        continue;
                    }
                    match bytes.next().await {
                        Some(Ok(chunk)) => lines.push(&chunk),
                        Some(Err(error)) => {
                            return Some((
                                Err(ProviderError::from_reqwest(error)),
                                (bytes, lines, true),
                            ));
                        }
                        None => {
                            // The server closed without `[DONE]`: the answer
                            // may be cut, so say so rather than end quietly.
                            return Some((
                                Err(ProviderError::Protocol(
                                    "the stream ended before [DONE]".into(),
                                )),
                                (bytes, lines, true),
                            ));
                        }
                    }
                }
            },
        );
        Ok(events.boxed())
    }
}

/// Splits a byte stream into lines (events may arrive cut anywhere).
#[derive(Default)]
struct SseLines {
    buffer: Vec<u8>,
}

impl SseLines {
    fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    fn next_line(&mut self) -> Option<String> {
        let end = self.buffer.iter().position(|&b| b == b'\n')?;
        let line: Vec<u8> = self.buffer.drain(..=end).collect();
        Some(
            String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        )
    }
}

enum SseItem {
    Text(String),
    Done,
    Skip,
    Error(ProviderError),
}

fn parse_sse_line(line: &str) -> SseItem {
    let Some(data) = line.strip_prefix("data:") else {
        // Comments (`: keep-alive`), `event:` and blank separators.
        return SseItem::Skip;
    };
    let data = data.trim();
    if data == "[DONE]" {
        return SseItem::Done;
    }
    match serde_json::from_str::<Chunk>(data) {
        Ok(chunk) => match chunk.choices.into_iter().find_map(|c| c.delta.content) {
            Some(text) if !text.is_empty() => SseItem::Text(text),
            _ => SseItem::Skip,
        },
        Err(error) => SseItem::Error(ProviderError::Protocol(format!("bad event: {error}"))),
    }
}

//! ElevenLabs' streaming speech API:
//! `POST {base}/v1/text-to-speech/{voice_id}/stream?output_format=pcm_16000`
//! with header `xi-api-key` and body `{"text","model_id"}`; the answer is raw
//! little-endian 16-bit PCM at 16 kHz, streamed.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};

use super::{PcmStream, TextToSpeech};
use crate::audio::S16leDecoder;
use crate::providers::{Endpoint, ProviderError};

#[derive(Debug, Clone)]
pub struct ElevenLabs {
    endpoint: Endpoint,
    api_key: SecretString,
    voice_id: String,
    model_id: String,
}

impl ElevenLabs {
    pub fn new(
        base_url: &str,
        api_key: SecretString,
        voice_id: &str,
        model_id: &str,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            endpoint: Endpoint::new(base_url, connect_timeout),
            api_key,
            voice_id: voice_id.to_string(),
            model_id: model_id.to_string(),
        }
    }
}

#[async_trait]
impl TextToSpeech for ElevenLabs {
    fn name(&self) -> &'static str {
        "elevenlabs"
    }

    async fn synthesize(&self, text: &str) -> Result<PcmStream, ProviderError> {
        let path = format!(
            "/v1/text-to-speech/{}/stream?output_format=pcm_16000",
            urlencode(&self.voice_id)
        );
        let request = self
            .endpoint
            .post(&path)
            .header("xi-api-key", self.api_key.expose_secret())
            .json(&serde_json::json!({ "text": text, "model_id": self.model_id }));
        let response = self.endpoint.send(request).await?;
        let mut decoder = S16leDecoder::default();
        let stream = response.bytes_stream().map(move |chunk| match chunk {
            Ok(bytes) => Ok(decoder.decode(&bytes)),
            Err(error) => Err(ProviderError::from_reqwest(error)),
        });
        Ok(stream.boxed())
    }
}

/// Percent-encodes a path segment (voice ids are alphanumeric, but a
/// configured value must not be able to change the path).
fn urlencode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

//! Which engine does each job, how to reach it, and how a failure reads.
//!
//! Keys come from the configuration or, when absent there, from the
//! environment (`LOCKIN_DEEPGRAM_API_KEY`, `LOCKIN_ELEVENLABS_API_KEY`,
//! `LOCKIN_OPENAI_API_KEY`). **A key is held in a [`Secret`], whose `Debug`
//! and `Display` print `[redacted]` and which cannot be serialised**, so a
//! config dumped to a log or an API response never carries one.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::tts::flite::FliteVoice;

/// A credential. Readable only through [`Secret::expose`], at the one place
/// that puts it in a request header.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a provider call gave no result. The message is safe to log and to
/// store with the interaction: it never contains a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("HTTP status {status}: {body}")]
    Status { status: u16, body: String },
    #[error("connection failed: {0}")]
    Connection(String),
    #[error("unexpected answer: {0}")]
    Protocol(String),
    #[error("{0}")]
    Engine(String),
}

impl ProviderError {
    /// A reqwest error without its URL (query strings can carry account ids).
    pub(crate) fn from_reqwest(error: reqwest::Error) -> Self {
        let error = error.without_url();
        if error.is_timeout() {
            Self::Timeout(Duration::ZERO)
        } else if error.is_decode() || error.is_body() {
            Self::Protocol(error.to_string())
        } else {
            Self::Connection(error.to_string())
        }
    }

    /// Reads an error status's body (cut short) into a `Status` error.
    pub(crate) async fn from_status(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let mut body = response.text().await.unwrap_or_default();
        body.truncate(300);
        Self::Status { status, body }
    }
}

/// Runs `future` with a deadline, turning the elapsed deadline into
/// [`ProviderError::Timeout`].
pub async fn with_timeout<T>(
    limit: Duration,
    future: impl Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    match tokio::time::timeout(limit, future).await {
        // A client's own time-out (reqwest's, which knows no limit) is
        // reported as this one; an inner, tighter limit keeps its value.
        Ok(result) => result.map_err(|e| match e {
            ProviderError::Timeout(Duration::ZERO) => ProviderError::Timeout(limit),
            other => other,
        }),
        Err(_) => Err(ProviderError::Timeout(limit)),
    }
}

/// Speech-to-text provider.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "provider", rename_all = "lowercase", deny_unknown_fields)]
pub enum SttConfig {
    /// Offline: Debian's libpocketsphinx with the en-us model.
    Pocketsphinx {
        #[serde(default = "default_pocketsphinx_dir")]
        model_dir: PathBuf,
    },
    /// Deepgram's streaming WebSocket API.
    Deepgram {
        #[serde(default)]
        api_key: Option<Secret>,
        #[serde(default = "default_deepgram_url")]
        url: String,
        #[serde(default = "default_deepgram_model")]
        model: String,
    },
}

/// Language-model provider.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "provider", rename_all = "lowercase", deny_unknown_fields)]
pub enum LlmConfig {
    /// SmolLM2-135M-Instruct in-process with candle.
    Local {
        /// The GGUF file; `None` looks in `LOCKIN_MODEL_DIR` or `data/models`.
        #[serde(default)]
        model_path: Option<PathBuf>,
    },
    /// Any OpenAI-compatible `/chat/completions` endpoint.
    #[serde(rename = "openai")]
    OpenAi {
        #[serde(default)]
        api_key: Option<Secret>,
        /// Up to and including `/v1` (the client appends `/chat/completions`).
        #[serde(default = "default_openai_base_url")]
        base_url: String,
        #[serde(default = "default_openai_model")]
        model: String,
    },
}

/// Text-to-speech provider.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "provider", rename_all = "lowercase", deny_unknown_fields)]
pub enum TtsConfig {
    /// Offline: Debian's libflite.
    Flite {
        #[serde(default = "default_flite_voice")]
        voice: FliteVoice,
    },
    /// ElevenLabs' streaming HTTP API, raw 16 kHz PCM back.
    #[serde(rename = "elevenlabs")]
    ElevenLabs {
        #[serde(default)]
        api_key: Option<Secret>,
        #[serde(default = "default_elevenlabs_url")]
        base_url: String,
        #[serde(default = "default_elevenlabs_voice")]
        voice_id: String,
        #[serde(default = "default_elevenlabs_model")]
        model_id: String,
    },
}

/// How long each provider may take before the agent gives up and apologises.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    #[serde(with = "millis")]
    pub transcription: Duration,
    /// Until the first token of the answer.
    #[serde(with = "millis")]
    pub first_token: Duration,
    /// For the whole answer.
    #[serde(with = "millis")]
    pub answer: Duration,
    /// Until the first audio of one sentence.
    #[serde(with = "millis")]
    pub speech: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            transcription: Duration::from_secs(10),
            first_token: Duration::from_secs(15),
            answer: Duration::from_secs(60),
            speech: Duration::from_secs(10),
        }
    }
}

/// The whole agent configuration. Every field has a default that works
/// offline: pocketsphinx, the local model, flite.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub stt: SttConfig,
    pub llm: LlmConfig,
    pub tts: TtsConfig,
    /// The phrase that wakes the agent, matched on whole words, any case.
    pub wake_phrase: String,
    /// At most this many tokens in one answer (answers are spoken: short).
    pub max_answer_tokens: usize,
    /// How many earlier questions and answers of the session go in the prompt.
    pub history_turns: usize,
    pub timeouts: Timeouts,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            stt: SttConfig::Pocketsphinx {
                model_dir: default_pocketsphinx_dir(),
            },
            llm: LlmConfig::Local { model_path: None },
            tts: TtsConfig::Flite {
                voice: default_flite_voice(),
            },
            wake_phrase: "hey agent".into(),
            max_answer_tokens: 80,
            history_turns: 3,
            timeouts: Timeouts::default(),
        }
    }
}

/// Errors in the configuration, found before any provider is called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{provider} needs an API key: set {env} or give `api_key` in the configuration")]
    MissingKey {
        provider: &'static str,
        env: &'static str,
    },
    #[error("unknown {what} provider `{value}` (expected {expected})")]
    UnknownProvider {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl AgentConfig {
    /// The defaults, with provider choices and keys read from the
    /// environment: `LOCKIN_AGENT_STT` (`pocketsphinx` | `deepgram`),
    /// `LOCKIN_AGENT_LLM` (`local` | `openai`), `LOCKIN_AGENT_TTS` (`flite` |
    /// `elevenlabs`), `LOCKIN_OPENAI_BASE_URL`, `LOCKIN_OPENAI_MODEL` and the
    /// three `LOCKIN_*_API_KEY`s.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`AgentConfig::from_env`] over any lookup (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(stt) = lookup("LOCKIN_AGENT_STT") {
            config.stt = match stt.as_str() {
                "pocketsphinx" => config.stt,
                "deepgram" => SttConfig::Deepgram {
                    api_key: None,
                    url: default_deepgram_url(),
                    model: default_deepgram_model(),
                },
                other => return Err(unknown("speech-to-text", other, "pocketsphinx or deepgram")),
            };
        }
        if let Some(llm) = lookup("LOCKIN_AGENT_LLM") {
            config.llm = match llm.as_str() {
                "local" => config.llm,
                "openai" => LlmConfig::OpenAi {
                    api_key: None,
                    base_url: default_openai_base_url(),
                    model: default_openai_model(),
                },
                other => return Err(unknown("language model", other, "local or openai")),
            };
        }
        if let Some(tts) = lookup("LOCKIN_AGENT_TTS") {
            config.tts = match tts.as_str() {
                "flite" => config.tts,
                "elevenlabs" => TtsConfig::ElevenLabs {
                    api_key: None,
                    base_url: default_elevenlabs_url(),
                    voice_id: default_elevenlabs_voice(),
                    model_id: default_elevenlabs_model(),
                },
                other => return Err(unknown("text-to-speech", other, "flite or elevenlabs")),
            };
        }
        if let LlmConfig::OpenAi {
            base_url, model, ..
        } = &mut config.llm
        {
            if let Some(url) = lookup("LOCKIN_OPENAI_BASE_URL") {
                *base_url = url;
            }
            if let Some(name) = lookup("LOCKIN_OPENAI_MODEL") {
                *model = name;
            }
        }
        config.fill_keys(lookup)?;
        Ok(config)
    }

    /// Fills keys missing from the configuration from the environment and
    /// checks every cloud provider has one (an OpenAI-compatible local
    /// server such as Ollama needs none, so that key stays optional).
    pub fn fill_keys(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let from = |slot: &mut Option<Secret>, env: &str| {
            if slot.is_none() {
                *slot = lookup(env).filter(|k| !k.is_empty()).map(Secret::new);
            }
        };
        if let SttConfig::Deepgram { api_key, .. } = &mut self.stt {
            from(api_key, DEEPGRAM_KEY_ENV);
            if api_key.is_none() {
                return Err(ConfigError::MissingKey {
                    provider: "deepgram",
                    env: DEEPGRAM_KEY_ENV,
                });
            }
        }
        if let TtsConfig::ElevenLabs { api_key, .. } = &mut self.tts {
            from(api_key, ELEVENLABS_KEY_ENV);
            if api_key.is_none() {
                return Err(ConfigError::MissingKey {
                    provider: "elevenlabs",
                    env: ELEVENLABS_KEY_ENV,
                });
            }
        }
        if let LlmConfig::OpenAi { api_key, .. } = &mut self.llm {
            from(api_key, OPENAI_KEY_ENV);
        }
        Ok(())
    }

    /// Provider names as logged with each interaction.
    pub fn provider_names(&self) -> ProviderNames {
        ProviderNames {
            stt: match self.stt {
                SttConfig::Pocketsphinx { .. } => "pocketsphinx",
                SttConfig::Deepgram { .. } => "deepgram",
            },
            llm: match self.llm {
                LlmConfig::Local { .. } => "local",
                LlmConfig::OpenAi { .. } => "openai",
            },
            tts: match self.tts {
                TtsConfig::Flite { .. } => "flite",
                TtsConfig::ElevenLabs { .. } => "elevenlabs",
            },
        }
    }
}

fn unknown(what: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::UnknownProvider {
        what,
        value: value.into(),
        expected,
    }
}

/// The three providers of one interaction, for its log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProviderNames {
    pub stt: &'static str,
    pub llm: &'static str,
    pub tts: &'static str,
}

pub const DEEPGRAM_KEY_ENV: &str = "LOCKIN_DEEPGRAM_API_KEY";
pub const ELEVENLABS_KEY_ENV: &str = "LOCKIN_ELEVENLABS_API_KEY";
pub const OPENAI_KEY_ENV: &str = "LOCKIN_OPENAI_API_KEY";

fn default_pocketsphinx_dir() -> PathBuf {
    PathBuf::from(crate::stt::pocketsphinx::DEBIAN_MODEL_DIR)
}
fn default_deepgram_url() -> String {
    "wss://api.deepgram.com/v1/listen".into()
}
fn default_deepgram_model() -> String {
    "nova-3".into()
}
fn default_openai_base_url() -> String {
    "https://api.openai.com/v1".into()
}
fn default_openai_model() -> String {
    "gpt-4o-mini".into()
}
fn default_flite_voice() -> FliteVoice {
    FliteVoice::Slt
}
fn default_elevenlabs_url() -> String {
    "https://api.elevenlabs.io".into()
}
fn default_elevenlabs_voice() -> String {
    // ElevenLabs' premade voice "Rachel".
    "21m00Tcm4TlvDq8ikWAM".into()
}
fn default_elevenlabs_model() -> String {
    "eleven_flash_v2_5".into()
}

/// Durations in configuration files are whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_offline() {
        let config = AgentConfig::from_lookup(env(&[])).unwrap();
        assert_eq!(
            config.provider_names(),
            ProviderNames {
                stt: "pocketsphinx",
                llm: "local",
                tts: "flite"
            }
        );
        assert_eq!(config.wake_phrase, "hey agent");
    }

    #[test]
    fn cloud_providers_take_keys_from_the_environment_and_never_print_them() {
        let config = AgentConfig::from_lookup(env(&[
            ("LOCKIN_AGENT_STT", "deepgram"),
            ("LOCKIN_AGENT_LLM", "openai"),
            ("LOCKIN_AGENT_TTS", "elevenlabs"),
            ("LOCKIN_DEEPGRAM_API_KEY", "dg-secret-1"),
            ("LOCKIN_ELEVENLABS_API_KEY", "el-secret-2"),
            ("LOCKIN_OPENAI_API_KEY", "oa-secret-3"),
            ("LOCKIN_OPENAI_BASE_URL", "http://127.0.0.1:11434/v1"),
        ]))
        .unwrap();
        let printed = format!("{config:?} {config:#?}");
        for secret in ["dg-secret-1", "el-secret-2", "oa-secret-3"] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
        assert!(printed.contains("[redacted]"));
        let SttConfig::Deepgram { api_key, .. } = &config.stt else {
            panic!()
        };
        assert_eq!(api_key.as_ref().unwrap().expose(), "dg-secret-1");
        let LlmConfig::OpenAi { base_url, .. } = &config.llm else {
            panic!()
        };
        assert_eq!(base_url, "http://127.0.0.1:11434/v1");
    }

    #[test]
    fn a_cloud_provider_without_a_key_is_refused_by_name() {
        let error =
            AgentConfig::from_lookup(env(&[("LOCKIN_AGENT_TTS", "elevenlabs")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "elevenlabs needs an API key: set LOCKIN_ELEVENLABS_API_KEY or give `api_key` in the configuration"
        );
        let error = AgentConfig::from_lookup(env(&[("LOCKIN_AGENT_STT", "whisper")])).unwrap_err();
        assert!(matches!(error, ConfigError::UnknownProvider { .. }));
    }

    #[test]
    fn configuration_reads_from_json_with_defaults() {
        let config: AgentConfig = serde_json::from_value(serde_json::json!({
            "llm": { "provider": "openai", "base_url": "http://localhost:11434/v1", "model": "llama3.2" },
            "tts": { "provider": "flite", "voice": "awb" },
            "timeouts": { "first_token": 2000 }
        }))
        .unwrap();
        assert_eq!(config.timeouts.first_token, Duration::from_secs(2));
        assert_eq!(config.timeouts.answer, Timeouts::default().answer);
        assert_eq!(
            config.tts,
            TtsConfig::Flite {
                voice: FliteVoice::Awb
            }
        );
        assert_eq!(config.provider_names().llm, "openai");
    }
}

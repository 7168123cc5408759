//! Which engine does each job, how to reach it, and how a failure reads.
//!
//! The configuration arrives as the `[agent]` table of `lockin.toml` (the
//! server layers it with the environment and flags) and is parsed into an
//! [`AgentConfig`] that holds only the chosen providers' settings. **A key
//! is held in a [`SecretString`], whose `Debug` prints `[REDACTED]` and
//! which cannot be serialised**, so a config dumped to a log or an API
//! response never carries one; it is read with `expose_secret()` only where
//! it goes into a request header.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::tts::flite::FliteVoice;

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

/// A cloud engine's HTTP API: where it is, and how long to wait for an
/// answer to start (a streamed answer is timed by the caller, piece by piece).
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    http: reqwest::Client,
    /// Without a trailing `/`: paths are appended to it.
    base_url: String,
    /// Until the response headers arrive.
    connect_timeout: Duration,
}

impl Endpoint {
    pub(crate) fn new(base_url: &str, connect_timeout: Duration) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_string(),
            connect_timeout,
        }
    }

    /// A POST to `path` (from `/`) under the base URL.
    pub(crate) fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base_url))
    }

    /// Sends `request` within the connect timeout; a status other than
    /// success is an error that carries the start of its body.
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ProviderError> {
        let response = with_timeout(self.connect_timeout, async {
            request.send().await.map_err(ProviderError::from_reqwest)
        })
        .await?;
        if !response.status().is_success() {
            return Err(ProviderError::from_status(response).await);
        }
        Ok(response)
    }
}

/// Runs an engine's blocking `work` (decoding, loading a model, synthesis)
/// off the async runtime. The task itself failing (a panic in `engine`) is
/// an engine error too, never lost.
pub(crate) async fn on_blocking_thread<T: Send + 'static>(
    engine: &str,
    work: impl FnOnce() -> Result<T, ProviderError> + Send + 'static,
) -> Result<T, ProviderError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ProviderError::Engine(format!("{engine} task failed: {e}")))?
}

/// Speech-to-text provider.
#[derive(Debug, Clone)]
pub enum SttConfig {
    /// Offline, open vocabulary: Whisper tiny.en on candle, from the model
    /// directory (`scripts/setup-agent`).
    Whisper,
    /// Deepgram's streaming WebSocket API. Only what PocketSphinx's
    /// keyword search (its en-us model in `spotter_model_dir`) heard as the
    /// wake phrase is sent.
    Deepgram {
        api_key: SecretString,
        url: String,
        model: String,
        spotter_model_dir: PathBuf,
    },
}

/// Language-model provider.
#[derive(Debug, Clone)]
pub enum LlmConfig {
    /// SmolLM2-135M-Instruct in-process.
    Local {
        engine: LocalEngine,
        /// The GGUF file; `None` looks in `LOCKIN_MODEL_DIR` or `data/models`.
        model_path: Option<PathBuf>,
    },
    /// Any OpenAI-compatible `/chat/completions` endpoint.
    OpenAi {
        /// Optional: a local server such as Ollama needs none.
        api_key: Option<SecretString>,
        /// Up to and including `/v1` (the client appends `/chat/completions`).
        base_url: String,
        model: String,
    },
}

/// What runs the local language model (`llm_engine`). Both run the same
/// file with the same sampling; docs/AGENT.md compares them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum LocalEngine {
    /// llama.cpp (`llama-cpp-2`): the faster here.
    #[default]
    #[serde(rename = "llama.cpp")]
    LlamaCpp,
    /// candle's `quantized_llama`.
    #[serde(rename = "candle")]
    Candle,
}

/// Text-to-speech provider.
#[derive(Debug, Clone)]
pub enum TtsConfig {
    /// Offline: Piper's joe voice on ONNX Runtime (the default); flite's
    /// `fallback` voice speaks when Piper's files are missing.
    Piper { fallback: FliteVoice },
    /// Offline: Debian's libflite.
    Flite { voice: FliteVoice },
    /// ElevenLabs' streaming HTTP API, raw 16 kHz PCM back.
    ElevenLabs {
        api_key: SecretString,
        base_url: String,
        voice_id: String,
        model_id: String,
    },
}

/// How long each provider may take before the agent gives up and apologises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    pub transcription: Duration,
    /// Until the first token of the answer.
    pub first_token: Duration,
    /// For the whole answer.
    pub answer: Duration,
    /// Until the first audio of one sentence.
    pub speech: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        let defaults = AgentSettings::default();
        Self {
            transcription: defaults.transcription_timeout,
            first_token: defaults.first_token_timeout,
            answer: defaults.answer_timeout,
            speech: defaults.speech_timeout,
        }
    }
}

/// The whole agent configuration, parsed: holding one means every chosen
/// cloud provider has what it needs. It is read from the flat `[agent]`
/// table described by [`AGENT_KEYS`]; the default works offline
/// (Whisper, the local model, Piper's voice).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "AgentSettings")]
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
        AgentSettings::default()
            .try_into()
            .expect("the offline providers need no key")
    }
}

/// The keys of the `[agent]` table. It is flat so that each key `k` is also
/// the environment variable `LOCKIN_AGENT_<K>`; the server reads exactly
/// these (an unrelated `LOCKIN_AGENT_…`, such as `LOCKIN_AGENT_TOKEN`, is
/// not taken for one).
pub const AGENT_KEYS: [&str; 24] = [
    "stt",
    "llm",
    "tts",
    "wake_phrase",
    "max_answer_tokens",
    "history_turns",
    "transcription_timeout",
    "first_token_timeout",
    "answer_timeout",
    "speech_timeout",
    "pocketsphinx_model_dir",
    "deepgram_api_key",
    "deepgram_url",
    "deepgram_model",
    "llm_engine",
    "local_model_path",
    "openai_api_key",
    "openai_base_url",
    "openai_model",
    "flite_voice",
    "elevenlabs_api_key",
    "elevenlabs_base_url",
    "elevenlabs_voice_id",
    "elevenlabs_model_id",
];

/// Which engine does a job, by the name the configuration gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SttProvider {
    Whisper,
    Deepgram,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum LlmProvider {
    Local,
    #[serde(rename = "openai")]
    OpenAi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TtsProvider {
    Piper,
    Flite,
    #[serde(rename = "elevenlabs")]
    ElevenLabs,
}

/// The `[agent]` table as written: every provider's settings side by side,
/// so one file (or one environment) can hold them all and switch between
/// providers with one key. Durations are humantime strings (`"15s"`).
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AgentSettings {
    stt: SttProvider,
    llm: LlmProvider,
    tts: TtsProvider,
    wake_phrase: String,
    max_answer_tokens: usize,
    history_turns: usize,
    #[serde(with = "humantime_serde")]
    transcription_timeout: Duration,
    #[serde(with = "humantime_serde")]
    first_token_timeout: Duration,
    #[serde(with = "humantime_serde")]
    answer_timeout: Duration,
    #[serde(with = "humantime_serde")]
    speech_timeout: Duration,
    pocketsphinx_model_dir: PathBuf,
    deepgram_api_key: Option<SecretString>,
    deepgram_url: String,
    deepgram_model: String,
    llm_engine: LocalEngine,
    local_model_path: Option<PathBuf>,
    openai_api_key: Option<SecretString>,
    openai_base_url: String,
    openai_model: String,
    flite_voice: FliteVoice,
    elevenlabs_api_key: Option<SecretString>,
    elevenlabs_base_url: String,
    elevenlabs_voice_id: String,
    elevenlabs_model_id: String,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            stt: SttProvider::Whisper,
            llm: LlmProvider::Local,
            tts: TtsProvider::Piper,
            wake_phrase: "hey agent".into(),
            // Room for two or three short sentences; an answer cut by the
            // budget ends at its last whole sentence (`speech_text`).
            max_answer_tokens: 120,
            history_turns: 3,
            transcription_timeout: Duration::from_secs(10),
            first_token_timeout: Duration::from_secs(15),
            answer_timeout: Duration::from_secs(60),
            speech_timeout: Duration::from_secs(10),
            pocketsphinx_model_dir: PathBuf::from(crate::stt::pocketsphinx::DEBIAN_MODEL_DIR),
            deepgram_api_key: None,
            deepgram_url: "wss://api.deepgram.com/v1/listen".into(),
            deepgram_model: "nova-3".into(),
            llm_engine: LocalEngine::default(),
            local_model_path: None,
            openai_api_key: None,
            openai_base_url: "https://api.openai.com/v1".into(),
            openai_model: "gpt-4o-mini".into(),
            flite_voice: FliteVoice::Slt,
            elevenlabs_api_key: None,
            elevenlabs_base_url: "https://api.elevenlabs.io".into(),
            // ElevenLabs' premade voice "Rachel".
            elevenlabs_voice_id: "21m00Tcm4TlvDq8ikWAM".into(),
            elevenlabs_model_id: "eleven_flash_v2_5".into(),
        }
    }
}

/// Errors in the configuration, found before any provider is called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{provider} needs an API key: give `{key}` in the [agent] configuration or set LOCKIN_AGENT_{}",
        key.to_ascii_uppercase()
    )]
    MissingKey {
        provider: &'static str,
        key: &'static str,
    },
}

impl TryFrom<AgentSettings> for AgentConfig {
    type Error = ConfigError;

    /// Keeps the chosen providers' settings and checks each cloud provider
    /// has a key (an OpenAI-compatible local server such as Ollama needs
    /// none, so that key stays optional). An empty key counts as none, so
    /// `LOCKIN_AGENT_OPENAI_API_KEY=` unsets one the file gives.
    fn try_from(settings: AgentSettings) -> Result<Self, ConfigError> {
        let key = |slot: Option<SecretString>| slot.filter(|k| !k.expose_secret().is_empty());
        let required = |slot: Option<SecretString>, provider, name| {
            key(slot).ok_or(ConfigError::MissingKey {
                provider,
                key: name,
            })
        };
        let stt = match settings.stt {
            SttProvider::Whisper => SttConfig::Whisper,
            SttProvider::Deepgram => SttConfig::Deepgram {
                api_key: required(settings.deepgram_api_key, "deepgram", "deepgram_api_key")?,
                url: settings.deepgram_url,
                model: settings.deepgram_model,
                spotter_model_dir: settings.pocketsphinx_model_dir,
            },
        };
        let llm = match settings.llm {
            LlmProvider::Local => LlmConfig::Local {
                engine: settings.llm_engine,
                model_path: settings.local_model_path,
            },
            LlmProvider::OpenAi => LlmConfig::OpenAi {
                api_key: key(settings.openai_api_key),
                base_url: settings.openai_base_url,
                model: settings.openai_model,
            },
        };
        let tts = match settings.tts {
            TtsProvider::Piper => TtsConfig::Piper {
                fallback: settings.flite_voice,
            },
            TtsProvider::Flite => TtsConfig::Flite {
                voice: settings.flite_voice,
            },
            TtsProvider::ElevenLabs => TtsConfig::ElevenLabs {
                api_key: required(
                    settings.elevenlabs_api_key,
                    "elevenlabs",
                    "elevenlabs_api_key",
                )?,
                base_url: settings.elevenlabs_base_url,
                voice_id: settings.elevenlabs_voice_id,
                model_id: settings.elevenlabs_model_id,
            },
        };
        Ok(Self {
            stt,
            llm,
            tts,
            wake_phrase: settings.wake_phrase,
            max_answer_tokens: settings.max_answer_tokens,
            history_turns: settings.history_turns,
            timeouts: Timeouts {
                transcription: settings.transcription_timeout,
                first_token: settings.first_token_timeout,
                answer: settings.answer_timeout,
                speech: settings.speech_timeout,
            },
        })
    }
}

/// The three providers of one interaction, for its log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProviderNames {
    pub stt: &'static str,
    pub llm: &'static str,
    pub tts: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(table: serde_json::Value) -> Result<AgentConfig, serde_json::Error> {
        serde_json::from_value(table)
    }

    #[test]
    fn defaults_are_offline() {
        let config = parse(serde_json::json!({})).unwrap();
        assert!(matches!(config.stt, SttConfig::Whisper));
        assert!(matches!(
            config.llm,
            LlmConfig::Local {
                engine: LocalEngine::LlamaCpp,
                model_path: None
            }
        ));
        assert!(matches!(
            config.tts,
            TtsConfig::Piper {
                fallback: FliteVoice::Slt
            }
        ));
        assert_eq!(config.wake_phrase, "hey agent");
        assert_eq!(config.timeouts, Timeouts::default());
    }

    #[test]
    fn flite_named_in_the_table_still_speaks_and_its_voice_is_pipers_fallback() {
        let config = parse(serde_json::json!({ "tts": "flite", "flite_voice": "awb" })).unwrap();
        assert!(matches!(
            config.tts,
            TtsConfig::Flite {
                voice: FliteVoice::Awb
            }
        ));
        let config = parse(serde_json::json!({ "tts": "piper", "flite_voice": "rms" })).unwrap();
        assert!(matches!(
            config.tts,
            TtsConfig::Piper {
                fallback: FliteVoice::Rms
            }
        ));
    }

    #[test]
    fn cloud_providers_keep_their_settings_and_never_print_their_keys() {
        let config = parse(serde_json::json!({
            "stt": "deepgram",
            "llm": "openai",
            "tts": "elevenlabs",
            "deepgram_api_key": "dg-secret-1",
            "elevenlabs_api_key": "el-secret-2",
            "openai_api_key": "oa-secret-3",
            "openai_base_url": "http://127.0.0.1:11434/v1",
            "openai_model": "llama3.2",
            "first_token_timeout": "2s",
            "speech_timeout": "500ms",
        }))
        .unwrap();
        let printed = format!("{config:?} {config:#?}");
        for secret in ["dg-secret-1", "el-secret-2", "oa-secret-3"] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
        let SttConfig::Deepgram { api_key, .. } = &config.stt else {
            panic!("not deepgram: {config:?}")
        };
        assert_eq!(api_key.expose_secret(), "dg-secret-1");
        let LlmConfig::OpenAi {
            api_key,
            base_url,
            model,
        } = &config.llm
        else {
            panic!("not openai: {config:?}")
        };
        assert_eq!(api_key.as_ref().unwrap().expose_secret(), "oa-secret-3");
        assert_eq!(base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(model, "llama3.2");
        assert_eq!(config.timeouts.first_token, Duration::from_secs(2));
        assert_eq!(config.timeouts.speech, Duration::from_millis(500));
        assert_eq!(config.timeouts.answer, Timeouts::default().answer);
    }

    #[test]
    fn a_cloud_provider_without_a_key_is_refused_by_name() {
        let error = parse(serde_json::json!({ "tts": "elevenlabs" })).unwrap_err();
        assert!(
            error.to_string().starts_with(
                "elevenlabs needs an API key: give `elevenlabs_api_key` in the [agent] configuration or set LOCKIN_AGENT_ELEVENLABS_API_KEY"
            ),
            "{error}"
        );
        let empty = parse(serde_json::json!({ "stt": "deepgram", "deepgram_api_key": "" }));
        assert!(empty.unwrap_err().to_string().contains("deepgram_api_key"));
        // Ollama and llama.cpp's server take no key.
        assert!(parse(serde_json::json!({ "llm": "openai" })).is_ok());
        assert!(parse(serde_json::json!({ "stt": "vosk" })).is_err());
    }

    #[test]
    fn the_local_engine_is_chosen_by_name() {
        let config = parse(serde_json::json!({ "llm_engine": "candle" })).unwrap();
        assert!(matches!(
            config.llm,
            LlmConfig::Local {
                engine: LocalEngine::Candle,
                ..
            }
        ));
        let config = parse(serde_json::json!({ "llm_engine": "llama.cpp" })).unwrap();
        assert!(matches!(
            config.llm,
            LlmConfig::Local {
                engine: LocalEngine::LlamaCpp,
                ..
            }
        ));
        let error = parse(serde_json::json!({ "llm_engine": "onnx" })).unwrap_err();
        assert!(error.to_string().contains("llama.cpp"), "{error}");
    }

    #[test]
    fn durations_are_humantime_strings() {
        assert!(parse(serde_json::json!({ "answer_timeout": 2000 })).is_err());
        let config = parse(serde_json::json!({ "answer_timeout": "1m 30s" })).unwrap();
        assert_eq!(config.timeouts.answer, Duration::from_secs(90));
    }

    /// The server reads the environment variables [`AGENT_KEYS`] names:
    /// the list must be the table's keys, no more and no fewer.
    #[test]
    fn the_key_list_is_the_tables_keys() {
        let error = parse(serde_json::json!({ "no_such_key": 1 }))
            .unwrap_err()
            .to_string();
        let expected = error
            .split("expected one of ")
            .nth(1)
            .unwrap_or_else(|| panic!("{error}"));
        let mut fields: Vec<&str> = expected
            .split(", ")
            .map(|field| field.trim_matches('`'))
            .collect();
        fields.sort_unstable();
        let mut keys = AGENT_KEYS.to_vec();
        keys.sort_unstable();
        assert_eq!(fields, keys);
    }
}

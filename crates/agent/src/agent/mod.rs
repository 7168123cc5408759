//! The async side of the assistant: [`Agent`] holds the engines built from
//! the configuration, shared by every session; [`session`] runs one task per
//! session around the two sans-IO machines, [`crate::pipeline`] (listening
//! and speaking) and [`crate::answer`] (one answer's policy).
//!
//! ```text
//!  SessionInput ─▶ session task ─▶ SessionPipeline ─▶ events
//!                      │  Transcribe ─▶ stt task ─▶ Input::Transcript
//!                      │  QuestionReady ─▶ Answer: Generate ─▶ llm task ─▶ Token …
//!                      │                           Speak ─▶ tts task ─▶ SpeechAudio ─▶ Input::AnswerAudio
//!                      │                           Post ─▶ SessionOutput::Answered
//!                      │  SpeakFrame ─▶ SessionOutput::Frame
//!                      └  AnswerFinished ─▶ SessionOutput::Interaction
//! ```

mod session;

use std::sync::Arc;

use crate::llm::llama::LlamaCppModel;
use crate::llm::local::CandleModel;
use crate::llm::openai::OpenAiCompatible;
use crate::llm::{LanguageModel, find_local_model};
use crate::pipeline::{PipelineConfig, SessionPipeline};
use crate::providers::{
    AgentConfig, LlmConfig, LocalEngine, ProviderError, ProviderNames, SttConfig, TtsConfig,
    on_blocking_thread,
};
use crate::stt::SpeechToText;
use crate::stt::deepgram::Deepgram;
use crate::stt::domain_lm::build_arpa;
use crate::stt::pocketsphinx::{PocketsphinxModel, PocketsphinxSpotter, PocketsphinxStt};
use crate::tts::TextToSpeech;
use crate::tts::elevenlabs::ElevenLabs;
use crate::tts::flite::FliteTts;
use crate::wake::{Spot, WakeSpotter};

pub use session::{Interaction, Latencies, SessionHandle, SessionInput, SessionOutput};

/// Keyword-search threshold of the wake spotter (FACTS.md: 1e-10 … 1e-50
/// all found the phrase; the transcript check removes false alarms).
const WAKE_THRESHOLD: f64 = 1e-20;

/// Builds a wake spotter for each speaker.
pub type SharedSpotterFactory = Arc<dyn Fn() -> Box<dyn WakeSpotter> + Send + Sync>;

/// The assistant: its configuration and engines, shared by all sessions.
#[derive(Clone)]
pub struct Agent {
    config: AgentConfig,
    stt: Arc<dyn SpeechToText>,
    llm: Arc<dyn LanguageModel>,
    tts: Arc<dyn TextToSpeech>,
    new_spotter: SharedSpotterFactory,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("config", &self.config)
            .field("stt", &self.stt.name())
            .field("llm", &self.llm.name())
            .field("tts", &self.tts.name())
            .finish()
    }
}

impl Agent {
    /// Builds the configured engines: loads the local ones (a second or
    /// so), or sets up the cloud clients.
    pub async fn new(config: AgentConfig) -> Result<Self, ProviderError> {
        let model = match &config.stt {
            SttConfig::Pocketsphinx { model_dir } => PocketsphinxModel {
                dir: model_dir.clone(),
            },
            SttConfig::Deepgram { .. } => PocketsphinxModel::default(),
        };
        let stt: Arc<dyn SpeechToText> = match &config.stt {
            SttConfig::Pocketsphinx { .. } => {
                let model = model.clone();
                let stt = on_blocking_thread("pocketsphinx", move || {
                    let arpa = build_arpa(&model.dictionary(), &[]).map_err(|e| {
                        ProviderError::Engine(format!("reading the pocketsphinx dictionary: {e}"))
                    })?;
                    PocketsphinxStt::with_arpa(&model, &arpa)
                })
                .await?;
                Arc::new(stt)
            }
            SttConfig::Deepgram {
                api_key,
                url,
                model,
            } => Arc::new(Deepgram::new(url, api_key.clone(), model)),
        };
        let llm: Arc<dyn LanguageModel> = match &config.llm {
            LlmConfig::Local { engine, model_path } => {
                let path = match model_path {
                    Some(path) => path.clone(),
                    None => find_local_model()?,
                };
                match engine {
                    LocalEngine::LlamaCpp => Arc::new(
                        on_blocking_thread("llama.cpp", move || LlamaCppModel::load(&path)).await?,
                    ),
                    LocalEngine::Candle => Arc::new(
                        on_blocking_thread("candle", move || CandleModel::load(&path)).await?,
                    ),
                }
            }
            LlmConfig::OpenAi {
                api_key,
                base_url,
                model,
            } => Arc::new(OpenAiCompatible::new(
                base_url,
                api_key.clone(),
                model,
                config.timeouts.first_token,
            )),
        };
        let tts: Arc<dyn TextToSpeech> = match &config.tts {
            TtsConfig::Flite { voice } => Arc::new(FliteTts::new(*voice)?),
            TtsConfig::ElevenLabs {
                api_key,
                base_url,
                voice_id,
                model_id,
            } => Arc::new(ElevenLabs::new(
                base_url,
                api_key.clone(),
                voice_id,
                model_id,
                config.timeouts.speech,
            )),
        };
        // Fail now, not on the first speaker, if the spotter cannot load.
        PocketsphinxSpotter::new(&model, &config.wake_phrase, WAKE_THRESHOLD)?;
        let phrase = config.wake_phrase.clone();
        let new_spotter: SharedSpotterFactory = Arc::new(move || {
            match PocketsphinxSpotter::new(&model, &phrase, WAKE_THRESHOLD) {
                Ok(spotter) => Box::new(spotter) as Box<dyn WakeSpotter>,
                Err(error) => {
                    tracing::error!(%error, "wake spotter failed to load; this speaker cannot wake the agent");
                    Box::new(DeafSpotter)
                }
            }
        });
        Ok(Self::from_parts(config, stt, llm, tts, new_spotter))
    }

    /// An agent over given engines (tests use fakes and local servers).
    pub fn from_parts(
        config: AgentConfig,
        stt: Arc<dyn SpeechToText>,
        llm: Arc<dyn LanguageModel>,
        tts: Arc<dyn TextToSpeech>,
        new_spotter: SharedSpotterFactory,
    ) -> Self {
        Self {
            config,
            stt,
            llm,
            tts,
            new_spotter,
        }
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    pub fn providers(&self) -> ProviderNames {
        ProviderNames {
            stt: self.stt.name(),
            llm: self.llm.name(),
            tts: self.tts.name(),
        }
    }

    pub fn language_model(&self) -> &Arc<dyn LanguageModel> {
        &self.llm
    }

    /// A fresh sans-IO pipeline for a session.
    fn pipeline(&self) -> SessionPipeline {
        let config = PipelineConfig {
            wake_phrase: self.config.wake_phrase.clone(),
            ..PipelineConfig::default()
        };
        let factory = Arc::clone(&self.new_spotter);
        SessionPipeline::new(config, Box::new(move || factory()))
            .expect("an Opus encoder at 16 kHz mono is always valid")
    }
}

/// Used when the real spotter cannot load: never fires.
struct DeafSpotter;

impl WakeSpotter for DeafSpotter {
    fn start(&mut self) {}
    fn process(&mut self, _pcm: &[i16]) -> Option<Spot> {
        None
    }
    fn finish(&mut self) {}
}

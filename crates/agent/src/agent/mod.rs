//! The async side of the assistant: [`Agent`] holds the engines built from
//! the configuration, shared by every session; [`session`] runs one task per
//! session around the two sans-IO machines, [`crate::pipeline`] (listening
//! and speaking) and [`crate::answer`] (one answer's policy).
//!
//! ```text
//!  SessionInput ─▶ session task ─▶ SessionPipeline ─▶ events
//!                      │  CheckTurn ─▶ Smart Turn (blocking thread) ─▶ Input::TurnVerdict
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
use crate::models;
use crate::pipeline::{PipelineConfig, SessionPipeline};
use crate::providers::{
    AgentConfig, LlmConfig, LocalEngine, ProviderError, ProviderNames, SttConfig, TtsConfig,
    on_blocking_thread,
};
use crate::stt::SpeechToText;
use crate::stt::deepgram::Deepgram;
use crate::stt::pocketsphinx::{PocketsphinxModel, PocketsphinxSpotter};
use crate::stt::whisper::WhisperStt;
use crate::tts::TextToSpeech;
use crate::tts::elevenlabs::ElevenLabs;
use crate::tts::flite::FliteTts;
use crate::tts::piper;
use crate::turn::{SmartTurn, TurnDetector};
use crate::vad::{Silero, VoiceActivity};
use crate::wake::{Spot, WakeSpotter};

pub use session::{
    Interaction, Latencies, ROOM_PROVIDER, RoomDesk, SessionHandle, SessionInput, SessionOutput,
};

/// Keyword-search threshold of the wake spotter (FACTS.md: 1e-10 … 1e-50
/// all found the phrase; the transcript check removes false alarms).
const WAKE_THRESHOLD: f64 = 1e-20;

/// Builds a wake spotter for each speaker.
pub type SharedSpotterFactory = Arc<dyn Fn() -> Box<dyn WakeSpotter> + Send + Sync>;

/// Builds a voice-activity detector for each speaker.
pub type SharedDetectorFactory = Arc<dyn Fn() -> Box<dyn VoiceActivity> + Send + Sync>;

/// Intra-op threads of the end-of-turn model (measured: see docs/AGENT.md).
const SMART_TURN_THREADS: usize = 1;

/// What the agent listens with, shared by every session.
#[derive(Clone)]
pub struct Hearing {
    /// A voice-activity detector for each speaker.
    pub voice: SharedDetectorFactory,
    /// Whether a pause ends a speaker's turn; asked on a blocking thread.
    pub turn: Arc<dyn TurnDetector>,
    /// A wake spotter for each speaker, which decides what is transcribed;
    /// `None`: every utterance is transcribed and the wake phrase is looked
    /// for in its words.
    pub spotter: Option<SharedSpotterFactory>,
}

impl Hearing {
    /// Silero VAD and Smart Turn from the model directory (an error names
    /// `scripts/setup-agent` when a file is missing), with `spotter`.
    pub fn offline(spotter: Option<SharedSpotterFactory>) -> Result<Self, ProviderError> {
        let silero = Silero::load()?;
        Ok(Self {
            voice: Arc::new(move || Box::new(silero.detector()) as Box<dyn VoiceActivity>),
            turn: Arc::new(SmartTurn::load(SMART_TURN_THREADS)?),
            spotter,
        })
    }
}

/// The assistant: its configuration and engines, shared by all sessions.
#[derive(Clone)]
pub struct Agent {
    config: AgentConfig,
    stt: Arc<dyn SpeechToText>,
    llm: Arc<dyn LanguageModel>,
    tts: Arc<dyn TextToSpeech>,
    hearing: Hearing,
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
            SttConfig::Deepgram {
                spotter_model_dir, ..
            } => PocketsphinxModel {
                dir: spotter_model_dir.clone(),
            },
            SttConfig::Whisper => PocketsphinxModel::default(),
        };
        let stt: Arc<dyn SpeechToText> = match &config.stt {
            SttConfig::Whisper => {
                Arc::new(on_blocking_thread("whisper", WhisperStt::load_default).await?)
            }
            SttConfig::Deepgram {
                api_key,
                url,
                model,
                ..
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
            TtsConfig::Piper { fallback } => {
                let fallback = *fallback;
                on_blocking_thread("piper", move || {
                    piper::offline_voice(models::find, fallback)
                })
                .await?
            }
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
        // Whisper hears any words: every utterance is transcribed and the
        // wake phrase is looked for in its words. For a cloud transcriber,
        // PocketSphinx's keyword search decides what is sent at all.
        let new_spotter = match config.stt {
            SttConfig::Whisper => None,
            SttConfig::Deepgram { .. } => {
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
                Some(new_spotter)
            }
        };
        let hearing =
            on_blocking_thread("listening models", move || Hearing::offline(new_spotter)).await?;
        Ok(Self::from_parts(config, stt, llm, tts, hearing))
    }

    /// An agent over given engines (tests use fakes and local servers).
    pub fn from_parts(
        config: AgentConfig,
        stt: Arc<dyn SpeechToText>,
        llm: Arc<dyn LanguageModel>,
        tts: Arc<dyn TextToSpeech>,
        hearing: Hearing,
    ) -> Self {
        Self {
            config,
            stt,
            llm,
            tts,
            hearing,
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

    /// What the agent listens with.
    pub(crate) fn hearing(&self) -> &Hearing {
        &self.hearing
    }

    pub(crate) fn speech_to_text(&self) -> &Arc<dyn SpeechToText> {
        &self.stt
    }

    /// A fresh sans-IO pipeline for a session.
    pub(crate) fn pipeline(&self) -> SessionPipeline {
        let config = PipelineConfig {
            wake_phrase: self.config.wake_phrase.clone(),
            ..PipelineConfig::default()
        };
        let voice = Arc::clone(&self.hearing.voice);
        let spotter = self.hearing.spotter.clone();
        SessionPipeline::new(
            config,
            Box::new(move || voice()),
            spotter.map(|new| Box::new(move || new()) as _),
        )
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

//! Lock In's voice assistant: it sits in a session's room, wakes on "hey
//! agent", answers questions about the linked project out loud, and reports
//! every interaction for the log.
//!
//! # Layout
//!
//! - [`pipeline`]: one session's listening and speaking as a sans-IO state
//!   machine (audio and time in, events out): voice activity, utterances
//!   and when a turn ends, the wake phrase, the question queue, paced Opus
//!   output and barge-in.
//! - [`vad`], [`turn`]: Silero VAD (is this 32 ms speech?) and Smart Turn
//!   (has the speaker finished, or only paused?) on ONNX Runtime.
//! - [`wake`]: the wake phrase, spotted on audio (optional) and confirmed on
//!   words.
//! - [`audio`], [`mel`], [`models`]: Opus at the edges and 16 kHz PCM
//!   inside; Whisper's log-mel features; where the offline engines' files
//!   are, and the ONNX Runtime they run on.
//! - [`stt`], [`llm`], [`tts`]: one trait per job, each with an offline
//!   engine (Whisper tiny.en, SmolLM2 on llama.cpp or candle, Piper's voice
//!   with espeak-ng's phonemes, flite as its fallback) and a cloud client
//!   (Deepgram, any OpenAI-compatible endpoint, ElevenLabs).
//! - [`prompt`]: what the language model is told: to answer a question, or
//!   to summarise an ended session from its fact sheet.
//! - [`speech_text`]: cuts streamed text into sentences to speak.
//! - [`providers`]: the `[agent]` configuration, keys (never printed) and
//!   provider errors.
//! - [`answer`]: one answer's policy as a sans-IO state machine (events and
//!   time in, requests out): the language model's text cut into sentences
//!   and spoken one at a time, each provider's time limit, the apology when
//!   nothing could be said, and the answer's record.
//! - [`agent`]: the async side: [`Agent`] holds the engines built from the
//!   configuration; its session task ([`Agent::run_session`]) drives the
//!   pipeline and the current answer on the real clock, runs their slow
//!   work as tasks, and reports each interaction ([`Interaction`]).
//! - [`worker`]: puts the assistant into live sessions through the server's
//!   API (claims, joins, typed questions, status, the AI log), and writes
//!   the summaries of ended sessions.
//!
//! The voice-to-voice benchmark, which puts spoken questions through
//! [`Agent::run_session`] and times each stage, is the `bench` crate's
//! (`lockin-bench agent`).

pub mod agent;
pub mod answer;
pub mod audio;
pub mod eval;
pub mod llm;
pub mod mel;
pub mod models;
pub mod pipeline;
pub mod prompt;
pub mod providers;
pub mod speech_text;
pub mod stt;
pub mod tts;
pub mod turn;
pub mod vad;
pub mod wake;
pub mod worker;

pub use agent::{
    Agent, Interaction, Latencies, ROOM_PROVIDER, RoomDesk, SessionHandle, SessionInput,
    SessionOutput,
};
pub use pipeline::{Event, Input, Output, PipelineConfig, SessionPipeline, SpeakerId, Ticket};
pub use prompt::{Exchange, ProjectInfo, SessionContext, SessionInfo};
pub use providers::{AgentConfig, LlmConfig, ProviderError, SttConfig, TtsConfig};
pub use worker::{Worker, WorkerConfig};

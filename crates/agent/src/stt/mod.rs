//! Speech-to-text: one trait; an offline engine (Whisper tiny.en, the
//! default) and a cloud one (Deepgram).
//!
//! The pipeline hands over a whole utterance (it knows where speech ends from
//! voice activity); a provider returns its text. The wake phrase itself is
//! spotted separately, frame by frame, by [`crate::wake::WakeSpotter`].

pub mod deepgram;
pub mod pocketsphinx;
pub mod whisper;

use async_trait::async_trait;

use crate::providers::ProviderError;

/// What a provider heard in one utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    /// The provider's confidence in `0.0..=1.0`, when it gives one.
    pub confidence: Option<f32>,
}

/// Turns one utterance of 16 kHz mono PCM into text.
#[async_trait]
pub trait SpeechToText: Send + Sync {
    /// The provider's name as logged with each interaction.
    fn name(&self) -> &'static str;

    /// Whether the engine runs in this process (Whisper). Its
    /// work on a blocking thread cannot be cut off once started, so the
    /// session waits for its transcript however long a busy machine makes
    /// it: a time limit would drop the question unheard while the work went
    /// on anyway. The transcription time limit bounds only the wait on a
    /// remote provider.
    fn runs_here(&self) -> bool {
        false
    }

    async fn transcribe(&self, pcm: &[i16]) -> Result<Transcript, ProviderError>;

    /// Transcribes, expecting the words of `hints` (free text such as
    /// "Rust, axum, SQLite. Ada, Bob.": the project's tech stack, the names
    /// of the people in the room) and preferring their spelling. A provider
    /// that cannot be biased ignores them.
    async fn transcribe_with_hints(
        &self,
        pcm: &[i16],
        hints: &str,
    ) -> Result<Transcript, ProviderError> {
        let _ = hints;
        self.transcribe(pcm).await
    }
}

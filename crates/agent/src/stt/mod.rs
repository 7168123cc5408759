//! Speech-to-text: one trait; offline engines (Whisper tiny.en, the
//! default, and PocketSphinx) and a cloud one (Deepgram).
//!
//! The pipeline hands over a whole utterance (it knows where speech ends from
//! voice activity); a provider returns its text. The wake phrase itself is
//! spotted separately, frame by frame, by [`crate::wake::WakeSpotter`].

pub mod deepgram;
pub mod domain_lm;
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

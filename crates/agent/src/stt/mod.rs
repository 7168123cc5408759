//! Speech-to-text: one trait, an offline and a cloud implementation.
//!
//! The pipeline hands over a whole utterance (it knows where speech ends from
//! voice activity); a provider returns its text. The wake phrase itself is
//! spotted separately, frame by frame, by [`crate::wake::WakeSpotter`].

pub mod deepgram;
pub mod domain_lm;
pub mod pocketsphinx;

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
}

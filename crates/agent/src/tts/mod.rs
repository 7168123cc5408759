//! Text-to-speech: one trait, offline and cloud implementations. All give
//! 16 kHz mono PCM, the rate the pipeline encodes from.
//!
//! - [`piper`]: Piper's joe voice on ONNX Runtime, phonemes from
//!   [`espeak`]; the offline default.
//! - [`flite`]: Debian's flite, the fallback when Piper's voice is missing,
//!   and the voice tests speak with.
//! - [`elevenlabs`]: the cloud voice.

pub mod elevenlabs;
pub mod espeak;
pub mod flite;
pub mod piper;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::providers::ProviderError;

/// PCM as it arrives: 16 kHz mono samples, in chunks of any size.
pub type PcmStream = BoxStream<'static, Result<Vec<i16>, ProviderError>>;

/// Speaks one piece of text (the agent sends one sentence at a time, so the
/// first sentence plays while the rest is still being generated).
#[async_trait]
pub trait TextToSpeech: Send + Sync {
    /// The provider's name as logged with each interaction.
    fn name(&self) -> &'static str;

    async fn synthesize(&self, text: &str) -> Result<PcmStream, ProviderError>;
}

//! Text-to-speech: one trait, an offline and a cloud implementation. Both
//! give 16 kHz mono PCM, the rate the pipeline encodes from.

pub mod elevenlabs;
pub mod flite;

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

//! Language models: one streaming trait, a local and a cloud implementation.

pub mod local;
pub mod openai;
pub mod tokenizer;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::prompt::ChatPrompt;
use crate::providers::ProviderError;

/// Pieces of the answer's text as they are generated.
pub type TextStream = BoxStream<'static, Result<String, ProviderError>>;

/// Generates a short answer to a chat prompt, streaming its text.
///
/// Dropping the stream cancels the generation (the local model stops at its
/// next token, an HTTP stream is closed).
#[async_trait]
pub trait LanguageModel: Send + Sync {
    /// The provider's name as logged with each interaction.
    fn name(&self) -> &'static str;

    async fn stream(
        &self,
        prompt: &ChatPrompt,
        max_tokens: usize,
    ) -> Result<TextStream, ProviderError>;

    /// Gets ready for prompts that continue `prefix` (the system message
    /// and the history, no question yet: [`crate::prompt::history_prompt`])
    /// before the question comes: the local model evaluates it and keeps
    /// it, so the answer does not wait for it. Cloud models need nothing.
    async fn prepare(&self, _prefix: &ChatPrompt) -> Result<(), ProviderError> {
        Ok(())
    }
}

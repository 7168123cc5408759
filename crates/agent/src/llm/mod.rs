//! Language models: one streaming trait; SmolLM2-135M-Instruct run
//! in-process on one of two engines ([`llama`]: llama.cpp, the default;
//! [`local`]: candle), and a client for any OpenAI-compatible endpoint.

pub mod llama;
pub mod local;
pub mod openai;
pub mod tokenizer;

use std::path::PathBuf;

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

/// SmolLM2 run in-process: its tokens, and counts of its work (the tests
/// prove the prefix cache with them, the benchmark divides them by time).
pub trait LocalModel: LanguageModel {
    /// Token ids of `text` with the model's tokenizer (special tokens such
    /// as `<|im_start|>` are recognised in the text).
    fn encode(&self, text: &str) -> Result<Vec<u32>, ProviderError>;

    /// The tokens the model is given for `prompt`, and how many of them are
    /// the system turn ([`tokenizer::prompt_tokens`]).
    fn prompt_tokens(
        &self,
        prompt: &ChatPrompt,
        max_tokens: usize,
    ) -> Result<(usize, Vec<u32>), ProviderError> {
        tokenizer::prompt_tokens(prompt, max_tokens, |text| self.encode(text))
    }

    /// Prompt tokens run through the model since it was loaded (generated
    /// tokens not included).
    fn prompt_tokens_evaluated(&self) -> u64;

    /// Tokens generated since the model was loaded.
    fn tokens_generated(&self) -> u64;
}

/// The GGUF file both local engines run, which `scripts/setup-agent` puts in
/// the model directory.
pub const LOCAL_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Where the local model's file is ([`crate::models::find`]).
pub fn find_local_model() -> Result<PathBuf, ProviderError> {
    crate::models::find(LOCAL_MODEL_FILE, "the local language model")
}

/// An mpsc receiver as a stream (without pulling in tokio-stream): how the
/// local engines' threads hand their pieces to the async side.
pub(crate) fn receiver_stream<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> BoxStream<'static, T> {
    use futures::StreamExt;
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed()
}

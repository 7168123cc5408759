//! SmolLM2-135M-Instruct (the same GGUF file as [`super::local`]) run
//! in-process with llama.cpp, through the `llama-cpp-2` crate, which builds
//! llama.cpp from its vendored source: the default local engine
//! (`llm_engine = "llama.cpp"`). On this machine's two cores it evaluates
//! prompts and generates several times faster than candle, whose Q4_1
//! kernels are not vectorised (docs/AGENT.md has the figures and the
//! command that measures both).
//!
//! A llama.cpp context borrows its model, so both live on **one thread of
//! their own, which takes jobs (take in a prefix, answer a prompt) from a
//! channel and runs them one at a time** (both cores are busy with one).
//! Tokenizing needs no context and is done by whoever asks.
//!
//! The prefix cache lives in the context's KV cache, one llama.cpp sequence
//! per kept prompt state ([`SLOTS`] of them, sharing [`KV_CELLS`] cells). **A
//! prompt continues the kept state that shares the longest common prefix
//! with it: only the rest is evaluated.** A state whose tokens all lead into
//! the prompt is extended in place; otherwise the shared part is copied into
//! the least recently used sequence (copies share their cells), so the
//! state it came from stays for the prompts that continue it. The state after
//! each answer is kept, as with candle, so a follow-up question evaluates
//! little more than its own turn. When the cells run out, least recently
//! used states are dropped.

use std::convert::Infallible;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc};

use async_trait::async_trait;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::{DecodeError, LogOptions, send_logs_to_tracing};

use super::tokenizer::{END_OF_TEXT, IM_END, prefix_tokens, prompt_tokens};
use super::{LanguageModel, LocalModel, TextStream, receiver_stream};
use crate::prompt::ChatPrompt;
use crate::providers::ProviderError;

/// Kept prompt states: one llama.cpp sequence each.
const SLOTS: usize = 8;

/// KV cells shared by all sequences (a copied prefix shares its cells):
/// room for two whole contexts, ~90 MB (30 layers × K,V × 3 heads × 64 × f16
/// = 23 KB a token).
const KV_CELLS: u32 = 4096;

/// Tokens given to the model in one decode call.
const BATCH: usize = 512;

/// The machine has two cores; the rest of the pipeline waits on the answer.
const THREADS: i32 = 2;

/// The same sampling as candle's engine: repeat penalty 1.2 over the last
/// 64 generated tokens, temperature 0.3, top-p 0.9, fixed seed.
const SEED: u32 = 299_792_458;

/// SmolLM2 on llama.cpp: a handle to the engine thread. Clones share it;
/// the thread ends when the last handle is dropped.
#[derive(Clone)]
pub struct LlamaCppModel {
    /// Shared with the engine thread: the handle tokenizes with it.
    model: Arc<LlamaModel>,
    jobs: mpsc::Sender<Job>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    prompt_tokens_evaluated: AtomicU64,
    tokens_generated: AtomicU64,
}

/// Work for the engine thread.
enum Job {
    /// Evaluate what prompts will begin with, and keep it.
    Prepare {
        prefix: ChatPrompt,
        done: tokio::sync::oneshot::Sender<Result<(), ProviderError>>,
    },
    /// Answer `prompt`, sending each piece of text; stop when the receiver
    /// is gone.
    Answer {
        prompt: ChatPrompt,
        max_tokens: usize,
        pieces: tokio::sync::mpsc::Sender<Result<String, ProviderError>>,
    },
}

/// llama.cpp's process-wide start-up, done once. Its logs go to `tracing`
/// (target `llama-cpp-2`) rather than to stderr.
fn backend() -> Result<&'static LlamaBackend, ProviderError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            send_logs_to_tracing(LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| engine(format!("starting llama.cpp: {e}")))
}

impl LlamaCppModel {
    /// Loads the GGUF file and starts the engine thread (blocking: about a
    /// tenth of a second).
    pub fn load(path: &Path) -> Result<Self, ProviderError> {
        if !path.is_file() {
            return Err(engine(format!(
                "the local language model {} is missing; run scripts/setup-agent",
                path.display()
            )));
        }
        let backend = backend()?;
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| engine(format!("loading {}: {e}", path.display())))?;
        let model = Arc::new(model);
        let counts = Arc::new(Counts::default());
        let (jobs, queue) = mpsc::channel();
        let (ready, started) = mpsc::sync_channel(1);
        let thread_model = Arc::clone(&model);
        let thread_counts = Arc::clone(&counts);
        std::thread::Builder::new()
            .name("llama.cpp".into())
            .spawn(move || run_engine(&thread_model, backend, &queue, &ready, &thread_counts))
            .map_err(|e| engine(format!("starting the llama.cpp thread: {e}")))?;
        started
            .recv()
            .map_err(|_| engine("the llama.cpp thread stopped while starting".into()))??;
        Ok(Self {
            model,
            jobs,
            counts,
        })
    }

    fn send(&self, job: Job) -> Result<(), ProviderError> {
        self.jobs
            .send(job)
            .map_err(|_| engine("the llama.cpp thread has stopped".into()))
    }
}

/// The engine thread: makes the context, says whether that worked, then runs
/// jobs until every handle is gone.
fn run_engine(
    model: &LlamaModel,
    backend: &LlamaBackend,
    queue: &mpsc::Receiver<Job>,
    ready: &mpsc::SyncSender<Result<(), ProviderError>>,
    counts: &Counts,
) {
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(KV_CELLS))
        .with_n_batch(BATCH as u32)
        .with_n_ubatch(BATCH as u32)
        .with_n_seq_max(SLOTS as u32)
        // One pool of cells for all sequences, so a copied prefix shares
        // its cells and any sequence may use the whole context.
        .with_kv_unified(true)
        .with_n_threads(THREADS)
        .with_n_threads_batch(THREADS);
    let context = match model.new_context(backend, params) {
        Ok(context) => context,
        Err(error) => {
            let _ = ready.send(Err(engine(format!("llama.cpp context: {error}"))));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut engine = Engine {
        model,
        context,
        batch: LlamaBatch::new(BATCH, 1),
        slots: (0..SLOTS).map(|_| Slot::default()).collect(),
        clock: 0,
        counts,
    };
    for job in queue {
        match job {
            Job::Prepare { prefix, done } => {
                // The system turn needs no state of its own: any state
                // holding it shares it with the prompts that begin with it.
                let Ok((_, tokens)) =
                    prefix_tokens(&prefix, |text| Ok::<_, Infallible>(encode(model, text)));
                let _ = done.send(engine.evaluate(&tokens, false).map(drop));
            }
            Job::Answer {
                prompt,
                max_tokens,
                pieces,
            } => {
                // Nobody waits for this answer any more.
                if pieces.is_closed() {
                    continue;
                }
                let result = engine.answer(&prompt, max_tokens, |piece| {
                    pieces.blocking_send(Ok(piece)).is_ok()
                });
                if let Err(error) = result {
                    let _ = pieces.blocking_send(Err(error));
                }
            }
        }
    }
}

/// A llama.cpp sequence holding a prompt state.
#[derive(Default)]
struct Slot {
    /// Exactly the tokens the sequence's KV cells hold, from position 0.
    tokens: Vec<LlamaToken>,
    /// The engine's clock when last used (0: never).
    last_used: u64,
}

struct Engine<'m> {
    model: &'m LlamaModel,
    context: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    /// Slot `i` is llama.cpp sequence `i`.
    slots: Vec<Slot>,
    /// Counts evaluations, for least-recently-used eviction.
    clock: u64,
    counts: &'m Counts,
}

impl Engine<'_> {
    /// Generates the answer to `prompt`, calling `emit` with each piece of
    /// text; stops early when `emit` returns false.
    fn answer(
        &mut self,
        prompt: &ChatPrompt,
        max_tokens: usize,
        mut emit: impl FnMut(String) -> bool,
    ) -> Result<(), ProviderError> {
        let model = self.model;
        let Ok((system_len, tokens)) = prompt_tokens(prompt, max_tokens, |text| {
            Ok::<_, Infallible>(encode(model, text))
        });
        let before = self.counts.prompt_tokens_evaluated.load(Ordering::Relaxed);
        let (seq, logits) = self.evaluate(&tokens, true)?;
        let mut logits = logits.expect("the last token is evaluated when its logits are wanted");
        tracing::debug!(
            prompt_tokens = tokens.len(),
            system_tokens = system_len,
            evaluated = self.counts.prompt_tokens_evaluated.load(Ordering::Relaxed) - before,
            "prompt evaluated"
        );
        let mut sampler = LlamaSampler::chain_simple([
            LlamaSampler::penalties(model.n_vocab(), 64, 1.2, 0.0, 0.0),
            LlamaSampler::temp(0.3),
            LlamaSampler::top_p(0.9, 1),
            LlamaSampler::dist(SEED),
        ]);
        let vocab = model.vocab();
        // Bytes of a character split across tokens wait for the rest.
        let mut bytes = Vec::new();
        for position in tokens.len()..tokens.len() + max_tokens {
            let next = sampler.sample(&self.context, logits);
            if next.0 as u32 == IM_END || next.0 as u32 == END_OF_TEXT || vocab.is_eog(next) {
                break;
            }
            self.counts.tokens_generated.fetch_add(1, Ordering::Relaxed);
            vocab.token_to_piece_into(next, &mut bytes, false, None);
            let text = take_text(&mut bytes);
            if !text.is_empty() && !emit(text) {
                break;
            }
            // The answer stays in the sequence: it becomes part of the
            // session's next prompt (its history).
            logits = self.decode(seq, &[next], position)?.unwrap_or(logits);
        }
        Ok(())
    }

    /// Makes a sequence hold `tokens`, evaluating only what no kept state
    /// shares with them; returns it and, if `logits` are wanted, the batch
    /// index of the logits after the last token (which is then evaluated even
    /// when a kept state holds it).
    fn evaluate(
        &mut self,
        tokens: &[LlamaToken],
        logits: bool,
    ) -> Result<(usize, Option<i32>), ProviderError> {
        if tokens.is_empty() {
            return Err(engine("an empty prompt".into()));
        }
        self.clock += 1;
        let (best, shared) = self
            .slots
            .iter()
            .enumerate()
            .map(|(index, slot)| (index, common_prefix(&slot.tokens, tokens), slot.last_used))
            .max_by_key(|&(_, shared, last_used)| (shared, last_used))
            .map(|(index, shared, _)| (index, shared))
            .expect("there are slots");
        let reuse = if logits {
            shared.min(tokens.len() - 1)
        } else {
            shared
        };
        let seq = if shared == self.slots[best].tokens.len() {
            // Everything it holds leads into `tokens`: nothing is lost by
            // extending it.
            best
        } else {
            let target = self.free_slot(best);
            self.clear(target)?;
            if reuse > 0 {
                self.context
                    .copy_kv_cache_seq(best as i32, target as i32, Some(0), Some(reuse as u32))
                    .map_err(|e| engine(format!("copying a kept prefix: {e}")))?;
            }
            self.slots[target].tokens = tokens[..reuse].to_vec();
            target
        };
        self.truncate(seq, reuse)?;
        self.slots[seq].last_used = self.clock;
        let logits = self.decode(seq, &tokens[reuse..], reuse)?;
        self.counts
            .prompt_tokens_evaluated
            .fetch_add((tokens.len() - reuse) as u64, Ordering::Relaxed);
        Ok((seq, logits))
    }

    /// Runs `tokens` through the model into sequence `seq` from position
    /// `start`, which must be where the sequence ends. Returns the batch
    /// index of the logits after the last token (none when there are no
    /// tokens). Drops least recently used sequences when the cells run out.
    fn decode(
        &mut self,
        seq: usize,
        tokens: &[LlamaToken],
        start: usize,
    ) -> Result<Option<i32>, ProviderError> {
        let mut logits = None;
        let mut position = start;
        for chunk in tokens.chunks(BATCH) {
            let last_chunk = position + chunk.len() == start + tokens.len();
            loop {
                self.batch.clear();
                for (offset, token) in chunk.iter().enumerate() {
                    let want_logits = last_chunk && offset + 1 == chunk.len();
                    self.batch
                        .add(
                            *token,
                            (position + offset) as i32,
                            &[seq as i32],
                            want_logits,
                        )
                        .map_err(|e| engine(format!("batch: {e}")))?;
                }
                match self.context.decode(&mut self.batch) {
                    Ok(()) => break,
                    Err(DecodeError::NoKvCacheSlot) => {
                        let Some(victim) = self.victim(seq) else {
                            return Err(engine("the KV cache is full".into()));
                        };
                        self.clear(victim)?;
                    }
                    Err(error) => {
                        // What the failed call left is not known: start the
                        // sequence afresh next time.
                        self.clear(seq)?;
                        return Err(engine(format!("decoding: {error}")));
                    }
                }
            }
            self.slots[seq].tokens.extend_from_slice(chunk);
            position += chunk.len();
            logits = Some(chunk.len() as i32 - 1);
        }
        Ok(logits)
    }

    /// An empty slot other than `keep`, else the one unused longest.
    fn free_slot(&self, keep: usize) -> usize {
        (0..self.slots.len())
            .filter(|&index| index != keep)
            .min_by_key(|&index| {
                let slot = &self.slots[index];
                (!slot.tokens.is_empty(), slot.last_used)
            })
            .expect("there are at least two slots")
    }

    /// The slot holding a state, other than `keep`, unused longest: the
    /// first to drop when the cells run out.
    fn victim(&self, keep: usize) -> Option<usize> {
        (0..self.slots.len())
            .filter(|&index| index != keep && !self.slots[index].tokens.is_empty())
            .min_by_key(|&index| self.slots[index].last_used)
    }

    fn clear(&mut self, seq: usize) -> Result<(), ProviderError> {
        self.truncate(seq, 0)
    }

    /// Keeps the first `len` tokens of sequence `seq`.
    fn truncate(&mut self, seq: usize, len: usize) -> Result<(), ProviderError> {
        if self.slots[seq].tokens.len() <= len {
            return Ok(());
        }
        let removed = self
            .context
            .clear_kv_cache_seq(Some(seq as u32), Some(len as u32), None)
            .map_err(|e| engine(format!("clearing the KV cache: {e}")))?;
        if !removed {
            return Err(engine("llama.cpp could not cut a sequence short".into()));
        }
        self.slots[seq].tokens.truncate(len);
        Ok(())
    }
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn encode(model: &LlamaModel, text: &str) -> Vec<LlamaToken> {
    // No beginning-of-text token: SmolLM2's template starts with its own.
    model.vocab().tokenize(text.as_bytes(), false, true)
}

/// The text the bytes so far make, leaving an unfinished UTF-8 character's
/// bytes for the next token.
fn take_text(bytes: &mut Vec<u8>) -> String {
    let complete = match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        // Cut short: the rest of the character is still to come.
        Err(error) if error.error_len().is_none() => error.valid_up_to(),
        // Not UTF-8 at all: never completed by more bytes.
        Err(_) => bytes.len(),
    };
    let text = String::from_utf8_lossy(&bytes[..complete]).into_owned();
    bytes.drain(..complete);
    text
}

fn engine(message: String) -> ProviderError {
    ProviderError::Engine(message)
}

impl LocalModel for LlamaCppModel {
    fn encode(&self, text: &str) -> Result<Vec<u32>, ProviderError> {
        Ok(encode(&self.model, text)
            .into_iter()
            .map(|token| token.0 as u32)
            .collect())
    }

    fn prompt_tokens_evaluated(&self) -> u64 {
        self.counts.prompt_tokens_evaluated.load(Ordering::Relaxed)
    }

    fn tokens_generated(&self) -> u64 {
        self.counts.tokens_generated.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl LanguageModel for LlamaCppModel {
    fn name(&self) -> &'static str {
        "llama.cpp"
    }

    async fn prepare(&self, prefix: &ChatPrompt) -> Result<(), ProviderError> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.send(Job::Prepare {
            prefix: prefix.clone(),
            done,
        })?;
        result
            .await
            .map_err(|_| engine("the llama.cpp thread stopped".into()))?
    }

    async fn stream(
        &self,
        prompt: &ChatPrompt,
        max_tokens: usize,
    ) -> Result<TextStream, ProviderError> {
        let (pieces, rx) = tokio::sync::mpsc::channel(64);
        self.send(Job::Answer {
            prompt: prompt.clone(),
            max_tokens,
            pieces,
        })?;
        Ok(receiver_stream(rx))
    }
}

#[cfg(test)]
mod tests {
    use super::take_text;

    #[test]
    fn a_character_split_across_tokens_waits_for_its_last_byte() {
        let mut bytes = "é".as_bytes()[..1].to_vec();
        assert_eq!(take_text(&mut bytes), "");
        bytes.extend_from_slice(&"é".as_bytes()[1..]);
        bytes.extend_from_slice(b"t");
        assert_eq!(take_text(&mut bytes), "ét");
        assert!(bytes.is_empty());
        bytes.push(0xff);
        assert_eq!(take_text(&mut bytes), "\u{FFFD}");
    }
}

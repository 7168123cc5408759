//! SmolLM2's tokens: its chat template and the prompt's token budget (the
//! same for both local engines), and the tokenizer candle needs rebuilt from
//! the GGUF file.
//!
//! candle's `TokenizerFromGguf` reads the vocabulary and merges from the
//! file, but does not know `tokenizer.ggml.pre = "smollm"` and falls back to
//! GPT-2's byte-level pre-tokenizer *with a prefix space*: `system` after
//! `<|im_start|>` becomes ` system` (another token), which mangles every turn
//! of the chat template. SmolLM2 was trained with its own pre-tokenizer:
//! digits split one by one, then byte-level **without** a prefix space. This
//! module puts that pre-tokenizer back; the tests compare against token ids
//! of the chat template from SmolLM2's own (Hugging Face) tokenizer.

use candle_core::quantized::gguf_file;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{PreTokenizerWrapper, Tokenizer};

use crate::prompt::{ChatPrompt, Role};

/// `<|endoftext|>`, `<|im_start|>` and `<|im_end|>` in SmolLM2's vocabulary.
pub const END_OF_TEXT: u32 = 0;
pub const IM_START: u32 = 1;
pub const IM_END: u32 = 2;

/// The tokenizer of a SmolLM2 GGUF file, with SmolLM2's pre-tokenizer.
pub fn smollm2_tokenizer(content: &gguf_file::Content) -> candle_core::Result<Tokenizer> {
    let mut tokenizer = Tokenizer::from_gguf(content)?;
    let pre: PreTokenizerWrapper = Sequence::new(vec![
        Digits::new(true).into(),
        ByteLevel::new(false, true, true).into(),
    ])
    .into();
    tokenizer.with_pre_tokenizer(Some(pre));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    // The byte-level post-processor only moves offsets; ids come out as the
    // pre-tokenizer and the merges make them.
    tokenizer.with_post_processor(None::<PostProcessorWrapper>);
    Ok(tokenizer)
}

/// Renders messages in SmolLM2's chat template (ChatML).
pub fn chat_turn(role: &str, content: &str) -> String {
    format!("<|im_start|>{role}\n{content}<|im_end|>\n")
}

/// The cue after which the model writes its answer.
pub const ASSISTANT_CUE: &str = "<|im_start|>assistant\n";

/// SmolLM2's context is 2048 tokens; the prompt is cut to leave room for the
/// answer.
pub const CONTEXT_TOKENS: usize = 2048;

/// The tokens a local engine is given for `prompt`, and how many of them are
/// the system turn: the system turn (at most half the context), then the
/// conversation and the assistant cue, cut from the front to leave room for
/// `max_tokens` of answer. `encode` is the engine's tokenizer, which must
/// recognise the template's special tokens.
pub fn prompt_tokens<T, E>(
    prompt: &ChatPrompt,
    max_tokens: usize,
    encode: impl Fn(&str) -> Result<Vec<T>, E>,
) -> Result<(usize, Vec<T>), E> {
    let mut tokens = system_tokens(&prompt.system, &encode)?;
    let system_len = tokens.len();
    let mut turns = turns_text(prompt);
    turns.push_str(ASSISTANT_CUE);
    let mut turn_tokens = encode(&turns)?;
    let room = CONTEXT_TOKENS.saturating_sub(system_len + max_tokens);
    // Keep the end: the question and the assistant cue.
    tokens.extend(turn_tokens.drain(turn_tokens.len().saturating_sub(room)..));
    Ok((system_len, tokens))
}

/// The tokens of what prompts will begin with (the system turn and the
/// history, no question: [`crate::llm::LanguageModel::prepare`]), and how
/// many of them are the system turn. When the whole would take more than
/// half the context, prompts will be cut from the front, so only the system
/// turn is worth taking in.
pub fn prefix_tokens<T, E>(
    prefix: &ChatPrompt,
    encode: impl Fn(&str) -> Result<Vec<T>, E>,
) -> Result<(usize, Vec<T>), E> {
    let mut tokens = system_tokens(&prefix.system, &encode)?;
    let system_len = tokens.len();
    let turns = encode(&turns_text(prefix))?;
    if system_len + turns.len() <= CONTEXT_TOKENS / 2 {
        tokens.extend(turns);
    }
    Ok((system_len, tokens))
}

/// The system turn's tokens, cut to half the context at most.
fn system_tokens<T, E>(
    system: &str,
    encode: impl Fn(&str) -> Result<Vec<T>, E>,
) -> Result<Vec<T>, E> {
    let mut tokens = encode(&chat_turn("system", system))?;
    tokens.truncate(CONTEXT_TOKENS / 2);
    Ok(tokens)
}

/// The prompt's messages in the chat template. Each turn ends with
/// `<|im_end|>\n` and the next begins with a special token, so the tokens of
/// a prefix of turns are a prefix of the tokens of all of them.
fn turns_text(prompt: &ChatPrompt) -> String {
    let mut text = String::new();
    for message in &prompt.messages {
        let role = match message.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        text.push_str(&chat_turn(role, &message.content));
    }
    text
}

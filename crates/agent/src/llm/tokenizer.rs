//! SmolLM2's tokenizer, rebuilt from the GGUF file.
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

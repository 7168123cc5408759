//! Voice activity detection with WebRTC's detector (libfvad, built by the
//! `webrtc-vad` crate from its bundled C source).
#![allow(unsafe_code)]

use webrtc_vad::{SampleRate, Vad, VadMode};

use crate::audio::{FRAME_SAMPLES, SAMPLE_RATE};

/// Classifies 20 ms frames of 16 kHz audio as speech or not.
pub struct VoiceDetector {
    vad: Vad,
}

// SAFETY: `Vad` is not `Send` only because it holds a raw `*mut Fvad`. An
// Fvad instance is plain heap state without thread affinity, and
// `VoiceDetector` gives access only through `&mut self`, so it is never used
// from two threads at once; moving it between threads (tokio tasks) is sound.
unsafe impl Send for VoiceDetector {}

impl VoiceDetector {
    /// `aggressive`: mode 2 of 0‥3, a balance that ignores steady noise.
    pub fn new() -> Self {
        debug_assert_eq!(SAMPLE_RATE, 16_000);
        Self {
            vad: Vad::new_with_rate_and_mode(SampleRate::Rate16kHz, VadMode::Aggressive),
        }
    }

    /// Whether one 20 ms frame (320 samples) holds speech. Any other length
    /// counts as silence.
    pub fn is_speech(&mut self, frame: &[i16]) -> bool {
        frame.len() == FRAME_SAMPLES && self.vad.is_voice_segment(frame).unwrap_or(false)
    }
}

impl Default for VoiceDetector {
    fn default() -> Self {
        Self::new()
    }
}

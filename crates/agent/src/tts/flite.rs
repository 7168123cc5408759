//! flite 2.2 (Debian's libflite, `flite1-dev`) through hand-written
//! `extern "C"` declarations: four functions and one struct.
//!
//! flite keeps global state (its voice registry, lexicon caches) and is not
//! documented as thread-safe, so **every call into it holds [`FLITE_LOCK`]**.
//! A sentence takes a few tens of milliseconds, so one at a time is enough.
#![allow(unsafe_code)]

use std::ffi::{CString, c_char, c_int, c_short};
use std::sync::{Mutex, OnceLock};

use async_trait::async_trait;
use futures::StreamExt;

use super::{PcmStream, TextToSpeech};
use crate::providers::{ProviderError, on_blocking_thread};

/// Opaque `cst_voice`.
#[repr(C)]
struct CstVoice {
    _private: [u8; 0],
}

/// `cst_wave` from `/usr/include/flite/cst_wave.h`.
#[repr(C)]
struct CstWave {
    kind: *const c_char,
    sample_rate: c_int,
    num_samples: c_int,
    num_channels: c_int,
    samples: *mut c_short,
}

// libc's generator: flite's voices draw their unvoiced excitation from it.
unsafe extern "C" {
    fn srand(seed: std::ffi::c_uint);
}

#[link(name = "flite")]
unsafe extern "C" {
    fn flite_init() -> c_int;
    fn flite_text_to_wave(text: *const c_char, voice: *mut CstVoice) -> *mut CstWave;
    fn delete_wave(wave: *mut CstWave);
}

// The voices link against the US English front end and lexicon.
#[link(name = "flite_usenglish")]
#[link(name = "flite_cmulex")]
#[link(name = "flite_cmu_us_slt")]
#[link(name = "flite_cmu_us_awb")]
#[link(name = "flite_cmu_us_rms")]
unsafe extern "C" {
    fn register_cmu_us_slt(voxdir: *const c_char) -> *mut CstVoice;
    fn register_cmu_us_awb(voxdir: *const c_char) -> *mut CstVoice;
    fn register_cmu_us_rms(voxdir: *const c_char) -> *mut CstVoice;
}

/// The voices linked in; all speak at 16 kHz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FliteVoice {
    /// US English, female (the default).
    Slt,
    /// Scottish English, male.
    Awb,
    /// US English, male.
    Rms,
}

impl FliteVoice {
    pub const ALL: [FliteVoice; 3] = [FliteVoice::Slt, FliteVoice::Awb, FliteVoice::Rms];

    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "slt" => Some(Self::Slt),
            "awb" => Some(Self::Awb),
            "rms" => Some(Self::Rms),
            _ => None,
        }
    }
}

/// Serialises every use of libflite (see the module docs).
static FLITE_LOCK: Mutex<()> = Mutex::new(());

/// A registered voice pointer. Registered once and never freed: flite's
/// voices live for the whole process.
#[derive(Clone, Copy)]
struct VoicePtr(*mut CstVoice);
// SAFETY: the pointer is only dereferenced by flite while FLITE_LOCK is held.
unsafe impl Send for VoicePtr {}
// SAFETY: as above; sharing the address across threads is harmless.
unsafe impl Sync for VoicePtr {}

fn voice_ptr(voice: FliteVoice) -> Result<VoicePtr, ProviderError> {
    static VOICES: OnceLock<[VoicePtr; 3]> = OnceLock::new();
    let voices = VOICES.get_or_init(|| {
        let _guard = FLITE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: flite_init and the register functions take no pointers but
        // the optional voice dir (NULL = compiled-in data); under the lock.
        unsafe {
            flite_init();
            [
                VoicePtr(register_cmu_us_slt(std::ptr::null())),
                VoicePtr(register_cmu_us_awb(std::ptr::null())),
                VoicePtr(register_cmu_us_rms(std::ptr::null())),
            ]
        }
    });
    let ptr = voices[voice as usize];
    if ptr.0.is_null() {
        return Err(ProviderError::Engine(format!(
            "flite: voice {voice:?} did not register"
        )));
    }
    Ok(ptr)
}

/// Synthesises `text` with `voice`: 16 kHz mono PCM. Blocking; tens of ms a
/// sentence.
pub fn synthesize_blocking(voice: FliteVoice, text: &str) -> Result<Vec<i16>, ProviderError> {
    let voice = voice_ptr(voice)?;
    // flite stops at an interior NUL; refuse instead of truncating silently.
    let text = CString::new(text)
        .map_err(|_| ProviderError::Engine("flite: text contains a NUL byte".into()))?;
    let _guard = FLITE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: voice is a registered voice, text a NUL-terminated string that
    // outlives the call; the lock serialises flite's global state. Seeding
    // libc's generator first makes the same text always give the same
    // samples (flite draws noise from rand()), so tests hear recordings.
    let wave = unsafe {
        srand(1);
        flite_text_to_wave(text.as_ptr(), voice.0)
    };
    if wave.is_null() {
        return Err(ProviderError::Engine("flite produced no audio".into()));
    }
    // SAFETY: wave is non-null and owned by us until delete_wave; samples holds
    // num_samples * num_channels shorts.
    let (rate, channels, pcm) = unsafe {
        let w = &*wave;
        let len = (w.num_samples.max(0) as usize) * (w.num_channels.max(1) as usize);
        let pcm = if w.samples.is_null() || len == 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(w.samples, len).to_vec()
        };
        let out = (w.sample_rate, w.num_channels, pcm);
        delete_wave(wave);
        out
    };
    if rate != 16_000 || channels != 1 {
        return Err(ProviderError::Engine(format!(
            "flite spoke {rate} Hz × {channels} channels, expected 16000 Hz mono"
        )));
    }
    Ok(pcm)
}

/// Text-to-speech with flite, the offline default.
#[derive(Debug, Clone)]
pub struct FliteTts {
    voice: FliteVoice,
}

impl FliteTts {
    pub fn new(voice: FliteVoice) -> Result<Self, ProviderError> {
        voice_ptr(voice)?;
        Ok(Self { voice })
    }
}

#[async_trait]
impl TextToSpeech for FliteTts {
    fn name(&self) -> &'static str {
        "flite"
    }

    async fn synthesize(&self, text: &str) -> Result<PcmStream, ProviderError> {
        let (voice, text) = (self.voice, text.to_string());
        let pcm = on_blocking_thread("flite", move || synthesize_blocking(voice, &text)).await?;
        Ok(futures::stream::once(async move { Ok(pcm) }).boxed())
    }
}

//! PocketSphinx (Debian's libpocketsphinx 0.8+5prealpha) through a handful of
//! hand-written `extern "C"` declarations.
//!
//! Why not the `pocketsphinx` crates: they declare the older C API
//! (`ps_start_utt(ps, uttid)`, `ps_get_hyp(ps, &score, &uttid)`), while
//! Debian's header has `ps_start_utt(ps)` and `ps_get_hyp(ps, &score)`; a
//! mismatched declaration is undefined behaviour, so the few functions used
//! here are declared from `/usr/include/pocketsphinx/pocketsphinx.h` itself.
//!
//! One use: keyword spotting (`ps_set_keyphrase`) for the wake phrase, run
//! frame by frame inside the sans-IO pipeline ([`PocketsphinxSpotter`]), so
//! that only what was addressed to the assistant reaches a cloud
//! transcriber. (Its transcriber, with a closed bigram model of the
//! questions it was tuned on, is gone: Whisper hears any words.)
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::PathBuf;
use std::ptr::NonNull;

use crate::providers::ProviderError;
use crate::wake::{Spot, WakeSpotter};

/// Opaque `ps_decoder_t`.
#[repr(C)]
struct PsDecoder {
    _private: [u8; 0],
}
/// Opaque `cmd_ln_t` (sphinxbase).
#[repr(C)]
struct CmdLn {
    _private: [u8; 0],
}
/// Opaque `ps_seg_t`.
#[repr(C)]
struct PsSeg {
    _private: [u8; 0],
}

#[link(name = "pocketsphinx")]
unsafe extern "C" {
    fn ps_args() -> *const c_void;
    fn ps_init(config: *mut CmdLn) -> *mut PsDecoder;
    fn ps_free(ps: *mut PsDecoder) -> c_int;
    fn ps_start_utt(ps: *mut PsDecoder) -> c_int;
    fn ps_process_raw(
        ps: *mut PsDecoder,
        data: *const i16,
        n_samples: usize,
        no_search: c_int,
        full_utt: c_int,
    ) -> c_int;
    fn ps_end_utt(ps: *mut PsDecoder) -> c_int;
    fn ps_get_hyp(ps: *mut PsDecoder, out_best_score: *mut i32) -> *const c_char;
    fn ps_seg_iter(ps: *mut PsDecoder) -> *mut PsSeg;
    fn ps_seg_next(seg: *mut PsSeg) -> *mut PsSeg;
    fn ps_seg_word(seg: *mut PsSeg) -> *const c_char;
    fn ps_seg_frames(seg: *mut PsSeg, out_sf: *mut c_int, out_ef: *mut c_int);
    fn ps_set_keyphrase(ps: *mut PsDecoder, name: *const c_char, keyphrase: *const c_char)
    -> c_int;
    fn ps_set_search(ps: *mut PsDecoder, name: *const c_char) -> c_int;
}

#[link(name = "sphinxbase")]
unsafe extern "C" {
    fn cmd_ln_parse_r(
        inout_cmdln: *mut CmdLn,
        defn: *const c_void,
        argc: i32,
        argv: *mut *mut c_char,
        strict: i32,
    ) -> *mut CmdLn;
    fn cmd_ln_free_r(cmdln: *mut CmdLn) -> c_int;
}

/// Where Debian's `pocketsphinx-en-us` puts the US English model.
pub const DEBIAN_MODEL_DIR: &str = "/usr/share/pocketsphinx/model/en-us";

/// PocketSphinx works in 10 ms feature frames (`-frate 100`).
pub const SAMPLES_PER_FRAME: usize = 160;

/// One recognised word with its place in the utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub word: String,
    /// First and last 10 ms frame, counted from the start of the utterance.
    pub start_frame: i32,
    pub end_frame: i32,
}

/// An owned PocketSphinx decoder.
///
/// **Invariant: `ps` and `config` stay valid until `Drop`, and a decoder is
/// used by one thread at a time** (`&mut self` on every call that touches it).
pub struct Decoder {
    ps: NonNull<PsDecoder>,
    config: NonNull<CmdLn>,
    /// Whether `ps_start_utt` has been called without a matching `ps_end_utt`.
    in_utterance: bool,
}

// SAFETY: a ps_decoder_t is plain heap state with no thread affinity (no
// thread-locals, no callbacks); `Decoder` gives access only through `&mut self`,
// so moving it to another thread is sound.
unsafe impl Send for Decoder {}

impl Decoder {
    /// Creates a decoder from command-line style arguments
    /// (`[("-hmm", "…/en-us"), ("-dict", "…"), …]`).
    pub fn new(args: &[(&str, &str)]) -> Result<Self, ProviderError> {
        let owned: Vec<CString> = args
            .iter()
            .flat_map(|(k, v)| [*k, *v])
            .map(|s| CString::new(s).map_err(|_| engine("argument contains a NUL byte")))
            .collect::<Result<_, _>>()?;
        let mut argv: Vec<*mut c_char> = owned.iter().map(|s| s.as_ptr() as *mut c_char).collect();
        // SAFETY: argv points at NUL-terminated strings that outlive the call
        // (cmd_ln_parse_r copies what it keeps); ps_args() returns a static table.
        let config = unsafe {
            cmd_ln_parse_r(
                std::ptr::null_mut(),
                ps_args(),
                argv.len() as i32,
                argv.as_mut_ptr(),
                1,
            )
        };
        let config =
            NonNull::new(config).ok_or_else(|| engine("pocketsphinx rejected its arguments"))?;
        // SAFETY: config is a valid cmd_ln_t; ps_init takes its own reference.
        let ps = unsafe { ps_init(config.as_ptr()) };
        let Some(ps) = NonNull::new(ps) else {
            // SAFETY: config came from cmd_ln_parse_r and is freed once.
            unsafe { cmd_ln_free_r(config.as_ptr()) };
            return Err(engine(
                "pocketsphinx could not load its model (is pocketsphinx-en-us installed? see scripts/setup-agent)",
            ));
        };
        Ok(Self {
            ps,
            config,
            in_utterance: false,
        })
    }

    /// Adds a keyword-spotting search for one phrase, `threshold` like `1e-20`.
    pub fn add_keyphrase(&mut self, search: &str, phrase: &str) -> Result<(), ProviderError> {
        let (search, phrase) = (cstring(search)?, cstring(phrase)?);
        // SAFETY: valid decoder, NUL-terminated strings copied by the callee.
        let rc = unsafe { ps_set_keyphrase(self.ps.as_ptr(), search.as_ptr(), phrase.as_ptr()) };
        check(rc, "ps_set_keyphrase")
    }

    /// Makes `search` the active one; only allowed between utterances.
    pub fn use_search(&mut self, search: &str) -> Result<(), ProviderError> {
        let search = cstring(search)?;
        // SAFETY: valid decoder, NUL-terminated string.
        let rc = unsafe { ps_set_search(self.ps.as_ptr(), search.as_ptr()) };
        check(rc, "ps_set_search")
    }

    pub fn start_utterance(&mut self) -> Result<(), ProviderError> {
        if self.in_utterance {
            self.end_utterance()?;
        }
        // SAFETY: valid decoder.
        check(unsafe { ps_start_utt(self.ps.as_ptr()) }, "ps_start_utt")?;
        self.in_utterance = true;
        Ok(())
    }

    /// Feeds 16 kHz mono samples; `whole_utterance` when `pcm` is all of it.
    pub fn process(&mut self, pcm: &[i16], whole_utterance: bool) -> Result<(), ProviderError> {
        if !self.in_utterance {
            self.start_utterance()?;
        }
        // SAFETY: valid decoder; pcm is a live slice of pcm.len() samples.
        let rc = unsafe {
            ps_process_raw(
                self.ps.as_ptr(),
                pcm.as_ptr(),
                pcm.len(),
                0,
                c_int::from(whole_utterance),
            )
        };
        if rc < 0 {
            return Err(engine("ps_process_raw failed"));
        }
        Ok(())
    }

    pub fn end_utterance(&mut self) -> Result<(), ProviderError> {
        if !self.in_utterance {
            return Ok(());
        }
        self.in_utterance = false;
        // SAFETY: valid decoder inside an utterance.
        check(unsafe { ps_end_utt(self.ps.as_ptr()) }, "ps_end_utt")
    }

    /// The current best hypothesis (partial while inside an utterance).
    pub fn hypothesis(&mut self) -> Option<String> {
        let mut score = 0i32;
        // SAFETY: valid decoder; the returned string is owned by the decoder and
        // copied before any other call can invalidate it.
        let hyp = unsafe { ps_get_hyp(self.ps.as_ptr(), &mut score) };
        if hyp.is_null() {
            return None;
        }
        // SAFETY: non-null, NUL-terminated, alive until the next decoder call.
        let text = unsafe { CStr::from_ptr(hyp) }
            .to_string_lossy()
            .trim()
            .to_string();
        (!text.is_empty()).then_some(text)
    }

    /// The words of the current hypothesis with their frames.
    pub fn segments(&mut self) -> Vec<Segment> {
        let mut segments = Vec::new();
        // SAFETY: valid decoder; the iterator is walked to its end, where
        // ps_seg_next frees it and returns NULL.
        unsafe {
            let mut seg = ps_seg_iter(self.ps.as_ptr());
            while !seg.is_null() {
                let word = ps_seg_word(seg);
                let (mut start_frame, mut end_frame) = (0, 0);
                ps_seg_frames(seg, &mut start_frame, &mut end_frame);
                if !word.is_null() {
                    segments.push(Segment {
                        word: CStr::from_ptr(word).to_string_lossy().into_owned(),
                        start_frame,
                        end_frame,
                    });
                }
                seg = ps_seg_next(seg);
            }
        }
        segments
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: both pointers are valid and released exactly once here; the
        // decoder holds its own reference to the config, so order is free.
        unsafe {
            ps_free(self.ps.as_ptr());
            cmd_ln_free_r(self.config.as_ptr());
        }
    }
}

fn cstring(s: &str) -> Result<CString, ProviderError> {
    CString::new(s).map_err(|_| engine("string contains a NUL byte"))
}

fn check(rc: c_int, what: &str) -> Result<(), ProviderError> {
    if rc < 0 {
        Err(engine(&format!("{what} failed")))
    } else {
        Ok(())
    }
}

fn engine(message: &str) -> ProviderError {
    ProviderError::Engine(format!("pocketsphinx: {message}"))
}

/// Files of the acoustic model and dictionary.
#[derive(Debug, Clone)]
pub struct PocketsphinxModel {
    pub dir: PathBuf,
}

impl Default for PocketsphinxModel {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(DEBIAN_MODEL_DIR),
        }
    }
}

impl PocketsphinxModel {
    pub fn acoustic_model(&self) -> PathBuf {
        self.dir.join("en-us")
    }
    pub fn dictionary(&self) -> PathBuf {
        self.dir.join("cmudict-en-us.dict")
    }

    /// Arguments shared by every decoder: the model, silence on the log.
    fn base_args(&self) -> Vec<(String, String)> {
        vec![
            (
                "-hmm".into(),
                self.acoustic_model().to_string_lossy().into_owned(),
            ),
            (
                "-dict".into(),
                self.dictionary().to_string_lossy().into_owned(),
            ),
            ("-logfn".into(), "/dev/null".into()),
        ]
    }

    fn decoder(&self, extra: &[(&str, &str)]) -> Result<Decoder, ProviderError> {
        let mut args = self.base_args();
        args.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let borrowed: Vec<(&str, &str)> =
            args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Decoder::new(&borrowed)
    }
}

/// The wake-phrase spotter: PocketSphinx keyword search over each frame as
/// it arrives. Fires at most once per utterance.
pub struct PocketsphinxSpotter {
    decoder: Decoder,
    /// Samples fed since `start`, to turn frames into time.
    samples_fed: u64,
    /// Samples fed before this utterance: keyword search numbers its frames
    /// from the start of the stream, not of the utterance.
    stream_offset: u64,
    fired: bool,
}

impl PocketsphinxSpotter {
    /// `threshold` is PocketSphinx's `-kws_threshold` (FACTS: 1e-10 … 1e-50
    /// all found the phrase in flite voices; lower means more eager).
    pub fn new(
        model: &PocketsphinxModel,
        phrase: &str,
        threshold: f64,
    ) -> Result<Self, ProviderError> {
        let threshold = format!("{threshold:e}");
        let mut decoder = model.decoder(&[("-kws_threshold", &threshold)])?;
        decoder.add_keyphrase("wake", &phrase.to_lowercase())?;
        decoder.use_search("wake")?;
        Ok(Self {
            decoder,
            samples_fed: 0,
            stream_offset: 0,
            fired: false,
        })
    }
}

impl WakeSpotter for PocketsphinxSpotter {
    fn start(&mut self) {
        self.stream_offset += self.samples_fed;
        self.samples_fed = 0;
        self.fired = false;
        if let Err(error) = self.decoder.start_utterance() {
            tracing::warn!(%error, "wake spotter could not start an utterance");
        }
    }

    fn process(&mut self, pcm: &[i16]) -> Option<Spot> {
        // Every frame goes to the decoder, also after the phrase was found,
        // so its frame numbers and `stream_offset` stay in step.
        self.samples_fed += pcm.len() as u64;
        if let Err(error) = self.decoder.process(pcm, false) {
            tracing::warn!(%error, "wake spotter failed on a frame");
            return None;
        }
        if self.fired {
            return None;
        }
        self.decoder.hypothesis()?;
        self.fired = true;
        // Where the phrase ended, for the wake delay; the segment is the
        // keyphrase itself in keyword-search mode.
        let end_sample = self
            .decoder
            .segments()
            .last()
            .map(|s| {
                ((s.end_frame.max(0) as u64 + 1) * SAMPLES_PER_FRAME as u64)
                    .saturating_sub(self.stream_offset)
            })
            .filter(|&end| end > 0)
            .unwrap_or(self.samples_fed)
            .min(self.samples_fed);
        Some(Spot { end_sample })
    }

    fn finish(&mut self) {
        if let Err(error) = self.decoder.end_utterance() {
            tracing::warn!(%error, "wake spotter could not end an utterance");
        }
    }
}

//! Phonemes from espeak-ng 1.51 (Debian's libespeak-ng, `libespeak-ng-dev`)
//! through hand-written `extern "C"` declarations: the IPA that Piper's
//! voices were trained on, one clause at a time.
//!
//! espeak-ng keeps global state (the current voice, the clause reader's
//! look-ahead) and is not thread-safe, so **every call into it holds
//! [`ESPEAK`], and one text is read to its end under one hold**: the reader
//! carries a character over from one clause to the next inside the library.
//!
//! Piper's own build of espeak-ng reports how each clause ended
//! (`espeak_TextToPhonemesWithTerminator`); the stock library does not, and
//! drops the punctuation. The terminator is recovered from the text each
//! call consumed (see [`terminator`]), so the voice still hears its `,` `.`
//! `?` `!` `:` `;`.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::Mutex;

use crate::providers::ProviderError;

/// `AUDIO_OUTPUT_SYNCHRONOUS`: no audio device; nothing is played here.
const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
/// `espeakINITIALIZE_DONT_EXIT`: without it a missing `espeak-ng-data` ends
/// the whole process; with it the voice fails to load and flite speaks.
const INITIALIZE_DONT_EXIT: c_int = 0x8000;
/// `espeakCHARS_UTF8`.
const CHARS_UTF8: c_int = 1;
/// `espeakPHONEMES_IPA`: IPA as UTF-8, no separator between phonemes.
const PHONEMES_IPA: c_int = 0x02;
/// `EE_OK`.
const EE_OK: c_int = 0;

#[link(name = "espeak-ng")]
unsafe extern "C" {
    fn espeak_Initialize(
        output: c_int,
        buflength: c_int,
        path: *const c_char,
        options: c_int,
    ) -> c_int;
    fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    fn espeak_TextToPhonemes(
        textptr: *mut *const c_void,
        textmode: c_int,
        phonememode: c_int,
    ) -> *const c_char;
}

/// What the library has been told so far; only touched under [`ESPEAK`].
struct Espeak {
    /// `espeak_Initialize` has run (once per process).
    initialized: bool,
    /// The voice last set, so a text in the same voice skips reloading it.
    voice: Option<String>,
}

/// Serialises every use of libespeak-ng (see the module docs).
static ESPEAK: Mutex<Espeak> = Mutex::new(Espeak {
    initialized: false,
    voice: None,
});

/// How a clause ended, as Piper's phoneme map spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminator {
    Period,
    Comma,
    Question,
    Exclamation,
    Colon,
    Semicolon,
}

impl Terminator {
    fn from_char(c: char) -> Option<Self> {
        Some(match c {
            '.' => Self::Period,
            ',' => Self::Comma,
            '?' => Self::Question,
            '!' => Self::Exclamation,
            ':' => Self::Colon,
            ';' => Self::Semicolon,
            _ => return None,
        })
    }

    pub fn as_char(self) -> char {
        match self {
            Self::Period => '.',
            Self::Comma => ',',
            Self::Question => '?',
            Self::Exclamation => '!',
            Self::Colon => ':',
            Self::Semicolon => ';',
        }
    }
}

/// One clause as espeak-ng read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// IPA, words separated by spaces, language-switch marks like `(fr)`
    /// removed (Piper removes them too). Never empty.
    pub phonemes: String,
    /// The punctuation that ended it, if any.
    pub terminator: Option<Terminator>,
}

/// The clauses of `text` in `voice` (an espeak-ng voice name such as
/// `en-us`). Clauses without a phoneme (bare punctuation, whitespace) are
/// left out, so empty text gives no clause. Blocking; well under a
/// millisecond a clause.
pub fn clauses(voice: &str, text: &str) -> Result<Vec<Clause>, ProviderError> {
    // espeak-ng reads up to a NUL: refuse instead of dropping the rest.
    let c_text = CString::new(text)
        .map_err(|_| ProviderError::Engine("espeak-ng: text contains a NUL byte".into()))?;
    let mut espeak = ESPEAK.lock().unwrap_or_else(|e| e.into_inner());
    espeak.select(voice)?;

    let base = c_text.as_ptr();
    let mut cursor: *const c_void = base.cast();
    let mut consumed_from = 0usize;
    let mut clauses = Vec::new();
    // Each call consumes at least one character or ends the text; the bound
    // only guards against a library that would do neither.
    for _ in 0..=text.len() + 1 {
        if cursor.is_null() {
            break;
        }
        // SAFETY: `cursor` points into `c_text`, NUL-terminated and alive for
        // the whole loop; espeak-ng advances it within that buffer or sets
        // it to NULL at the end. The returned string is espeak-ng's own
        // buffer, copied out before the next call, all under the lock.
        let phonemes = unsafe {
            let phonemes = espeak_TextToPhonemes(&mut cursor, CHARS_UTF8, PHONEMES_IPA);
            if phonemes.is_null() {
                String::new()
            } else {
                CStr::from_ptr(phonemes).to_string_lossy().into_owned()
            }
        };
        let consumed_to = if cursor.is_null() {
            None
        } else {
            Some(
                (cursor as usize)
                    .saturating_sub(base as usize)
                    .min(text.len()),
            )
        };
        let span = text
            .get(consumed_from..consumed_to.unwrap_or(text.len()))
            .unwrap_or("");
        let phonemes = without_language_marks(&phonemes);
        if !phonemes.trim().is_empty() {
            clauses.push(Clause {
                phonemes: phonemes.trim().to_string(),
                terminator: terminator(span, consumed_to.is_none()),
            });
        }
        consumed_from = consumed_to.unwrap_or(text.len());
    }
    Ok(clauses)
}

impl Espeak {
    /// Initialises the library once and makes `voice` the current voice.
    fn select(&mut self, voice: &str) -> Result<(), ProviderError> {
        if !self.initialized {
            // SAFETY: NULL path = the default data directory; no pointers
            // kept. Under the lock. Its return value (the sample rate) says
            // nothing about the data: selecting the voice below does.
            unsafe {
                espeak_Initialize(
                    AUDIO_OUTPUT_SYNCHRONOUS,
                    0,
                    std::ptr::null(),
                    INITIALIZE_DONT_EXIT,
                )
            };
            self.initialized = true;
        }
        if self.voice.as_deref() == Some(voice) {
            return Ok(());
        }
        let name = CString::new(voice)
            .map_err(|_| ProviderError::Engine("espeak-ng: voice name contains a NUL".into()))?;
        // SAFETY: a NUL-terminated name the library copies; under the lock.
        let status = unsafe { espeak_SetVoiceByName(name.as_ptr()) };
        if status != EE_OK {
            self.voice = None;
            return Err(ProviderError::Engine(format!(
                "espeak-ng has no voice {voice:?} (error {status}); is espeak-ng-data installed? see scripts/setup-agent"
            )));
        }
        self.voice = Some(voice.to_string());
        Ok(())
    }
}

/// The punctuation a clause ended with, from `span`, the text one call of
/// `espeak_TextToPhonemes` consumed. The library's reader looks one
/// character past the clause (past the space after its punctuation) before
/// handing the rest back, so unless the text ended (`last`) the span's last
/// character belongs to the next clause. What is left, without trailing
/// spaces and closing quotes or brackets, ends with the terminator if the
/// clause had one.
fn terminator(span: &str, last: bool) -> Option<Terminator> {
    let mut chars = span.chars();
    if !last {
        chars.next_back();
    }
    chars
        .as_str()
        .trim_end_matches(|c: char| {
            c.is_whitespace() || matches!(c, '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '»')
        })
        .chars()
        .next_back()
        .and_then(Terminator::from_char)
}

/// `phonemes` without espeak-ng's language-switch marks, `(fr)`…`(en)`,
/// which surround words it reads in another language's rules.
fn without_language_marks(phonemes: &str) -> String {
    let mut kept = String::with_capacity(phonemes.len());
    let mut rest = phonemes;
    while let Some(open) = rest.find('(') {
        kept.push_str(&rest[..open]);
        match rest[open..].find(')') {
            Some(close) => rest = &rest[open + close + 1..],
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    kept.push_str(rest);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<(String, Option<char>)> {
        clauses("en-us", text)
            .unwrap()
            .into_iter()
            .map(|c| (c.phonemes, c.terminator.map(Terminator::as_char)))
            .collect()
    }

    #[test]
    fn each_clause_keeps_its_punctuation() {
        let clauses = read("Hello, world! How are you? Fine: thanks; bye.");
        let terminators: Vec<_> = clauses.iter().map(|(_, t)| *t).collect();
        assert_eq!(
            terminators,
            [
                Some(','),
                Some('!'),
                Some('?'),
                Some(':'),
                Some(';'),
                Some('.')
            ],
            "{clauses:?}"
        );
        // The character the reader looked ahead at is not lost.
        assert_eq!(clauses[1].0, "wˈɜːld", "{clauses:?}");
        assert_eq!(clauses[5].0, "bˈaɪ", "{clauses:?}");
    }

    #[test]
    fn a_sentence_is_one_clause_in_ipa() {
        assert_eq!(
            read("A closure is a function that captures its environment."),
            [(
                "ɐ klˈoʊʒɚɹ ɪz ɐ fˈʌŋkʃən ðæt kˈæptʃɚz ɪts ɛnvˈaɪɹənmənt".to_string(),
                Some('.')
            )]
        );
    }

    #[test]
    fn decimals_abbreviations_and_quotes_end_no_clause_early() {
        let clauses = read("It costs 3.5 dollars, e.g. here. He said \"stop.\" Then left");
        let terminators: Vec<_> = clauses.iter().map(|(_, t)| *t).collect();
        assert_eq!(
            terminators,
            [Some(','), Some('.'), Some('.'), None],
            "{clauses:?}"
        );
        assert!(clauses[0].0.contains("pɔɪnt"), "{clauses:?}");
    }

    #[test]
    fn text_without_words_has_no_clause() {
        for text in ["", "   ", "\n\t", ".", "?!", " , "] {
            assert_eq!(read(text), [], "{text:?}");
        }
    }

    #[test]
    fn a_text_does_not_leak_into_the_next() {
        // "x, y": the reader holds "y" when the first call returns.
        assert_eq!(read("x, y").len(), 2);
        assert_eq!(read("hello"), [("həlˈoʊ".to_string(), None)]);
    }

    #[test]
    fn language_marks_are_removed() {
        assert_eq!(without_language_marks("(fr)bɔ̃ʒuʁ(en) hˈaɪ"), "bɔ̃ʒuʁ hˈaɪ");
        assert_eq!(without_language_marks("a(b"), "a(b");
    }

    #[test]
    fn an_unknown_voice_is_an_error() {
        let error = clauses("no-such-voice", "hello").unwrap_err().to_string();
        assert!(error.contains("no-such-voice"), "{error}");
        // The next text in a real voice still reads.
        assert_eq!(read("hello").len(), 1);
    }
}

//! End of turn: has the speaker finished, or only paused?
//!
//! Voice activity says when someone is silent; it cannot tell "what is a
//! closure in rust?" from "how do I… um…". [`SmartTurn`] can: Smart Turn
//! v3.2 (`smart-turn-v3.2-cpu.onnx` from the `pipecat-ai` package, Pipecat's
//! default turn detector) is a Whisper-tiny encoder with a classifier that
//! hears intonation and the shape of the sentence. It reads the Whisper
//! log-mel features ([`crate::mel`]) of the last 8 s of the turn, audio
//! shorter than that zero-padded at the start, normalised to zero mean and
//! unit variance, and answers the probability that the turn is complete.
//!
//! One call takes tens of milliseconds, so the sans-IO pipeline asks for it
//! with an event ([`crate::pipeline::Event::CheckTurn`]) when the speaker
//! falls silent, and the session task runs it on a blocking thread.

use std::sync::Mutex;

use ort::session::Session;
use ort::value::TensorRef;

use crate::audio::SAMPLE_RATE;
use crate::mel::{HOP, LogMel, N_MELS};
use crate::models;
use crate::providers::ProviderError;

/// The model file, from the `pipecat-ai` package.
pub const SMART_TURN_FILE: &str = "smart-turn-v3.2-cpu.onnx";
/// Seconds of audio the model hears: the end of a longer turn.
pub const WINDOW_SECONDS: usize = 8;
/// Feature frames of the window (one per 10 ms).
const FRAMES: usize = WINDOW_SECONDS * SAMPLE_RATE as usize / HOP;
/// Above this probability the turn is complete (the model's own cut-off).
const COMPLETE_ABOVE: f32 = 0.5;

/// What the end-of-turn model said of a turn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnVerdict {
    /// The speaker has finished: answer now.
    pub complete: bool,
    /// The model's probability that the turn is complete.
    pub probability: f32,
}

impl TurnVerdict {
    pub fn from_probability(probability: f32) -> Self {
        Self {
            complete: probability > COMPLETE_ABOVE,
            probability,
        }
    }
}

/// Decides whether a turn is over from its audio. Blocking: the session
/// task calls it on a blocking thread.
pub trait TurnDetector: Send + Sync {
    /// `pcm`: the turn so far, 16 kHz mono, ending now (with the silence
    /// that made the pipeline ask).
    fn verdict(&self, pcm: &[i16]) -> Result<TurnVerdict, ProviderError>;
}

/// Smart Turn v3.2 on ONNX Runtime. One per process, shared by every
/// session: a call holds the session's lock for its few tens of ms.
pub struct SmartTurn {
    session: Mutex<Session>,
    mel: LogMel,
}

impl std::fmt::Debug for SmartTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmartTurn")
    }
}

impl SmartTurn {
    /// Loads the model from the model directory, to run on `threads`
    /// intra-op threads.
    pub fn load(threads: usize) -> Result<Self, ProviderError> {
        let path = models::find(SMART_TURN_FILE, "Smart Turn v3.2")?;
        Ok(Self {
            session: Mutex::new(models::onnx_session(&path, threads)?),
            mel: LogMel::new(),
        })
    }

    /// The model's input for `pcm`: the log-mel features of its last 8 s,
    /// zero-padded at the start, `N_MELS × FRAMES`.
    fn features(&self, pcm: &[i16]) -> Vec<f32> {
        let window = WINDOW_SECONDS * SAMPLE_RATE as usize;
        let taken = &pcm[pcm.len().saturating_sub(window)..];
        let mut audio = vec![0.0f32; window - taken.len()];
        audio.extend(taken.iter().map(|&s| s as f32 / 32768.0));
        self.mel.features(&audio, FRAMES, true)
    }
}

impl TurnDetector for SmartTurn {
    fn verdict(&self, pcm: &[i16]) -> Result<TurnVerdict, ProviderError> {
        let failed = |e: &dyn std::fmt::Display| ProviderError::Engine(format!("Smart Turn: {e}"));
        let features = self.features(pcm);
        let input = TensorRef::from_array_view(([1usize, N_MELS, FRAMES], &features[..]))
            .map_err(|e| failed(&e))?;
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session
            .run(ort::inputs!["input_features" => input])
            .map_err(|e| failed(&e))?;
        let (_, probability) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| failed(&e))?;
        let probability = *probability
            .first()
            .ok_or_else(|| failed(&"the model answered nothing"))?;
        Ok(TurnVerdict::from_probability(probability))
    }
}

/// Words a question does not end on: articles and possessives, joining
/// words, question words, "I", auxiliaries and fillers ("how do I", "what
/// is the", "sort it and", "um"). Left out on purpose: words that do end
/// questions ("what does it do", "what is this about", "what are you
/// working on", "what can you help me with").
const TRAILING: &[&str] = &[
    "a", "an", "the", "my", "your", "our", "their", "its", "and", "or", "but", "because", "if",
    "whether", "than", "of", "to", "into", "how", "what", "why", "where", "which", "who", "whose",
    "i", "i'm", "can", "could", "should", "would", "will", "is", "are", "was", "were", "am", "um",
    "umm", "uh", "uhm", "er", "erm", "hmm", "mm",
];

/// Whether a question's words stop in the middle: `question` is what
/// follows the wake phrase, `transcript` the whole transcript (Whisper marks
/// a voice trailing off with "…" or a comma). The end-of-turn model hears
/// intonation; this reads the words, for a question cut at a thinking
/// pause that the model heard as finished.
pub fn words_trail_off(transcript: &str, question: &str) -> bool {
    let end = transcript.trim_end();
    if end.ends_with("...") || end.ends_with('…') || end.ends_with(',') || end.ends_with('-') {
        return true;
    }
    question
        .split_whitespace()
        .last()
        .map(|word| {
            word.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                .to_lowercase()
                .replace('’', "'")
        })
        .is_some_and(|word| TRAILING.contains(&word.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tts::flite::{FliteVoice, synthesize_blocking};

    /// `text` spoken by `voice`, then `silence_ms` of silence (what the
    /// pipeline hands over when it asks).
    fn spoken(voice: FliteVoice, text: &str, silence_ms: usize) -> Vec<i16> {
        let mut pcm = synthesize_blocking(voice, text).unwrap();
        trim_trailing_quiet(&mut pcm);
        pcm.extend(std::iter::repeat_n(0, silence_ms * 16));
        pcm
    }

    /// Drops flite's own trailing silence, so the silence is the one added.
    fn trim_trailing_quiet(pcm: &mut Vec<i16>) {
        let end = pcm
            .iter()
            .rposition(|s| s.unsigned_abs() > 300)
            .map_or(0, |i| i + 1);
        pcm.truncate(end);
    }

    #[test]
    fn words_that_stop_mid_question_trail_off() {
        let trails = |t: &str| {
            let question = t.split_once("agent").map_or(t, |(_, q)| q);
            let question = question.trim_matches(|c: char| !c.is_alphanumeric());
            words_trail_off(t, question)
        };
        for cut in [
            "Hey agent, how do I",
            "Hey agent, how do I?",
            "hey agent what is the",
            "Hey agent, sort the list and",
            "Hey agent, what's the type of",
            "Hey agent, how do I, um",
            "Hey agent, how can I sort...",
            "Hey agent, how can I sort a map,",
        ] {
            assert!(trails(cut), "{cut:?}");
        }
        for whole in [
            "Hey agent, how do I sort a map in Go?",
            "Hey agent, what does this function do?",
            "Hey agent, what is this project about?",
            "Hey agent, what are you working on?",
            "Hey agent, what is a closure",
            "Hey agent, explain it.",
        ] {
            assert!(!trails(whole), "{whole:?}");
        }
    }

    #[test]
    fn the_model_takes_log_mel_features_and_answers_one_probability() {
        let path = models::find(SMART_TURN_FILE, "Smart Turn v3.2").unwrap();
        let session = models::onnx_session(&path, 1).unwrap();
        let describe = |outlets: &[ort::value::Outlet]| {
            outlets
                .iter()
                .map(|o| format!("{} {}", o.name(), o.dtype()))
                .collect::<Vec<_>>()
        };
        eprintln!(
            "Smart Turn inputs {:?}, outputs {:?}",
            describe(session.inputs()),
            describe(session.outputs())
        );
        assert_eq!(session.inputs().len(), 1);
        assert_eq!(session.inputs()[0].name(), "input_features");
        assert_eq!(session.outputs().len(), 1);

        let turn = SmartTurn::load(1).unwrap();
        for pcm in [Vec::new(), vec![0i16; 1600], vec![0i16; 200_000]] {
            let verdict = turn.verdict(&pcm).unwrap();
            assert!((0.0..=1.0).contains(&verdict.probability), "{verdict:?}");
        }
    }

    #[test]
    fn a_finished_question_is_complete_and_one_trailing_off_is_not() {
        let turn = SmartTurn::load(1).unwrap();
        for voice in FliteVoice::ALL {
            let verdict = |pcm: &[i16]| turn.verdict(pcm).unwrap();
            let finished = verdict(&spoken(voice, "hey agent, what is a closure in rust?", 200));
            let trailing = verdict(&spoken(voice, "hey agent, how do I, um,", 200));
            // "how do I sort a map" cut three quarters of the way through.
            let mut cut = spoken(voice, "hey agent, how do I sort a map", 0);
            cut.truncate(cut.len() * 3 / 4);
            cut.extend(std::iter::repeat_n(0, 200 * 16));
            let cut = verdict(&cut);
            eprintln!(
                "{voice:?}: finished {:.3}, \"how do I, um\" {:.3}, cut mid-sentence {:.3}",
                finished.probability, trailing.probability, cut.probability
            );
            // flite's flat prosody makes the cut sentence a coin toss (it is
            // only printed); a question's end and a trailing "um" are not.
            assert!(finished.complete, "{voice:?}: {finished:?}");
            assert!(
                finished.probability > trailing.probability,
                "{voice:?}: {finished:?} vs {trailing:?}"
            );
        }
    }
}

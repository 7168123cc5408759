//! The spoken evaluation: does the assistant wake when spoken to, only
//! then, and hear the question right?
//!
//! [`samples`] makes the test set: every question of [`set::QUESTIONS`]
//! after "hey agent", and every [`set::DECOYS`] sentence, each spoken by one
//! of the synthetic [`Voice`]s in turn (three engines: flite, espeak-ng,
//! Piper). [`evaluate`] puts each through a session of the assistant — voice
//! activity, end of turn, transcription, the wake phrase on the words —
//! and [`Report`] scores it: wake recall, false wakes, the word error rate
//! of the heard question and how often its topic word was heard.
//!
//! The agent's tests assert the scores; `lockin-bench agent --eval` prints
//! them.

mod run;
pub mod score;
pub mod set;

pub use run::{evaluate, speak};

use std::fmt;

use serde::Serialize;

use score::{normalize, topic_heard, word_errors};

/// A synthetic voice of the test set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Voice {
    /// flite's US English female voice.
    FliteSlt,
    /// flite's Scottish English male voice.
    FliteAwb,
    /// flite's US English male voice.
    FliteRms,
    /// espeak-ng's formant voice, US English.
    EspeakNg,
    /// Piper's neural voice "joe" (the assistant's own offline voice).
    PiperJoe,
}

impl Voice {
    pub const ALL: [Voice; 5] = [
        Voice::FliteSlt,
        Voice::FliteAwb,
        Voice::FliteRms,
        Voice::EspeakNg,
        Voice::PiperJoe,
    ];

    pub fn engine(self) -> &'static str {
        match self {
            Voice::FliteSlt | Voice::FliteAwb | Voice::FliteRms => "flite",
            Voice::EspeakNg => "espeak-ng",
            Voice::PiperJoe => "piper",
        }
    }
}

impl fmt::Display for Voice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Voice::FliteSlt => "flite slt",
            Voice::FliteAwb => "flite awb",
            Voice::FliteRms => "flite rms",
            Voice::EspeakNg => "espeak-ng en-us",
            Voice::PiperJoe => "piper joe",
        };
        f.write_str(name)
    }
}

/// What a sample should do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expect {
    /// Wake the assistant and be heard as `question`.
    Wake { question: String, topic: String },
    /// Not wake it.
    Decoy,
}

/// One sentence of the set, and who says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// What is spoken.
    pub text: String,
    pub voice: Voice,
    pub expect: Expect,
}

/// The whole set: questions and decoys interleaved over the voices, each
/// voice saying about as many of each.
pub fn samples() -> Vec<Sample> {
    let questions = set::QUESTIONS.iter().map(|(question, topic)| {
        (
            format!("hey agent, {question}"),
            Expect::Wake {
                question: question.to_string(),
                topic: topic.to_string(),
            },
        )
    });
    let decoys = set::DECOYS
        .iter()
        .map(|text| (text.to_string(), Expect::Decoy));
    questions
        .chain(decoys)
        .enumerate()
        .map(|(i, (text, expect))| Sample {
            text,
            voice: Voice::ALL[i % Voice::ALL.len()],
            expect,
        })
        .collect()
}

/// What the assistant made of one sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub sample: Sample,
    /// The whole utterance as transcribed (empty when nothing was heard).
    pub transcript: String,
    /// The question it took, when it woke.
    pub question: Option<String>,
}

/// The scores over a set of outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub questions: usize,
    pub decoys: usize,
    /// Questions that woke the assistant.
    pub woken: usize,
    /// Decoys that woke it.
    pub false_wakes: usize,
    /// Word errors over the reference words of all questions (an unwoken
    /// question counts all its words as errors).
    pub word_errors: usize,
    pub reference_words: usize,
    /// Questions whose topic word was heard in the question taken.
    pub topics_heard: usize,
    /// Per voice: (voice, questions, woken, false wakes, word errors,
    /// reference words).
    pub by_voice: Vec<VoiceScore>,
    pub outcomes: Vec<Outcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoiceScore {
    pub voice: Voice,
    pub questions: usize,
    pub woken: usize,
    pub decoys: usize,
    pub false_wakes: usize,
    pub word_errors: usize,
    pub reference_words: usize,
}

impl Report {
    pub fn new(outcomes: Vec<Outcome>) -> Self {
        let mut report = Report {
            questions: 0,
            decoys: 0,
            woken: 0,
            false_wakes: 0,
            word_errors: 0,
            reference_words: 0,
            topics_heard: 0,
            by_voice: Voice::ALL
                .iter()
                .map(|&voice| VoiceScore {
                    voice,
                    questions: 0,
                    woken: 0,
                    decoys: 0,
                    false_wakes: 0,
                    word_errors: 0,
                    reference_words: 0,
                })
                .collect(),
            outcomes: Vec::new(),
        };
        for outcome in &outcomes {
            let voice = report
                .by_voice
                .iter_mut()
                .find(|v| v.voice == outcome.sample.voice)
                .expect("every voice has a row");
            match &outcome.sample.expect {
                Expect::Wake { question, topic } => {
                    let reference = normalize(question);
                    let heard = normalize(outcome.question.as_deref().unwrap_or(""));
                    let errors = word_errors(&reference, &heard);
                    report.questions += 1;
                    voice.questions += 1;
                    report.reference_words += reference.len();
                    voice.reference_words += reference.len();
                    report.word_errors += errors;
                    voice.word_errors += errors;
                    if outcome.question.is_some() {
                        report.woken += 1;
                        voice.woken += 1;
                    }
                    if topic_heard(topic, &heard) {
                        report.topics_heard += 1;
                    }
                }
                Expect::Decoy => {
                    report.decoys += 1;
                    voice.decoys += 1;
                    if outcome.question.is_some() {
                        report.false_wakes += 1;
                        voice.false_wakes += 1;
                    }
                }
            }
        }
        report.outcomes = outcomes;
        report
    }

    /// Woken questions over all questions.
    pub fn wake_recall(&self) -> f64 {
        ratio(self.woken, self.questions)
    }

    /// Word error rate of the questions.
    pub fn word_error_rate(&self) -> f64 {
        ratio(self.word_errors, self.reference_words)
    }

    /// Questions whose topic word was heard, over all questions.
    pub fn topic_accuracy(&self) -> f64 {
        ratio(self.topics_heard, self.questions)
    }

    /// The outcomes that missed: unwoken questions, false wakes, and
    /// questions heard with errors.
    pub fn misses(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| match &o.sample.expect {
            Expect::Wake { question, .. } => {
                let heard = normalize(o.question.as_deref().unwrap_or(""));
                o.question.is_none() || word_errors(&normalize(question), &heard) > 0
            }
            Expect::Decoy => o.question.is_some(),
        })
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "spoken evaluation: {} questions, {} decoys, {} voices from {} engines",
            self.questions,
            self.decoys,
            Voice::ALL.len(),
            {
                let mut engines: Vec<&str> = Voice::ALL.iter().map(|v| v.engine()).collect();
                engines.dedup();
                engines.len()
            }
        )?;
        writeln!(
            f,
            "  wake recall {:.1} % ({}/{}), false wakes {} of {}, word error rate {:.1} % ({}/{} words), topic word heard {:.1} % ({}/{})",
            100.0 * self.wake_recall(),
            self.woken,
            self.questions,
            self.false_wakes,
            self.decoys,
            100.0 * self.word_error_rate(),
            self.word_errors,
            self.reference_words,
            100.0 * self.topic_accuracy(),
            self.topics_heard,
            self.questions,
        )?;
        writeln!(
            f,
            "  voice              questions woken  WER      decoys false wakes"
        )?;
        for v in &self.by_voice {
            writeln!(
                f,
                "  {:<18} {:>9} {:>5}  {:>5.1} %  {:>6} {:>11}",
                v.voice.to_string(),
                v.questions,
                v.woken,
                100.0 * ratio(v.word_errors, v.reference_words),
                v.decoys,
                v.false_wakes,
            )?;
        }
        for miss in self.misses() {
            writeln!(
                f,
                "  miss ({}): said {:?}, heard {:?}",
                miss.sample.voice, miss.sample.text, miss.transcript
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_is_as_large_as_promised_and_spread_over_the_voices() {
        let samples = samples();
        let questions = samples
            .iter()
            .filter(|s| matches!(s.expect, Expect::Wake { .. }))
            .count();
        let decoys = samples.len() - questions;
        assert!(questions >= 40, "{questions} questions");
        assert!(decoys >= 20, "{decoys} decoys");
        for voice in Voice::ALL {
            let said = samples.iter().filter(|s| s.voice == voice);
            let (q, d) = said.fold((0, 0), |(q, d), s| match s.expect {
                Expect::Wake { .. } => (q + 1, d),
                Expect::Decoy => (q, d + 1),
            });
            assert!(q >= 8 && d >= 4, "{voice}: {q} questions, {d} decoys");
        }
        let mut engines: Vec<&str> = Voice::ALL.iter().map(|v| v.engine()).collect();
        engines.dedup();
        assert!(engines.len() >= 2);
        // Every question's topic word is in the question.
        for (question, topic) in set::QUESTIONS {
            assert!(topic_heard(topic, &normalize(question)), "{question}");
        }
    }

    #[test]
    fn the_report_scores_wakes_errors_and_topics() {
        let wake = |question: &str, topic: &str| Expect::Wake {
            question: question.into(),
            topic: topic.into(),
        };
        let outcome = |expect: Expect, heard: Option<&str>| Outcome {
            sample: Sample {
                text: String::new(),
                voice: Voice::FliteSlt,
                expect,
            },
            transcript: heard.unwrap_or("").into(),
            question: heard.map(str::to_string),
        };
        let report = Report::new(vec![
            outcome(
                wake("what is a closure", "closure"),
                Some("What is a closure?"),
            ),
            outcome(
                wake("explain kubernetes pods", "kubernetes"),
                Some("explain cuban eighties pods"),
            ),
            outcome(wake("what is a mutex", "mutex"), None),
            outcome(Expect::Decoy, None),
            outcome(Expect::Decoy, Some("the agent said")),
        ]);
        assert_eq!((report.questions, report.woken), (3, 2));
        assert_eq!((report.decoys, report.false_wakes), (2, 1));
        assert_eq!(report.reference_words, 4 + 3 + 4);
        // Heard right: 0; "kubernetes" → "cuban eighties": a substitution and
        // an insertion; unheard: all 4 words.
        assert_eq!(report.word_errors, 2 + 4);
        assert_eq!(report.topics_heard, 1);
        assert_eq!(report.misses().count(), 3);
        assert!(report.to_string().contains("false wakes 1 of 2"));
    }
}

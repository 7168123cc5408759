//! One answer's policy, as a sans-IO state machine: ask the language model,
//! cut its text into sentences, speak them one at a time while the rest is
//! generated, hold each provider to its time limit, and apologise when
//! nothing could be said. What is spoken of the text, and where it ends, is
//! [`crate::speech_text`]'s: an answer ends at its last whole sentence (the
//! token budget never leaves half of one), and code blocks are posted, not
//! read out.
//!
//! Like [`crate::pipeline::SessionPipeline`]: the caller feeds [`Input`]s
//! with the time they happened ([`Answer::handle_input`]), then drains
//! [`Answer::poll_output`] until [`Output::Wait`]. A time limit passes when
//! `poll_output` is called at or after its deadline. The caller does the
//! slow work the outputs ask for (stream the model, synthesise a sentence)
//! and hands the results back.
//!
//! ```text
//!  Generate(prompt) ─▶ Token … ─▶ sentences ─▶ Speak(first) ─▶ SpeechAudio … ─▶ Audio …
//!                      GenerationEnd ─▶ Post(text)            SpeechEnd ─▶ Speak(next) …
//!  no text (failed, timed out, empty) ─▶ Post(apology), Speak(apology)
//!  generation over and every sentence spoken ─▶ Done
//! ```
//!
//! **One sentence is synthesised at a time, in order**, and the text is
//! posted as soon as generation is over, before it has all been spoken:
//! **whatever ended generation, the posted text and the spoken pieces stop
//! at the same sentence.**
//! Every failure is kept in the [`AnswerRecord`]; a failed synthesis
//! silences the rest of the answer, but its text still completes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::prompt::ChatPrompt;
use crate::providers::{ProviderError, ProviderNames, Timeouts};
use crate::speech_text::SpeechText;

/// What the agent says when transcription failed.
pub const APOLOGY_UNHEARD: &str = "Sorry, I didn't catch that. Could you ask again?";
/// What the agent says when the language model gave no text.
pub const APOLOGY_NO_ANSWER: &str = "Sorry, I can't answer that right now.";

/// What the caller reports.
#[derive(Debug)]
pub enum Input {
    /// A piece of the model's text.
    Token(String),
    /// The model's text is complete.
    GenerationEnd,
    /// The model failed (to start, or midway); no more text will come.
    GenerationFailed(ProviderError),
    /// Audio of the sentence being spoken, 16 kHz mono.
    SpeechAudio(Vec<i16>),
    /// The sentence being spoken is all synthesised.
    SpeechEnd,
    /// Synthesis of the sentence being spoken failed.
    SpeechFailed(ProviderError),
}

/// What the answer asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Stream the language model's answer to this prompt: report
    /// [`Input::Token`]s, then [`Input::GenerationEnd`] or
    /// [`Input::GenerationFailed`].
    Generate(ChatPrompt),
    /// Drop the model's stream: its time is up.
    StopGenerating,
    /// Synthesise this text: report [`Input::SpeechAudio`], then
    /// [`Input::SpeechEnd`] or [`Input::SpeechFailed`].
    Speak(String),
    /// Drop the synthesis in progress: its time is up.
    StopSpeaking,
    /// The answer's voice, to be played in order.
    Audio(Vec<i16>),
    /// The whole text of the answer (or the apology), trimmed, code blocks
    /// as written: show it and remember it. Comes once, before the answer
    /// has all been spoken.
    Post(String),
    /// Nothing more will be said; [`Answer::record`] is final.
    Done,
    /// Nothing to do until this deadline (`None`: until an input).
    Wait(Option<Instant>),
}

/// What an answer has done so far: its part of the interaction's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnswerRecord {
    /// The text generated so far, untrimmed; once generation is over, the
    /// answer as posted (its unfinished tail dropped), untrimmed; the apology
    /// when there was none.
    pub answer: String,
    /// Start → the first piece of text.
    pub llm_ttft: Option<Duration>,
    /// Start → the first whole sentence (what speech waits for).
    pub llm_first_sentence: Option<Duration>,
    /// A sentence handed to synthesis → its first audio, for the first
    /// sentence that produced any.
    pub tts_ttfb: Option<Duration>,
    /// Start → the whole text known (generation over).
    pub text_complete: Option<Duration>,
    /// Every failure, naming the stage and the provider, joined by `; `.
    pub error: Option<String>,
}

/// The state of the language model's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generation {
    Running { first_token_seen: bool },
    Over,
}

/// The sentence being synthesised.
#[derive(Debug)]
struct Speaking {
    started: Instant,
    heard: bool,
    /// Until the next audio: `speech` after the start, then after each chunk.
    deadline: Instant,
}

/// One answer, from the question's prompt to its last audio.
#[derive(Debug)]
pub struct Answer {
    timeouts: Timeouts,
    /// For the error messages: they name the provider that failed.
    providers: ProviderNames,
    started: Instant,
    generation: Generation,
    speech: SpeechText,
    /// Sentences waiting for the one being synthesised.
    to_speak: VecDeque<String>,
    speaking: Option<Speaking>,
    /// Synthesis failed: the rest of the answer is not spoken.
    muted: bool,
    record: AnswerRecord,
    outputs: VecDeque<Output>,
    done: bool,
}

impl Answer {
    /// Answers `prompt`: asks the model and speaks its text as it comes.
    pub fn new(
        now: Instant,
        prompt: ChatPrompt,
        timeouts: Timeouts,
        providers: ProviderNames,
    ) -> Self {
        let mut answer = Self::idle(now, timeouts, providers);
        answer.generation = Generation::Running {
            first_token_seen: false,
        };
        answer.outputs.push_back(Output::Generate(prompt));
        answer
    }

    /// The question could not be transcribed: records why and apologises
    /// without asking the model.
    pub fn unheard(
        now: Instant,
        transcription_error: &str,
        timeouts: Timeouts,
        providers: ProviderNames,
    ) -> Self {
        let mut answer = Self::idle(now, timeouts, providers);
        answer.record.error = Some(format!(
            "speech-to-text ({}): {transcription_error}",
            providers.stt
        ));
        answer.complete_text(now, APOLOGY_UNHEARD);
        answer
    }

    fn idle(now: Instant, timeouts: Timeouts, providers: ProviderNames) -> Self {
        Self {
            timeouts,
            providers,
            started: now,
            generation: Generation::Over,
            speech: SpeechText::default(),
            to_speak: VecDeque::new(),
            speaking: None,
            muted: false,
            record: AnswerRecord::default(),
            outputs: VecDeque::new(),
            done: false,
        }
    }

    /// What the answer has done so far (final after [`Output::Done`]).
    pub fn record(&self) -> &AnswerRecord {
        &self.record
    }

    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Token(text) => {
                let Generation::Running { first_token_seen } = &mut self.generation else {
                    return;
                };
                if !*first_token_seen {
                    *first_token_seen = true;
                    self.record.llm_ttft = Some(now - self.started);
                }
                self.record.answer.push_str(&text);
                let pieces = self.speech.push(&text);
                self.queue_sentences(now, pieces);
            }
            Input::GenerationEnd => {
                if self.generation == Generation::Over {
                    return;
                }
                self.end_generation(now);
            }
            Input::GenerationFailed(error) => {
                if let Generation::Running { first_token_seen } = self.generation {
                    // A client's own time-out knows no limit: it is the one
                    // this answer was waiting under.
                    let limit = if first_token_seen {
                        self.timeouts.answer
                    } else {
                        self.timeouts.first_token
                    };
                    self.fail_generation(now, with_limit(error, limit));
                }
            }
            Input::SpeechAudio(pcm) => {
                let Some(speaking) = &mut self.speaking else {
                    return;
                };
                if !speaking.heard {
                    speaking.heard = true;
                    self.record.tts_ttfb.get_or_insert(now - speaking.started);
                }
                speaking.deadline = now + self.timeouts.speech;
                self.outputs.push_back(Output::Audio(pcm));
            }
            Input::SpeechEnd => {
                if self.speaking.take().is_some() {
                    self.speak_next(now);
                }
            }
            Input::SpeechFailed(error) => {
                if self.speaking.take().is_some() {
                    self.fail_speech(with_limit(error, self.timeouts.speech));
                }
            }
        }
    }

    /// The next thing to do, or [`Output::Wait`]. Time limits that have
    /// passed by `now` take effect here.
    pub fn poll_output(&mut self, now: Instant) -> Output {
        self.handle_deadlines(now);
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        if !self.done
            && self.generation == Generation::Over
            && self.speaking.is_none()
            && self.to_speak.is_empty()
        {
            self.done = true;
            return Output::Done;
        }
        Output::Wait(self.deadline())
    }

    fn handle_deadlines(&mut self, now: Instant) {
        if let Generation::Running { first_token_seen } = self.generation {
            let expired = if !first_token_seen && now >= self.started + self.timeouts.first_token {
                Some(self.timeouts.first_token)
            } else if now >= self.started + self.timeouts.answer {
                Some(self.timeouts.answer)
            } else {
                None
            };
            if let Some(limit) = expired {
                self.outputs.push_back(Output::StopGenerating);
                self.fail_generation(now, ProviderError::Timeout(limit));
            }
        }
        if self
            .speaking
            .as_ref()
            .is_some_and(|speaking| now >= speaking.deadline)
        {
            self.speaking = None;
            self.outputs.push_back(Output::StopSpeaking);
            self.fail_speech(ProviderError::Timeout(self.timeouts.speech));
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let generation = match self.generation {
            Generation::Running {
                first_token_seen: false,
            } => Some(self.started + self.timeouts.first_token.min(self.timeouts.answer)),
            Generation::Running {
                first_token_seen: true,
            } => Some(self.started + self.timeouts.answer),
            Generation::Over => None,
        };
        let speech = self.speaking.as_ref().map(|speaking| speaking.deadline);
        match (generation, speech) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn queue_sentences(&mut self, now: Instant, sentences: impl IntoIterator<Item = String>) {
        for sentence in sentences {
            self.record
                .llm_first_sentence
                .get_or_insert(now - self.started);
            if !self.muted {
                self.to_speak.push_back(sentence);
            }
        }
        self.speak_next(now);
    }

    fn speak_next(&mut self, now: Instant) {
        if self.speaking.is_some() || self.muted {
            return;
        }
        if let Some(sentence) = self.to_speak.pop_front() {
            self.speaking = Some(Speaking {
                started: now,
                heard: false,
                deadline: now + self.timeouts.speech,
            });
            self.outputs.push_back(Output::Speak(sentence));
        }
    }

    /// Generation failed or timed out; the text so far stands, up to its
    /// last whole sentence.
    fn fail_generation(&mut self, now: Instant, error: ProviderError) {
        self.add_error(format!("language model ({}): {error}", self.providers.llm));
        self.end_generation(now);
    }

    /// No more text: the answer ends at its last whole sentence, whose
    /// pieces are spoken, and is posted (or apologised for).
    fn end_generation(&mut self, now: Instant) {
        self.generation = Generation::Over;
        let ending = std::mem::take(&mut self.speech).finish();
        self.record.answer = ending.text;
        self.queue_sentences(now, ending.to_speak);
        if self.record.answer.trim().is_empty() {
            if self.record.error.is_none() {
                self.add_error(format!(
                    "language model ({}): empty answer",
                    self.providers.llm
                ));
            }
            self.complete_text(now, APOLOGY_NO_ANSWER);
        } else {
            self.record.text_complete = Some(now - self.started);
            self.outputs
                .push_back(Output::Post(self.record.answer.trim().to_owned()));
        }
    }

    /// The answer is `apology` alone: posted and spoken.
    fn complete_text(&mut self, now: Instant, apology: &str) {
        self.record.answer = apology.to_owned();
        self.record.text_complete = Some(now - self.started);
        self.outputs.push_back(Output::Post(apology.to_owned()));
        if !self.muted {
            self.to_speak.push_back(apology.to_owned());
        }
        self.speak_next(now);
    }

    fn fail_speech(&mut self, error: ProviderError) {
        self.add_error(format!("text-to-speech ({}): {error}", self.providers.tts));
        self.muted = true;
        self.to_speak.clear();
    }

    fn add_error(&mut self, message: String) {
        self.record.error = Some(match self.record.error.take() {
            Some(earlier) => format!("{earlier}; {message}"),
            None => message,
        });
    }
}

/// A client's own time-out (reqwest's, which knows no limit) is reported as
/// the limit it ran under.
fn with_limit(error: ProviderError, limit: Duration) -> ProviderError {
    match error {
        ProviderError::Timeout(Duration::ZERO) => ProviderError::Timeout(limit),
        other => other,
    }
}

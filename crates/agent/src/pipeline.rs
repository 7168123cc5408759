//! One session's listening and speaking, as a sans-IO state machine.
//!
//! Like str0m's `Rtc`: the caller feeds [`Input`]s with the time they
//! happened ([`SessionPipeline::handle_input`]), then drains
//! [`SessionPipeline::poll_output`] until it answers [`Output::Wait`]. No
//! threads, sockets or clocks inside, so every behaviour is tested with a
//! fake clock. The slow work (transcription, the language model, speech
//! synthesis) is asked for with an [`Event`] and its result handed back as
//! an [`Input`]; the quick work (Opus encoding, voice activity, keyword
//! spotting: well under a millisecond per frame) happens inside.
//!
//! ```text
//!  Audio ─▶ per speaker: 20 ms frames ─▶ voice detector ─▶ utterance ─▶ spotter
//!                                                          │ ends after silence
//!                 Transcribe { pcm } ◀── (only if the spotter fired, or a follow-up)
//!  Transcript ─▶ wake phrase on the words? ─▶ queue ─▶ QuestionReady (one at a time)
//!  AnswerAudio ─▶ 20 ms frames ─▶ Opus ─▶ SpeakFrame, paced in real time
//!  someone talks over it ─▶ BargeIn (audio dropped at once) ─▶ AnswerFinished
//! ```
//!
//! **One answer at a time per session:** a question waits in the queue until
//! the answer before it has played out or been interrupted.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use domain::ai_log::Trigger;

use crate::audio::{
    FRAME_DURATION, FRAME_SAMPLES, Framer, OpusEncoder, RTP_TICKS_PER_FRAME, SAMPLE_RATE,
};
use crate::vad::VoiceDetector;
use crate::wake::{WakePhrase, WakeSpotter};

/// Who is speaking: the participant's id in the room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpeakerId(pub String);

impl fmt::Display for SpeakerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SpeakerId {
    fn from(id: &str) -> Self {
        Self(id.to_string())
    }
}

/// One utterance handed out for transcription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UtteranceId(pub u64);

/// One question and its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// Tuning of listening and speaking.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub wake_phrase: String,
    /// Voiced 20 ms frames in a row that start an utterance (filters clicks).
    pub speech_start_frames: usize,
    /// Silence that ends an utterance: the end-pointing delay, part of every
    /// answer's latency, and longer than the pause after a comma.
    pub end_silence: Duration,
    /// Silence after which a woken utterance is transcribed early, while
    /// end-pointing waits out `end_silence`: the transcript is then ready
    /// (or nearly) when the utterance is known to have ended. Speech that
    /// resumes discards it.
    pub early_transcription: Duration,
    /// Audio kept from before speech was detected, so the first syllable
    /// ("hey") reaches the spotter and the transcriber whole.
    pub preroll: Duration,
    /// An utterance is cut here even if the speaker goes on.
    pub max_utterance: Duration,
    /// Voiced frames in a row, from anyone, that stop the agent speaking.
    /// 5 frames = 100 ms, well inside the 300 ms the agent has to stop.
    pub barge_in_frames: usize,
    /// After a bare "hey agent", the same speaker's next utterance starting
    /// within this window is the question.
    pub follow_up_window: Duration,
    /// Questions waiting beyond this many are refused.
    pub max_queued: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            wake_phrase: "hey agent".into(),
            speech_start_frames: 3,
            end_silence: Duration::from_millis(500),
            early_transcription: Duration::from_millis(250),
            preroll: Duration::from_millis(300),
            max_utterance: Duration::from_secs(15),
            barge_in_frames: 5,
            follow_up_window: Duration::from_secs(6),
            max_queued: 5,
        }
    }
}

/// What the pipeline is told.
#[derive(Debug)]
pub enum Input<'a> {
    /// 16 kHz mono PCM from one speaker, any length (20 ms is usual).
    Audio {
        speaker: &'a SpeakerId,
        pcm: &'a [i16],
    },
    /// The speaker left: an utterance in progress ends now.
    SpeakerLeft { speaker: &'a SpeakerId },
    /// The answer to [`Event::Transcribe`]: the text, or why there is none.
    Transcript {
        utterance: UtteranceId,
        result: Result<String, String>,
    },
    /// Synthesised speech of the answer to `ticket`, 16 kHz mono, any length.
    AnswerAudio { ticket: Ticket, pcm: &'a [i16] },
    /// No more audio will come for `ticket` (done, failed or cancelled).
    AnswerEnd { ticket: Ticket },
    /// A question typed in the chat: it waits its turn with the spoken ones
    /// and is answered out loud the same way.
    Typed {
        speaker: &'a SpeakerId,
        question: &'a str,
    },
}

/// What the pipeline asks for or reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A speaker started talking.
    SpeechStarted { speaker: SpeakerId },
    /// The spotter heard the wake phrase (still to be confirmed on the words).
    WakeSpotted {
        speaker: SpeakerId,
        utterance: UtteranceId,
    },
    /// Transcribe this utterance and hand back [`Input::Transcript`].
    Transcribe {
        utterance: UtteranceId,
        speaker: SpeakerId,
        pcm: Vec<i16>,
    },
    /// The words did not hold the wake phrase: the utterance is dropped.
    WakeRejected {
        utterance: UtteranceId,
        speaker: SpeakerId,
        transcript: String,
    },
    /// The wake phrase came alone; the speaker's next utterance is the question.
    AwaitingQuestion { speaker: SpeakerId },
    /// Answer this (one at a time): generate, synthesise, and feed
    /// [`Input::AnswerAudio`] then [`Input::AnswerEnd`].
    QuestionReady(Question),
    /// A 20 ms Opus frame of the agent's voice, due now.
    SpeakFrame {
        ticket: Ticket,
        opus: Vec<u8>,
        /// 48 kHz RTP clock: +960 a frame, plus the length of any gap.
        rtp_timestamp: u32,
    },
    /// Someone talked over the agent: its audio is dropped; stop producing it.
    BargeIn { ticket: Ticket, speaker: SpeakerId },
    /// The answer is over, played out or cut.
    AnswerFinished {
        ticket: Ticket,
        interrupted: bool,
        timings: Timings,
    },
}

/// A question to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub ticket: Ticket,
    pub speaker: SpeakerId,
    /// The words after the wake phrase; empty when transcription failed.
    pub text: String,
    /// The whole transcript of the utterance.
    pub transcript: String,
    /// Spoken after the wake phrase, or typed in the chat ("@agent …"); the
    /// AI log records it as it is.
    pub trigger: Trigger,
    /// Spoken as "hey agent" … pause … "<question>": the question is a
    /// whole utterance of its own. Never true of a typed one.
    pub follow_up: bool,
    /// Why transcription failed: the agent apologises instead of answering.
    pub transcription_error: Option<String>,
    pub timings: Timings,
}

/// The pipeline's part of an interaction's latency breakdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// When the asker's last voiced frame arrived (end of speech).
    pub speech_ended_at: Option<Instant>,
    /// From the end of the wake phrase in the audio to the spotter firing.
    pub wake_delay: Option<Duration>,
    /// From the end of speech to the transcript (includes end-pointing).
    pub transcription_delay: Option<Duration>,
    /// From the end of speech to the first frame of the answer.
    pub voice_to_voice: Option<Duration>,
}

/// What [`SessionPipeline::poll_output`] returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Event(Event),
    /// Nothing more now: call again at this instant, or on the next input.
    Wait(Option<Instant>),
}

/// Builds one wake spotter per speaker.
pub type SpotterFactory = Box<dyn Fn() -> Box<dyn WakeSpotter> + Send + Sync>;

struct Utterance {
    id: UtteranceId,
    /// When the first sample of `pcm` was spoken.
    started_at: Instant,
    pcm: Vec<i16>,
    last_voiced_at: Instant,
    last_frame_at: Instant,
    spotted_at: Option<(Instant, Duration)>,
    follow_up: bool,
    /// The early transcription under way, if the speaker has been silent
    /// long enough for one.
    early: Option<UtteranceId>,
}

impl Utterance {
    /// The utterance's audio up to its last voiced frame (trailing silence
    /// carries no words; a little is kept for the decoder).
    fn speech(&self) -> Vec<i16> {
        let speech_len = samples_to_count(
            self.last_voiced_at
                .saturating_duration_since(self.started_at)
                + Duration::from_millis(200),
        );
        self.pcm[..speech_len.max(FRAME_SAMPLES).min(self.pcm.len())].to_vec()
    }

    fn woke(&self) -> bool {
        self.spotted_at.is_some() || self.follow_up
    }
}

struct Speaker {
    framer: Framer,
    detector: VoiceDetector,
    spotter: Box<dyn WakeSpotter>,
    preroll: VecDeque<[i16; FRAME_SAMPLES]>,
    /// Voiced frames in a row, for speech onset and barge-in.
    voiced_run: usize,
    utterance: Option<Utterance>,
    awaiting_question_until: Option<Instant>,
}

struct PendingTranscript {
    /// The utterance has ended: the transcript is used as soon as it comes.
    /// Until then (an early transcription) it is kept in `result`.
    ended: bool,
    result: Option<Result<String, String>>,
    speaker: SpeakerId,
    speech_ended_at: Instant,
    wake_delay: Option<Duration>,
    follow_up: bool,
}

/// The answer being spoken.
struct Answer {
    ticket: Ticket,
    framer: Framer,
    frames: VecDeque<[i16; FRAME_SAMPLES]>,
    /// No more audio will come.
    ended: bool,
    /// When the next frame is due; `None` before the first.
    next_due: Option<Instant>,
    timings: Timings,
}

/// One session's audio pipeline. See the module docs.
pub struct SessionPipeline {
    config: PipelineConfig,
    wake: WakePhrase,
    new_spotter: SpotterFactory,
    encoder: OpusEncoder,
    speakers: HashMap<SpeakerId, Speaker>,
    pending: HashMap<UtteranceId, PendingTranscript>,
    /// Early transcripts of utterances that have just ended, with when.
    transcribed_early: VecDeque<(Instant, UtteranceId, Result<String, String>)>,
    queue: VecDeque<Question>,
    answer: Option<Answer>,
    events: VecDeque<Event>,
    next_utterance: u64,
    next_ticket: u64,
    /// RTP timestamp of the next frame; runs on across answers and gaps.
    rtp_timestamp: u32,
    /// When the last frame was sent, to advance the RTP clock over gaps.
    last_frame_sent: Option<Instant>,
}

impl SessionPipeline {
    pub fn new(
        config: PipelineConfig,
        new_spotter: SpotterFactory,
    ) -> Result<Self, crate::audio::OpusError> {
        Ok(Self {
            wake: WakePhrase::new(&config.wake_phrase),
            config,
            new_spotter,
            encoder: OpusEncoder::new()?,
            speakers: HashMap::new(),
            pending: HashMap::new(),
            transcribed_early: VecDeque::new(),
            queue: VecDeque::new(),
            answer: None,
            events: VecDeque::new(),
            next_utterance: 0,
            next_ticket: 0,
            rtp_timestamp: 0,
            last_frame_sent: None,
        })
    }

    /// Whether an answer is being generated or spoken.
    pub fn is_answering(&self) -> bool {
        self.answer.is_some()
    }

    /// Questions waiting behind the current answer.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Audio { speaker, pcm } => self.handle_audio(now, speaker, pcm),
            Input::SpeakerLeft { speaker } => {
                if let Some(mut state) = self.speakers.remove(speaker) {
                    self.end_utterance(now, speaker, &mut state);
                }
            }
            Input::Transcript { utterance, result } => {
                self.handle_transcript(now, utterance, result)
            }
            Input::AnswerAudio { ticket, pcm } => {
                if let Some(answer) = self
                    .answer
                    .as_mut()
                    .filter(|a| a.ticket == ticket && !a.ended)
                {
                    let frames = &mut answer.frames;
                    answer.framer.push(pcm, |frame| frames.push_back(frame));
                }
            }
            Input::AnswerEnd { ticket } => {
                if let Some(answer) = self.answer.as_mut().filter(|a| a.ticket == ticket) {
                    answer.ended = true;
                    if let Some(frame) = answer.framer.flush() {
                        answer.frames.push_back(frame);
                    }
                }
            }
            Input::Typed { speaker, question } => {
                let text = question.trim();
                if text.is_empty() {
                    return;
                }
                self.enqueue(Question {
                    ticket: Ticket(0),
                    speaker: speaker.clone(),
                    text: text.to_string(),
                    transcript: text.to_string(),
                    trigger: Trigger::Text,
                    follow_up: false,
                    transcription_error: None,
                    timings: Timings::default(),
                });
            }
        }
    }

    /// The next thing to do. Call until it returns [`Output::Wait`].
    pub fn poll_output(&mut self, now: Instant) -> Output {
        self.end_stale_utterances(now);
        while let Some((at, utterance, result)) = self.transcribed_early.pop_front() {
            self.handle_transcript(at, utterance, result);
        }
        if let Some(event) = self.events.pop_front() {
            return Output::Event(event);
        }
        if let Some(event) = self.next_answer_event(now) {
            return Output::Event(event);
        }
        Output::Wait(self.next_deadline())
    }

    fn handle_audio(&mut self, now: Instant, speaker_id: &SpeakerId, pcm: &[i16]) {
        if !self.speakers.contains_key(speaker_id) {
            let speaker = Speaker {
                framer: Framer::default(),
                detector: VoiceDetector::new(),
                spotter: (self.new_spotter)(),
                preroll: VecDeque::new(),
                voiced_run: 0,
                utterance: None,
                awaiting_question_until: None,
            };
            self.speakers.insert(speaker_id.clone(), speaker);
        }
        let mut speaker = self.speakers.remove(speaker_id).expect("inserted above");
        let mut frames = Vec::new();
        speaker.framer.push(pcm, |frame| frames.push(frame));
        // Frames of one push arrived together: date them back from `now`.
        let count = frames.len() as u32;
        for (i, frame) in frames.iter().enumerate() {
            let at = now - FRAME_DURATION * (count - 1 - i as u32);
            self.handle_frame(at, speaker_id, &mut speaker, frame);
        }
        self.speakers.insert(speaker_id.clone(), speaker);
    }

    fn handle_frame(
        &mut self,
        at: Instant,
        speaker_id: &SpeakerId,
        speaker: &mut Speaker,
        frame: &[i16; FRAME_SAMPLES],
    ) {
        let voiced = speaker.detector.is_speech(frame);
        speaker.voiced_run = if voiced { speaker.voiced_run + 1 } else { 0 };

        if speaker.voiced_run == self.config.barge_in_frames {
            self.barge_in(speaker_id);
        }

        match speaker.utterance.as_mut() {
            None => {
                speaker.preroll.push_back(*frame);
                let keep = (self.config.preroll.as_millis() / FRAME_DURATION.as_millis()) as usize
                    + self.config.speech_start_frames;
                while speaker.preroll.len() > keep {
                    speaker.preroll.pop_front();
                }
                if speaker.voiced_run >= self.config.speech_start_frames {
                    self.start_utterance(at, speaker_id, speaker);
                }
            }
            Some(utterance) => {
                utterance.pcm.extend_from_slice(frame);
                utterance.last_frame_at = at;
                if voiced {
                    utterance.last_voiced_at = at;
                    // Not the end after all: the early transcript is moot.
                    if let Some(early) = utterance.early.take() {
                        self.pending.remove(&early);
                    }
                }
                if utterance.spotted_at.is_none()
                    && let Some(spot) = speaker.spotter.process(frame)
                {
                    let phrase_end = utterance.started_at + samples_to_duration(spot.end_sample);
                    let wake_delay = at.saturating_duration_since(phrase_end);
                    utterance.spotted_at = Some((at, wake_delay));
                    self.events.push_back(Event::WakeSpotted {
                        speaker: speaker_id.clone(),
                        utterance: utterance.id,
                    });
                }
                let silent_for = at.saturating_duration_since(utterance.last_voiced_at);
                let length = samples_to_duration(utterance.pcm.len() as u64);
                if silent_for >= self.config.end_silence || length >= self.config.max_utterance {
                    self.end_utterance(at, speaker_id, speaker);
                } else if silent_for >= self.config.early_transcription
                    && utterance.early.is_none()
                    && utterance.woke()
                {
                    let early = UtteranceId(self.next_utterance);
                    self.next_utterance += 1;
                    utterance.early = Some(early);
                    self.transcribe(early, speaker_id, utterance, false);
                }
            }
        }
    }

    fn start_utterance(&mut self, at: Instant, speaker_id: &SpeakerId, speaker: &mut Speaker) {
        let id = UtteranceId(self.next_utterance);
        self.next_utterance += 1;
        let pcm: Vec<i16> = speaker.preroll.drain(..).flatten().collect();
        let started_at = at + FRAME_DURATION - samples_to_duration(pcm.len() as u64);
        let follow_up = speaker
            .awaiting_question_until
            .take()
            .is_some_and(|until| at <= until);
        speaker.spotter.start();
        let spot = speaker.spotter.process(&pcm);
        let mut utterance = Utterance {
            id,
            started_at,
            pcm,
            last_voiced_at: at,
            last_frame_at: at,
            spotted_at: None,
            follow_up,
            early: None,
        };
        if let Some(spot) = spot {
            let phrase_end = started_at + samples_to_duration(spot.end_sample);
            utterance.spotted_at = Some((at, at.saturating_duration_since(phrase_end)));
        }
        self.events.push_back(Event::SpeechStarted {
            speaker: speaker_id.clone(),
        });
        if utterance.spotted_at.is_some() {
            self.events.push_back(Event::WakeSpotted {
                speaker: speaker_id.clone(),
                utterance: id,
            });
        }
        speaker.utterance = Some(utterance);
    }

    /// Ends the speaker's utterance: transcribed only if the spotter fired
    /// or it is the awaited question; otherwise its audio is dropped unheard.
    fn end_utterance(&mut self, now: Instant, speaker_id: &SpeakerId, speaker: &mut Speaker) {
        let Some(utterance) = speaker.utterance.take() else {
            return;
        };
        speaker.spotter.finish();
        speaker.voiced_run = 0;
        if !utterance.woke() {
            return;
        }
        // Transcribed early, over the same audio: use that transcript.
        if let Some(early) = utterance.early
            && let Some(pending) = self.pending.get_mut(&early)
        {
            pending.ended = true;
            if let Some(result) = pending.result.take() {
                // Used on the next poll, with the speaker back in place.
                self.transcribed_early.push_back((now, early, result));
            }
            return;
        }
        self.transcribe(utterance.id, speaker_id, &utterance, true);
    }

    /// Asks for a transcript of `utterance`'s speech under `id`; `ended`
    /// says whether the utterance is over (else it is an early one).
    fn transcribe(
        &mut self,
        id: UtteranceId,
        speaker_id: &SpeakerId,
        utterance: &Utterance,
        ended: bool,
    ) {
        self.pending.insert(
            id,
            PendingTranscript {
                ended,
                result: None,
                speaker: speaker_id.clone(),
                speech_ended_at: utterance.last_voiced_at,
                wake_delay: utterance.spotted_at.map(|(_, delay)| delay),
                follow_up: utterance.follow_up,
            },
        );
        self.events.push_back(Event::Transcribe {
            utterance: id,
            speaker: speaker_id.clone(),
            pcm: utterance.speech(),
        });
    }

    /// Ends utterances whose speaker stopped sending audio (muted, or a
    /// browser's discontinuous transmission during silence).
    fn end_stale_utterances(&mut self, now: Instant) {
        let stale: Vec<SpeakerId> = self
            .speakers
            .iter()
            .filter(|(_, s)| {
                s.utterance.as_ref().is_some_and(|u| {
                    now.saturating_duration_since(u.last_frame_at) >= self.config.end_silence
                })
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            let mut speaker = self.speakers.remove(&id).expect("listed above");
            self.end_utterance(now, &id, &mut speaker);
            self.speakers.insert(id, speaker);
        }
    }

    fn handle_transcript(
        &mut self,
        now: Instant,
        utterance: UtteranceId,
        result: Result<String, String>,
    ) {
        let Some(pending) = self.pending.get_mut(&utterance) else {
            return;
        };
        if !pending.ended {
            pending.result = Some(result);
            return;
        }
        let pending = self.pending.remove(&utterance).expect("found above");
        let timings = Timings {
            speech_ended_at: Some(pending.speech_ended_at),
            wake_delay: pending.wake_delay,
            transcription_delay: Some(now.saturating_duration_since(pending.speech_ended_at)),
            voice_to_voice: None,
        };
        let question = match result {
            Err(error) => Question {
                ticket: Ticket(0),
                speaker: pending.speaker,
                text: String::new(),
                transcript: String::new(),
                trigger: Trigger::Voice,
                follow_up: pending.follow_up,
                transcription_error: Some(error),
                timings,
            },
            Ok(transcript) => {
                let text = match (self.wake.find(&transcript), pending.follow_up) {
                    (Some(found), _) => found.question,
                    (None, true) => transcript.trim().to_string(),
                    (None, false) => {
                        self.events.push_back(Event::WakeRejected {
                            utterance,
                            speaker: pending.speaker,
                            transcript,
                        });
                        return;
                    }
                };
                if text.is_empty() {
                    if let Some(speaker) = self.speakers.get_mut(&pending.speaker) {
                        speaker.awaiting_question_until = Some(now + self.config.follow_up_window);
                    }
                    self.events.push_back(Event::AwaitingQuestion {
                        speaker: pending.speaker,
                    });
                    return;
                }
                Question {
                    ticket: Ticket(0),
                    speaker: pending.speaker,
                    text,
                    transcript,
                    trigger: Trigger::Voice,
                    follow_up: pending.follow_up,
                    transcription_error: None,
                    timings,
                }
            }
        };
        self.enqueue(question);
    }

    fn enqueue(&mut self, question: Question) {
        if self.queue.len() >= self.config.max_queued {
            tracing::warn!(speaker = %question.speaker, "question queue full; question dropped");
            return;
        }
        self.queue.push_back(question);
        self.start_next_answer();
    }

    /// Hands out the next queued question if nothing is being answered.
    fn start_next_answer(&mut self) {
        if self.answer.is_some() {
            return;
        }
        let Some(mut question) = self.queue.pop_front() else {
            return;
        };
        self.next_ticket += 1;
        question.ticket = Ticket(self.next_ticket);
        self.answer = Some(Answer {
            ticket: question.ticket,
            framer: Framer::default(),
            frames: VecDeque::new(),
            ended: false,
            next_due: None,
            timings: question.timings,
        });
        self.events.push_back(Event::QuestionReady(question));
    }

    fn barge_in(&mut self, speaker_id: &SpeakerId) {
        // Only while the agent is audibly speaking: a question queued or
        // being generated is not interrupted by talk in the room.
        let Some(answer) = self.answer.as_ref().filter(|a| a.next_due.is_some()) else {
            return;
        };
        let ticket = answer.ticket;
        let timings = answer.timings;
        self.answer = None;
        self.events.push_back(Event::BargeIn {
            ticket,
            speaker: speaker_id.clone(),
        });
        self.events.push_back(Event::AnswerFinished {
            ticket,
            interrupted: true,
            timings,
        });
        self.start_next_answer();
    }

    /// The next frame of the answer if it is due, or its end.
    fn next_answer_event(&mut self, now: Instant) -> Option<Event> {
        let answer = self.answer.as_mut()?;
        if let Some(due) = answer.next_due
            && now < due
        {
            return None;
        }
        let Some(frame) = answer.frames.pop_front() else {
            if answer.ended {
                let event = Event::AnswerFinished {
                    ticket: answer.ticket,
                    interrupted: false,
                    timings: answer.timings,
                };
                self.answer = None;
                self.start_next_answer();
                return Some(event);
            }
            return None;
        };
        // Pace from the schedule, but never build up a backlog after an
        // underrun (the synthesiser was slower than real time): restart then.
        let due = match answer.next_due {
            Some(due) if now.saturating_duration_since(due) < FRAME_DURATION => due,
            _ => now,
        };
        if answer.next_due.is_none() {
            answer.timings.voice_to_voice = answer
                .timings
                .speech_ended_at
                .map(|end| now.saturating_duration_since(end));
        }
        answer.next_due = Some(due + FRAME_DURATION);
        let ticket = answer.ticket;
        // The RTP clock keeps running through silence between frames.
        if let Some(last) = self.last_frame_sent {
            let gap = due
                .saturating_duration_since(last)
                .saturating_sub(FRAME_DURATION);
            let gap_frames = (gap.as_micros() / FRAME_DURATION.as_micros()) as u32;
            self.rtp_timestamp = self
                .rtp_timestamp
                .wrapping_add(gap_frames.wrapping_mul(RTP_TICKS_PER_FRAME));
        }
        self.last_frame_sent = Some(due);
        let rtp_timestamp = self.rtp_timestamp;
        self.rtp_timestamp = self.rtp_timestamp.wrapping_add(RTP_TICKS_PER_FRAME);
        match self.encoder.encode(&frame) {
            Ok(opus) => Some(Event::SpeakFrame {
                ticket,
                opus,
                rtp_timestamp,
            }),
            Err(error) => {
                tracing::warn!(%error, "could not encode a frame of the answer");
                None
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let answer = self
            .answer
            .as_ref()
            .filter(|a| !a.frames.is_empty() || a.ended)
            .and_then(|a| a.next_due);
        let utterance_ends = self.speakers.values().filter_map(|s| {
            s.utterance
                .as_ref()
                .map(|u| u.last_frame_at + self.config.end_silence)
        });
        answer.into_iter().chain(utterance_ends).min()
    }
}

fn samples_to_duration(samples: u64) -> Duration {
    Duration::from_micros(samples * 1_000_000 / SAMPLE_RATE as u64)
}

fn samples_to_count(duration: Duration) -> usize {
    (duration.as_micros() * SAMPLE_RATE as u128 / 1_000_000) as usize
}

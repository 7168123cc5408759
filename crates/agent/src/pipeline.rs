//! One session's listening and speaking, as a sans-IO state machine.
//!
//! Like str0m's `Rtc`: the caller feeds [`Input`]s with the time they
//! happened ([`SessionPipeline::handle_input`]), then drains
//! [`SessionPipeline::poll_output`] until it answers [`Output::Wait`]. No
//! threads, sockets or clocks inside, so every behaviour is tested with a
//! fake clock. The slow work (the end-of-turn model, transcription, the
//! language model, speech synthesis) is asked for with an [`Event`] and its
//! result handed back as an [`Input`]; the quick work (Opus encoding, voice
//! activity, keyword spotting: well under a millisecond per chunk) happens
//! inside.
//!
//! ```text
//!  Audio ─▶ per speaker: 32 ms chunks ─▶ voice activity (Silero) ─▶ utterance ─▶ spotter
//!   silent 200 ms ─▶ CheckTurn { pcm } ◀── (only if the spotter fired, a follow-up, or no spotter)
//!                    Transcribe { pcm } early, in parallel
//!  TurnVerdict: complete ─▶ the utterance ends when the early transcript
//!                           comes, unless its words trail off ("how do I")
//!               incomplete, or words that trail off ─▶ keep listening: speech
//!                           resumes the same utterance, 3 s of silence ends it anyway
//!  Transcript ─▶ wake phrase on the words? ─▶ queue ─▶ QuestionReady (one at a time)
//!  AnswerAudio ─▶ 20 ms frames ─▶ Opus ─▶ SpeakFrame, paced in real time
//!  someone talks over it ─▶ BargeIn (audio dropped at once) ─▶ AnswerFinished
//! ```
//!
//! **One answer at a time per session:** a question waits in the queue until
//! the answer before it has played out or been interrupted.
//!
//! **A verdict or transcript only counts for the silence it was asked
//! about:** speech that resumes makes the pending check and the early
//! transcript moot, and they are ignored when they come.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use domain::ai_log::Trigger;

use crate::audio::{
    Chunker, FRAME_DURATION, FRAME_SAMPLES, Framer, OpusEncoder, RTP_TICKS_PER_FRAME, SAMPLE_RATE,
};
use crate::turn::{self, TurnVerdict};
use crate::vad::{CHUNK_DURATION, CHUNK_SAMPLES, VoiceActivity};
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

/// The longest pause kept inside the audio handed to transcription.
const KEPT_PAUSE: Duration = Duration::from_millis(320);

/// One utterance, or one snapshot of it handed out for transcription or an
/// end-of-turn check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UtteranceId(pub u64);

/// One question and its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// Tuning of listening and speaking.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub wake_phrase: String,
    /// Speech probability (of the voice-activity model) at which a quiet
    /// speaker counts as speaking: Silero's own default.
    pub speech_threshold: f32,
    /// Speech probability below which a speaking speaker counts as silent.
    /// Lower than `speech_threshold` (Silero's rule: 0.15 lower) so the
    /// quiet end of a word does not flicker between speech and silence.
    pub silence_threshold: f32,
    /// Speech that lasts this long starts an utterance (filters clicks).
    /// Counted in whole 32 ms chunks: 64 ms is two.
    pub speech_start: Duration,
    /// Silence after which the end-of-turn model is asked whether the
    /// speaker has finished ([`Event::CheckTurn`]): a finished question is
    /// answered this long (plus the model's few tens of ms) after its last
    /// word. Pipecat waits 200 ms too.
    pub turn_check_silence: Duration,
    /// Silence that ends an utterance even though the end-of-turn model
    /// judged it unfinished: the longest thinking pause kept inside one
    /// question ("how do I… um… sort a map"). Pipecat waits 3 s too.
    pub max_turn_silence: Duration,
    /// Silence that ends an utterance the end-of-turn model judged
    /// unfinished when its early transcript reads as a whole question
    /// ("…the difference between a vector and an array"): flat or unusual
    /// intonation should not cost the full cap. Words that trail off ("how
    /// do I") still wait for it.
    pub worded_turn_silence: Duration,
    /// Silence that ends an utterance when the end-of-turn model gave no
    /// verdict (it failed): end-pointing by voice activity alone.
    pub end_silence: Duration,
    /// Silence after which an utterance that may be a question is
    /// transcribed early, while the end-of-turn model decides: the
    /// transcript is then ready (or nearly) when the turn is known to be
    /// over. Speech that resumes discards it.
    pub early_transcription: Duration,
    /// Audio kept from before speech was detected, so the first syllable
    /// ("hey") reaches the spotter and the transcriber whole.
    pub preroll: Duration,
    /// An utterance is cut here even if the speaker goes on.
    pub max_utterance: Duration,
    /// Speech from anyone lasting this long stops the agent speaking. 96 ms
    /// (three chunks) is well inside the 300 ms the agent has to stop.
    pub barge_in: Duration,
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
            speech_threshold: 0.5,
            silence_threshold: 0.35,
            speech_start: Duration::from_millis(64),
            turn_check_silence: Duration::from_millis(200),
            max_turn_silence: Duration::from_secs(3),
            worded_turn_silence: Duration::from_millis(1000),
            end_silence: Duration::from_millis(500),
            early_transcription: Duration::from_millis(200),
            preroll: Duration::from_millis(300),
            max_utterance: Duration::from_secs(15),
            barge_in: Duration::from_millis(96),
            follow_up_window: Duration::from_secs(6),
            max_queued: 5,
        }
    }
}

/// What the pipeline is told.
#[derive(Debug)]
pub enum Input<'a> {
    /// 16 kHz mono PCM from one speaker, any length (20 ms is usual); its
    /// last sample was spoken at the input's time.
    Audio {
        speaker: &'a SpeakerId,
        pcm: &'a [i16],
    },
    /// The speaker left: an utterance in progress ends now.
    SpeakerLeft { speaker: &'a SpeakerId },
    /// The answer to [`Event::CheckTurn`]: the end-of-turn model's verdict,
    /// or why there is none.
    TurnVerdict {
        check: UtteranceId,
        verdict: Result<TurnVerdict, String>,
    },
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
    /// The speaker has paused: run the end-of-turn model over `pcm` (the
    /// utterance so far, ending with the pause) and hand back
    /// [`Input::TurnVerdict`].
    CheckTurn {
        check: UtteranceId,
        speaker: SpeakerId,
        pcm: Vec<i16>,
    },
    /// An utterance is over, `silence` after its last speech.
    TurnEnded {
        speaker: SpeakerId,
        utterance: UtteranceId,
        silence: Duration,
        reason: TurnEnd,
    },
    /// Transcribe this utterance and hand back [`Input::Transcript`].
    Transcribe {
        utterance: UtteranceId,
        speaker: SpeakerId,
        pcm: Vec<i16>,
    },
    /// The end-of-turn model heard the turn as complete, but its early
    /// transcript trails off ("hey agent, how do I"): it is kept open.
    TrailsOff {
        speaker: SpeakerId,
        utterance: UtteranceId,
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
        /// How loud it is, in dBov (RFC 6464): the room rings the agent's
        /// tile while it speaks, as it does anyone's.
        audio_level: i8,
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

/// Why an utterance ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TurnEnd {
    /// The end-of-turn model judged the turn complete.
    Complete {
        probability: f32,
    },
    /// `max_turn_silence` passed while the model judged the turn unfinished
    /// (with this probability of complete), or had not answered yet (`None`).
    LongSilence {
        probability: Option<f32>,
    },
    /// The model judged the turn unfinished (with this probability of
    /// complete), but its words made a whole question and
    /// `worded_turn_silence` passed.
    WordsComplete {
        probability: f32,
    },
    /// The model failed; `end_silence` passed.
    NoVerdict,
    /// Nothing the agent needs to hear (the spotter never fired): ended
    /// at the first pause, without asking the model.
    NotAddressed,
    /// `max_utterance` was reached while the speaker went on.
    TooLong,
    SpeakerLeft,
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
    /// When the asker's last voiced chunk ended (end of speech).
    pub speech_ended_at: Option<Instant>,
    /// From the end of the wake phrase in the audio to the spotter firing.
    pub wake_delay: Option<Duration>,
    /// From the end of speech to the utterance's end (end-pointing: the
    /// pause, and the end-of-turn model's verdict on it).
    pub end_of_turn: Option<Duration>,
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

/// Builds one voice-activity detector per speaker (each carries the state
/// of its speaker's stream).
pub type DetectorFactory = Box<dyn Fn() -> Box<dyn VoiceActivity> + Send + Sync>;

/// Builds one wake spotter per speaker.
pub type SpotterFactory = Box<dyn Fn() -> Box<dyn WakeSpotter> + Send + Sync>;

/// Where an utterance stands on the end-of-turn question, for the silence
/// it is in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TurnState {
    /// Speaking, or silent for less than `turn_check_silence`.
    Listening,
    /// The model was asked (this check) and has not answered.
    Asked(UtteranceId),
    /// The model heard the turn as complete (with this probability); the
    /// early transcript is awaited to confirm that the words do not trail
    /// off ("hey agent, how do I").
    Heard(f32),
    /// The model judged the turn unfinished, or heard it complete but the
    /// words trail off (with this probability of complete): speech may
    /// resume. What the early transcript says of the words is kept.
    Unfinished { probability: f32, words: Words },
    /// The model failed: `end_silence` ends the utterance.
    NoVerdict,
}

/// What an utterance's early transcript says of its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Words {
    /// Not transcribed yet, the transcription failed, or words that
    /// neither trail off nor end a sentence.
    Unsure,
    /// The question stops mid-way ("how do I", "what is the").
    TrailOff,
    /// A question the transcriber ended with a full stop or question mark,
    /// on a word that can end one; or words not addressed to the agent.
    Whole,
}

struct Utterance {
    id: UtteranceId,
    /// When the first sample of `pcm` was spoken.
    started_at: Instant,
    pcm: Vec<i16>,
    /// Per 32 ms chunk of `pcm`: whether it was judged speech (the
    /// pre-roll counts as speech).
    voiced: Vec<bool>,
    /// When the last chunk judged speech ended.
    last_voiced_at: Instant,
    spotted_at: Option<(Instant, Duration)>,
    follow_up: bool,
    /// The early transcription under way, if the speaker has been silent
    /// long enough for one.
    early: Option<UtteranceId>,
    turn: TurnState,
}

impl Utterance {
    /// The utterance's audio up to its last voiced chunk (trailing silence
    /// carries no words; a little is kept for the decoder), its pauses cut
    /// to [`KEPT_PAUSE`]: Whisper, decoding without timestamps, tends to
    /// end its text at a long silence and drop the words after a thinking
    /// pause.
    fn speech(&self) -> Vec<i16> {
        let speech_len = samples_to_count(
            self.last_voiced_at
                .saturating_duration_since(self.started_at)
                + Duration::from_millis(200),
        );
        let end = speech_len.max(CHUNK_SAMPLES).min(self.pcm.len());
        let kept_pause = chunks_in(KEPT_PAUSE);
        let mut speech = Vec::with_capacity(end);
        let mut quiet = 0;
        for (i, chunk) in self.pcm[..end].chunks(CHUNK_SAMPLES).enumerate() {
            if self.voiced.get(i).copied().unwrap_or(true) {
                quiet = 0;
            } else {
                quiet += 1;
                if quiet > kept_pause {
                    continue;
                }
            }
            speech.extend_from_slice(chunk);
        }
        speech
    }

    fn woke(&self) -> bool {
        self.spotted_at.is_some() || self.follow_up
    }
}

struct Speaker {
    /// Cuts the speaker's audio into the chunks the detector judges.
    chunker: Chunker<CHUNK_SAMPLES>,
    detector: Box<dyn VoiceActivity>,
    /// The detector has failed for this speaker (logged once; its chunks
    /// count as silence).
    detector_failed: bool,
    spotter: Option<Box<dyn WakeSpotter>>,
    preroll: VecDeque<[i16; CHUNK_SAMPLES]>,
    /// Whether the last chunk was speech (with the thresholds' hysteresis).
    voiced: bool,
    /// Voiced chunks in a row, for speech onset and barge-in.
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
    /// Known once the utterance has ended.
    end_of_turn: Option<Duration>,
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
    new_detector: DetectorFactory,
    /// `None`: no spotter gates transcription; every utterance is
    /// transcribed and the wake phrase looked for in its words.
    new_spotter: Option<SpotterFactory>,
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
    /// `new_detector` judges each speaker's audio; `new_spotter`, when
    /// given, decides which utterances are worth transcribing.
    pub fn new(
        config: PipelineConfig,
        new_detector: DetectorFactory,
        new_spotter: Option<SpotterFactory>,
    ) -> Result<Self, crate::audio::OpusError> {
        Ok(Self {
            wake: WakePhrase::new(&config.wake_phrase),
            config,
            new_detector,
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
                    self.end_utterance(now, speaker, &mut state, TurnEnd::SpeakerLeft);
                }
            }
            Input::TurnVerdict { check, verdict } => self.handle_verdict(now, check, verdict),
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
        self.follow_silences(now);
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
                chunker: Chunker::default(),
                detector: (self.new_detector)(),
                detector_failed: false,
                spotter: self.new_spotter.as_ref().map(|new| new()),
                preroll: VecDeque::new(),
                voiced: false,
                voiced_run: 0,
                utterance: None,
                awaiting_question_until: None,
            };
            self.speakers.insert(speaker_id.clone(), speaker);
        }
        let mut speaker = self.speakers.remove(speaker_id).expect("inserted above");
        let mut chunks = Vec::new();
        speaker.chunker.push(pcm, |chunk| chunks.push(chunk));
        // The push's last sample was spoken `now`: date each chunk by its
        // own last sample, counting back over what follows it.
        let left_over = speaker.chunker.len() as u64;
        let count = chunks.len() as u64;
        for (i, chunk) in chunks.iter().enumerate() {
            let after = left_over + (count - 1 - i as u64) * CHUNK_SAMPLES as u64;
            let at = now - samples_to_duration(after);
            self.handle_chunk(at, speaker_id, &mut speaker, chunk);
        }
        self.speakers.insert(speaker_id.clone(), speaker);
    }

    /// One 32 ms chunk of a speaker's audio, which ended at `at`.
    fn handle_chunk(
        &mut self,
        at: Instant,
        speaker_id: &SpeakerId,
        speaker: &mut Speaker,
        chunk: &[i16; CHUNK_SAMPLES],
    ) {
        let probability = match speaker.detector.speech_probability(chunk) {
            Ok(probability) => probability,
            Err(error) => {
                if !speaker.detector_failed {
                    speaker.detector_failed = true;
                    tracing::error!(%error, speaker = %speaker_id, "voice activity failed; this speaker is heard as silent");
                }
                0.0
            }
        };
        let threshold = if speaker.voiced {
            self.config.silence_threshold
        } else {
            self.config.speech_threshold
        };
        speaker.voiced = probability >= threshold;
        speaker.voiced_run = if speaker.voiced {
            speaker.voiced_run + 1
        } else {
            0
        };

        if speaker.voiced_run == chunks_in(self.config.barge_in) {
            self.barge_in(speaker_id);
        }

        let Some(utterance) = speaker.utterance.as_mut() else {
            speaker.preroll.push_back(*chunk);
            let start_chunks = chunks_in(self.config.speech_start);
            while speaker.preroll.len() > chunks_in(self.config.preroll) + start_chunks {
                speaker.preroll.pop_front();
            }
            if speaker.voiced_run >= start_chunks {
                self.start_utterance(at, speaker_id, speaker);
            }
            return;
        };
        utterance.pcm.extend_from_slice(chunk);
        utterance.voiced.push(speaker.voiced);
        if speaker.voiced {
            utterance.last_voiced_at = at;
            // Not the end after all: the early transcript and the pending
            // end-of-turn check are moot; the pause is part of the turn.
            if let Some(early) = utterance.early.take() {
                self.pending.remove(&early);
            }
            utterance.turn = TurnState::Listening;
        }
        if utterance.spotted_at.is_none()
            && let Some(spotter) = speaker.spotter.as_mut()
            && let Some(spot) = spotter.process(chunk)
        {
            let phrase_end = utterance.started_at + samples_to_duration(spot.end_sample);
            let wake_delay = at.saturating_duration_since(phrase_end);
            utterance.spotted_at = Some((at, wake_delay));
            self.events.push_back(Event::WakeSpotted {
                speaker: speaker_id.clone(),
                utterance: utterance.id,
            });
        }
        if samples_to_duration(utterance.pcm.len() as u64) >= self.config.max_utterance {
            self.end_utterance(at, speaker_id, speaker, TurnEnd::TooLong);
        } else {
            self.follow_silence(at, speaker_id, speaker);
        }
    }

    fn start_utterance(&mut self, at: Instant, speaker_id: &SpeakerId, speaker: &mut Speaker) {
        let id = self.new_id();
        let pcm: Vec<i16> = speaker.preroll.drain(..).flatten().collect();
        let started_at = at - samples_to_duration(pcm.len() as u64);
        let follow_up = speaker
            .awaiting_question_until
            .take()
            .is_some_and(|until| at <= until);
        let spot = speaker.spotter.as_mut().and_then(|spotter| {
            spotter.start();
            spotter.process(&pcm)
        });
        let utterance = Utterance {
            id,
            started_at,
            voiced: vec![true; pcm.len().div_ceil(CHUNK_SAMPLES)],
            pcm,
            last_voiced_at: at,
            spotted_at: spot.map(|spot| {
                let phrase_end = started_at + samples_to_duration(spot.end_sample);
                (at, at.saturating_duration_since(phrase_end))
            }),
            follow_up,
            early: None,
            turn: TurnState::Listening,
        };
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

    /// Whether `utterance` may hold something for the agent: with no
    /// spotter, any utterance may; with one, only those it fired on and
    /// awaited follow-ups.
    fn may_be_addressed(&self, utterance: &Utterance) -> bool {
        self.new_spotter.is_none() || utterance.woke()
    }

    /// What the speaker's silence, as of `now`, calls for: an early
    /// transcription, an end-of-turn check, or the utterance's end. Run on
    /// every chunk and on every poll (a speaker may stop sending audio
    /// altogether: muted, or a browser's discontinuous transmission).
    fn follow_silence(&mut self, now: Instant, speaker_id: &SpeakerId, speaker: &mut Speaker) {
        let Some(utterance) = speaker.utterance.as_ref() else {
            return;
        };
        let silent_for = now.saturating_duration_since(utterance.last_voiced_at);
        let config = &self.config;
        if !self.may_be_addressed(utterance) {
            if silent_for >= config.turn_check_silence {
                self.end_utterance(now, speaker_id, speaker, TurnEnd::NotAddressed);
            }
            return;
        }
        let end = match utterance.turn {
            TurnState::Unfinished { probability, .. } | TurnState::Heard(probability)
                if silent_for >= config.max_turn_silence =>
            {
                Some(TurnEnd::LongSilence {
                    probability: Some(probability),
                })
            }
            TurnState::Unfinished {
                probability,
                words: Words::Whole,
            } if silent_for >= config.worded_turn_silence => {
                Some(TurnEnd::WordsComplete { probability })
            }
            _ if silent_for >= config.max_turn_silence => {
                Some(TurnEnd::LongSilence { probability: None })
            }
            TurnState::NoVerdict if silent_for >= config.end_silence => Some(TurnEnd::NoVerdict),
            _ => None,
        };
        if let Some(reason) = end {
            self.end_utterance(now, speaker_id, speaker, reason);
            return;
        }
        let check =
            utterance.turn == TurnState::Listening && silent_for >= config.turn_check_silence;
        let early = utterance.early.is_none() && silent_for >= config.early_transcription;
        if check {
            let check = self.new_id();
            let utterance = speaker.utterance.as_mut().expect("checked above");
            utterance.turn = TurnState::Asked(check);
            self.events.push_back(Event::CheckTurn {
                check,
                speaker: speaker_id.clone(),
                pcm: utterance.pcm.clone(),
            });
        }
        if early {
            let early = self.new_id();
            let utterance = speaker.utterance.as_mut().expect("checked above");
            utterance.early = Some(early);
            self.transcribe(early, speaker_id, utterance, None);
        }
    }

    /// Follows every speaker's silence up to `now`.
    fn follow_silences(&mut self, now: Instant) {
        let silent: Vec<SpeakerId> = self
            .speakers
            .iter()
            .filter(|(_, s)| s.utterance.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        for id in silent {
            let mut speaker = self.speakers.remove(&id).expect("listed above");
            self.follow_silence(now, &id, &mut speaker);
            self.speakers.insert(id, speaker);
        }
    }

    fn handle_verdict(
        &mut self,
        now: Instant,
        check: UtteranceId,
        verdict: Result<TurnVerdict, String>,
    ) {
        // Only the check of the current silence counts (speech that resumed
        // reset the utterance's state, so an older one matches nothing).
        let Some(speaker_id) = self
            .speakers
            .iter()
            .find(|(_, s)| {
                s.utterance
                    .as_ref()
                    .is_some_and(|u| u.turn == TurnState::Asked(check))
            })
            .map(|(id, _)| id.clone())
        else {
            return;
        };
        let mut speaker = self.speakers.remove(&speaker_id).expect("found above");
        let utterance = speaker.utterance.as_mut().expect("found above");
        match verdict {
            Ok(verdict) if verdict.complete => {
                utterance.turn = TurnState::Heard(verdict.probability);
                self.read_words(now, &speaker_id, &mut speaker);
            }
            Ok(verdict) => {
                utterance.turn = TurnState::Unfinished {
                    probability: verdict.probability,
                    words: Words::Unsure,
                };
                self.read_words(now, &speaker_id, &mut speaker);
            }
            Err(error) => {
                tracing::warn!(%error, speaker = %speaker_id, "no end-of-turn verdict; ending the utterance on silence alone");
                utterance.turn = TurnState::NoVerdict;
                self.follow_silence(now, &speaker_id, &mut speaker);
            }
        }
        self.speakers.insert(speaker_id, speaker);
    }

    /// Reads the early transcript's words, once they come, against the
    /// model's verdict on the pause (LiveKit's turn detector reads the
    /// transcript for the same reason: the model hears intonation, the
    /// words tell where a question stops):
    ///
    /// - heard complete, and the words do not trail off: the turn ends now.
    ///   No wait is added: the question cannot be answered before its
    ///   transcript anyway. A failed transcription is not held against it.
    /// - heard complete, but the words trail off ("hey agent, how do I"): a
    ///   thinking pause; the turn stays open as unfinished.
    /// - judged unfinished, but the words make a whole question (ended with
    ///   a full stop or question mark by the transcriber, on a word that can
    ///   end one): the turn ends after `worded_turn_silence` rather than the
    ///   long cap. Words without such an end ("how do i clone", as a
    ///   transcriber without punctuation heard "how do I, um") wait for it.
    fn read_words(&mut self, now: Instant, speaker_id: &SpeakerId, speaker: &mut Speaker) {
        let Some(utterance) = speaker.utterance.as_mut() else {
            return;
        };
        let words = match utterance.early.and_then(|early| self.pending.get(&early)) {
            Some(PendingTranscript { result: None, .. }) => return,
            Some(PendingTranscript {
                result: Some(Ok(transcript)),
                ..
            }) => self.words(transcript, utterance.follow_up),
            _ => Words::Unsure,
        };
        match utterance.turn {
            TurnState::Heard(probability) if words == Words::TrailOff => {
                utterance.turn = TurnState::Unfinished { probability, words };
                self.events.push_back(Event::TrailsOff {
                    speaker: speaker_id.clone(),
                    utterance: utterance.id,
                });
            }
            TurnState::Heard(probability) => {
                self.end_utterance(now, speaker_id, speaker, TurnEnd::Complete { probability });
            }
            TurnState::Unfinished { probability, .. } => {
                utterance.turn = TurnState::Unfinished { probability, words };
                self.follow_silence(now, speaker_id, speaker);
            }
            _ => {}
        }
    }

    /// What a transcript's words say of the turn's end. One not addressed
    /// to the agent has nothing to wait for.
    fn words(&self, transcript: &str, follow_up: bool) -> Words {
        let Some(question) = self.question_in(transcript, follow_up) else {
            return Words::Whole;
        };
        if question.is_empty() {
            // A bare "hey agent": the next utterance is the question.
            Words::Whole
        } else if turn::words_trail_off(transcript, &question) {
            Words::TrailOff
        } else if transcript.trim_end().ends_with(['?', '.', '!']) {
            Words::Whole
        } else {
            Words::Unsure
        }
    }

    /// The question a transcript asks the agent: the words after the wake
    /// phrase, or all of them in a follow-up; `None` when it is not
    /// addressed to the agent.
    fn question_in(&self, transcript: &str, follow_up: bool) -> Option<String> {
        match (self.wake.find(transcript), follow_up) {
            (Some(found), _) => Some(found.question),
            (None, true) => Some(transcript.trim().to_string()),
            (None, false) => None,
        }
    }

    /// Ends the speaker's utterance: transcribed if it may be addressed to
    /// the agent; otherwise its audio is dropped unheard.
    fn end_utterance(
        &mut self,
        now: Instant,
        speaker_id: &SpeakerId,
        speaker: &mut Speaker,
        reason: TurnEnd,
    ) {
        let Some(utterance) = speaker.utterance.take() else {
            return;
        };
        if let Some(spotter) = speaker.spotter.as_mut() {
            spotter.finish();
        }
        speaker.voiced_run = 0;
        let silence = now.saturating_duration_since(utterance.last_voiced_at);
        self.events.push_back(Event::TurnEnded {
            speaker: speaker_id.clone(),
            utterance: utterance.id,
            silence,
            reason,
        });
        if !self.may_be_addressed(&utterance) {
            return;
        }
        // Transcribed early, over the same audio: use that transcript.
        if let Some(early) = utterance.early
            && let Some(pending) = self.pending.get_mut(&early)
        {
            pending.ended = true;
            pending.end_of_turn = Some(silence);
            if let Some(result) = pending.result.take() {
                // Used on the next poll, with the speaker back in place.
                self.transcribed_early.push_back((now, early, result));
            }
            return;
        }
        self.transcribe(utterance.id, speaker_id, &utterance, Some(silence));
    }

    fn new_id(&mut self) -> UtteranceId {
        self.next_utterance += 1;
        UtteranceId(self.next_utterance)
    }

    /// Asks for a transcript of `utterance`'s speech under `id`;
    /// `end_of_turn` is known when the utterance is over (else it is an
    /// early one).
    fn transcribe(
        &mut self,
        id: UtteranceId,
        speaker_id: &SpeakerId,
        utterance: &Utterance,
        end_of_turn: Option<Duration>,
    ) {
        self.pending.insert(
            id,
            PendingTranscript {
                ended: end_of_turn.is_some(),
                result: None,
                speaker: speaker_id.clone(),
                speech_ended_at: utterance.last_voiced_at,
                wake_delay: utterance.spotted_at.map(|(_, delay)| delay),
                end_of_turn,
                follow_up: utterance.follow_up,
            },
        );
        self.events.push_back(Event::Transcribe {
            utterance: id,
            speaker: speaker_id.clone(),
            pcm: utterance.speech(),
        });
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
            let speaker_id = pending.speaker.clone();
            if let Some(mut speaker) = self.speakers.remove(&speaker_id) {
                if speaker
                    .utterance
                    .as_ref()
                    .is_some_and(|u| u.early == Some(utterance))
                {
                    self.read_words(now, &speaker_id, &mut speaker);
                }
                self.speakers.insert(speaker_id, speaker);
            }
            return;
        }
        let pending = self.pending.remove(&utterance).expect("found above");
        let timings = Timings {
            speech_ended_at: Some(pending.speech_ended_at),
            wake_delay: pending.wake_delay,
            end_of_turn: pending.end_of_turn,
            transcription_delay: Some(now.saturating_duration_since(pending.speech_ended_at)),
            voice_to_voice: None,
        };
        let question = match result {
            // Nothing says this utterance was meant for the agent (no
            // spotter fired, no "hey agent" before it): a failed
            // transcription is dropped like talk to the room, not
            // apologised for.
            Err(_) if pending.wake_delay.is_none() && !pending.follow_up => {
                self.events.push_back(Event::WakeRejected {
                    utterance,
                    speaker: pending.speaker,
                    transcript: String::new(),
                });
                return;
            }
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
                let Some(text) = self.question_in(&transcript, pending.follow_up) else {
                    self.events.push_back(Event::WakeRejected {
                        utterance,
                        speaker: pending.speaker,
                        transcript,
                    });
                    return;
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
                audio_level: crate::audio::dbov(&frame),
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
        let silences = self
            .speakers
            .values()
            .filter_map(|s| s.utterance.as_ref())
            .filter_map(|u| self.silence_deadline(u));
        answer.into_iter().chain(silences).min()
    }

    /// When the utterance's silence, if it lasts, next calls for something
    /// (see [`Self::follow_silence`]).
    fn silence_deadline(&self, utterance: &Utterance) -> Option<Instant> {
        let config = &self.config;
        let after = |silence: Duration| utterance.last_voiced_at.checked_add(silence);
        if !self.may_be_addressed(utterance) {
            return after(config.turn_check_silence);
        }
        let check = (utterance.turn == TurnState::Listening)
            .then(|| after(config.turn_check_silence))
            .flatten();
        let early = utterance
            .early
            .is_none()
            .then(|| after(config.early_transcription))
            .flatten();
        let no_verdict = (utterance.turn == TurnState::NoVerdict)
            .then(|| after(config.end_silence))
            .flatten();
        let worded = matches!(
            utterance.turn,
            TurnState::Unfinished {
                words: Words::Whole,
                ..
            }
        )
        .then(|| after(config.worded_turn_silence))
        .flatten();
        [
            check,
            early,
            no_verdict,
            worded,
            after(config.max_turn_silence),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// Whole chunks that make up at least `duration` (at least one).
fn chunks_in(duration: Duration) -> usize {
    (duration.as_micros().div_ceil(CHUNK_DURATION.as_micros()) as usize).max(1)
}

fn samples_to_duration(samples: u64) -> Duration {
    Duration::from_micros(samples * 1_000_000 / SAMPLE_RATE as u64)
}

fn samples_to_count(duration: Duration) -> usize {
    (duration.as_micros() * SAMPLE_RATE as u128 / 1_000_000) as usize
}

#[cfg(test)]
mod tests {
    //! Turn-taking on a fake clock, with a scripted voice detector (any
    //! non-zero sample is speech) and scripted end-of-turn verdicts.

    use super::*;
    use crate::wake::Spot;

    /// Hears speech in any chunk that is not all zeros.
    struct Loudness;

    impl VoiceActivity for Loudness {
        fn speech_probability(
            &mut self,
            chunk: &[i16; CHUNK_SAMPLES],
        ) -> Result<f32, crate::providers::ProviderError> {
            Ok(if chunk.iter().any(|&s| s != 0) {
                0.9
            } else {
                0.02
            })
        }
    }

    /// A spotter that never fires.
    struct Deaf;

    impl WakeSpotter for Deaf {
        fn start(&mut self) {}
        fn process(&mut self, _pcm: &[i16]) -> Option<Spot> {
            None
        }
        fn finish(&mut self) {}
    }

    /// The end-of-turn model's and the transcriber's scripted answers, each
    /// handed back some fake time after it was asked for.
    struct Harness {
        pipeline: SessionPipeline,
        now: Instant,
        events: Vec<(Instant, Event)>,
        /// Verdicts for the checks to come, in order; `complete` once
        /// they run out.
        verdicts: VecDeque<Result<f32, String>>,
        verdict_delay: Duration,
        transcription_delay: Duration,
        /// Transcripts for the transcriptions to come, in order, "{ms}"
        /// standing for the milliseconds of audio given; once they run out,
        /// "hey agent, {ms} ms of audio".
        transcripts: VecDeque<String>,
        /// Work asked for and not yet answered: when it is due, and what.
        due: Vec<(Instant, Work)>,
    }

    enum Work {
        Verdict(UtteranceId, Result<TurnVerdict, String>),
        Transcript(UtteranceId, String),
    }

    const SPEAKER: &str = "ada";

    impl Harness {
        fn new(spotter: Option<SpotterFactory>) -> Self {
            Self {
                pipeline: SessionPipeline::new(
                    PipelineConfig::default(),
                    Box::new(|| Box::new(Loudness) as Box<dyn VoiceActivity>),
                    spotter,
                )
                .unwrap(),
                now: Instant::now(),
                events: Vec::new(),
                verdicts: VecDeque::new(),
                verdict_delay: Duration::from_millis(30),
                transcription_delay: Duration::from_millis(150),
                transcripts: VecDeque::new(),
                due: Vec::new(),
            }
        }

        /// `speaker` sends `ms` of audio with samples `level` (0 = silence),
        /// 20 ms at a time on the fake clock.
        fn send(&mut self, speaker: &str, level: i16, ms: u64) {
            let speaker = SpeakerId::from(speaker);
            for _ in 0..ms / 20 {
                self.now += FRAME_DURATION;
                self.answer_due();
                self.pipeline.handle_input(
                    self.now,
                    Input::Audio {
                        speaker: &speaker,
                        pcm: &[level; FRAME_SAMPLES],
                    },
                );
                self.drain();
            }
        }

        fn speak(&mut self, ms: u64) {
            self.send(SPEAKER, 3000, ms);
        }

        fn silence(&mut self, ms: u64) {
            self.send(SPEAKER, 0, ms);
        }

        /// Time passes with no audio at all.
        fn advance(&mut self, ms: u64) {
            for _ in 0..ms / 5 {
                self.now += Duration::from_millis(5);
                self.answer_due();
                self.drain();
            }
        }

        fn answer_due(&mut self) {
            let now = self.now;
            let (ready, waiting): (Vec<_>, Vec<_>) =
                self.due.drain(..).partition(|(at, _)| *at <= now);
            self.due = waiting;
            for (_, work) in ready {
                match work {
                    Work::Verdict(check, verdict) => self
                        .pipeline
                        .handle_input(now, Input::TurnVerdict { check, verdict }),
                    Work::Transcript(utterance, transcript) => self.pipeline.handle_input(
                        now,
                        Input::Transcript {
                            utterance,
                            result: Ok(transcript),
                        },
                    ),
                }
                self.drain();
            }
        }

        fn drain(&mut self) {
            loop {
                match self.pipeline.poll_output(self.now) {
                    Output::Event(event) => {
                        match &event {
                            Event::CheckTurn { check, .. } => {
                                let verdict = self
                                    .verdicts
                                    .pop_front()
                                    .unwrap_or(Ok(0.9))
                                    .map(TurnVerdict::from_probability);
                                let at = self.now + self.verdict_delay;
                                self.due.push((at, Work::Verdict(*check, verdict)));
                            }
                            Event::Transcribe { utterance, pcm, .. } => {
                                let at = self.now + self.transcription_delay;
                                let transcript = self
                                    .transcripts
                                    .pop_front()
                                    .unwrap_or_else(|| "hey agent, {ms} ms of audio".into())
                                    .replace("{ms}", &(pcm.len() / 16).to_string());
                                self.due
                                    .push((at, Work::Transcript(*utterance, transcript)));
                            }
                            _ => {}
                        }
                        self.events.push((self.now, event));
                    }
                    Output::Wait(_) => return,
                }
            }
        }

        fn count(&self, matches: impl Fn(&Event) -> bool) -> usize {
            self.events.iter().filter(|(_, e)| matches(e)).count()
        }

        fn ends(&self) -> Vec<(Duration, TurnEnd)> {
            self.events
                .iter()
                .filter_map(|(_, e)| match e {
                    Event::TurnEnded {
                        silence, reason, ..
                    } => Some((*silence, *reason)),
                    _ => None,
                })
                .collect()
        }

        /// Why each utterance ended, in order.
        fn reasons(&self) -> Vec<TurnEnd> {
            self.ends().into_iter().map(|(_, reason)| reason).collect()
        }

        fn questions(&self) -> Vec<Question> {
            self.events
                .iter()
                .filter_map(|(_, e)| match e {
                    Event::QuestionReady(q) => Some(q.clone()),
                    _ => None,
                })
                .collect()
        }
    }

    /// Asserts that `question` was heard whole: 800 ms of speech, a
    /// 1200 ms pause cut to `KEPT_PAUSE`, then 600 ms more.
    fn assert_both_halves_heard(question: &Question) {
        let heard = heard_ms(question);
        let kept = KEPT_PAUSE.as_millis() as u64;
        assert!(
            heard >= 800 + kept + 600 && heard < 800 + 1200 + 600,
            "{question:?}"
        );
    }

    /// The audio length a question's transcript reports.
    fn heard_ms(question: &Question) -> u64 {
        question
            .text
            .split_whitespace()
            .next()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("{question:?}"))
    }

    #[test]
    fn a_complete_turn_ends_after_the_short_pause_well_before_the_old_fixed_wait() {
        let mut h = Harness::new(None);
        h.silence(300);
        h.speak(1000);
        h.silence(1000);

        assert_eq!(h.count(|e| matches!(e, Event::CheckTurn { .. })), 1);
        let ends = h.ends();
        assert_eq!(ends.len(), 1, "{:?}", h.events);
        let (silence, reason) = ends[0];
        assert_eq!(reason, TurnEnd::Complete { probability: 0.9 });
        // The pause that asks (200 ms, seen at the next chunk), then the
        // model's verdict and the early transcript (in parallel, 30 and
        // 150 ms): not the 500 ms a fixed wait would take.
        let config = PipelineConfig::default();
        let asked_by = config.turn_check_silence + CHUNK_DURATION;
        assert!(
            silence >= config.turn_check_silence
                && silence <= asked_by + h.verdict_delay.max(h.transcription_delay),
            "{silence:?}"
        );
        assert!(silence < config.end_silence);

        // Transcribed once, early, in parallel with the check: the question
        // is ready when the transcript is, not a decode after the end.
        assert_eq!(h.count(|e| matches!(e, Event::Transcribe { .. })), 1);
        let questions = h.questions();
        assert_eq!(questions.len(), 1, "{:?}", h.events);
        let timings = questions[0].timings;
        assert_eq!(timings.end_of_turn, Some(silence));
        let transcribed = timings.transcription_delay.unwrap();
        assert!(
            transcribed <= asked_by + h.transcription_delay + FRAME_DURATION,
            "{transcribed:?}"
        );
        // The speech itself, with the pre-roll and a little after.
        assert!(heard_ms(&questions[0]) >= 1000, "{:?}", questions[0]);
    }

    #[test]
    fn a_thinking_pause_judged_unfinished_keeps_one_utterance() {
        let mut h = Harness::new(None);
        h.verdicts = VecDeque::from([Ok(0.1), Ok(0.95)]);
        h.transcripts = VecDeque::from(["Hey agent, how do I, um,".to_string()]);
        h.silence(300);
        h.speak(800); // "how do I…"
        h.silence(1200); // "…um…"
        h.speak(600); // "sort a map"
        h.silence(1000);

        assert_eq!(h.count(|e| matches!(e, Event::CheckTurn { .. })), 2);
        assert_eq!(h.count(|e| matches!(e, Event::SpeechStarted { .. })), 1);
        assert_eq!(h.reasons(), [TurnEnd::Complete { probability: 0.95 }]);
        // The early transcript of the first half was dropped; the question
        // is the whole utterance, pause included.
        let questions = h.questions();
        assert_eq!(questions.len(), 1, "{:?}", h.events);
        assert_both_halves_heard(&questions[0]);
        assert_eq!(h.count(|e| matches!(e, Event::WakeRejected { .. })), 0);
    }

    #[test]
    fn a_pause_heard_as_complete_whose_words_trail_off_keeps_one_utterance() {
        let mut h = Harness::new(None);
        // The model hears both pauses as complete; the first one's words
        // stop at "how do I".
        h.transcripts = VecDeque::from(["Hey agent, how do I".to_string()]);
        h.silence(300);
        h.speak(800); // "hey agent, how do I"
        h.silence(1200);
        h.speak(600); // "sort a map"
        h.silence(1000);

        assert_eq!(h.count(|e| matches!(e, Event::CheckTurn { .. })), 2);
        assert_eq!(h.count(|e| matches!(e, Event::TrailsOff { .. })), 1);
        assert_eq!(h.reasons(), [TurnEnd::Complete { probability: 0.9 }]);
        let questions = h.questions();
        assert_eq!(questions.len(), 1, "{:?}", h.events);
        assert_both_halves_heard(&questions[0]);
    }

    #[test]
    fn a_pause_judged_unfinished_whose_words_are_a_whole_question_ends_sooner() {
        let mut h = Harness::new(None);
        h.verdicts = VecDeque::from([Ok(0.2)]);
        h.transcripts = VecDeque::from([
            "Hey agent, what is the difference between a vector and an array?".to_string(),
        ]);
        h.silence(300);
        h.speak(1500);
        h.silence(3000);

        let ends = h.ends();
        assert_eq!(ends.len(), 1, "{:?}", h.events);
        let (silence, reason) = ends[0];
        assert_eq!(reason, TurnEnd::WordsComplete { probability: 0.2 });
        let worded = PipelineConfig::default().worded_turn_silence;
        assert!(
            silence >= worded && silence <= worded + CHUNK_DURATION,
            "{silence:?}"
        );
        let questions = h.questions();
        assert_eq!(questions.len(), 1, "{:?}", h.events);
        assert_eq!(
            questions[0].text,
            "what is the difference between a vector and an array"
        );
    }

    #[test]
    fn unfinished_words_without_a_sentence_end_wait_for_the_cap() {
        let mut h = Harness::new(None);
        h.verdicts = VecDeque::from([Ok(0.2)]);
        // No full stop or question mark: the words cannot overrule the model.
        h.transcripts = VecDeque::from(["hey agent how do i clone".to_string()]);
        h.silence(300);
        h.speak(800);
        h.silence(2500);
        assert!(h.ends().is_empty(), "{:?}", h.events);
        h.silence(1000);
        assert_eq!(
            h.reasons(),
            [TurnEnd::LongSilence {
                probability: Some(0.2)
            }]
        );
    }

    #[test]
    fn words_that_trail_off_still_end_at_the_cap() {
        let mut h = Harness::new(None);
        h.transcripts = VecDeque::from(["Hey agent, what is the".to_string()]);
        h.silence(300);
        h.speak(800);
        h.silence(4000);

        let ends = h.ends();
        assert_eq!(ends.len(), 1, "{:?}", h.events);
        let (silence, reason) = ends[0];
        assert_eq!(
            reason,
            TurnEnd::LongSilence {
                probability: Some(0.9)
            }
        );
        let cap = PipelineConfig::default().max_turn_silence;
        assert!(
            silence >= cap && silence <= cap + CHUNK_DURATION,
            "{silence:?}"
        );
        // Nothing was said since: the early transcript is the question.
        let questions = h.questions();
        assert_eq!(questions.len(), 1, "{:?}", h.events);
        assert_eq!(questions[0].text, "what is the");
    }

    #[test]
    fn an_unfinished_turn_still_ends_when_the_silence_reaches_the_cap() {
        let mut h = Harness::new(None);
        h.verdicts = VecDeque::from([Ok(0.2)]);
        h.transcripts = VecDeque::from(["Hey agent, how do I".to_string()]);
        h.silence(300);
        h.speak(1000);
        h.silence(2500);
        assert!(h.ends().is_empty(), "still waiting: {:?}", h.events);
        assert!(h.questions().is_empty());
        h.silence(1000);

        let ends = h.ends();
        assert_eq!(ends.len(), 1);
        let (silence, reason) = ends[0];
        assert_eq!(
            reason,
            TurnEnd::LongSilence {
                probability: Some(0.2)
            }
        );
        let cap = PipelineConfig::default().max_turn_silence;
        assert!(
            silence >= cap && silence <= cap + CHUNK_DURATION,
            "{silence:?}"
        );
        // Nothing was said since the early transcription: it is used.
        assert_eq!(h.count(|e| matches!(e, Event::Transcribe { .. })), 1);
        assert_eq!(h.questions().len(), 1, "{:?}", h.events);
    }

    #[test]
    fn a_verdict_on_a_pause_that_speech_ended_is_ignored() {
        let mut h = Harness::new(None);
        // The model is slow: it answers "complete" after the speaker has
        // already gone on.
        h.verdict_delay = Duration::from_millis(300);
        h.verdicts = VecDeque::from([Ok(0.99), Ok(0.1)]);
        // The words of the second pause trail off: the cap ends it.
        h.transcripts = VecDeque::from([
            "hey agent, {ms} ms".to_string(),
            "hey agent, {ms} ms of audio and the".to_string(),
        ]);
        h.silence(300);
        h.speak(600);
        h.silence(260);
        h.speak(600);
        h.silence(1000);
        assert_eq!(h.count(|e| matches!(e, Event::CheckTurn { .. })), 2);
        assert!(h.ends().is_empty(), "{:?}", h.events);
        h.silence(2500);
        assert_eq!(
            h.reasons(),
            [TurnEnd::LongSilence {
                probability: Some(0.1)
            }]
        );
        assert!(heard_ms(&h.questions()[0]) >= 600 + 260 + 600);
    }

    #[test]
    fn without_a_verdict_the_utterance_ends_on_silence_alone() {
        let mut h = Harness::new(None);
        h.verdicts = VecDeque::from([Err("the model failed".to_string())]);
        h.silence(300);
        h.speak(1000);
        h.silence(1000);
        let ends = h.ends();
        assert_eq!(ends.len(), 1);
        let (silence, reason) = ends[0];
        assert_eq!(reason, TurnEnd::NoVerdict);
        let end_silence = PipelineConfig::default().end_silence;
        assert!(
            silence >= end_silence && silence <= end_silence + CHUNK_DURATION,
            "{silence:?}"
        );
        assert_eq!(h.questions().len(), 1);
    }

    #[test]
    fn a_speaker_who_stops_sending_audio_is_heard_as_silent() {
        let mut h = Harness::new(None);
        h.silence(300);
        h.speak(1000);
        // Muted, or the browser's discontinuous transmission: no packets.
        h.advance(600);
        let ends = h.ends();
        assert_eq!(ends.len(), 1, "{:?}", h.events);
        assert!(matches!(ends[0].1, TurnEnd::Complete { .. }));
        assert_eq!(h.questions().len(), 1);
    }

    #[test]
    fn with_a_spotter_that_never_fired_nothing_is_checked_or_transcribed() {
        let spotter: SpotterFactory = Box::new(|| Box::new(Deaf) as Box<dyn WakeSpotter>);
        let mut h = Harness::new(Some(spotter));
        h.silence(300);
        h.speak(1000);
        h.silence(1000);
        let ends = h.ends();
        assert_eq!(ends.len(), 1);
        assert_eq!(ends[0].1, TurnEnd::NotAddressed);
        assert!(ends[0].0 < PipelineConfig::default().end_silence);
        assert_eq!(h.count(|e| matches!(e, Event::CheckTurn { .. })), 0);
        assert_eq!(h.count(|e| matches!(e, Event::Transcribe { .. })), 0);
    }

    #[test]
    fn talking_over_the_answer_stops_it_within_a_tenth_of_a_second() {
        let mut h = Harness::new(None);
        h.silence(300);
        h.speak(1000);
        h.silence(600);
        let question = h.questions().pop().expect("a question");
        h.pipeline.handle_input(
            h.now,
            Input::AnswerAudio {
                ticket: question.ticket,
                pcm: &[500; 16_000 * 3],
            },
        );
        h.advance(400);
        assert!(h.count(|e| matches!(e, Event::SpeakFrame { .. })) > 10);

        let speaking_from = h.now;
        h.send("bob", 3000, 300);
        let (barge_in_at, _) = h
            .events
            .iter()
            .find(|(_, e)| matches!(e, Event::BargeIn { speaker, .. } if speaker.0 == "bob"))
            .expect("barge-in");
        let after = *barge_in_at - speaking_from;
        // Three 32 ms chunks of speech, arriving in 20 ms frames.
        assert!(after <= Duration::from_millis(100), "{after:?}");
        assert!(
            !h.events
                .iter()
                .any(|(at, e)| at > barge_in_at && matches!(e, Event::SpeakFrame { .. }))
        );
        assert_eq!(
            h.count(|e| matches!(
                e,
                Event::AnswerFinished {
                    interrupted: true,
                    ..
                }
            )),
            1
        );
    }
}

//! The sans-IO pipeline on recorded (synthesised) speech with a fake clock:
//! flite speaks, Silero hears speech, Smart Turn decides when a turn is
//! over, PocketSphinx spots the wake phrase (as it does for a cloud
//! transcriber) and Whisper transcribes; nothing sleeps.

use std::time::{Duration, Instant};

use agent::audio::{FRAME_DURATION, FRAME_SAMPLES, OpusDecoder, OpusEncoder, RTP_TICKS_PER_FRAME};
use agent::pipeline::{
    Event, Input, Output, PipelineConfig, Question, SessionPipeline, SpeakerId, Ticket, Timings,
    TurnEnd,
};
use agent::prompt::{ProjectInfo, SessionContext, SessionInfo, hints};
use agent::stt::pocketsphinx::{PocketsphinxModel, PocketsphinxSpotter};
use agent::stt::whisper::WhisperStt;
use agent::tts::flite::{FliteVoice, synthesize_blocking};
use agent::turn::{SmartTurn, TurnDetector};
use agent::vad::{Silero, VoiceActivity};
use agent::wake::WakeSpotter;
use domain::ai_log::Trigger;

/// Drives a pipeline on a fake clock and answers its end-of-turn checks
/// with Smart Turn and its transcription requests with Whisper,
/// synchronously.
struct Harness {
    pipeline: SessionPipeline,
    turn: SmartTurn,
    stt: WhisperStt,
    /// What a session of a Rust project hints the transcriber with, as the
    /// session task does.
    hints: String,
    now: Instant,
    events: Vec<(Instant, Event)>,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(PipelineConfig::default())
    }

    fn with_config(config: PipelineConfig) -> Self {
        let model = PocketsphinxModel::default();
        let stt = WhisperStt::load_default().unwrap();
        let context = SessionContext {
            session: SessionInfo {
                title: "Pairing".into(),
                kind: "coding".into(),
            },
            project: Some(ProjectInfo {
                name: "Lock In".into(),
                description: "Live focus sessions".into(),
                tech_stack: vec!["Rust".into(), "axum".into(), "SQLite".into()],
                repo_url: None,
            }),
        };
        let hints = hints(&config.wake_phrase, &context, &[]);
        let spotter_model = model.clone();
        let silero = Silero::load().unwrap();
        let pipeline = SessionPipeline::new(
            config,
            Box::new(move || Box::new(silero.detector()) as Box<dyn VoiceActivity>),
            Some(Box::new(move || {
                Box::new(PocketsphinxSpotter::new(&spotter_model, "hey agent", 1e-20).unwrap())
                    as Box<dyn WakeSpotter>
            })),
        )
        .unwrap();
        Self {
            pipeline,
            turn: SmartTurn::load(1).unwrap(),
            stt,
            hints,
            now: Instant::now(),
            events: Vec::new(),
        }
    }

    /// Feeds `pcm` from `speaker` in 20 ms frames, one frame per 20 ms of
    /// fake time, draining events after each.
    fn speak(&mut self, speaker: &str, pcm: &[i16]) {
        let speaker = SpeakerId::from(speaker);
        for frame in pcm.chunks(FRAME_SAMPLES) {
            self.now += FRAME_DURATION;
            self.pipeline.handle_input(
                self.now,
                Input::Audio {
                    speaker: &speaker,
                    pcm: frame,
                },
            );
            self.drain();
        }
    }

    /// `speaker` says `text` in `voice` after 400 ms of quiet, then stays
    /// quiet long enough for the utterance to end whatever Smart Turn says.
    fn ask(&mut self, speaker: &str, voice: FliteVoice, text: &str) {
        self.silence(speaker, Duration::from_millis(400));
        self.speak(speaker, &say(voice, text));
        self.silence(speaker, LONGEST_PAUSE);
    }

    fn silence(&mut self, speaker: &str, duration: Duration) {
        let samples = (duration.as_millis() as usize) * 16;
        self.speak(speaker, &vec![0; samples]);
    }

    /// Polls until the pipeline waits; answers what it asks for.
    fn drain(&mut self) {
        loop {
            match self.pipeline.poll_output(self.now) {
                Output::Event(Event::CheckTurn {
                    check,
                    speaker,
                    pcm,
                }) => {
                    let verdict = self.turn.verdict(&pcm).map_err(|e| e.to_string());
                    self.events.push((
                        self.now,
                        Event::CheckTurn {
                            check,
                            speaker,
                            pcm: Vec::new(),
                        },
                    ));
                    // A few tens of ms of real time; on the fake clock, 30.
                    self.now += Duration::from_millis(30);
                    self.pipeline
                        .handle_input(self.now, Input::TurnVerdict { check, verdict });
                }
                Output::Event(Event::Transcribe {
                    utterance,
                    pcm,
                    speaker,
                }) => {
                    let text = self.stt.recognise(&pcm, &self.hints).unwrap().text;
                    self.events.push((
                        self.now,
                        Event::Transcribe {
                            utterance,
                            speaker,
                            pcm: Vec::new(),
                        },
                    ));
                    // Decoding takes real time; on the fake clock, 100 ms.
                    self.now += Duration::from_millis(100);
                    self.pipeline.handle_input(
                        self.now,
                        Input::Transcript {
                            utterance,
                            result: Ok(text),
                        },
                    );
                }
                Output::Event(event) => self.events.push((self.now, event)),
                Output::Wait(_) => return,
            }
        }
    }

    fn advance(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.now += Duration::from_millis(5);
            self.drain();
        }
    }

    /// The answerer hands over `pcm`, answer audio for the question of `ticket`.
    fn answer_audio(&mut self, ticket: Ticket, pcm: &[i16]) {
        self.pipeline
            .handle_input(self.now, Input::AnswerAudio { ticket, pcm });
    }

    /// The answerer has no more audio for the question of `ticket`.
    fn answer_end(&mut self, ticket: Ticket) {
        self.pipeline
            .handle_input(self.now, Input::AnswerEnd { ticket });
    }

    /// `speaker` types `question` in the chat.
    fn type_question(&mut self, speaker: &SpeakerId, question: &str) {
        self.pipeline
            .handle_input(self.now, Input::Typed { speaker, question });
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

    fn count(&self, matches: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| matches(e)).count()
    }

    /// Why each utterance ended, and how long after its last speech.
    fn ends(&self) -> Vec<(TurnEnd, Duration)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::TurnEnded {
                    reason, silence, ..
                } => Some((*reason, *silence)),
                _ => None,
            })
            .collect()
    }
}

/// Silence that ends any utterance, whatever Smart Turn thinks of it.
const LONGEST_PAUSE: Duration = Duration::from_millis(3500);

fn say(voice: FliteVoice, text: &str) -> Vec<i16> {
    synthesize_blocking(voice, text).unwrap()
}

/// The assistant's voice speaking `text`, as its answerer would hand it over.
fn spoken_answer(text: &str) -> Vec<i16> {
    say(FliteVoice::Slt, text)
}

#[test]
fn hey_agent_wakes_it_and_the_rest_is_the_question_in_every_voice() {
    for voice in FliteVoice::ALL {
        let mut h = Harness::new();
        h.ask("ada", voice, "hey agent, what is a closure in rust");

        assert_eq!(
            h.count(|e| matches!(e, Event::WakeSpotted { .. })),
            1,
            "{voice:?}"
        );
        let questions = h.questions();
        assert_eq!(questions.len(), 1, "{voice:?}: {:?}", h.events);
        let question = &questions[0];
        assert!(question.text.contains("closure"), "{voice:?}: {question:?}");
        assert!(
            !question.text.to_lowercase().contains("agent"),
            "{voice:?}: {question:?}"
        );
        assert_eq!(question.speaker, SpeakerId::from("ada"));
        assert_eq!(question.trigger, Trigger::Voice);
        assert!(!question.follow_up, "{voice:?}: asked in one utterance");
        let timings = question.timings;
        let wake_delay = timings.wake_delay.unwrap();
        assert!(
            wake_delay < Duration::from_millis(1500),
            "{voice:?}: wake delay {wake_delay:?}"
        );
        // Smart Turn heard a finished question: the utterance ended at the
        // first short pause, and the transcript (decoded early, in parallel
        // with the check) came before the 500 ms a fixed wait used to take.
        let ends = h.ends();
        let transcription = timings.transcription_delay.unwrap();
        eprintln!("{voice:?}: {ends:?}; transcript after {transcription:?}");
        assert!(
            matches!(ends[..], [(TurnEnd::Complete { .. }, _)]),
            "{voice:?}: {ends:?}"
        );
        assert_eq!(timings.end_of_turn, Some(ends[0].1));
        assert!(
            transcription >= PipelineConfig::default().turn_check_silence
                && transcription < Duration::from_millis(500),
            "{transcription:?}"
        );
    }
}

#[test]
fn the_question_a_new_user_tries_first_is_understood() {
    for voice in FliteVoice::ALL {
        let mut h = Harness::new();
        h.ask(
            "ada",
            voice,
            "hey agent, how do I reverse a string in Python?",
        );
        let questions = h.questions();
        assert_eq!(questions.len(), 1, "{voice:?}: {:?}", h.events);
        let text = questions[0].text.to_lowercase();
        for word in ["reverse", "string", "python"] {
            assert!(text.contains(word), "{voice:?}: {text:?}");
        }
    }
}

#[test]
fn a_thinking_pause_does_not_cut_the_question() {
    // flite's own leading and trailing silence trimmed, so the pause is the
    // one inserted.
    let trimmed = |pcm: Vec<i16>| {
        let loud = |s: &i16| s.unsigned_abs() > 300;
        let start = pcm.iter().position(loud).unwrap_or(0);
        let end = pcm.iter().rposition(loud).map_or(pcm.len(), |i| i + 1);
        pcm[start..end].to_vec()
    };
    for voice in FliteVoice::ALL {
        let mut h = Harness::new();
        h.silence("ada", Duration::from_millis(400));
        h.speak("ada", &trimmed(say(voice, "hey agent, how do I")));
        // A second and a half to think: three times the old fixed wait.
        h.silence("ada", Duration::from_millis(1500));
        h.speak("ada", &trimmed(say(voice, "sort a list in python")));
        h.silence("ada", LONGEST_PAUSE);

        let ends = h.ends();
        eprintln!("{voice:?}: {ends:?}");
        assert_eq!(ends.len(), 1, "{voice:?}: one utterance: {:?}", h.events);
        // The pause was checked and judged unfinished; the early transcript
        // of its first half was dropped and the whole was transcribed.
        assert!(h.count(|e| matches!(e, Event::CheckTurn { .. })) >= 2);
        assert!(h.count(|e| matches!(e, Event::Transcribe { .. })) >= 2);
        let questions = h.questions();
        assert_eq!(questions.len(), 1, "{voice:?}: {:?}", h.events);
        let text = questions[0].text.to_lowercase();
        assert!(text.contains("sort"), "{voice:?}: {text:?}");
    }
}

#[test]
fn talking_about_the_agent_does_not_wake_it() {
    for voice in FliteVoice::ALL {
        let mut h = Harness::new();
        h.ask("bob", voice, "the agent said hello to the team");
        h.speak("bob", &say(voice, "hey everyone, let us get started"));
        h.silence("bob", LONGEST_PAUSE);
        assert!(h.questions().is_empty(), "{voice:?}: {:?}", h.events);
        // Whatever the spotter thought, the words decided.
        let spotted = h.count(|e| matches!(e, Event::WakeSpotted { .. }));
        let rejected = h.count(|e| matches!(e, Event::WakeRejected { .. }));
        assert_eq!(spotted, rejected, "{voice:?}: {:?}", h.events);
    }
}

#[test]
fn speech_that_never_woke_the_agent_is_never_transcribed() {
    let mut h = Harness::new();
    h.ask("cy", FliteVoice::Slt, "hey everyone, let us get started");
    assert_eq!(h.count(|e| matches!(e, Event::SpeechStarted { .. })), 1);
    assert_eq!(
        h.count(|e| matches!(e, Event::Transcribe { .. })),
        0,
        "{:?}",
        h.events
    );
}

#[test]
fn the_question_survives_an_opus_round_trip() {
    let speech = say(
        FliteVoice::Rms,
        "hey agent, how do i write a test in python",
    );
    let mut encoder = OpusEncoder::new().unwrap();
    let mut decoder = OpusDecoder::new().unwrap();
    let mut decoded = Vec::new();
    for frame in speech.chunks(FRAME_SAMPLES) {
        let mut whole = [0i16; FRAME_SAMPLES];
        whole[..frame.len()].copy_from_slice(frame);
        let packet = encoder.encode(&whole).unwrap();
        decoded.extend_from_slice(decoder.decode(&packet).unwrap());
    }
    let mut h = Harness::new();
    h.silence("dee", Duration::from_millis(400));
    h.speak("dee", &decoded);
    h.silence("dee", LONGEST_PAUSE);
    let questions = h.questions();
    assert_eq!(questions.len(), 1, "{:?}", h.events);
    assert!(questions[0].text.contains("test"), "{:?}", questions[0]);
}

#[test]
fn a_pause_after_the_wake_phrase_makes_the_next_utterance_the_question() {
    let mut h = Harness::new();
    h.silence("eve", Duration::from_millis(400));
    h.speak("eve", &say(FliteVoice::Slt, "hey agent"));
    h.silence("eve", LONGEST_PAUSE);
    assert_eq!(
        h.count(|e| matches!(e, Event::AwaitingQuestion { .. })),
        1,
        "{:?}",
        h.events
    );
    h.speak("eve", &say(FliteVoice::Slt, "what is a borrow checker"));
    h.silence("eve", LONGEST_PAUSE);
    let questions = h.questions();
    assert_eq!(questions.len(), 1, "{:?}", h.events);
    assert_eq!(questions[0].trigger, Trigger::Voice);
    assert!(questions[0].follow_up, "{:?}", questions[0]);
    assert!(
        questions[0].text.contains("borrow checker"),
        "{:?}",
        questions[0]
    );
}

/// Asks one question and returns the harness with it ready to answer.
fn asked() -> (Harness, Question) {
    let mut h = Harness::new();
    h.ask(
        "ada",
        FliteVoice::Slt,
        "hey agent, what is a closure in rust",
    );
    let question = h.questions().pop().expect("the question is ready");
    (h, question)
}

#[test]
fn the_answer_is_paced_in_real_time_with_rtp_timestamps() {
    let (mut h, question) = asked();
    let answer = spoken_answer("A closure is a function that captures its environment.");
    let frames_expected = answer.len().div_ceil(FRAME_SAMPLES);
    let ended_at = question.timings.speech_ended_at.unwrap();
    h.answer_audio(question.ticket, &answer);
    h.answer_end(question.ticket);
    let start = h.now;
    h.events.clear();
    h.advance(FRAME_DURATION * (frames_expected as u32 + 5));

    let frames: Vec<(Instant, u32)> = h
        .events
        .iter()
        .filter_map(|(at, e)| match e {
            Event::SpeakFrame {
                rtp_timestamp,
                opus,
                ..
            } => {
                assert!(!opus.is_empty());
                Some((*at, *rtp_timestamp))
            }
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), frames_expected);
    // One frame per 20 ms (within the 5 ms polling step), never a burst.
    for pair in frames.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_millis(15) && gap <= Duration::from_millis(25),
            "{gap:?}"
        );
        assert_eq!(pair[1].1.wrapping_sub(pair[0].1), RTP_TICKS_PER_FRAME);
    }
    assert!(frames[0].0 - start < Duration::from_millis(10));
    let finished: Vec<_> = h
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::AnswerFinished {
                interrupted,
                timings,
                ..
            } => Some((*interrupted, *timings)),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 1);
    let (interrupted, timings) = finished[0];
    assert!(!interrupted);
    assert_eq!(timings.voice_to_voice, Some(frames[0].0 - ended_at));
}

#[test]
fn someone_talking_over_the_answer_stops_it_within_300_ms() {
    let (mut h, question) = asked();
    let long_answer = spoken_answer(
        "A closure is a function that captures variables from the scope around it, and it can be stored and called later.",
    );
    h.answer_audio(question.ticket, &long_answer);
    h.advance(Duration::from_millis(600));
    h.events.clear();

    // Bob starts talking while the agent speaks.
    let interruption = say(FliteVoice::Awb, "okay thanks, that is enough");
    // Time runs from the first audible frame (flite starts with a short
    // silence); the harness advances the clock before each frame.
    let first_audible = interruption
        .chunks(FRAME_SAMPLES)
        .position(|frame| agent::audio::rms(frame) > 0.01)
        .unwrap();
    let speaking_from = h.now + FRAME_DURATION * (first_audible as u32 + 1);
    h.speak("bob", &interruption[..FRAME_SAMPLES * 20]);
    let barge_in_at = h
        .events
        .iter()
        .find(|(_, e)| matches!(e, Event::BargeIn { .. }))
        .map(|(at, _)| *at)
        .expect("barge-in");
    eprintln!(
        "barge-in {:?} after the first audible frame",
        barge_in_at - speaking_from
    );
    assert!(
        barge_in_at - speaking_from <= Duration::from_millis(300),
        "{:?}",
        barge_in_at - speaking_from
    );
    let frames_after = h
        .events
        .iter()
        .filter(|(at, e)| *at > barge_in_at && matches!(e, Event::SpeakFrame { .. }))
        .count();
    assert_eq!(frames_after, 0);
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
    // Late audio of the cut answer is dropped.
    let frames_before = h.count(|e| matches!(e, Event::SpeakFrame { .. }));
    h.answer_audio(question.ticket, &long_answer);
    h.advance(Duration::from_millis(200));
    assert_eq!(
        h.count(|e| matches!(e, Event::SpeakFrame { .. })),
        frames_before
    );
    assert!(!h.pipeline.is_answering());
}

#[test]
fn questions_queue_and_are_answered_one_at_a_time() {
    let mut h = Harness::new();
    h.ask(
        "ada",
        FliteVoice::Slt,
        "hey agent, what is a closure in rust",
    );
    h.speak(
        "bob",
        &say(FliteVoice::Rms, "hey agent, what is a borrow checker"),
    );
    h.silence("bob", LONGEST_PAUSE);
    let questions = h.questions();
    assert_eq!(questions.len(), 1, "the second waits: {:?}", h.events);
    assert_eq!(h.pipeline.queued(), 1);

    let first = &questions[0];
    h.answer_audio(first.ticket, &[0; 1600]);
    h.answer_end(first.ticket);
    h.advance(Duration::from_millis(200));
    let questions = h.questions();
    assert_eq!(questions.len(), 2, "{:?}", h.events);
    assert_eq!(questions[1].speaker, SpeakerId::from("bob"));
    assert!(questions[1].text.contains("borrow"), "{:?}", questions[1]);
    assert_ne!(questions[0].ticket, questions[1].ticket);
}

#[test]
fn a_typed_question_waits_its_turn_and_is_spoken_like_a_voice_one() {
    let (mut h, spoken) = asked();
    let cleo = SpeakerId::from("cleo");
    h.type_question(&cleo, "  what is a lifetime?  ");
    h.drain();
    assert_eq!(h.questions().len(), 1, "it waits behind the spoken one");
    assert_eq!(h.pipeline.queued(), 1);

    h.answer_end(spoken.ticket);
    h.advance(Duration::from_millis(100));
    let typed = h.questions().pop().unwrap();
    assert_eq!(typed.trigger, Trigger::Text);
    assert!(!typed.follow_up);
    assert_eq!(spoken.trigger, Trigger::Voice);
    assert_eq!(typed.speaker, cleo);
    assert_eq!(typed.text, "what is a lifetime?");
    assert_eq!(typed.timings, Timings::default(), "no speech to time");

    // Its answer is spoken: frames go out, then it finishes.
    h.answer_audio(typed.ticket, &[1000; 3200]);
    h.answer_end(typed.ticket);
    h.advance(Duration::from_millis(300));
    let frames =
        h.count(|e| matches!(e, Event::SpeakFrame { ticket, .. } if *ticket == typed.ticket));
    assert_eq!(frames, 10, "200 ms of speech is ten 20 ms frames");
    assert_eq!(
        h.count(|e| matches!(e, Event::AnswerFinished { ticket, interrupted: false, .. } if *ticket == typed.ticket)),
        1
    );

    // An empty question asks nothing.
    h.type_question(&cleo, "   ");
    h.advance(Duration::from_millis(100));
    assert_eq!(h.questions().len(), 2);
}

#[test]
fn a_failed_transcription_still_becomes_a_question_to_apologise_for() {
    let mut h = Harness::new();
    h.silence("ada", Duration::from_millis(400));
    let speaker = SpeakerId::from("ada");
    // Feed audio without the harness's transcriber: answer with an error.
    for frame in say(FliteVoice::Slt, "hey agent, what is a closure in rust")
        .chunks(FRAME_SAMPLES)
        .chain(std::iter::repeat_n(&[0i16; FRAME_SAMPLES][..], 160))
    {
        h.now += FRAME_DURATION;
        h.pipeline.handle_input(
            h.now,
            Input::Audio {
                speaker: &speaker,
                pcm: frame,
            },
        );
        while let Output::Event(event) = h.pipeline.poll_output(h.now) {
            if let Event::Transcribe { utterance, .. } = event {
                h.pipeline.handle_input(
                    h.now,
                    Input::Transcript {
                        utterance,
                        result: Err("timed out after 10s".into()),
                    },
                );
            } else {
                h.events.push((h.now, event));
            }
        }
    }
    let questions = h.questions();
    assert_eq!(questions.len(), 1);
    assert_eq!(
        questions[0].transcription_error.as_deref(),
        Some("timed out after 10s")
    );
}

#[test]
fn a_speaker_who_goes_quiet_without_sending_silence_still_ends_the_utterance() {
    let mut h = Harness::new();
    h.silence("ada", Duration::from_millis(400));
    h.speak(
        "ada",
        &say(FliteVoice::Slt, "hey agent, what is a closure in rust"),
    );
    // No more packets (muted, or DTX): time alone ends the utterance.
    assert!(h.questions().is_empty());
    h.advance(LONGEST_PAUSE);
    assert_eq!(h.questions().len(), 1, "{:?}", h.events);
}

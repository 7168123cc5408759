//! A whole session task: speech in, paced Opus out, one logged interaction
//! per question with its latency breakdown, and an apology when a provider
//! fails. Real Silero VAD, Smart Turn, the PocketSphinx wake spotter (as a
//! cloud transcriber has it), Whisper and flite; a scripted
//! language model.

use std::sync::Arc;
use std::time::Duration;

use agent::agent::{Hearing, SessionHandle, SessionInput, SessionOutput, SharedSpotterFactory};
use agent::answer::APOLOGY_NO_ANSWER;
use agent::llm::{LanguageModel, TextStream};
use agent::prompt::{ChatPrompt, SessionContext, SessionInfo};
use agent::providers::{AgentConfig, ProviderError, Timeouts};
use agent::stt::pocketsphinx::{PocketsphinxModel, PocketsphinxSpotter};
use agent::stt::whisper::WhisperStt;
use agent::stt::{SpeechToText, Transcript};
use agent::tts::flite::{FliteTts, FliteVoice, synthesize_blocking};
use agent::wake::WakeSpotter;
use agent::{Agent, Interaction, ROOM_PROVIDER, RoomDesk, SpeakerId};
use async_trait::async_trait;
use domain::ai_log::Trigger;
use domain::room::RoomCommand;
use futures::StreamExt;

/// A language model that streams fixed pieces, fails, or hangs.
struct ScriptedLlm {
    pieces: Vec<&'static str>,
    failure: Option<ProviderError>,
    hang: bool,
    prompts: Arc<std::sync::Mutex<Vec<ChatPrompt>>>,
}

#[async_trait]
impl LanguageModel for ScriptedLlm {
    fn name(&self) -> &'static str {
        "scripted"
    }

    async fn stream(
        &self,
        prompt: &ChatPrompt,
        _max_tokens: usize,
    ) -> Result<TextStream, ProviderError> {
        self.prompts.lock().unwrap().push(prompt.clone());
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        if self.hang {
            return Ok(futures::stream::pending().boxed());
        }
        let pieces: Vec<Result<String, ProviderError>> =
            self.pieces.iter().map(|p| Ok(p.to_string())).collect();
        Ok(futures::stream::iter(pieces)
            .then(|p| async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                p
            })
            .boxed())
    }
}

fn agent_with(llm: ScriptedLlm, timeouts: Timeouts) -> Agent {
    agent_hearing_with(llm, timeouts, Arc::new(whisper()))
}

fn whisper() -> WhisperStt {
    WhisperStt::load_default().unwrap()
}

fn agent_hearing_with(llm: ScriptedLlm, timeouts: Timeouts, stt: Arc<dyn SpeechToText>) -> Agent {
    let model = PocketsphinxModel::default();
    let spotter_model = model.clone();
    let spotters: SharedSpotterFactory = Arc::new(move || {
        Box::new(PocketsphinxSpotter::new(&spotter_model, "hey agent", 1e-20).unwrap())
            as Box<dyn WakeSpotter>
    });
    let config = AgentConfig {
        timeouts,
        ..AgentConfig::default()
    };
    Agent::from_parts(
        config,
        stt,
        Arc::new(llm),
        Arc::new(FliteTts::new(FliteVoice::Slt).unwrap()),
        Hearing::offline(Some(spotters)).unwrap(),
    )
}

fn context() -> SessionContext {
    SessionContext {
        session: SessionInfo {
            title: "Rust study hour".into(),
            kind: "study".into(),
        },
        project: None,
    }
}

/// The session's next output, within 30 s.
async fn next_output(session: &mut SessionHandle) -> SessionOutput {
    tokio::time::timeout(Duration::from_secs(30), session.output.recv())
        .await
        .expect("an interaction within 30 s")
        .expect("the session runs")
}

/// Speaks `text` into the session as one push (dated back from now, as if
/// just spoken), then waits for the interaction; returns it with the number
/// of voice frames sent.
async fn ask(agent: &Agent, text: &str) -> (Interaction, usize) {
    let mut session = agent.run_session(context(), Vec::new());
    let text = text.to_string();
    let mut pcm = vec![0i16; 4800];
    pcm.extend(
        tokio::task::spawn_blocking(move || synthesize_blocking(FliteVoice::Slt, &text))
            .await
            .unwrap()
            .unwrap(),
    );
    pcm.extend(vec![0i16; 16 * 700]);
    // The room names the speaker, as the SFU's track list does.
    session
        .input
        .send(SessionInput::Speaker {
            speaker: SpeakerId::from("ada"),
            name: "Ada".into(),
        })
        .await
        .unwrap();
    session
        .input
        .send(SessionInput::Pcm {
            speaker: SpeakerId::from("ada"),
            pcm,
        })
        .await
        .unwrap();
    let mut frames = 0;
    let mut voiced = 0;
    let mut last_timestamp: Option<u32> = None;
    loop {
        match next_output(&mut session).await {
            SessionOutput::Frame {
                rtp_timestamp,
                opus,
                audio_level,
            } => {
                assert!(!opus.is_empty());
                if let Some(last) = last_timestamp {
                    assert!(rtp_timestamp.wrapping_sub(last) >= 960);
                }
                last_timestamp = Some(rtp_timestamp);
                frames += 1;
                // The level the room rings the agent's tile from.
                assert!((-127..=0).contains(&audio_level));
                if audio_level >= -50 {
                    voiced += 1;
                }
            }
            SessionOutput::Interaction(interaction) => {
                if frames > 0 {
                    assert!(voiced > 0, "{frames} frames of the answer, none voiced");
                }
                return (interaction, frames);
            }
            SessionOutput::Event(_) | SessionOutput::Answered { .. } => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_answered_out_loud_and_logged_with_its_latencies() {
    let prompts = Arc::default();
    let llm = ScriptedLlm {
        pieces: vec![
            "A closure is ",
            "a function that captures ",
            "its scope. ",
            "It can be stored.",
        ],
        failure: None,
        hang: false,
        prompts: Arc::clone(&prompts),
    };
    let agent = agent_with(llm, Timeouts::default());
    let (interaction, frames) = ask(&agent, "hey agent, what is a closure in rust").await;

    assert!(interaction.question.contains("closure"), "{interaction:?}");
    assert_eq!(
        interaction.answer,
        "A closure is a function that captures its scope. It can be stored."
    );
    assert_eq!(interaction.asked_by, "ada");
    assert_eq!(interaction.error, None);
    assert!(!interaction.interrupted);
    assert_eq!(
        (
            interaction.providers.stt,
            interaction.providers.llm,
            interaction.providers.tts
        ),
        ("whisper", "scripted", "flite")
    );
    let l = interaction.latencies;
    eprintln!("latencies: {l:?}");
    for (name, value) in [
        ("wake_delay", l.wake_delay_ms),
        ("end_of_turn", l.end_of_turn_ms),
        ("transcription_delay", l.transcription_delay_ms),
        ("llm_ttft", l.llm_ttft_ms),
        ("tts_ttfb", l.tts_ttfb_ms),
        ("voice_to_voice", l.voice_to_voice_ms),
    ] {
        assert!(value.is_some(), "{name} missing: {l:?}");
    }
    // The stages in series fit inside voice-to-voice.
    assert!(l.voice_to_voice_ms.unwrap() >= l.transcription_delay_ms.unwrap());
    assert!(l.transcription_delay_ms.unwrap() >= l.end_of_turn_ms.unwrap());
    // Two sentences of flite at 16 kHz: well over a second of 20 ms frames.
    assert!(frames > 50, "{frames} frames");
    // The asker's name reached the prompt.
    let prompt = prompts.lock().unwrap()[0].clone();
    assert!(
        prompt
            .messages
            .last()
            .unwrap()
            .content
            .starts_with("Ada asks: "),
        "{prompt:?}"
    );
    assert!(prompt.system.contains("Rust study hour"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_question_is_answered_in_text_first_then_out_loud() {
    let prompts = Arc::default();
    let llm = ScriptedLlm {
        pieces: vec!["Reverse it ", "with a slice. ", "Use s[::-1]."],
        failure: None,
        hang: false,
        prompts: Arc::clone(&prompts),
    };
    let agent = agent_with(llm, Timeouts::default());
    let mut session = agent.run_session(context(), Vec::new());
    session
        .input
        .send(SessionInput::Ask {
            speaker: SpeakerId::from("u-bob"),
            name: "Bob".into(),
            question: "how do I reverse a string in Python?".into(),
        })
        .await
        .unwrap();
    let mut text = None;
    let mut frames_before_text = 0;
    let mut frames = 0;
    let interaction = loop {
        match next_output(&mut session).await {
            SessionOutput::Answered {
                trigger, answer, ..
            } => {
                assert_eq!(trigger, Trigger::Text);
                frames_before_text = frames;
                text = Some(answer);
            }
            SessionOutput::Frame { .. } => frames += 1,
            SessionOutput::Interaction(interaction) => break interaction,
            SessionOutput::Event(_) => {}
        }
    };
    let expected = "Reverse it with a slice. Use s[::-1].";
    assert_eq!(text.as_deref(), Some(expected), "the text comes first");
    assert_eq!(interaction.answer, expected);
    assert_eq!(interaction.trigger, Trigger::Text);
    assert!(!interaction.follow_up);
    assert_eq!(interaction.asked_by, "u-bob");
    assert_eq!(interaction.asker_name.as_deref(), Some("Bob"));
    assert!(interaction.error.is_none(), "{interaction:?}");
    // Spoken too (two sentences of flite are well over 50 frames), and the
    // text was handed out while the voice was still going.
    assert!(frames > 50, "{frames} frames");
    assert!(
        frames_before_text < frames,
        "{frames_before_text} of {frames}"
    );
    let l = interaction.latencies;
    assert!(
        l.llm_ttft_ms.is_some() && l.tts_ttfb_ms.is_some() && l.answer_ms.is_some(),
        "{l:?}"
    );
    assert_eq!(l.voice_to_voice_ms, None, "nothing was spoken to it");
    let prompt = prompts.lock().unwrap()[0].clone();
    assert_eq!(
        prompt.messages.last().unwrap().content,
        "Bob asks: how do I reverse a string in Python?"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_language_model_is_logged_and_the_agent_apologises() {
    let llm = ScriptedLlm {
        pieces: vec![],
        failure: Some(ProviderError::Status {
            status: 503,
            body: "overloaded".into(),
        }),
        hang: false,
        prompts: Arc::default(),
    };
    let agent = agent_with(llm, Timeouts::default());
    let (interaction, frames) = ask(&agent, "hey agent, what is a closure in rust").await;
    assert_eq!(
        interaction.error.as_deref(),
        Some("language model (scripted): HTTP status 503: overloaded")
    );
    assert_eq!(interaction.answer, APOLOGY_NO_ANSWER);
    assert!(frames > 20, "the apology is spoken: {frames} frames");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_language_model_that_never_answers_times_out_into_an_apology() {
    let llm = ScriptedLlm {
        pieces: vec![],
        failure: None,
        hang: true,
        prompts: Arc::default(),
    };
    let timeouts = Timeouts {
        first_token: Duration::from_millis(400),
        ..Timeouts::default()
    };
    let agent = agent_with(llm, timeouts);
    let (interaction, frames) = ask(&agent, "hey agent, what is a closure in rust").await;
    assert_eq!(
        interaction.error.as_deref(),
        Some("language model (scripted): timed out after 400ms")
    );
    assert!(frames > 20);
}

/// Whisper behind a delay: a transcript made late, by a busy machine
/// (`here`: an engine of this process) or a slow remote provider.
struct Late {
    inner: WhisperStt,
    delay: Duration,
    here: bool,
}

#[async_trait]
impl SpeechToText for Late {
    fn name(&self) -> &'static str {
        "late"
    }

    fn runs_here(&self) -> bool {
        self.here
    }

    async fn transcribe(&self, pcm: &[i16]) -> Result<Transcript, ProviderError> {
        tokio::time::sleep(self.delay).await;
        self.inner.transcribe(pcm).await
    }
}

fn late_hearing(here: bool) -> Agent {
    let llm = ScriptedLlm {
        pieces: vec!["A closure captures its environment."],
        failure: None,
        hang: false,
        prompts: Arc::default(),
    };
    let timeouts = Timeouts {
        transcription: Duration::from_millis(200),
        ..Timeouts::default()
    };
    let stt = Late {
        inner: whisper(),
        delay: Duration::from_millis(1500),
        here,
    };
    agent_hearing_with(llm, timeouts, Arc::new(stt))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcript_this_process_makes_late_is_waited_for_not_dropped() {
    let agent = late_hearing(true);
    let (interaction, frames) = ask(&agent, "hey agent, what is a closure in rust").await;
    assert!(interaction.error.is_none(), "{interaction:?}");
    assert_eq!(interaction.answer, "A closure captures its environment.");
    assert!(frames > 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_transcript_past_its_time_limit_is_apologised_for() {
    let agent = late_hearing(false);
    let (interaction, _) = ask(&agent, "hey agent, what is a closure in rust").await;
    let error = interaction.error.as_deref().unwrap_or_default();
    assert!(error.contains("timed out after 200ms"), "{interaction:?}");
}

/// The room's data, as the server would answer it: records each question.
struct RoomBook {
    asked: std::sync::Mutex<Vec<(String, RoomCommand)>>,
}

#[async_trait]
impl RoomDesk for RoomBook {
    async fn answer(&self, asker: &str, command: RoomCommand) -> Result<String, ProviderError> {
        self.asked.lock().unwrap().push((asker.to_owned(), command));
        Ok("Started a 25 minute timer.".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_question_is_answered_from_the_room_not_the_model() {
    let prompts = Arc::default();
    let llm = ScriptedLlm {
        pieces: vec!["A guess from the model."],
        failure: None,
        hang: false,
        prompts: Arc::clone(&prompts),
    };
    let agent = agent_with(llm, Timeouts::default());
    let room = Arc::new(RoomBook {
        asked: Default::default(),
    });
    let mut session = agent.run_session_in_room(
        context(),
        Vec::new(),
        Some(room.clone() as Arc<dyn RoomDesk>),
    );
    for question in [
        "start a twenty five minute timer",
        "how do I reverse a string in Python?",
    ] {
        session
            .input
            .send(SessionInput::Ask {
                speaker: SpeakerId::from("u-ada"),
                name: "Ada".into(),
                question: question.into(),
            })
            .await
            .unwrap();
    }
    let mut interactions = Vec::new();
    while interactions.len() < 2 {
        if let SessionOutput::Interaction(interaction) = next_output(&mut session).await {
            interactions.push(interaction);
        }
    }
    // The room command: the room's words, said and logged as the room's.
    assert_eq!(interactions[0].answer, "Started a 25 minute timer.");
    assert_eq!(interactions[0].providers.llm, ROOM_PROVIDER);
    assert!(interactions[0].error.is_none(), "{:?}", interactions[0]);
    assert!(interactions[0].latencies.llm_ttft_ms.is_some());
    assert_eq!(
        *room.asked.lock().unwrap(),
        vec![(
            "u-ada".to_owned(),
            RoomCommand::StartTimer { minutes: Some(25) }
        )]
    );
    // Anything else still goes to the model, which saw only that question.
    assert_eq!(interactions[1].answer, "A guess from the model.");
    assert_eq!(interactions[1].providers.llm, "scripted");
    let prompts = prompts.lock().unwrap();
    assert_eq!(prompts.len(), 1, "the model was asked once");
    assert!(
        prompts[0]
            .messages
            .last()
            .unwrap()
            .content
            .contains("reverse a string"),
        "{:?}",
        prompts[0]
    );
}

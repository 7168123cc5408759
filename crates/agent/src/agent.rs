//! The async side of the agent: providers built from the configuration, and
//! one task per session that drives the sans-IO [`SessionPipeline`] with the
//! real clock, runs the slow work (transcription, the language model, speech
//! synthesis) as tasks of its own, and reports every interaction.
//!
//! ```text
//!  SessionInput ─▶ session task ─▶ SessionPipeline ─▶ events
//!                      │  Transcribe ─▶ stt task ─▶ Input::Transcript
//!                      │  QuestionReady ─▶ answer task: LLM ─▶ sentences ─▶ TTS ─▶ Input::AnswerAudio
//!                      │  SpeakFrame ─▶ SessionOutput::Frame
//!                      └  AnswerFinished ─▶ SessionOutput::Interaction
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::audio::OpusDecoder;
use crate::llm::LanguageModel;
use crate::llm::local::{LocalModel, find_model_file};
use crate::llm::openai::OpenAiCompatible;
use crate::pipeline::{
    Event, Input, Output, PipelineConfig, Question, SessionPipeline, SpeakerId, Ticket, Timings,
    Trigger, UtteranceId,
};
use crate::prompt::{Exchange, SessionContext, build_prompt, history_prompt};
use crate::providers::{
    AgentConfig, LlmConfig, ProviderError, ProviderNames, SttConfig, TtsConfig, with_timeout,
};
use crate::speech_text::SentenceSplitter;
use crate::stt::SpeechToText;
use crate::stt::deepgram::Deepgram;
use crate::stt::domain_lm::build_arpa;
use crate::stt::pocketsphinx::{PocketsphinxModel, PocketsphinxSpotter, PocketsphinxStt};
use crate::tts::TextToSpeech;
use crate::tts::elevenlabs::ElevenLabs;
use crate::tts::flite::FliteTts;
use crate::wake::{Spot, WakeSpotter};

/// What the agent says when transcription failed.
pub const APOLOGY_UNHEARD: &str = "Sorry, I didn't catch that. Could you ask again?";
/// What the agent says when the language model failed.
pub const APOLOGY_NO_ANSWER: &str = "Sorry, I can't answer that right now.";

/// Keyword-search threshold of the wake spotter (FACTS.md: 1e-10 … 1e-50
/// all found the phrase; the transcript check removes false alarms).
const WAKE_THRESHOLD: f64 = 1e-20;

/// The latency breakdown of one interaction, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Latencies {
    /// End of the wake phrase in the audio → the spotter fired.
    pub wake_delay_ms: Option<u64>,
    /// End of speech → transcript (includes the end-of-speech silence).
    pub transcription_delay_ms: Option<u64>,
    /// Prompt sent → first text of the answer.
    pub llm_ttft_ms: Option<u64>,
    /// Prompt sent → first whole sentence (what speech waits for).
    pub llm_first_sentence_ms: Option<u64>,
    /// First sentence sent to speech synthesis → its first audio.
    pub tts_ttfb_ms: Option<u64>,
    /// Question handed out → the whole answer's text (generation done).
    pub answer_ms: Option<u64>,
    /// End of speech → first frame of the answer sent.
    pub voice_to_voice_ms: Option<u64>,
}

/// One question and its answer, for the session's AI log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interaction {
    pub ticket: u64,
    /// The participant who asked (their user id).
    pub asked_by: String,
    /// Their display name, when the room told us.
    pub asker_name: Option<String>,
    pub asked_at: SystemTime,
    pub trigger: Trigger,
    /// The question (words after the wake phrase).
    pub question: String,
    /// All that was heard in the utterance.
    pub transcript: String,
    /// What the agent said (or began to say, if interrupted).
    pub answer: String,
    pub providers: ProviderNames,
    pub latencies: Latencies,
    /// Why the interaction failed; `None` when it succeeded.
    pub error: Option<String>,
    /// Someone talked over the answer.
    pub interrupted: bool,
}

/// What a session task is given.
#[derive(Debug)]
pub enum SessionInput {
    /// One Opus packet from a speaker's track; empty = lost (concealed).
    Opus {
        speaker: SpeakerId,
        packet: Vec<u8>,
    },
    /// 16 kHz mono PCM from a speaker (tests, benchmarks).
    Pcm {
        speaker: SpeakerId,
        pcm: Vec<i16>,
    },
    SpeakerLeft {
        speaker: SpeakerId,
    },
    /// Who a speaker is, for the prompt's "who is asking".
    Speaker {
        speaker: SpeakerId,
        name: String,
    },
    /// A question typed in the chat: queued with the spoken ones, answered
    /// out loud, and reported with [`SessionOutput::Answered`] as soon as
    /// its text is complete.
    Ask {
        speaker: SpeakerId,
        name: String,
        question: String,
    },
    /// The session or its project changed.
    Context(SessionContext),
}

/// What a session task produces.
#[derive(Debug, Clone)]
pub enum SessionOutput {
    /// A 20 ms Opus frame of the agent's voice, sent when due (paced).
    Frame { opus: Vec<u8>, rtp_timestamp: u32 },
    /// A pipeline event worth showing (wake spotted, question, barge-in).
    Event(Event),
    /// The whole text of an answer, ready before it has been spoken out.
    Answered {
        ticket: u64,
        trigger: Trigger,
        answer: String,
    },
    /// A finished interaction (played out or interrupted), for the AI log.
    Interaction(Interaction),
}

/// The running session: send inputs, read outputs. Dropping `input` ends the
/// task once the current answer is done.
pub struct SessionHandle {
    pub input: mpsc::Sender<SessionInput>,
    pub output: mpsc::Receiver<SessionOutput>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Builds a wake spotter for each speaker.
pub type SharedSpotterFactory = Arc<dyn Fn() -> Box<dyn WakeSpotter> + Send + Sync>;

/// The assistant: its configuration and providers, shared by all sessions.
#[derive(Clone)]
pub struct Agent {
    config: AgentConfig,
    pipeline_config: PipelineConfig,
    stt: Arc<dyn SpeechToText>,
    llm: Arc<dyn LanguageModel>,
    tts: Arc<dyn TextToSpeech>,
    new_spotter: SharedSpotterFactory,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("config", &self.config)
            .field("stt", &self.stt.name())
            .field("llm", &self.llm.name())
            .field("tts", &self.tts.name())
            .finish()
    }
}

impl Agent {
    /// Builds the configured providers: loads the local engines (a second or
    /// so), or sets up the cloud clients.
    pub async fn new(config: AgentConfig) -> Result<Self, ProviderError> {
        let model = match &config.stt {
            SttConfig::Pocketsphinx { model_dir } => PocketsphinxModel {
                dir: model_dir.clone(),
            },
            SttConfig::Deepgram { .. } => PocketsphinxModel::default(),
        };
        let stt: Arc<dyn SpeechToText> = match &config.stt {
            SttConfig::Pocketsphinx { .. } => {
                let model = model.clone();
                let stt = tokio::task::spawn_blocking(move || {
                    let arpa = build_arpa(&model.dictionary(), &[]).map_err(|e| {
                        ProviderError::Engine(format!("reading the pocketsphinx dictionary: {e}"))
                    })?;
                    PocketsphinxStt::with_arpa(&model, &arpa)
                })
                .await
                .map_err(|e| ProviderError::Engine(e.to_string()))??;
                Arc::new(stt)
            }
            SttConfig::Deepgram {
                api_key,
                url,
                model,
            } => Arc::new(Deepgram::new(url, api_key.clone(), model)),
        };
        let llm: Arc<dyn LanguageModel> = match &config.llm {
            LlmConfig::Local { model_path } => {
                let path = match model_path {
                    Some(path) => path.clone(),
                    None => find_model_file()?,
                };
                let model = tokio::task::spawn_blocking(move || LocalModel::load(&path))
                    .await
                    .map_err(|e| ProviderError::Engine(e.to_string()))??;
                Arc::new(model)
            }
            LlmConfig::OpenAi {
                api_key,
                base_url,
                model,
            } => Arc::new(OpenAiCompatible::new(
                base_url,
                api_key.clone(),
                model,
                config.timeouts.first_token,
            )),
        };
        let tts: Arc<dyn TextToSpeech> = match &config.tts {
            TtsConfig::Flite { voice } => Arc::new(FliteTts::new(*voice)?),
            TtsConfig::ElevenLabs {
                api_key,
                base_url,
                voice_id,
                model_id,
            } => Arc::new(ElevenLabs::new(
                base_url,
                api_key.clone(),
                voice_id,
                model_id,
                config.timeouts.speech,
            )),
        };
        // Fail now, not on the first speaker, if the spotter cannot load.
        PocketsphinxSpotter::new(&model, &config.wake_phrase, WAKE_THRESHOLD)?;
        let phrase = config.wake_phrase.clone();
        let new_spotter: SharedSpotterFactory = Arc::new(move || {
            match PocketsphinxSpotter::new(&model, &phrase, WAKE_THRESHOLD) {
                Ok(spotter) => Box::new(spotter) as Box<dyn WakeSpotter>,
                Err(error) => {
                    tracing::error!(%error, "wake spotter failed to load; this speaker cannot wake the agent");
                    Box::new(DeafSpotter)
                }
            }
        });
        Ok(Self::from_parts(config, stt, llm, tts, new_spotter))
    }

    /// An agent over given providers (tests use fakes and local servers).
    pub fn from_parts(
        config: AgentConfig,
        stt: Arc<dyn SpeechToText>,
        llm: Arc<dyn LanguageModel>,
        tts: Arc<dyn TextToSpeech>,
        new_spotter: SharedSpotterFactory,
    ) -> Self {
        let pipeline_config = PipelineConfig {
            wake_phrase: config.wake_phrase.clone(),
            ..PipelineConfig::default()
        };
        Self {
            config,
            pipeline_config,
            stt,
            llm,
            tts,
            new_spotter,
        }
    }

    /// Changes the listening and speaking tuning of new sessions.
    pub fn with_pipeline_config(mut self, pipeline_config: PipelineConfig) -> Self {
        self.pipeline_config = pipeline_config;
        self
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    pub fn providers(&self) -> ProviderNames {
        ProviderNames {
            stt: self.stt.name(),
            llm: self.llm.name(),
            tts: self.tts.name(),
        }
    }

    pub fn speech_to_text(&self) -> &Arc<dyn SpeechToText> {
        &self.stt
    }
    pub fn language_model(&self) -> &Arc<dyn LanguageModel> {
        &self.llm
    }
    pub fn text_to_speech(&self) -> &Arc<dyn TextToSpeech> {
        &self.tts
    }

    /// A fresh sans-IO pipeline for a session, for callers that drive it
    /// themselves.
    pub fn pipeline(&self) -> SessionPipeline {
        let factory = Arc::clone(&self.new_spotter);
        SessionPipeline::new(self.pipeline_config.clone(), Box::new(move || factory()))
            .expect("an Opus encoder at 16 kHz mono is always valid")
    }

    /// Starts a session's task. `history` holds the session's earlier
    /// questions and answers, oldest first.
    pub fn run_session(&self, context: SessionContext, history: Vec<Exchange>) -> SessionHandle {
        let (input_tx, input_rx) = mpsc::channel(256);
        let (output_tx, output_rx) = mpsc::channel(256);
        let session = Session {
            agent: self.clone(),
            pipeline: self.pipeline(),
            context,
            history,
            decoders: HashMap::new(),
            names: HashMap::new(),
            answers: HashMap::new(),
            output: output_tx,
        };
        session.prepare_model();
        let task = tokio::spawn(session.run(input_rx));
        SessionHandle {
            input: input_tx,
            output: output_rx,
            task,
        }
    }

    /// Runs one question to its spoken answer outside any session: prompt,
    /// streamed generation, sentence-by-sentence synthesis. `audio` receives
    /// the PCM as it is synthesised. Returns the answer and its progress
    /// record (latencies, error).
    pub async fn answer(
        &self,
        context: &SessionContext,
        history: &[Exchange],
        asker: &str,
        question: &str,
        audio: mpsc::Sender<Vec<i16>>,
    ) -> AnswerProgress {
        let progress = Arc::new(Mutex::new(AnswerProgress::default()));
        self.answer_into(
            context,
            history,
            asker,
            question,
            None,
            audio,
            Arc::clone(&progress),
        )
        .await;
        progress.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// The answer task's body: writes what happens into `progress` as it
    /// goes, so an interrupted (aborted) answer still has its record.
    #[allow(clippy::too_many_arguments)]
    async fn answer_into(
        &self,
        context: &SessionContext,
        history: &[Exchange],
        asker: &str,
        question: &str,
        transcription_error: Option<&str>,
        audio: mpsc::Sender<Vec<i16>>,
        progress: Arc<Mutex<AnswerProgress>>,
    ) {
        let record = |f: &dyn Fn(&mut AnswerProgress)| {
            if let Ok(mut p) = progress.lock() {
                f(&mut p);
            }
        };
        if let Some(error) = transcription_error {
            record(&|p| {
                p.error = Some(format!("speech-to-text ({}): {error}", self.stt.name()));
                p.answer = APOLOGY_UNHEARD.into();
            });
            self.speak(APOLOGY_UNHEARD, &audio, &progress).await;
            return;
        }

        let prompt = build_prompt(context, history, self.config.history_turns, asker, question);
        let started = Instant::now();
        let (sentence_tx, mut sentence_rx) = mpsc::channel::<String>(16);
        let timeouts = self.config.timeouts.clone();
        let max_tokens = self.config.max_answer_tokens;

        // Generation: text pieces → whole sentences, handed to the speaker
        // below while generation goes on.
        let generate = async {
            let result: Result<(), ProviderError> = with_timeout(timeouts.answer, async {
                let mut stream =
                    with_timeout(timeouts.first_token, self.llm.stream(&prompt, max_tokens))
                        .await?;
                let mut splitter = SentenceSplitter::default();
                let mut first = true;
                loop {
                    let next = if first {
                        match tokio::time::timeout(
                            timeouts.first_token.saturating_sub(started.elapsed()),
                            stream.next(),
                        )
                        .await
                        {
                            Ok(next) => next,
                            Err(_) => return Err(ProviderError::Timeout(timeouts.first_token)),
                        }
                    } else {
                        stream.next().await
                    };
                    let Some(piece) = next else { break };
                    let piece = piece?;
                    if first {
                        first = false;
                        let ttft = started.elapsed();
                        record(&|p| p.llm_ttft = Some(ttft));
                    }
                    record(&|p| p.answer.push_str(&piece));
                    for sentence in splitter.push(&piece) {
                        let elapsed = started.elapsed();
                        record(&|p| {
                            p.llm_first_sentence.get_or_insert(elapsed);
                        });
                        if sentence_tx.send(sentence).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                if let Some(rest) = splitter.finish() {
                    let elapsed = started.elapsed();
                    record(&|p| {
                        p.llm_first_sentence.get_or_insert(elapsed);
                    });
                    let _ = sentence_tx.send(rest).await;
                }
                Ok(())
            })
            .await;
            drop(sentence_tx);
            if let Err(error) = result {
                record(&|p| {
                    p.error = Some(format!("language model ({}): {error}", self.llm.name()))
                });
            }
        };
        let speak = async {
            while let Some(sentence) = sentence_rx.recv().await {
                if !self.speak(&sentence, &audio, &progress).await {
                    break;
                }
            }
        };
        tokio::join!(generate, speak);

        let nothing_said = progress
            .lock()
            .map(|p| p.answer.trim().is_empty())
            .unwrap_or(true);
        let failed = progress.lock().map(|p| p.error.is_some()).unwrap_or(false);
        if nothing_said {
            if !failed {
                record(&|p| {
                    p.error = Some(format!(
                        "language model ({}): empty answer",
                        self.llm.name()
                    ))
                });
            }
            record(&|p| p.answer = APOLOGY_NO_ANSWER.into());
            self.speak(APOLOGY_NO_ANSWER, &audio, &progress).await;
        }
    }

    /// Synthesises one sentence into `audio`; false if speech failed (the
    /// error is recorded) or the listener is gone.
    async fn speak(
        &self,
        sentence: &str,
        audio: &mpsc::Sender<Vec<i16>>,
        progress: &Arc<Mutex<AnswerProgress>>,
    ) -> bool {
        let started = Instant::now();
        let limit = self.config.timeouts.speech;
        let result: Result<bool, ProviderError> = async {
            let mut stream = with_timeout(limit, self.tts.synthesize(sentence)).await?;
            let mut first = true;
            loop {
                let next = if first {
                    tokio::time::timeout(limit.saturating_sub(started.elapsed()), stream.next())
                        .await
                        .map_err(|_| ProviderError::Timeout(limit))?
                } else {
                    with_timeout(limit, async { Ok(stream.next().await) }).await?
                };
                let Some(chunk) = next else { return Ok(true) };
                let chunk = chunk?;
                if first {
                    first = false;
                    let ttfb = started.elapsed();
                    if let Ok(mut p) = progress.lock()
                        && p.tts_ttfb.is_none()
                    {
                        p.tts_ttfb = Some(ttfb);
                    }
                }
                if audio.send(chunk).await.is_err() {
                    return Ok(false);
                }
            }
        }
        .await;
        match result {
            Ok(more) => more,
            Err(error) => {
                if let Ok(mut p) = progress.lock() {
                    let message = format!("text-to-speech ({}): {error}", self.tts.name());
                    p.error = Some(match p.error.take() {
                        Some(earlier) => format!("{earlier}; {message}"),
                        None => message,
                    });
                }
                false
            }
        }
    }
}

/// What an answer task has done so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnswerProgress {
    /// The text generated so far.
    pub answer: String,
    pub llm_ttft: Option<Duration>,
    pub llm_first_sentence: Option<Duration>,
    pub tts_ttfb: Option<Duration>,
    pub error: Option<String>,
}

/// Used when the real spotter cannot load: never fires.
struct DeafSpotter;

impl WakeSpotter for DeafSpotter {
    fn start(&mut self) {}
    fn process(&mut self, _pcm: &[i16]) -> Option<Spot> {
        None
    }
    fn finish(&mut self) {}
}

/// Results of the session's background tasks, fed back to the pipeline.
enum Work {
    Transcript {
        utterance: UtteranceId,
        result: Result<String, String>,
    },
    AnswerAudio {
        ticket: Ticket,
        pcm: Vec<i16>,
    },
    AnswerEnd {
        ticket: Ticket,
    },
}

struct ActiveAnswer {
    question: Question,
    asker_name: Option<String>,
    asked_at: SystemTime,
    started: Instant,
    /// When the whole text was ready.
    answered_after: Option<Duration>,
    /// In the session's history already.
    remembered: bool,
    progress: Arc<Mutex<AnswerProgress>>,
    task: tokio::task::JoinHandle<()>,
}

struct Session {
    agent: Agent,
    pipeline: SessionPipeline,
    context: SessionContext,
    history: Vec<Exchange>,
    /// One Opus decoder per incoming track.
    decoders: HashMap<SpeakerId, OpusDecoder>,
    /// Speakers' display names.
    names: HashMap<SpeakerId, String>,
    answers: HashMap<Ticket, ActiveAnswer>,
    output: mpsc::Sender<SessionOutput>,
}

impl Session {
    async fn run(mut self, mut input: mpsc::Receiver<SessionInput>) {
        let (work_tx, mut work_rx) = mpsc::channel::<Work>(256);
        let mut input_open = true;
        loop {
            let deadline = loop {
                match self.pipeline.poll_output(Instant::now()) {
                    Output::Event(event) => self.handle_event(event, &work_tx).await,
                    Output::Wait(deadline) => break deadline,
                }
            };
            if !input_open && self.answers.is_empty() && !self.pipeline.is_answering() {
                break;
            }
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                message = input.recv(), if input_open => match message {
                    Some(message) => self.handle_session_input(message),
                    None => input_open = false,
                },
                Some(work) = work_rx.recv() => {
                    let now = Instant::now();
                    match work {
                        Work::Transcript { utterance, result } => self.pipeline.handle_input(now, Input::Transcript { utterance, result }),
                        Work::AnswerAudio { ticket, pcm } => self.pipeline.handle_input(now, Input::AnswerAudio { ticket, pcm: &pcm }),
                        Work::AnswerEnd { ticket } => {
                            self.answered(ticket).await;
                            self.pipeline.handle_input(now, Input::AnswerEnd { ticket });
                        }
                    }
                }
                _ = sleep => {}
            }
        }
    }

    fn handle_session_input(&mut self, message: SessionInput) {
        let now = Instant::now();
        match message {
            SessionInput::Opus { speaker, packet } => {
                if !self.decoders.contains_key(&speaker) {
                    match OpusDecoder::new() {
                        Ok(decoder) => {
                            self.decoders.insert(speaker.clone(), decoder);
                        }
                        Err(error) => {
                            tracing::error!(%error, "no Opus decoder");
                            return;
                        }
                    }
                }
                let decoder = self.decoders.get_mut(&speaker).expect("inserted above");
                match decoder.decode(&packet) {
                    Ok(pcm) => {
                        let pcm = pcm.to_vec();
                        self.pipeline.handle_input(
                            now,
                            Input::Audio {
                                speaker: &speaker,
                                pcm: &pcm,
                            },
                        );
                    }
                    Err(error) => tracing::debug!(%error, %speaker, "undecodable Opus packet"),
                }
            }
            SessionInput::Pcm { speaker, pcm } => self.pipeline.handle_input(
                now,
                Input::Audio {
                    speaker: &speaker,
                    pcm: &pcm,
                },
            ),
            SessionInput::SpeakerLeft { speaker } => {
                self.decoders.remove(&speaker);
                self.pipeline
                    .handle_input(now, Input::SpeakerLeft { speaker: &speaker });
            }
            SessionInput::Speaker { speaker, name } => {
                self.names.insert(speaker, name);
            }
            SessionInput::Ask {
                speaker,
                name,
                question,
            } => {
                self.names.insert(speaker.clone(), name);
                self.pipeline.handle_input(
                    now,
                    Input::Typed {
                        speaker: &speaker,
                        question: &question,
                    },
                );
            }
            SessionInput::Context(context) => {
                self.context = context;
                self.prepare_model();
            }
        }
    }

    /// Has the language model take in what the next question's prompt
    /// begins with (the session, the project, the history) now, so the
    /// question does not wait for it: when the assistant joins, and while
    /// each answer is being spoken.
    fn prepare_model(&self) {
        let llm = Arc::clone(&self.agent.llm);
        let prefix = history_prompt(
            &self.context,
            &self.history,
            self.agent.config.history_turns,
        );
        tokio::spawn(async move {
            if let Err(error) = llm.prepare(&prefix).await {
                tracing::warn!(%error, "preparing the language model for the session failed");
            }
        });
    }

    /// Adds a successful exchange to the session's history (for the next
    /// prompts) and prepares the model for the next question.
    fn remember(&mut self, active: &ActiveAnswer, progress: &AnswerProgress) {
        if progress.error.is_some() || progress.answer.trim().is_empty() {
            return;
        }
        self.history.push(Exchange {
            asker: active
                .asker_name
                .clone()
                .unwrap_or_else(|| "someone".into()),
            question: active.question.text.clone(),
            // Untrimmed: exactly the text the model generated.
            answer: progress.answer.clone(),
        });
        // Drop whole steps of the prompt's history window, so the window
        // keeps its alignment (see `prompt::build_prompt`).
        let turns = self.agent.config.history_turns.max(1);
        if self.history.len() >= 4 * turns {
            self.history.drain(..turns);
        }
        self.prepare_model();
    }

    /// The answer's text is complete: report it before it is spoken out.
    async fn answered(&mut self, ticket: Ticket) {
        let Some(active) = self.answers.get_mut(&ticket) else {
            return;
        };
        active.answered_after = Some(active.started.elapsed());
        active.remembered = true;
        let progress = active
            .progress
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        let answer = progress.answer.trim().to_string();
        let trigger = active.question.trigger;
        // The whole text is known: the next question's prompt can be taken
        // in while this answer is spoken.
        let active = self.answers.remove(&ticket).expect("found above");
        self.remember(&active, &progress);
        self.answers.insert(ticket, active);
        let _ = self
            .output
            .send(SessionOutput::Answered {
                ticket: ticket.0,
                trigger,
                answer,
            })
            .await;
    }

    async fn handle_event(&mut self, event: Event, work: &mpsc::Sender<Work>) {
        match &event {
            Event::Transcribe { utterance, pcm, .. } => {
                let (stt, utterance, pcm, work) = (
                    Arc::clone(&self.agent.stt),
                    *utterance,
                    pcm.clone(),
                    work.clone(),
                );
                let limit = self.agent.config.timeouts.transcription;
                tokio::spawn(async move {
                    let result = with_timeout(limit, stt.transcribe(&pcm)).await;
                    let result = result.map(|t| t.text).map_err(|e| e.to_string());
                    let _ = work.send(Work::Transcript { utterance, result }).await;
                });
                return;
            }
            Event::SpeakFrame {
                opus,
                rtp_timestamp,
                ..
            } => {
                let _ = self
                    .output
                    .send(SessionOutput::Frame {
                        opus: opus.clone(),
                        rtp_timestamp: *rtp_timestamp,
                    })
                    .await;
                return;
            }
            Event::QuestionReady(question) => self.start_answer(question.clone(), work),
            Event::BargeIn { ticket, .. } => {
                if let Some(active) = self.answers.get(ticket) {
                    active.task.abort();
                }
            }
            Event::AnswerFinished {
                ticket,
                interrupted,
                timings,
            } => self.finish_answer(*ticket, *interrupted, *timings).await,
            _ => {}
        }
        let _ = self.output.send(SessionOutput::Event(event)).await;
    }

    fn start_answer(&mut self, question: Question, work: &mpsc::Sender<Work>) {
        let progress = Arc::new(Mutex::new(AnswerProgress::default()));
        let ticket = question.ticket;
        let (audio_tx, mut audio_rx) = mpsc::channel::<Vec<i16>>(64);
        let agent = self.agent.clone();
        let context = self.context.clone();
        let history = self.history.clone();
        let task_progress = Arc::clone(&progress);
        let task_question = question.clone();
        let asker_name = self.names.get(&question.speaker).cloned();
        let asker = asker_name.clone().unwrap_or_else(|| "someone".into());
        let work = work.clone();
        let task = tokio::spawn(async move {
            let forward = {
                let work = work.clone();
                async move {
                    while let Some(pcm) = audio_rx.recv().await {
                        if work.send(Work::AnswerAudio { ticket, pcm }).await.is_err() {
                            break;
                        }
                    }
                }
            };
            let answer = agent.answer_into(
                &context,
                &history,
                &asker,
                &task_question.text,
                task_question.transcription_error.as_deref(),
                audio_tx,
                task_progress,
            );
            tokio::join!(answer, forward);
            let _ = work.send(Work::AnswerEnd { ticket }).await;
        });
        self.answers.insert(
            ticket,
            ActiveAnswer {
                question,
                asker_name,
                asked_at: SystemTime::now(),
                started: Instant::now(),
                answered_after: None,
                remembered: false,
                progress,
                task,
            },
        );
    }

    async fn finish_answer(&mut self, ticket: Ticket, interrupted: bool, timings: Timings) {
        let Some(active) = self.answers.remove(&ticket) else {
            return;
        };
        active.task.abort();
        let progress = active
            .progress
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        let millis = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
        let interaction = Interaction {
            ticket: ticket.0,
            asked_by: active.question.speaker.0.clone(),
            asker_name: active.asker_name.clone(),
            asked_at: active.asked_at,
            trigger: active.question.trigger,
            question: active.question.text.clone(),
            transcript: active.question.transcript.clone(),
            answer: progress.answer.trim().to_string(),
            providers: self.agent.providers(),
            latencies: Latencies {
                wake_delay_ms: millis(timings.wake_delay),
                transcription_delay_ms: millis(timings.transcription_delay),
                llm_ttft_ms: millis(progress.llm_ttft),
                llm_first_sentence_ms: millis(progress.llm_first_sentence),
                tts_ttfb_ms: millis(progress.tts_ttfb),
                answer_ms: millis(active.answered_after),
                voice_to_voice_ms: millis(timings.voice_to_voice),
            },
            error: progress.error.clone(),
            interrupted,
        };
        match &interaction.error {
            Some(error) => tracing::warn!(ticket = ticket.0, %error, "agent interaction failed"),
            None => {
                tracing::info!(ticket = ticket.0, latencies = ?interaction.latencies, "agent answered")
            }
        }
        // Cut off before its text was complete: remembered as far as it got.
        if !active.remembered {
            self.remember(&active, &progress);
        }
        let _ = self
            .output
            .send(SessionOutput::Interaction(interaction))
            .await;
    }
}

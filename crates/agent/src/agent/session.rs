//! One session's task: drives the sans-IO [`SessionPipeline`] and the
//! current [`Answer`] on the real clock, runs their slow work (the
//! end-of-turn model, speech-to-text, the language model's stream, one
//! sentence's synthesis) as tasks of its own whose results come back on one
//! channel, and reports every interaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use domain::ai_log::Trigger;
use domain::room::RoomCommand;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Agent;
use crate::answer::{self, Answer, AnswerRecord};
use crate::audio::OpusDecoder;
use crate::pipeline::{
    Event, Input, Output, Question, SessionPipeline, SpeakerId, Ticket, Timings, UtteranceId,
};
use crate::prompt::{ChatPrompt, Exchange, SessionContext, build_prompt, history_prompt};
use crate::providers::{ProviderError, ProviderNames, on_blocking_thread, with_timeout};
use crate::turn::TurnVerdict;

/// The latency breakdown of one interaction, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Latencies {
    /// End of the wake phrase in the audio → the spotter fired.
    pub wake_delay_ms: Option<u64>,
    /// End of speech → the utterance ended (the pause, and the end-of-turn
    /// model's verdict on it).
    pub end_of_turn_ms: Option<u64>,
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
    /// Asked after "hey agent" and a pause, in an utterance of its own.
    pub follow_up: bool,
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
    Frame {
        opus: Vec<u8>,
        rtp_timestamp: u32,
        /// dBov (RFC 6464), for the audio-level header.
        audio_level: i8,
    },
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
    pub task: JoinHandle<()>,
}

impl Agent {
    /// Starts a session's task. `history` holds the session's earlier
    /// questions and answers, oldest first.
    pub fn run_session(&self, context: SessionContext, history: Vec<Exchange>) -> SessionHandle {
        self.run_session_in_room(context, history, None)
    }

    /// As [`Agent::run_session`], with `room` answering the questions about
    /// the room itself ([`RoomCommand`]) from the session's data instead of
    /// the language model. Without one, those go to the model like any other.
    pub fn run_session_in_room(
        &self,
        context: SessionContext,
        history: Vec<Exchange>,
        room: Option<Arc<dyn RoomDesk>>,
    ) -> SessionHandle {
        let (input_tx, input_rx) = mpsc::channel(256);
        let (output_tx, output_rx) = mpsc::channel(256);
        let session = Session {
            agent: self.clone(),
            pipeline: self.pipeline(),
            context,
            history,
            decoders: HashMap::new(),
            names: HashMap::new(),
            answer: None,
            output: output_tx,
            room,
        };
        session.prepare_model();
        let task = tokio::spawn(session.run(input_rx));
        SessionHandle {
            input: input_tx,
            output: output_rx,
            task,
        }
    }
}

/// What the language model is named in the log when the room's data
/// answered instead.
pub const ROOM_PROVIDER: &str = "room";

/// Answers questions about the room itself (the timer, goals, who is here,
/// the project) from the session's own data, acting as the asker where the
/// question changes something. The worker's answers come from the server
/// (`POST /internal/sessions/{id}/room`).
#[async_trait::async_trait]
pub trait RoomDesk: Send + Sync {
    /// What to say to `asker` (their user id) about `command`.
    async fn answer(&self, asker: &str, command: RoomCommand) -> Result<String, ProviderError>;
}

/// Results of the session's background tasks, fed back to the machines.
enum Work {
    TurnVerdict {
        check: UtteranceId,
        verdict: Result<TurnVerdict, String>,
    },
    Transcript {
        utterance: UtteranceId,
        result: Result<String, String>,
    },
    Answer {
        ticket: Ticket,
        input: answer::Input,
    },
}

/// The answer the pipeline handed out, and the tasks doing its slow work.
/// The pipeline hands out one at a time, so a session has at most one.
struct ActiveAnswer {
    question: Question,
    asker_name: Option<String>,
    asked_at: SystemTime,
    policy: Answer,
    /// The language model's stream, while the policy wants it.
    generation: Option<JoinHandle<()>>,
    /// The synthesis of the sentence being spoken.
    speech: Option<JoinHandle<()>>,
    /// Someone talked over it: its tasks are stopped and what it asks for
    /// is no longer done.
    interrupted: bool,
    /// In the session's history already.
    remembered: bool,
    /// A question about the room: the room desk answers it, not the model.
    room_command: Option<RoomCommand>,
}

impl ActiveAnswer {
    fn stop_tasks(&mut self) {
        for task in [self.generation.take(), self.speech.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
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
    answer: Option<ActiveAnswer>,
    output: mpsc::Sender<SessionOutput>,
    /// Answers questions about the room from the session's data.
    room: Option<Arc<dyn RoomDesk>>,
}

impl Session {
    /// The engines that answer: the room's data stands in for the language
    /// model when it answered.
    fn providers_for(&self, room_command: Option<RoomCommand>) -> ProviderNames {
        let providers = self.agent.providers();
        match room_command {
            Some(_) => ProviderNames {
                llm: ROOM_PROVIDER,
                ..providers
            },
            None => providers,
        }
    }

    /// Words the transcriber should expect ([`crate::prompt::hints`]).
    fn hints(&self) -> String {
        let names: Vec<&str> = self.names.values().map(String::as_str).collect();
        crate::prompt::hints(&self.agent.config.wake_phrase, &self.context, &names)
    }

    async fn run(mut self, mut input: mpsc::Receiver<SessionInput>) {
        let (work_tx, mut work_rx) = mpsc::channel::<Work>(256);
        let mut input_open = true;
        loop {
            // Audio that queued while the task was busy is heard first: the
            // pipeline measures silence on the real clock, so speech still
            // waiting in the channel would otherwise count as a pause (and
            // could end a question at a thinking pause on a loaded machine).
            while input_open {
                match input.try_recv() {
                    Ok(message) => self.handle_session_input(message),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => input_open = false,
                }
            }
            // Both machines until neither has anything to do: the answer's
            // audio feeds the pipeline, the pipeline's events start answers.
            let deadline = loop {
                let now = Instant::now();
                let answer_deadline = self.drive_answer(now, &work_tx).await;
                match self.pipeline.poll_output(now) {
                    Output::Event(event) => self.handle_event(event, &work_tx).await,
                    Output::Wait(deadline) => break earliest(deadline, answer_deadline),
                }
            };
            if !input_open && self.answer.is_none() && !self.pipeline.is_answering() {
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
                        Work::TurnVerdict { check, verdict } => self.pipeline.handle_input(now, Input::TurnVerdict { check, verdict }),
                        Work::Transcript { utterance, result } => self.pipeline.handle_input(now, Input::Transcript { utterance, result }),
                        Work::Answer { ticket, input } => {
                            if let Some(active) = self.answer.as_mut().filter(|a| a.question.ticket == ticket && !a.interrupted) {
                                active.policy.handle_input(now, input);
                            }
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
    fn remember(&mut self, question: &str, asker_name: Option<&str>, record: &AnswerRecord) {
        if record.error.is_some() || record.answer.trim().is_empty() {
            return;
        }
        self.history.push(Exchange {
            asker: asker_name.unwrap_or("someone").to_owned(),
            question: question.to_owned(),
            // Untrimmed: exactly the text the model generated.
            answer: record.answer.clone(),
        });
        // Drop whole steps of the prompt's history window, so the window
        // keeps its alignment (see `prompt::build_prompt`).
        let turns = self.agent.config.history_turns.max(1);
        if self.history.len() >= 4 * turns {
            self.history.drain(..turns);
        }
        self.prepare_model();
    }

    /// Does what the current answer's policy asks for until it waits;
    /// returns its deadline.
    async fn drive_answer(&mut self, now: Instant, work: &mpsc::Sender<Work>) -> Option<Instant> {
        loop {
            let active = self.answer.as_mut().filter(|a| !a.interrupted)?;
            let ticket = active.question.ticket;
            match active.policy.poll_output(now) {
                answer::Output::Wait(deadline) => return deadline,
                answer::Output::Generate(prompt) => {
                    let generation = match (active.room_command, self.room.clone()) {
                        // A question about the room: its data answers.
                        (Some(command), Some(room)) => {
                            let asker = active.question.speaker.0.clone();
                            let reply = async move {
                                let text = room.answer(&asker, command).await?;
                                Ok(futures::stream::once(async move { Ok(text) }).boxed())
                            };
                            spawn_relay(GENERATION, reply, ticket, work.clone())
                        }
                        _ => {
                            let llm = Arc::clone(&self.agent.llm);
                            let max_tokens = self.agent.config.max_answer_tokens;
                            let stream = async move { llm.stream(&prompt, max_tokens).await };
                            spawn_relay(GENERATION, stream, ticket, work.clone())
                        }
                    };
                    active.generation = Some(generation);
                }
                answer::Output::StopGenerating => {
                    if let Some(task) = active.generation.take() {
                        task.abort();
                    }
                }
                answer::Output::Speak(text) => {
                    let tts = Arc::clone(&self.agent.tts);
                    let stream = async move { tts.synthesize(&text).await };
                    active.speech = Some(spawn_relay(SPEECH, stream, ticket, work.clone()));
                }
                answer::Output::StopSpeaking => {
                    if let Some(task) = active.speech.take() {
                        task.abort();
                    }
                }
                answer::Output::Audio(pcm) => self
                    .pipeline
                    .handle_input(now, Input::AnswerAudio { ticket, pcm: &pcm }),
                answer::Output::Post(text) => self.answered(text).await,
                answer::Output::Done => {
                    self.pipeline.handle_input(now, Input::AnswerEnd { ticket })
                }
            }
        }
    }

    /// The answer's text is complete: report it before it is spoken out,
    /// and let the next question's prompt be taken in while it is.
    async fn answered(&mut self, text: String) {
        let Some(active) = self.answer.as_mut() else {
            return;
        };
        active.remembered = true;
        let (ticket, trigger) = (active.question.ticket, active.question.trigger);
        let question = active.question.text.clone();
        let asker_name = active.asker_name.clone();
        let record = active.policy.record().clone();
        self.remember(&question, asker_name.as_deref(), &record);
        let _ = self
            .output
            .send(SessionOutput::Answered {
                ticket: ticket.0,
                trigger,
                answer: text,
            })
            .await;
    }

    async fn handle_event(&mut self, event: Event, work: &mpsc::Sender<Work>) {
        match &event {
            Event::CheckTurn { check, pcm, .. } => {
                let (turn, check, pcm, work) = (
                    Arc::clone(&self.agent.hearing.turn),
                    *check,
                    pcm.clone(),
                    work.clone(),
                );
                // No time limit: a verdict that never comes leaves the
                // pipeline's longest pause to end the utterance.
                tokio::spawn(async move {
                    let verdict = on_blocking_thread("end of turn", move || turn.verdict(&pcm))
                        .await
                        .map_err(|e| e.to_string());
                    let _ = work.send(Work::TurnVerdict { check, verdict }).await;
                });
                return;
            }
            Event::Transcribe { utterance, pcm, .. } => {
                let (stt, utterance, pcm, work) = (
                    Arc::clone(&self.agent.stt),
                    *utterance,
                    pcm.clone(),
                    work.clone(),
                );
                // An engine of this process is waited for (see `runs_here`).
                let limit = (!stt.runs_here()).then_some(self.agent.config.timeouts.transcription);
                let hints = self.hints();
                tokio::spawn(async move {
                    let transcribing = stt.transcribe_with_hints(&pcm, &hints);
                    let result = match limit {
                        Some(limit) => with_timeout(limit, transcribing).await,
                        None => transcribing.await,
                    };
                    let result = result.map(|t| t.text).map_err(|e| e.to_string());
                    let _ = work.send(Work::Transcript { utterance, result }).await;
                });
                return;
            }
            Event::SpeakFrame {
                opus,
                rtp_timestamp,
                audio_level,
                ..
            } => {
                let _ = self
                    .output
                    .send(SessionOutput::Frame {
                        opus: opus.clone(),
                        rtp_timestamp: *rtp_timestamp,
                        audio_level: *audio_level,
                    })
                    .await;
                return;
            }
            Event::QuestionReady(question) => self.start_answer(question.clone()),
            Event::BargeIn { ticket, .. } => {
                if let Some(active) = self
                    .answer
                    .as_mut()
                    .filter(|a| a.question.ticket == *ticket)
                {
                    active.interrupted = true;
                    active.stop_tasks();
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

    fn start_answer(&mut self, question: Question) {
        let now = Instant::now();
        let asker_name = self.names.get(&question.speaker).cloned();
        let timeouts = self.agent.config.timeouts.clone();
        let heard = question.transcription_error.is_none();
        let room_command = (self.room.is_some() && heard)
            .then(|| RoomCommand::read(&question.text))
            .flatten();
        let providers = self.providers_for(room_command);
        let policy = match &question.transcription_error {
            Some(error) => Answer::unheard(now, error, timeouts, providers),
            None => {
                let prompt: ChatPrompt = build_prompt(
                    &self.context,
                    &self.history,
                    self.agent.config.history_turns,
                    asker_name.as_deref().unwrap_or("someone"),
                    &question.text,
                );
                Answer::new(now, prompt, timeouts, providers)
            }
        };
        self.answer = Some(ActiveAnswer {
            question,
            asker_name,
            asked_at: SystemTime::now(),
            policy,
            generation: None,
            speech: None,
            interrupted: false,
            remembered: false,
            room_command,
        });
    }

    async fn finish_answer(&mut self, ticket: Ticket, interrupted: bool, timings: Timings) {
        let Some(mut active) = self.answer.take_if(|a| a.question.ticket == ticket) else {
            return;
        };
        active.stop_tasks();
        let record = active.policy.record().clone();
        let millis = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
        let interaction = Interaction {
            ticket: ticket.0,
            asked_by: active.question.speaker.0.clone(),
            asker_name: active.asker_name.clone(),
            asked_at: active.asked_at,
            trigger: active.question.trigger,
            follow_up: active.question.follow_up,
            question: active.question.text.clone(),
            transcript: active.question.transcript.clone(),
            answer: record.answer.trim().to_string(),
            providers: self.providers_for(active.room_command),
            latencies: Latencies {
                wake_delay_ms: millis(timings.wake_delay),
                end_of_turn_ms: millis(timings.end_of_turn),
                transcription_delay_ms: millis(timings.transcription_delay),
                llm_ttft_ms: millis(record.llm_ttft),
                llm_first_sentence_ms: millis(record.llm_first_sentence),
                tts_ttfb_ms: millis(record.tts_ttfb),
                answer_ms: millis(record.text_complete),
                voice_to_voice_ms: millis(timings.voice_to_voice),
            },
            error: record.error.clone(),
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
            self.remember(&active.question.text, active.asker_name.as_deref(), &record);
        }
        let _ = self
            .output
            .send(SessionOutput::Interaction(interaction))
            .await;
    }
}

/// How an engine's stream reads as answer inputs: each piece, a failure (to
/// start, or midway, which ends it), and the end after the last piece.
struct Relay<T> {
    piece: fn(T) -> answer::Input,
    failed: fn(ProviderError) -> answer::Input,
    end: answer::Input,
}

/// The model's answer, token by token.
const GENERATION: Relay<String> = Relay {
    piece: answer::Input::Token,
    failed: answer::Input::GenerationFailed,
    end: answer::Input::GenerationEnd,
};

/// One sentence's speech, as it is synthesised.
const SPEECH: Relay<Vec<i16>> = Relay {
    piece: answer::Input::SpeechAudio,
    failed: answer::Input::SpeechFailed,
    end: answer::Input::SpeechEnd,
};

/// Relays the stream `start` opens into the session as answer inputs.
fn spawn_relay<T: Send + 'static>(
    relay: Relay<T>,
    start: impl Future<Output = Result<BoxStream<'static, Result<T, ProviderError>>, ProviderError>>
    + Send
    + 'static,
    ticket: Ticket,
    work: mpsc::Sender<Work>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let report = |input| work.send(Work::Answer { ticket, input });
        let mut stream = match start.await {
            Ok(stream) => stream,
            Err(error) => {
                let _ = report((relay.failed)(error)).await;
                return;
            }
        };
        while let Some(item) = stream.next().await {
            let (input, last) = match item {
                Ok(item) => ((relay.piece)(item), false),
                Err(error) => ((relay.failed)(error), true),
            };
            if report(input).await.is_err() || last {
                return;
            }
        }
        let _ = report(relay.end).await;
    })
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

//! One session served by this worker: claim it, join it, run the agent's
//! session task, answer typed questions, report status and interactions, and
//! leave when told to stop.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::ai_log::{LatencyMs, Providers, Trigger};
use domain::chat::MessagePage;
use domain::room::RoomCommand;
use domain::session::AgentStatus;
use protocol::internal::{AgentContext, LogInteractionInternal};
use protocol::live::ServerMessage;
use tokio::sync::{mpsc, oneshot, watch};

use super::api::{ServerApi, refused_status};
use super::chat::question_in;
use super::live::{LiveConnection, Push};
use super::media::{self, OutFrame};
use crate::agent::{Agent, Interaction, RoomDesk, SessionInput, SessionOutput};
use crate::pipeline::{Event, SpeakerId};
use crate::prompt::{Exchange, ProjectInfo, SessionContext, SessionInfo};
use crate::providers::ProviderError;

/// How long a claim lasts unless renewed.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often a held claim is renewed, and an unclaimed session tried again.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);

/// What one session's task needs.
pub struct SessionJob {
    pub session_id: String,
    pub worker_id: String,
    pub api: ServerApi,
    pub agent: Agent,
    /// Fires when the session left `agent:sessions` (assistant off, session
    /// ended) or the worker shuts down.
    pub stop: oneshot::Receiver<()>,
}

/// How serving a claimed session ended.
enum Ended {
    /// Told to stop: leave the room and give the claim back.
    Stopped,
    /// Another worker holds the claim now: it serves the room; try again later.
    ClaimLost,
    /// The server refused the session (ended, assistant off): leave and wait
    /// for the stop that follows.
    Refused,
}

impl SessionJob {
    /// Serves the session until stopped. A session another worker holds is
    /// tried again every [`RENEW_EVERY`], so it is picked up when that
    /// worker dies and its lease runs out.
    pub async fn run(mut self) {
        let id = self.session_id.clone();
        loop {
            match self.api.claim(&id, &self.worker_id, LEASE).await {
                Ok(true) => match self.serve().await {
                    Ended::Stopped => {
                        self.leave_and_release().await;
                        return;
                    }
                    Ended::Refused => self.leave_and_release().await,
                    Ended::ClaimLost => {
                        tracing::warn!(session = %id, "another worker took over this session")
                    }
                },
                Ok(false) => tracing::debug!(session = %id, "another worker serves this session"),
                Err(error) => {
                    tracing::warn!(session = %id, error = %format!("{error:#}"), "claiming a session failed")
                }
            }
            tokio::select! {
                _ = &mut self.stop => return,
                _ = tokio::time::sleep(RENEW_EVERY) => {}
            }
        }
    }

    async fn leave_and_release(&self) {
        let id = &self.session_id;
        if let Err(error) = self.api.leave(id).await {
            // 409/404: the session ended or the agent was not in it.
            match refused_status(&error) {
                Some(404 | 409) => {}
                _ => {
                    tracing::warn!(session = %id, error = %format!("{error:#}"), "leaving a session failed")
                }
            }
        }
        if let Err(error) = self.api.release(id, &self.worker_id).await {
            tracing::debug!(session = %id, error = %format!("{error:#}"), "releasing a session failed");
        }
    }

    async fn serve(&mut self) -> Ended {
        let id = self.session_id.clone();
        let api = self.api.clone();
        let (me, joined_at) = match api.join(&id).await {
            Ok(participant) => (
                participant.user_id.as_str().to_owned(),
                participant.joined_at,
            ),
            Err(error) => {
                tracing::warn!(session = %id, error = %format!("{error:#}"), "joining a session failed");
                return Ended::Refused;
            }
        };
        let reply = match api.context(&id).await {
            Ok(reply) => reply,
            Err(error) => {
                tracing::warn!(session = %id, error = %format!("{error:#}"), "reading the session's context failed");
                return Ended::Refused;
            }
        };
        let (context, history) = context_of(&reply);
        tracing::info!(session = %id, "the assistant joined");
        let room = Arc::new(ServerRoom {
            api: api.clone(),
            session_id: id.clone(),
        });
        let mut handle = self.agent.run_session_in_room(context, history, Some(room));

        // Status reports go out in order, the newest winning, without
        // holding up the audio.
        let (status_tx, status_rx) = watch::channel(AgentStatus::Listening);
        let status_task = tokio::spawn(report_statuses(api.clone(), id.clone(), status_rx));
        // Typed questions whose answer is already in the chat.
        let mut in_chat: HashSet<u64> = HashSet::new();

        // The room's audio in, the assistant's voice out, through the SFU.
        let (frames_tx, frames_rx) = mpsc::channel::<OutFrame>(64);
        let media_task = tokio::spawn({
            let (api, id, me, input) = (api.clone(), id.clone(), me.clone(), handle.input.clone());
            media::serve(api, id, me, input, frames_rx)
        });
        let mut chat = ChatWatch::new(me, joined_at);
        let mut live = match LiveConnection::connect(&api).await {
            Ok(mut live) => match live.subscribe("chat", &format!("chat:{id}")).await {
                Ok(()) => Some(live),
                Err(error) => {
                    tracing::warn!(session = %id, error = %format!("{error:#}"), "subscribing to the chat failed");
                    None
                }
            },
            Err(error) => {
                tracing::warn!(session = %id, error = %format!("{error:#}"), "no live connection: typed questions go unheard");
                None
            }
        };

        let mut renew =
            tokio::time::interval_at(tokio::time::Instant::now() + RENEW_EVERY, RENEW_EVERY);
        let mut speaking = false;
        let ended = loop {
            tokio::select! {
                _ = &mut self.stop => break Ended::Stopped,
                _ = renew.tick() => match api.claim(&id, &self.worker_id, LEASE).await {
                    Ok(true) => {}
                    Ok(false) => break Ended::ClaimLost,
                    Err(error) if matches!(refused_status(&error), Some(404 | 409)) => break Ended::Refused,
                    Err(error) => tracing::warn!(session = %id, error = %format!("{error:#}"), "renewing the claim failed"),
                },
                output = handle.output.recv() => match output {
                    Some(SessionOutput::Frame { opus, rtp_timestamp, audio_level }) => {
                        // Frames come paced; a full queue (media down) drops them.
                        let _ = frames_tx.try_send(OutFrame { opus, rtp_timestamp, audio_level });
                        if !speaking {
                            speaking = true;
                            let _ = status_tx.send(AgentStatus::Speaking);
                        }
                    }
                    Some(SessionOutput::Event(event)) => match event {
                        Event::QuestionReady(_) => { let _ = status_tx.send(AgentStatus::Thinking); }
                        // What the assistant made of what it heard, for
                        // whoever runs it (not the words: those are people's).
                        Event::TurnEnded { silence, reason, .. } => {
                            tracing::debug!(session = %id, ?reason, silence_ms = silence.as_millis() as u64, "turn ended");
                        }
                        Event::TrailsOff { .. } => tracing::debug!(session = %id, "words trail off; listening on"),
                        Event::AnswerFinished { .. } => {
                            speaking = false;
                            // A waiting question follows with its own QuestionReady.
                            let _ = status_tx.send(AgentStatus::Listening);
                        }
                        _ => {}
                    },
                    Some(SessionOutput::Answered { ticket, trigger: Trigger::Text, answer }) => {
                        // The chat gets the text at once; the voice follows.
                        in_chat.insert(ticket);
                        say_in_chat(&api, &id, answer);
                    }
                    Some(SessionOutput::Answered { .. }) => {}
                    Some(SessionOutput::Interaction(interaction)) => {
                        // Cut off before its text was complete: the chat
                        // still gets what there is.
                        if interaction.trigger == Trigger::Text && !in_chat.remove(&interaction.ticket) {
                            say_in_chat(&api, &id, interaction.answer.clone());
                        }
                        let entry = log_entry(&id, &interaction);
                        let api = api.clone();
                        tokio::spawn(async move { log(&api, &entry).await });
                    }
                    None => {
                        tracing::error!(session = %id, "the agent's session task ended");
                        break Ended::Refused;
                    }
                },
                push = next_push(&mut live) => match push {
                    Ok(Some(Push::Live(ServerMessage::Result { id: sub, data, .. }))) if sub == "chat" => {
                        for (asker_id, name, question) in chat.new_questions(data, &self.agent.config().wake_phrase) {
                            let ask = SessionInput::Ask { speaker: SpeakerId(asker_id), name, question };
                            if handle.input.send(ask).await.is_err() {
                                tracing::error!(session = %id, "the agent's session task is gone");
                            }
                        }
                    }
                    Ok(Some(Push::Live(ServerMessage::Error { error, .. }))) => tracing::warn!(session = %id, code = %error.code, error = %error.message, "the live connection refused a subscription"),
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        tracing::warn!(session = %id, "the live connection closed; typed questions go unheard until it is back");
                        live = reconnect(&api, &id).await;
                    }
                },
            }
        };
        handle.task.abort();
        status_task.abort();
        // Closing the frames ends the media task, which leaves the media.
        drop(frames_tx);
        let media_abort = media_task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), media_task)
            .await
            .is_err()
        {
            media_abort.abort();
        }
        if let Some(live) = live {
            live.close().await;
        }
        ended
    }
}

/// Questions about the room, answered by the server from the session's data.
struct ServerRoom {
    api: ServerApi,
    session_id: String,
}

#[async_trait::async_trait]
impl RoomDesk for ServerRoom {
    async fn answer(&self, asker: &str, command: RoomCommand) -> Result<String, ProviderError> {
        match self.api.room(&self.session_id, asker, command).await {
            Ok(reply) => Ok(reply.answer),
            Err(error) => Err(match error.downcast_ref::<super::api::Refused>() {
                Some(refused) => ProviderError::Status {
                    status: refused.status,
                    body: refused.body.clone(),
                },
                None => ProviderError::Connection(format!("{error:#}")),
            }),
        }
    }
}

/// Waits on the live connection, or forever when there is none.
async fn next_push(live: &mut Option<LiveConnection>) -> anyhow::Result<Option<Push>> {
    match live {
        Some(live) => live.next().await,
        None => std::future::pending().await,
    }
}

async fn reconnect(api: &ServerApi, session_id: &str) -> Option<LiveConnection> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut live = LiveConnection::connect(api).await.ok()?;
    live.subscribe("chat", &format!("chat:{session_id}"))
        .await
        .ok()?;
    Some(live)
}

async fn report_statuses(
    api: ServerApi,
    session_id: String,
    mut status: watch::Receiver<AgentStatus>,
) {
    let mut last = AgentStatus::Listening;
    while status.changed().await.is_ok() {
        let now = *status.borrow_and_update();
        if now == last {
            continue;
        }
        last = now;
        if let Err(error) = api.report_status(&session_id, now).await {
            tracing::debug!(session = %session_id, error = %format!("{error:#}"), "reporting the assistant's status failed");
        }
    }
}

async fn log(api: &ServerApi, entry: &LogInteractionInternal) {
    if let Err(error) = api.log_interaction(entry).await {
        tracing::error!(error = %format!("{error:#}"), "an interaction could not be logged");
    }
}

/// The prompt's fixed part and the earlier exchanges, from `/context`.
fn context_of(reply: &AgentContext) -> (SessionContext, Vec<Exchange>) {
    let context = SessionContext {
        session: SessionInfo {
            title: reply.session.title.clone(),
            kind: reply.session.session_type.as_str().to_owned(),
        },
        project: reply.project.as_ref().map(|p| ProjectInfo {
            name: p.name.clone(),
            description: p.description.clone().unwrap_or_default(),
            tech_stack: p.tech_stack.clone(),
            repo_url: p.repo_url.clone(),
        }),
    };
    let history = reply
        .recent
        .iter()
        .filter(|log| log.error.is_none() && !log.answer.trim().is_empty())
        .map(|log| Exchange {
            // The log names the asker by id, which tells the model nothing
            // and costs prompt time.
            asker: "someone".into(),
            question: log.question.clone(),
            answer: log.answer.clone(),
        })
        .collect();
    (context, history)
}

/// Posts the assistant's answer in the chat (nothing when it is empty: an
/// answer cut off before its first word).
fn say_in_chat(api: &ServerApi, session_id: &str, answer: String) {
    if answer.trim().is_empty() {
        return;
    }
    let (api, session_id) = (api.clone(), session_id.to_string());
    tokio::spawn(async move {
        if let Err(error) = api.say_in_chat(&session_id, &answer).await {
            tracing::warn!(session = %session_id, error = %format!("{error:#}"), "answering in the chat failed");
        }
    });
}

/// The AI log entry of an interaction, spoken or typed. The speaker id is
/// the asker's user id (the track's publisher, or the chat message's author).
fn log_entry(session_id: &str, interaction: &Interaction) -> LogInteractionInternal {
    let question = [&interaction.question, &interaction.transcript]
        .into_iter()
        .map(|t| t.trim())
        .find(|t| !t.is_empty())
        .unwrap_or("(not understood)");
    let l = &interaction.latencies;
    LogInteractionInternal {
        session_id: session_id.to_owned(),
        user_id: (!interaction.asked_by.is_empty()).then(|| interaction.asked_by.clone()),
        question: question.to_owned(),
        answer: interaction.answer.clone(),
        trigger: interaction.trigger,
        error: interaction.error.clone(),
        latency_ms: Some(LatencyMs {
            wake_delay: l.wake_delay_ms,
            transcription_delay: l.transcription_delay_ms,
            llm_ttft: l.llm_ttft_ms,
            llm_total: None,
            tts_ttfb: l.tts_ttfb_ms,
            voice_to_voice: l.voice_to_voice_ms,
            total: l.answer_ms,
        }),
        providers: Some(Providers {
            stt: (interaction.trigger != Trigger::Text)
                .then(|| interaction.providers.stt.to_owned()),
            llm: Some(interaction.providers.llm.to_owned()),
            tts: Some(interaction.providers.tts.to_owned()),
        }),
    }
}

/// New chat messages since the last result.
struct ChatWatch {
    /// The assistant's own user id: its messages never ask it anything.
    me: String,
    /// When the assistant joined: in the first result, messages from before
    /// are history, later ones (sent while the subscription was being made)
    /// are questions.
    joined_at: DateTime<Utc>,
    /// Message ids of the last result; `None` before the first.
    seen: Option<HashSet<String>>,
}

impl ChatWatch {
    fn new(me: String, joined_at: DateTime<Utc>) -> Self {
        Self {
            me,
            joined_at,
            seen: None,
        }
    }

    /// `(asker id, asker name, question)` of each new message addressed to
    /// the assistant.
    fn new_questions(
        &mut self,
        data: serde_json::Value,
        wake_phrase: &str,
    ) -> Vec<(String, String, String)> {
        // `{messages, next_cursor}`, as `GET /api/sessions/{id}/messages` answers.
        let messages = match serde_json::from_value::<MessagePage>(data) {
            Ok(page) => page.messages,
            Err(error) => {
                tracing::warn!(%error, "an unreadable chat result");
                return Vec::new();
            }
        };
        let ids: HashSet<String> = messages
            .iter()
            .map(|message| message.id.as_str().to_owned())
            .collect();
        let seen = self.seen.replace(ids);
        messages
            .into_iter()
            .filter(|message| match &seen {
                Some(seen) => !seen.contains(message.id.as_str()),
                None => message.created_at >= self.joined_at,
            })
            .filter(|message| message.user_id.as_str() != self.me)
            .filter_map(|message| {
                let question = question_in(&message.body, wake_phrase)?;
                Some((message.user_id.as_str().to_owned(), message.name, question))
            })
            .collect()
    }
}

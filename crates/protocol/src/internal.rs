//! The bodies of the agent's `/internal/…` API, called with the agent
//! token. The records answered are the domain's own: `POST …/join` and
//! `…/leave` answer a [`domain::session::Participant`], `…/agent-status` a
//! [`domain::session::Session`], `…/messages` a [`domain::chat::ChatMessage`]
//! and `POST /internal/ai-logs` a [`domain::ai_log::AiLog`].

use domain::ai_log::{AiLog, LatencyMs, Providers, Trigger};
use domain::input::{NonBlank, Text};
use domain::project::Project;
use domain::room::RoomCommand;
use domain::session::{AgentStatus, Session};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// `POST /internal/sessions/{id}/claim` and `…/release`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerClaim {
    /// The worker's own id, stable while it runs: 1–100 bytes, not only spaces.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub worker_id: String,
    /// How long the claim lasts unless renewed; 1–300 s, default 30. Not
    /// sent with a release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 300)]
    pub lease_seconds: Option<u64>,
}

/// What a claim answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Claimed {
    /// False: another worker serves this session.
    pub claimed: bool,
}

/// `POST /internal/sessions/{id}/agent-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    /// listening, thinking or speaking (or joining); switching the
    /// assistant off is the session creator's, not the agent's.
    #[schema(value_type = ReportedStatus)]
    pub status: AgentStatus,
}

/// The statuses an agent reports: [`AgentStatus`] but `off`.
pub struct ReportedStatus;

impl utoipa::PartialSchema for ReportedStatus {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(["joining", "listening", "thinking", "speaking"]))
            .into()
    }
}

impl utoipa::ToSchema for ReportedStatus {}

/// `POST /internal/sessions/{id}/messages`: the assistant says `body` in
/// the session's chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentMessage {
    #[schema(value_type = NonBlank<2000>)]
    pub body: String,
}

/// `POST /internal/sessions/{id}/room`: a question about the room itself
/// (its timer, goals, people, project), asked by `user_id`, to be answered
/// from the session's data and acted on as that person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomRequest {
    /// Who asked: a person in the room.
    #[schema(value_type = String, format = "uuid")]
    pub user_id: String,
    pub command: RoomCommand,
}

/// What a room question answers: the words to say, and whether the room
/// changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoomReply {
    pub answer: String,
    /// The command changed the room (the timer, a goal); false when it only
    /// read, or the rules refused it (the answer says why).
    pub acted: bool,
}

/// `POST /internal/sessions/{id}/summary`: the summary the worker's
/// language model wrote from the session's fact sheet
/// (`GET /internal/sessions/{id}/summary-facts`). The server holds it to
/// the facts and keeps a summary composed from them instead when it does
/// not; the answer is the summary kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryReport {
    /// The worker holding the summary's claim (`…/summary/claim`).
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub worker_id: String,
    /// The model's text; empty when it had none (it failed or timed out).
    #[schema(max_length = 20000)]
    pub text: String,
    /// The language model's provider name, as in the AI log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<NonBlank<60>>)]
    pub provider: Option<String>,
    /// How long the model took, prompt to whole text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 3600000)]
    pub latency_ms: Option<u64>,
}

/// What `GET /internal/sessions/{id}/context` answers: what the assistant
/// answers in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentContext {
    pub session: Session,
    pub project: Option<Project>,
    /// The latest exchanges of this session, oldest first.
    pub recent: Vec<AiLog>,
}

/// `POST /internal/ai-logs`: one interaction, spoken or typed, as the
/// assistant reports it. The ids are the client's text, parsed by the
/// server (which names the one at fault).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogInteractionInternal {
    #[schema(value_type = String, format = "uuid")]
    pub session_id: String,
    /// Who asked, when the agent knows.
    #[schema(value_type = Option<String>, format = "uuid")]
    pub user_id: Option<String>,
    #[schema(value_type = NonBlank<4000>)]
    pub question: String,
    #[schema(value_type = Text<20000>)]
    pub answer: String,
    pub trigger: Trigger,
    /// Why the interaction failed, if it did.
    #[schema(value_type = Option<NonBlank<2000>>)]
    pub error: Option<String>,
    /// Milliseconds per stage: wake_delay, transcription_delay, llm_ttft,
    /// llm_total, tts_ttfb, voice_to_voice, total.
    #[serde(default, deserialize_with = "object")]
    pub latency_ms: Option<LatencyMs>,
    #[serde(default, deserialize_with = "object")]
    pub providers: Option<Providers>,
}

/// Reads a JSON object (or null) into `T`. Taking it as a map first refuses
/// the other shapes serde would otherwise accept for a struct (such as an
/// array, filling its fields by position); whatever is wrong inside is
/// reported as a fault of this field, not of one within it.
fn object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let Some(object) =
        Option::<serde_json::Map<String, serde_json::Value>>::deserialize(deserializer)?
    else {
        return Ok(None);
    };
    serde_json::from_value(serde_json::Value::Object(object))
        .map(Some)
        .map_err(|error| D::Error::custom(format_args!("in this object: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::round_trip;

    #[test]
    fn claims_keep_their_format() {
        round_trip(
            r#"{"worker_id":"worker-a","lease_seconds":30}"#,
            WorkerClaim {
                worker_id: "worker-a".into(),
                lease_seconds: Some(30),
            },
        );
        round_trip(
            r#"{"worker_id":"worker-a"}"#,
            WorkerClaim {
                worker_id: "worker-a".into(),
                lease_seconds: None,
            },
        );
        round_trip(r#"{"claimed":false}"#, Claimed { claimed: false });
        round_trip(
            r#"{"status":"thinking"}"#,
            StatusReport {
                status: AgentStatus::Thinking,
            },
        );
        round_trip(
            r#"{"body":"A closure captures its environment."}"#,
            AgentMessage {
                body: "A closure captures its environment.".into(),
            },
        );
    }

    #[test]
    fn a_summary_report_keeps_its_format() {
        round_trip(
            r#"{"worker_id":"worker-a","text":"Ada shipped it.","provider":"local","latency_ms":900}"#,
            SummaryReport {
                worker_id: "worker-a".into(),
                text: "Ada shipped it.".into(),
                provider: Some("local".into()),
                latency_ms: Some(900),
            },
        );
    }

    #[test]
    fn a_log_entry_keeps_its_format() {
        round_trip(
            r#"{"session_id":"s","user_id":"u","question":"what is a closure?","answer":"A function with its environment.","trigger":"voice","error":null,"latency_ms":{"wake_delay":120,"voice_to_voice":900,"total":1500},"providers":{"stt":"whisper","llm":"local","tts":"piper"}}"#,
            LogInteractionInternal {
                session_id: "s".into(),
                user_id: Some("u".into()),
                question: "what is a closure?".into(),
                answer: "A function with its environment.".into(),
                trigger: Trigger::Voice,
                error: None,
                latency_ms: Some(LatencyMs {
                    wake_delay: Some(120),
                    voice_to_voice: Some(900),
                    total: Some(1500),
                    ..LatencyMs::default()
                }),
                providers: Some(Providers {
                    stt: Some("whisper".into()),
                    llm: Some("local".into()),
                    tts: Some("piper".into()),
                }),
            },
        );
        // The fields API.md marks optional may be left out.
        let short: LogInteractionInternal = serde_json::from_str(
            r#"{"session_id":"s","question":"q","answer":"a","trigger":"text"}"#,
        )
        .unwrap();
        assert_eq!(
            (short.user_id, short.latency_ms, short.providers),
            (None, None, None)
        );
    }

    #[test]
    fn latencies_and_providers_must_be_objects() {
        for body in [
            r#"{"session_id":"s","question":"q","answer":"a","trigger":"text","latency_ms":[1,2]}"#,
            r#"{"session_id":"s","question":"q","answer":"a","trigger":"text","latency_ms":{"llm_ttft":"fast"}}"#,
            r#"{"session_id":"s","question":"q","answer":"a","trigger":"text","providers":{"mood":"x"}}"#,
        ] {
            assert!(
                serde_json::from_str::<LogInteractionInternal>(body).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn the_context_reads_back_what_the_server_writes() {
        let context = r#"{"session":{"id":"0190a0a0-0000-7000-8000-000000000001","creator_id":"0190a0a0-0000-7000-8000-00000000000a","creator_name":"Ada","title":"Rust pairing","description":null,"session_type":"coding","status":"active","scheduled_start":null,"started_at":"2026-01-02T03:04:05.123456Z","ended_at":null,"project_id":null,"max_participants":4,"ai_agent_enabled":true,"participant_count":1,"open_for_joining":true,"agent_status":"listening","created_at":"2026-01-02T03:04:05.123456Z","version":3,"planned_minutes":50,"rhythm":{"kind":"pomodoro","work_minutes":25,"break_minutes":5,"long_break_minutes":15,"long_break_every":4},"quiet_work":true,"timer":{"state":"running","block_index":0,"block_kind":"work","block_count":3,"ends_at":"2026-01-02T03:29:05.123456Z","remaining_ms":null,"minutes":null},"locked":false},"project":{"id":"0190a0a0-0000-7000-8000-0000000000b0","owner_id":"0190a0a0-0000-7000-8000-00000000000a","name":"lockin","description":"focus rooms","repo_url":"https://example.org/lockin","tech_stack":["rust"],"timelapses_shared":false,"created_at":"2026-01-02T03:04:05.123456Z"},"recent":[{"id":"0190a0a0-0000-7000-8000-0000000000c0","session_id":"0190a0a0-0000-7000-8000-000000000001","user_id":null,"question":"q","answer":"a","trigger":"text","logged_by":"assistant","helpful":null,"helpful_votes":0,"unhelpful_votes":0,"error":null,"latency_ms":{"total":5},"providers":{"stt":null,"llm":"local","tts":null},"created_at":"2026-01-02T03:04:05.123456Z"}]}"#;
        let read: AgentContext = serde_json::from_str(context).unwrap();
        assert_eq!(read.session.title, "Rust pairing");
        assert_eq!(read.recent[0].latency_ms.total, Some(5));
        assert_eq!(serde_json::to_string(&read).unwrap(), context);
    }
}

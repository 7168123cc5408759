//! The assistant's log: every question, its answer, how long each stage took, and the votes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::input::bounded_text;
use crate::{Id, InvalidInput};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AiLog {
    #[schema(value_type = String)]
    pub id: Id,
    #[schema(value_type = String)]
    pub session_id: Id,
    /// Who asked; absent when the agent could not tell.
    #[schema(value_type = Option<String>)]
    pub user_id: Option<Id>,
    pub question: String,
    pub answer: String,
    pub trigger: Trigger,
    /// The assistant, or a person who logged the exchange by hand.
    pub logged_by: LoggedBy,
    /// The asker's own rating.
    pub helpful: Option<bool>,
    pub helpful_votes: i64,
    pub unhelpful_votes: i64,
    /// Why the interaction failed, when it did. A failure is logged, never dropped.
    pub error: Option<String>,
    pub latency_ms: LatencyMs,
    pub providers: Providers,
    pub created_at: DateTime<Utc>,
}

/// Who wrote an entry. The room shows an answer as the assistant's only when
/// the assistant wrote it; a person may log a question and answer by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LoggedBy {
    Person,
    Assistant,
}

impl LoggedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Assistant => "assistant",
        }
    }

    pub fn from_str_opt(text: &str) -> Option<Self> {
        match text {
            "person" => Some(Self::Person),
            "assistant" => Some(Self::Assistant),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Voice,
    #[default]
    Text,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::Text => "text",
        }
    }

    pub fn from_str_opt(text: &str) -> Option<Self> {
        match text {
            "voice" => Some(Self::Voice),
            "text" => Some(Self::Text),
            _ => None,
        }
    }
}

/// Where the time of one interaction went, in milliseconds. Every stage is optional
/// because a typed question has no wake phrase and a failed one may stop early.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyMs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_delay: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription_delay: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_ttft: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tts_ttfb: Option<u64>,
    /// End of the question's speech to the first agent audio packet sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_to_voice: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl LatencyMs {
    /// An hour: anything longer is a clock bug, not a measurement.
    pub const MAX: u64 = 3_600_000;

    pub fn parse(self) -> Result<Self, InvalidInput> {
        let stages = [
            self.wake_delay,
            self.transcription_delay,
            self.llm_ttft,
            self.llm_total,
            self.tts_ttfb,
            self.voice_to_voice,
            self.total,
        ];
        if stages.into_iter().flatten().any(|ms| ms > Self::MAX) {
            return Err(InvalidInput::new(
                "latency_ms",
                format!("each stage must be at most {} ms", Self::MAX),
            ));
        }
        Ok(self)
    }
}

/// Which engines answered, e.g. `{stt: "pocketsphinx", llm: "local", tts: "flite"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Providers {
    pub stt: Option<String>,
    pub llm: Option<String>,
    pub tts: Option<String>,
}

impl Providers {
    pub fn parse(self) -> Result<Self, InvalidInput> {
        let name = |value: Option<String>| -> Result<Option<String>, InvalidInput> {
            value
                .map(|v| bounded_text("providers", &v, 1, 60))
                .transpose()
        };
        Ok(Self {
            stt: name(self.stt)?,
            llm: name(self.llm)?,
            tts: name(self.tts)?,
        })
    }
}

pub struct Question(String);

impl Question {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        bounded_text("question", raw, 1, 4000).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An answer may be empty: a failed interaction is logged with its error and no answer.
pub struct Answer(String);

impl Answer {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        bounded_text("answer", raw, 0, 20_000).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

pub fn parse_error_text(raw: Option<&str>) -> Result<Option<String>, InvalidInput> {
    raw.map(|text| bounded_text("error", text, 1, 2000))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_over_an_hour_is_refused() {
        let latency = LatencyMs {
            llm_ttft: Some(LatencyMs::MAX + 1),
            ..LatencyMs::default()
        };
        assert_eq!(latency.parse().unwrap_err().field, "latency_ms");
    }

    #[test]
    fn question_is_required_answer_may_be_empty() {
        assert!(Question::parse(" ").is_err());
        assert!(Answer::parse("").is_ok());
    }

    #[test]
    fn provider_names_are_bounded() {
        let providers = Providers {
            llm: Some("x".repeat(61)),
            ..Providers::default()
        };
        assert!(providers.parse().is_err());
    }
}

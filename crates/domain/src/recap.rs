//! A session's recap: what each person who was in it sees once it ended —
//! planned against actual time, their own goal and check-out, everyone's,
//! the links shared in the chat, the questions the assistant was asked with
//! their ratings, and the assistant's short written summary.
//!
//! The summary is written by a small language model that invents things, so
//! its text is held to the session's fact sheet ([`SummaryFacts::check`]):
//! a text naming a number or a person the facts do not hold, or an empty or
//! long one, is refused, and a summary composed from the facts alone
//! ([`SummaryFacts::compose`]) is kept instead.
//!
//! Blocks completed are not in the recap yet: they need the record of the
//! timer's runs, which the recap reads once it is stored.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ai_log::{AiLog, LatencyMs};
use crate::chat::ChatMessage;
use crate::focus::{self, Run, Stay};
use crate::goal::{CheckOut, Goal, Outcome};
use crate::input::{InvalidInput, bounded_text};
use crate::ritual::BlockKind;
use crate::rules::RuleError;
use crate::session::{Participant, Role, Session, SessionStatus};
use crate::{Id, room};

/// At most this many links are kept from one session's chat.
pub const MAX_LINKS: usize = 100;
/// The longest summary kept, in characters.
pub const SUMMARY_MAX_CHARS: usize = 600;
/// The most sentences a summary may have.
pub const SUMMARY_MAX_SENTENCES: usize = 4;

/// A session's recap as one person who was in it sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Recap {
    pub session: Session,
    pub time: RecapTime,
    /// The viewer's own goal and check-out; null only for the assistant's account.
    pub you: Option<RecapPerson>,
    /// Everyone who was in the session (the assistant not counted), in
    /// joining order, the viewer among them.
    pub people: Vec<RecapPerson>,
    /// The http(s) links posted in the chat, each once, the first post kept.
    pub links: Vec<SharedLink>,
    /// What the assistant was asked, oldest first.
    pub questions: Vec<RecapQuestion>,
    /// The assistant's written summary; null when the assistant was off at the end.
    pub summary: Option<SessionSummary>,
}

/// Planned against actual time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecapTime {
    /// The length the session was planned to have; null: not planned.
    pub planned_minutes: Option<i64>,
    /// From its start to its end, to the nearest minute.
    pub actual_minutes: i64,
    pub actual_seconds: i64,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Work blocks of the timer that ran to their end.
    pub blocks_completed: i64,
    /// Work blocks the session's shape planned (0: none planned).
    pub blocks_planned: i64,
    /// The recap's reader's minutes in the room while a work block ran.
    pub your_focused_minutes: i64,
    /// Work blocks that ran out while the reader was in the room.
    pub your_blocks_completed: i64,
}

/// One person's part of the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecapPerson {
    #[schema(value_type = String)]
    pub user_id: Id,
    pub name: String,
    pub role: Role,
    /// This is the person the recap is for.
    pub is_you: bool,
    pub goal: Option<Goal>,
    pub check_out: Option<CheckOut>,
}

/// A link someone posted in the chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SharedLink {
    /// An http or https URL, as the browser would follow it.
    pub url: String,
    #[schema(value_type = String)]
    pub posted_by: Id,
    pub posted_by_name: String,
    pub posted_at: DateTime<Utc>,
}

/// A question the assistant was asked, its answer and how it was rated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecapQuestion {
    /// The AI log entry's id (to rate it: `POST /api/ai-logs/{id}/feedback`).
    #[schema(value_type = String)]
    pub id: Id,
    pub question: String,
    pub answer: String,
    /// Who asked; null when the assistant could not tell.
    pub asked_by_name: Option<String>,
    /// The interaction failed: the answer is an apology, or empty.
    pub failed: bool,
    /// The viewer's own rating; null: not rated.
    pub your_rating: Option<bool>,
    pub helpful_votes: i64,
    pub unhelpful_votes: i64,
    pub asked_at: DateTime<Utc>,
}

/// The assistant's summary of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionSummary {
    pub status: SummaryStatus,
    /// The text, once written.
    pub text: Option<String>,
    /// Whose words the text is, once written.
    pub written_by: Option<SummaryAuthor>,
    /// The language model's provider name, as in the AI log.
    pub provider: Option<String>,
    /// How long the model took, in milliseconds.
    pub latency_ms: Option<i64>,
    pub written_at: Option<DateTime<Utc>>,
}

impl SessionSummary {
    /// Wanted, not written yet (the assistant's worker may be busy or down).
    pub fn pending() -> Self {
        Self {
            status: SummaryStatus::Pending,
            text: None,
            written_by: None,
            provider: None,
            latency_ms: None,
            written_at: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SummaryStatus {
    Pending,
    Written,
}

/// Whose words a summary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SummaryAuthor {
    /// The assistant's language model wrote it, and it held to the facts.
    Assistant,
    /// The model's text was refused (or there was none); this one was
    /// composed from the session's facts.
    Facts,
}

impl SummaryAuthor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assistant => "assistant",
            Self::Facts => "facts",
        }
    }

    pub fn from_str_opt(text: &str) -> Option<Self> {
        match text {
            "assistant" => Some(Self::Assistant),
            "facts" => Some(Self::Facts),
            _ => None,
        }
    }
}

/// A summary just kept, with its session: what the write changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenSummary {
    pub session_id: Id,
    pub summary: SessionSummary,
}

/// A recap is for someone who was in the session (`view_session_history`
/// decides that first), and only once it ended.
pub fn view(session: &Session) -> Result<(), RuleError> {
    match session.status {
        SessionStatus::Ended => Ok(()),
        SessionStatus::Active | SessionStatus::Scheduled => Err(RuleError::Conflict(
            "the recap is ready when the session has ended",
        )),
    }
}

/// An AI log entry with the viewer's own vote on it.
pub struct RatedLog {
    pub log: AiLog,
    pub your_rating: Option<bool>,
}

/// What the store holds of an ended session, read in one snapshot for one viewer.
pub struct RecapRecord {
    pub session: Session,
    /// Every run of the session's timer.
    pub runs: Vec<Run>,
    /// The reader's stays in its room.
    pub your_stays: Vec<Stay>,
    pub participants: Vec<Participant>,
    pub logs: Vec<RatedLog>,
    /// The chat messages that may hold links (others need not be read).
    pub messages: Vec<ChatMessage>,
    pub summary: Option<SessionSummary>,
}

impl Recap {
    /// The recap of `record` for `viewer`.
    pub fn build(record: RecapRecord, viewer: &Id) -> Self {
        let people: Vec<RecapPerson> = record
            .participants
            .iter()
            .filter(|seat| seat.role != Role::Agent)
            .map(|seat| RecapPerson {
                user_id: seat.user_id.clone(),
                name: seat.name.clone(),
                role: seat.role,
                is_you: &seat.user_id == viewer,
                goal: seat.goal.clone(),
                check_out: seat.check_out.clone(),
            })
            .collect();
        let name_of = |id: &Id| {
            record
                .participants
                .iter()
                .find(|seat| &seat.user_id == id)
                .map(|seat| seat.name.clone())
        };
        let questions = record
            .logs
            .into_iter()
            .map(|RatedLog { log, your_rating }| RecapQuestion {
                asked_by_name: log.user_id.as_ref().and_then(name_of),
                failed: log.error.is_some(),
                id: log.id,
                question: log.question,
                answer: log.answer,
                your_rating,
                helpful_votes: log.helpful_votes,
                unhelpful_votes: log.unhelpful_votes,
                asked_at: log.created_at,
            })
            .collect();
        Self {
            time: RecapTime::of(&record.session).with_focus(&record.runs, &record.your_stays),
            you: people.iter().find(|person| person.is_you).cloned(),
            people,
            links: shared_links(&record.messages),
            questions,
            summary: record.summary,
            session: record.session,
        }
    }
}

impl RecapTime {
    pub fn of(session: &Session) -> Self {
        let actual_seconds = match (session.started_at, session.ended_at) {
            (Some(start), Some(end)) => (end - start).num_seconds().max(0),
            _ => 0,
        };
        let planned =
            crate::ritual::shape_sets_blocks(session.planned_minutes, session.rhythm.as_ref());
        let blocks_planned = if planned {
            crate::ritual::blocks(session.planned_minutes, session.rhythm.as_ref(), None)
                .iter()
                .filter(|block| block.kind == BlockKind::Work)
                .count()
        } else {
            0
        };
        Self {
            planned_minutes: session.planned_minutes,
            actual_minutes: (actual_seconds + 30) / 60,
            actual_seconds,
            started_at: session.started_at,
            ended_at: session.ended_at,
            blocks_completed: 0,
            blocks_planned: i64::try_from(blocks_planned).unwrap_or(i64::MAX),
            your_focused_minutes: 0,
            your_blocks_completed: 0,
        }
    }

    /// With what the timer's `runs` and the reader's `stays` add up to.
    pub fn with_focus(self, runs: &[Run], stays: &[Stay]) -> Self {
        let completed = runs
            .iter()
            .filter(|run| run.kind == BlockKind::Work && run.completed)
            .count();
        let (seconds, yours) = focus::in_session(stays, runs);
        Self {
            blocks_completed: i64::try_from(completed).unwrap_or(i64::MAX),
            your_focused_minutes: (seconds + 30) / 60,
            your_blocks_completed: yours,
            ..self
        }
    }
}

/// The links of `messages` (oldest first), each URL once with its first
/// poster, at most [`MAX_LINKS`].
pub fn shared_links(messages: &[ChatMessage]) -> Vec<SharedLink> {
    let mut seen = HashSet::new();
    let mut links = Vec::new();
    for message in messages {
        for url in links_in(&message.body) {
            if links.len() == MAX_LINKS {
                return links;
            }
            if seen.insert(url.clone()) {
                links.push(SharedLink {
                    url,
                    posted_by: message.user_id.clone(),
                    posted_by_name: message.name.clone(),
                    posted_at: message.created_at,
                });
            }
        }
    }
    links
}

/// The http and https URLs in `text`, in order. Only what starts with
/// `http://` or `https://` is read, so no other scheme (`javascript:`,
/// `data:`) can come out; trailing punctuation of the sentence around it is
/// not part of it; a URL with a user name or password in it (which hides
/// the host it really goes to) or without a host is left out.
pub fn links_in(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = lower[from..].find("http") {
        let start = from + offset;
        let rest = &lower[start..];
        let scheme_len = if rest.starts_with("https://") {
            8
        } else if rest.starts_with("http://") {
            7
        } else {
            from = start + 4;
            continue;
        };
        // "xhttp://" or "javascript:…//https://" is the tail of another
        // token, not a link; "(https://" and "<https://" are links.
        let glued = text[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || "/:@.-_=%&?#+~".contains(c));
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`'))
            .map_or(text.len(), |len| start + len);
        from = end.max(start + scheme_len);
        if glued {
            continue;
        }
        if let Some(url) = clean_link(&text[start..end]) {
            found.push(url);
        }
    }
    found
}

/// One candidate, its trailing punctuation gone, parsed strictly.
fn clean_link(raw: &str) -> Option<String> {
    let mut candidate = raw;
    loop {
        let trimmed = candidate.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '*']);
        // A closing bracket belongs to the URL only when it closes one opened in it.
        let trimmed = match trimmed.chars().last() {
            Some(close @ (')' | ']' | '}')) => {
                let open = match close {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                let opened = trimmed.matches(open).count();
                let closed = trimmed.matches(close).count();
                if closed > opened {
                    &trimmed[..trimmed.len() - 1]
                } else {
                    trimmed
                }
            }
            _ => trimmed,
        };
        if trimmed == candidate {
            break;
        }
        candidate = trimmed;
    }
    let url = url::Url::parse(candidate).ok()?;
    let proper = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|host| !host.is_empty())
        && url.username().is_empty()
        && url.password().is_none();
    proper.then(|| url.to_string())
}

/// What the assistant is told of a session to summarise it, and all it may
/// say: every name and number in its summary must come from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SummaryFacts {
    #[schema(value_type = String)]
    pub session_id: Id,
    pub title: String,
    /// The linked project's name.
    pub project: Option<String>,
    pub planned_minutes: Option<i64>,
    pub actual_minutes: i64,
    /// The people who were in it (the assistant not counted).
    pub people: Vec<FactPerson>,
    /// What the assistant was asked, oldest first.
    pub questions: Vec<String>,
}

/// One person in the fact sheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FactPerson {
    pub name: String,
    pub goal: Option<String>,
    pub tasks_done: i64,
    pub tasks_total: i64,
    /// How they said it went; null: not checked out (yet).
    pub outcome: Option<Outcome>,
    pub note: Option<String>,
}

/// How many of the session's questions the fact sheet holds.
pub const FACT_QUESTIONS: usize = 20;

/// What the worker reports of a summary it had written, parsed at the edge.
pub struct SummaryDraft {
    /// The model's text as it came (empty when the model failed); the use
    /// case holds it to the facts.
    pub text: String,
    pub provider: Option<String>,
    pub latency_ms: Option<u64>,
}

impl SummaryDraft {
    pub fn parse(
        text: String,
        provider: Option<String>,
        latency_ms: Option<u64>,
    ) -> Result<Self, InvalidInput> {
        if text.chars().count() > 20_000 {
            return Err(InvalidInput::new(
                "text",
                "must be at most 20000 characters",
            ));
        }
        let provider = provider
            .map(|name| bounded_text("provider", &name, 1, 60))
            .transpose()?;
        if latency_ms.is_some_and(|ms| ms > LatencyMs::MAX) {
            return Err(InvalidInput::new(
                "latency_ms",
                format!("must be at most {} ms", LatencyMs::MAX),
            ));
        }
        Ok(Self {
            text,
            provider,
            latency_ms,
        })
    }
}

/// Why a model's summary was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SummaryRefusal {
    #[error("the text is empty")]
    Empty,
    #[error("the text holds control characters")]
    Unreadable,
    #[error(
        "the text is longer than {SUMMARY_MAX_CHARS} characters or {SUMMARY_MAX_SENTENCES} sentences"
    )]
    TooLong,
    #[error("the text names the number {0}, which is not in the facts")]
    Number(String),
    #[error("the text names {0}, who is not in the facts")]
    Name(String),
}

/// Words that start sentences and are no one's name: capitalised, they are
/// still allowed in a summary.
const COMMON_WORDS: &[&str] = &[
    "a",
    "after",
    "all",
    "also",
    "an",
    "and",
    "as",
    "at",
    "before",
    "both",
    "but",
    "by",
    "during",
    "each",
    "everyone",
    "for",
    "from",
    "he",
    "her",
    "his",
    "i",
    "in",
    "it",
    "its",
    "later",
    "meanwhile",
    "no",
    "nobody",
    "not",
    "of",
    "on",
    "one",
    "overall",
    "she",
    "so",
    "some",
    "the",
    "their",
    "then",
    "there",
    "they",
    "this",
    "to",
    "together",
    "we",
    "when",
    "while",
    "with",
    "you",
    "your",
    "ai",
    "assistant",
    "session",
    "questions",
    "goals",
    "goal",
    "participants",
    "people",
    "everybody",
    "none",
    "nothing",
    "someone",
    "still",
    "though",
];

impl SummaryFacts {
    /// The fact sheet of an ended `session`.
    pub fn of(session: &Session, participants: &[Participant], logs: &[AiLog]) -> Self {
        let people = participants
            .iter()
            .filter(|seat| seat.role != Role::Agent)
            .map(|seat| FactPerson {
                name: seat.name.clone(),
                goal: seat.goal.as_ref().map(|goal| goal.text.clone()),
                tasks_done: seat.goal.as_ref().map_or(0, |goal| {
                    goal.tasks.iter().filter(|task| task.done).count() as i64
                }),
                tasks_total: seat.goal.as_ref().map_or(0, |goal| goal.tasks.len() as i64),
                outcome: seat.check_out.as_ref().map(|check_out| check_out.outcome),
                note: seat.check_out.as_ref().and_then(|c| c.note.clone()),
            })
            .collect();
        let questions = logs
            .iter()
            .rev()
            .take(FACT_QUESTIONS)
            .rev()
            .map(|log| log.question.clone())
            .collect();
        Self {
            session_id: session.id.clone(),
            title: session.title.clone(),
            project: None,
            planned_minutes: session.planned_minutes,
            actual_minutes: RecapTime::of(session).actual_minutes,
            people,
            questions,
        }
    }

    /// Every text of the sheet, for the words a summary may use.
    fn texts(&self) -> Vec<&str> {
        let mut texts = vec![self.title.as_str()];
        texts.extend(self.project.as_deref());
        for person in &self.people {
            texts.push(&person.name);
            texts.extend(person.goal.as_deref());
            texts.extend(person.note.as_deref());
        }
        texts.extend(self.questions.iter().map(String::as_str));
        texts
    }

    /// The numbers a summary may name: the minutes, the counts, and any
    /// number written in the sheet's texts.
    fn numbers(&self) -> HashSet<String> {
        let mut counts = vec![
            self.actual_minutes,
            self.people.len() as i64,
            self.questions.len() as i64,
        ];
        counts.extend(self.planned_minutes);
        for person in &self.people {
            counts.extend([person.tasks_done, person.tasks_total]);
        }
        let mut numbers: HashSet<String> = counts.iter().map(i64::to_string).collect();
        for text in self.texts() {
            numbers.extend(room::words_of(text).into_iter().filter(|w| is_number(w)));
        }
        numbers
    }

    /// The model's `text`, tidied (one line), if it holds to the facts.
    pub fn check(&self, text: &str) -> Result<String, SummaryRefusal> {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return Err(SummaryRefusal::Empty);
        }
        // White space is one space by now; any other control character is
        // nothing a person should read (and no database keeps a NUL).
        if text.chars().any(char::is_control) {
            return Err(SummaryRefusal::Unreadable);
        }
        let sentences = text
            .split_inclusive(['.', '!', '?'])
            .filter(|s| s.chars().any(char::is_alphanumeric))
            .count();
        if text.chars().count() > SUMMARY_MAX_CHARS || sentences > SUMMARY_MAX_SENTENCES {
            return Err(SummaryRefusal::TooLong);
        }
        let numbers = self.numbers();
        if let Some(number) = room::words_of(&text)
            .into_iter()
            .find(|word| is_number(word) && !numbers.contains(word))
        {
            return Err(SummaryRefusal::Number(number));
        }
        let known: HashSet<String> = self
            .texts()
            .iter()
            .flat_map(|text| room::words_of(text))
            .collect();
        let stranger = text
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .filter(|word| word.chars().next().is_some_and(char::is_uppercase))
            .map(|word| word.trim_end_matches("'s").trim_matches('\''))
            .find(|word| {
                let lower = word.to_lowercase();
                !known.contains(&lower) && !COMMON_WORDS.contains(&lower.as_str())
            });
        if let Some(name) = stranger {
            return Err(SummaryRefusal::Name(name.to_owned()));
        }
        Ok(text)
    }

    /// A summary in the sheet's own words: who worked how long against the
    /// plan, each goal and how it went, and how many questions were asked.
    pub fn compose(&self) -> String {
        let names: Vec<&str> = self.people.iter().map(|p| p.name.as_str()).collect();
        let who = match names.as_slice() {
            [] => "Nobody".to_owned(),
            [one] => (*one).to_owned(),
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        };
        let minutes = plural(self.actual_minutes, "minute");
        let mut sentences = vec![match self.planned_minutes {
            Some(planned) => format!(
                "{who} worked on \"{}\" for {minutes} of the {} planned.",
                self.title,
                plural(planned, "minute")
            ),
            None => format!("{who} worked on \"{}\" for {minutes}.", self.title),
        }];
        let goals: Vec<String> = self
            .people
            .iter()
            .filter_map(|person| {
                let goal = person.goal.as_ref()?;
                let how = match person.outcome {
                    Some(Outcome::Done) => "done",
                    Some(Outcome::Partly) => "partly done",
                    Some(Outcome::NotYet) => "not done yet",
                    None => "not checked out",
                };
                Some(format!(
                    "{} set out to {} ({how})",
                    person.name,
                    lower_first(goal)
                ))
            })
            .take(3)
            .collect();
        if !goals.is_empty() {
            sentences.push(format!("{}.", goals.join("; ")));
        }
        sentences.push(match self.questions.len() {
            0 => "No one asked the assistant anything.".to_owned(),
            count => format!(
                "The assistant was asked {}.",
                plural(count as i64, "question")
            ),
        });
        sentences.join(" ")
    }
}

fn is_number(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_digit())
}

fn plural(count: i64, unit: &str) -> String {
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

/// "Ship the parser" → "ship the parser", to follow "set out to".
fn lower_first(text: &str) -> String {
    let text = text.trim_end_matches(['.', '!', '?']);
    let mut chars = text.chars();
    match chars.next() {
        // "I" and names stay as they are: only a lone capital at a
        // sentence's start is lowered.
        Some(first) if chars.clone().next().is_some_and(char::is_lowercase) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goal::Task;

    fn message(body: &str) -> ChatMessage {
        ChatMessage {
            id: Id::generate(),
            session_id: Id::generate(),
            user_id: Id::generate(),
            name: "Ada".into(),
            body: body.into(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn links_are_read_strictly_and_their_sentence_is_not_part_of_them() {
        assert_eq!(
            links_in(
                "see https://doc.rust-lang.org/book/ch04-01.html, and (http://example.org/a_(b)) too."
            ),
            vec![
                "https://doc.rust-lang.org/book/ch04-01.html",
                "http://example.org/a_(b)"
            ]
        );
        assert_eq!(
            links_in("HTTPS://Example.org/Path!"),
            vec!["https://example.org/Path"]
        );
        for nothing in [
            "javascript:alert(1)",
            "data:text/html,<b>hi</b>",
            "ftp://example.org/file",
            "https://",
            "xhttps://example.org",
            "https://ada:secret@example.org/",
            "https://example.org@evil.test/",
            "no link here, just http",
        ] {
            assert_eq!(links_in(nothing), Vec::<String>::new(), "{nothing}");
        }
        // Not even hidden behind another scheme.
        assert_eq!(
            links_in("javascript:alert(1)//https://example.org/x"),
            Vec::<String>::new()
        );
        assert_eq!(
            links_in("<https://example.org/a>"),
            vec!["https://example.org/a"]
        );
    }

    #[test]
    fn a_link_posted_twice_is_kept_once_with_its_first_poster() {
        let first = message("https://example.org/a and https://example.org/b");
        let mut second = message("again: https://example.org/a.");
        second.name = "Bob".into();
        let links = shared_links(&[first.clone(), second]);
        let urls: Vec<&str> = links.iter().map(|l| l.url.as_str()).collect();
        assert_eq!(urls, ["https://example.org/a", "https://example.org/b"]);
        assert_eq!(links[0].posted_by, first.user_id);
        assert_eq!(links[0].posted_by_name, "Ada");
    }

    fn facts() -> SummaryFacts {
        SummaryFacts {
            session_id: Id::generate(),
            title: "Parser day".into(),
            project: Some("lockin".into()),
            planned_minutes: Some(50),
            actual_minutes: 42,
            people: vec![
                FactPerson {
                    name: "Ada".into(),
                    goal: Some("Ship the parser errors".into()),
                    tasks_done: 1,
                    tasks_total: 2,
                    outcome: Some(Outcome::Partly),
                    note: None,
                },
                FactPerson {
                    name: "Bob".into(),
                    goal: Some("Read chapter 4 of the Rust book".into()),
                    tasks_done: 0,
                    tasks_total: 0,
                    outcome: None,
                    note: None,
                },
            ],
            questions: vec!["what is a closure?".into()],
        }
    }

    #[test]
    fn a_summary_that_holds_to_the_facts_is_kept() {
        let text = "Ada and Bob worked for 42 minutes of the 50 planned.\n Ada shipped part of the parser errors; Bob read chapter four of the Rust book. They asked the assistant one question.";
        assert_eq!(
            facts().check(text).unwrap(),
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }

    #[test]
    fn a_summary_with_an_invented_number_or_person_is_refused() {
        let facts = facts();
        assert_eq!(
            facts.check("Ada and Bob worked for 90 minutes."),
            Err(SummaryRefusal::Number("90".into()))
        );
        assert_eq!(
            facts.check("Three people worked hard."),
            Err(SummaryRefusal::Number("3".into()))
        );
        assert_eq!(
            facts.check("Ada and Carol shipped the parser."),
            Err(SummaryRefusal::Name("Carol".into()))
        );
        assert_eq!(
            facts.check("Eve's parser was shipped."),
            Err(SummaryRefusal::Name("Eve".into()))
        );
        assert_eq!(facts.check("  \n "), Err(SummaryRefusal::Empty));
        assert_eq!(
            facts.check("Ada worked\u{0}."),
            Err(SummaryRefusal::Unreadable)
        );
        assert_eq!(
            facts.check(&"Ada worked. ".repeat(5)),
            Err(SummaryRefusal::TooLong)
        );
        assert_eq!(
            facts.check(&format!("Ada {}.", "worked ".repeat(100))),
            Err(SummaryRefusal::TooLong)
        );
    }

    #[test]
    fn the_composed_summary_says_only_what_the_facts_hold_and_passes_the_check() {
        let facts = facts();
        let text = facts.compose();
        assert_eq!(
            text,
            "Ada and Bob worked on \"Parser day\" for 42 minutes of the 50 minutes planned. \
             Ada set out to ship the parser errors (partly done); Bob set out to read chapter 4 \
             of the Rust book (not checked out). The assistant was asked 1 question."
        );
        assert_eq!(facts.check(&text).as_deref(), Ok(text.as_str()));
        let unplanned = SummaryFacts {
            planned_minutes: None,
            questions: vec![],
            people: vec![],
            ..facts
        };
        assert_eq!(
            unplanned.compose(),
            "Nobody worked on \"Parser day\" for 42 minutes. No one asked the assistant anything."
        );
    }

    #[test]
    fn the_recap_is_for_an_ended_session_and_shows_the_viewer_their_own_part() {
        let mut session = Session::example();
        assert!(matches!(view(&session), Err(RuleError::Conflict(_))));
        session.status = SessionStatus::Ended;
        session.started_at = Some(Utc::now() - chrono::Duration::seconds(25 * 60 + 40));
        session.ended_at = Some(Utc::now());
        session.planned_minutes = Some(25);
        assert_eq!(view(&session), Ok(()));
        let (ada, bob) = (Id::generate(), Id::generate());
        let mut ada_seat = Participant::example(
            &session,
            &ada,
            Role::Host,
            crate::session::ParticipantStatus::Left,
        );
        ada_seat.goal = Some(Goal {
            text: "Ship it".into(),
            tasks: vec![Task {
                text: "tests".into(),
                done: true,
            }],
            set_at: Utc::now(),
        });
        let mut bob_seat = Participant::example(
            &session,
            &bob,
            Role::Participant,
            crate::session::ParticipantStatus::Left,
        );
        bob_seat.name = "Bob".into();
        let agent = Participant::example(
            &session,
            &Id::generate(),
            Role::Agent,
            crate::session::ParticipantStatus::Left,
        );
        let started = session.started_at.unwrap();
        let work = Run {
            block: 0,
            kind: BlockKind::Work,
            started_at: started,
            ended_at: started + chrono::Duration::minutes(25),
            completed: true,
        };
        // Bob came ten minutes late and stayed to the end.
        let bob_stay = Stay {
            session_id: session.id.clone(),
            joined_at: started + chrono::Duration::minutes(10),
            left_at: session.ended_at,
        };
        let record = RecapRecord {
            session,
            runs: vec![work],
            your_stays: vec![bob_stay],
            participants: vec![ada_seat, bob_seat, agent],
            logs: vec![],
            messages: vec![message("read https://example.org/")],
            summary: None,
        };
        let recap = Recap::build(record, &bob);
        assert_eq!(recap.time.planned_minutes, Some(25));
        assert_eq!(recap.time.actual_minutes, 26);
        assert_eq!(
            (recap.time.blocks_completed, recap.time.blocks_planned),
            (1, 1)
        );
        assert_eq!(
            (
                recap.time.your_focused_minutes,
                recap.time.your_blocks_completed
            ),
            (15, 1)
        );
        assert_eq!(
            recap.people.len(),
            2,
            "the assistant is not among the people"
        );
        let you = recap.you.expect("Bob was in it");
        assert_eq!((you.name.as_str(), you.is_you), ("Bob", true));
        assert_eq!(recap.people[0].goal.as_ref().unwrap().text, "Ship it");
        assert_eq!(recap.links[0].url, "https://example.org/");
    }
}

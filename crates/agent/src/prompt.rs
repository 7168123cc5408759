//! What the language model is told: who it is, the session and its project
//! (the fixed part, the same for every question of a session), the last few
//! questions and answers, and who is asking now; and, once a session ended,
//! its fact sheet to summarise ([`summary_prompt`]).
//!
//! The fixed part comes first and alone in the system message so the local
//! model can evaluate it once per session and reuse its attention cache
//! (prompt evaluation runs at ~40 tokens/s on two cores: every token kept out
//! of the changing part is 25 ms off each answer).

use serde::Serialize;

/// The session the agent sits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub title: String,
    /// The session's type (e.g. "study", "pairing", "focus").
    pub kind: String,
}

/// The project linked to the session, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectInfo {
    pub name: String,
    pub description: String,
    pub tech_stack: Vec<String>,
    pub repo_url: Option<String>,
}

/// Everything fixed for a session's prompts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionContext {
    pub session: SessionInfo,
    pub project: Option<ProjectInfo>,
}

/// One earlier question and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub asker: String,
    pub question: String,
    pub answer: String,
}

/// A chat message in the OpenAI shape (also what the local template renders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// A prompt: the fixed system message, then the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPrompt {
    pub system: String,
    pub messages: Vec<ChatMessage>,
}

impl ChatPrompt {
    /// All messages, system first, as chat APIs take them.
    pub fn all_messages(&self) -> Vec<ChatMessage> {
        std::iter::once(ChatMessage {
            role: Role::System,
            content: self.system.clone(),
        })
        .chain(self.messages.iter().cloned())
        .collect()
    }
}

/// Answers are heard, not read: the instructions say so. Code is the
/// exception, shown in the chat and not read out (`speech_text`), so it
/// goes in a fenced block the voice can skip.
const VOICE_RULES: &str = "You are the voice assistant in a live coding session. \
People ask you out loud and hear your answer. Answer in two or three short spoken sentences. \
Put any code in a fenced code block (```), which is shown in the chat, not spoken. \
No lists, other markdown or links. If you are not sure, say so briefly.";

/// The fixed system message of a session.
pub fn system_message(context: &SessionContext) -> String {
    let mut text = String::from(VOICE_RULES);
    text.push_str(&format!(
        "\nSession: \"{}\" ({}).",
        one_line(&context.session.title, 120),
        one_line(&context.session.kind, 40)
    ));
    if let Some(project) = &context.project {
        text.push_str(&format!("\nProject: {}", one_line(&project.name, 80)));
        if !project.description.trim().is_empty() {
            text.push_str(&format!(" - {}", one_line(&project.description, 300)));
        }
        if !project.tech_stack.is_empty() {
            let stack: Vec<String> = project.tech_stack.iter().map(|t| one_line(t, 40)).collect();
            text.push_str(&format!("\nTech stack: {}.", stack.join(", ")));
        }
        if let Some(repo) = project.repo_url.as_deref().filter(|r| !r.trim().is_empty()) {
            text.push_str(&format!("\nRepository: {}", one_line(repo, 200)));
        }
    }
    text
}

/// The prompt for one question: the session's fixed part, the recent
/// exchanges (at most `history_turns`, answers cut to 200 characters), and
/// the question with the asker's name.
///
/// The window of exchanges moves in steps of `history_turns`, not one by
/// one: it grows from one to `history_turns` exchanges, then starts again
/// from the latest. So each prompt usually begins with the whole previous
/// one, and a model that keeps evaluated prefixes (the local one; cloud
/// prompt caches alike) only evaluates the new answer and question. A
/// window sliding by one would change the beginning of every prompt.
pub fn build_prompt(
    context: &SessionContext,
    history: &[Exchange],
    history_turns: usize,
    asker: &str,
    question: &str,
) -> ChatPrompt {
    let mut prompt = history_prompt(context, history, history_turns);
    prompt.messages.push(ChatMessage {
        role: Role::User,
        content: format!("{} asks: {}", one_line(asker, 60), one_line(question, 500)),
    });
    prompt
}

/// What the next question's prompt will begin with: the system message and
/// the history window, without a question. A model can take it in before
/// the question comes ([`crate::llm::LanguageModel::prepare`]).
pub fn history_prompt(
    context: &SessionContext,
    history: &[Exchange],
    history_turns: usize,
) -> ChatPrompt {
    let mut messages = Vec::new();
    let start = history_window_start(history.len(), history_turns);
    for exchange in &history[start..] {
        messages.push(ChatMessage {
            role: Role::User,
            content: format!(
                "{} asks: {}",
                one_line(&exchange.asker, 60),
                one_line(&exchange.question, 300)
            ),
        });
        messages.push(ChatMessage {
            role: Role::Assistant,
            // As generated (an answer is at most ~120 tokens): the local
            // model kept its state after generating it, and an answer left
            // exactly as it was lets the next prompt continue from there.
            content: clip(&exchange.answer, 800),
        });
    }
    ChatPrompt {
        system: system_message(context),
        messages,
    }
}

/// The summary is read on the recap page: plain sentences about what the
/// facts hold, nothing else (the server refuses a text that names anyone or
/// any number the facts do not).
const SUMMARY_RULES: &str = "You write the short summary of a finished focus session for the people who were in it. \
Write two to four plain sentences. Use only the facts given: name no other person and no other number. \
No lists, markdown, links or greetings.";

/// The prompt for a session's written summary: the rules, then its fact
/// sheet as lines.
pub fn summary_prompt(facts: &domain::recap::SummaryFacts) -> ChatPrompt {
    let mut sheet = format!("Session: \"{}\"", one_line(&facts.title, 120));
    if let Some(project) = &facts.project {
        sheet.push_str(&format!(", project {}", one_line(project, 80)));
    }
    sheet.push_str(".\n");
    match facts.planned_minutes {
        Some(planned) => sheet.push_str(&format!(
            "Planned: {planned} minutes. It lasted {} minutes.\n",
            facts.actual_minutes
        )),
        None => sheet.push_str(&format!("It lasted {} minutes.\n", facts.actual_minutes)),
    }
    sheet.push_str(&format!("People ({}):\n", facts.people.len()));
    for person in &facts.people {
        sheet.push_str(&format!("- {}", one_line(&person.name, 60)));
        match &person.goal {
            Some(goal) => sheet.push_str(&format!(": goal \"{}\"", one_line(goal, 200))),
            None => sheet.push_str(": no goal"),
        }
        if person.tasks_total > 0 {
            sheet.push_str(&format!(
                ", {} of {} tasks done",
                person.tasks_done, person.tasks_total
            ));
        }
        match person.outcome {
            Some(outcome) => sheet.push_str(&format!(", checked out: {}", outcome.words())),
            None => sheet.push_str(", not checked out"),
        }
        if let Some(note) = &person.note {
            sheet.push_str(&format!(" (\"{}\")", one_line(note, 200)));
        }
        sheet.push('\n');
    }
    sheet.push_str(&format!(
        "Questions asked to the assistant ({}):\n",
        facts.questions.len()
    ));
    for question in &facts.questions {
        sheet.push_str(&format!("- {}\n", one_line(question, 160)));
    }
    sheet.push_str("Write the summary.");
    ChatPrompt {
        system: SUMMARY_RULES.to_owned(),
        messages: vec![ChatMessage {
            role: Role::User,
            content: sheet,
        }],
    }
}

/// Index of the first exchange shown: a multiple of `turns`, leaving 1 to
/// `turns` exchanges (none when `turns` is 0).
fn history_window_start(len: usize, turns: usize) -> usize {
    if turns == 0 {
        return len;
    }
    len.saturating_sub(turns).div_ceil(turns) * turns
}

/// The model's own text, unchanged unless longer than `max` characters.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

/// Collapses whitespace (a newline in a title must not break the template)
/// and cuts at `max` characters on a word boundary.
fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    for word in text.split_whitespace() {
        if out.chars().count() + word.chars().count() + 1 > max {
            if out.is_empty() {
                out.extend(word.chars().take(max));
            }
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> SessionContext {
        SessionContext {
            session: SessionInfo {
                title: "Rust study\nhour".into(),
                kind: "study".into(),
            },
            project: Some(ProjectInfo {
                name: "Lock In".into(),
                description: "Focus sessions with a voice assistant".into(),
                tech_stack: vec!["Rust".into(), "axum".into()],
                repo_url: Some("https://example.org/lockin".into()),
            }),
        }
    }

    #[test]
    fn the_system_message_names_session_and_project_on_single_lines() {
        let system = system_message(&context());
        assert!(
            system.contains("Session: \"Rust study hour\" (study)."),
            "{system}"
        );
        assert!(system.contains("Project: Lock In - Focus sessions with a voice assistant"));
        assert!(system.contains("Tech stack: Rust, axum."));
        assert!(system.contains("Repository: https://example.org/lockin"));
        assert!(system.contains("two or three short spoken sentences"));
        assert!(system.contains("fenced code block"));
    }

    #[test]
    fn the_summary_prompt_holds_the_fact_sheet_and_nothing_else() {
        use domain::goal::Outcome;
        use domain::recap::{FactPerson, SummaryFacts};
        let facts = SummaryFacts {
            session_id: domain::Id::generate(),
            title: "Parser\nday".into(),
            project: Some("lockin".into()),
            planned_minutes: Some(50),
            actual_minutes: 42,
            people: vec![FactPerson {
                name: "Ada".into(),
                goal: Some("Ship the parser errors".into()),
                tasks_done: 1,
                tasks_total: 2,
                outcome: Some(Outcome::Partly),
                note: Some("hints next time".into()),
            }],
            questions: vec!["what is a closure?".into()],
        };
        let prompt = summary_prompt(&facts);
        assert!(
            prompt
                .system
                .contains("name no other person and no other number")
        );
        assert_eq!(
            prompt.messages[0].content,
            "Session: \"Parser day\", project lockin.\n\
             Planned: 50 minutes. It lasted 42 minutes.\n\
             People (1):\n\
             - Ada: goal \"Ship the parser errors\", 1 of 2 tasks done, checked out: Partly (\"hints next time\")\n\
             Questions asked to the assistant (1):\n\
             - what is a closure?\n\
             Write the summary."
        );
    }

    #[test]
    fn only_the_last_turns_and_the_asker_go_in() {
        let history: Vec<Exchange> = (0..5)
            .map(|i| Exchange {
                asker: format!("user{i}"),
                question: format!("q{i}"),
                answer: format!("a{i}"),
            })
            .collect();
        let prompt = build_prompt(&context(), &history[..4], 2, "Ada", "what is a closure?");
        let contents: Vec<&str> = prompt.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            contents,
            [
                "user2 asks: q2",
                "a2",
                "user3 asks: q3",
                "a3",
                "Ada asks: what is a closure?"
            ]
        );
        assert_eq!(prompt.all_messages()[0].role, Role::System);
    }

    #[test]
    fn the_history_window_moves_in_steps_so_prompts_extend_each_other() {
        let shown: Vec<(usize, usize)> = (0..8)
            .map(|len| (history_window_start(len, 3), len))
            .collect();
        // (start, len): 0 shown, then 1‥3, then back to 1 at the jump.
        assert_eq!(
            shown,
            [
                (0, 0),
                (0, 1),
                (0, 2),
                (0, 3),
                (3, 4),
                (3, 5),
                (3, 6),
                (6, 7)
            ]
        );
        assert_eq!(history_window_start(5, 0), 5);
    }

    #[test]
    fn long_text_is_cut_on_a_word() {
        assert_eq!(one_line("one two three", 8), "one two");
        assert_eq!(one_line("abcdefghij", 4), "abcd");
    }
}

/// Names of widespread languages and tools, which a coding assistant hears
/// all day and a general-purpose transcriber mishears ("Cabernet's" for
/// Kubernetes, "doctor" for Docker).
const CODING_WORDS: &str = "Python, JavaScript, TypeScript, Rust, Go, Java, C++, SQL, Git, \
GitHub, Docker, Kubernetes, React, Node.js, API, JSON, HTTP, CSS, HTML, Linux, async, regex, \
npm, PostgreSQL, Redis.";

/// Terms that come with a technology of a project's stack: (its names, as
/// written in a stack, lowercase; the heading and terms in the hints).
const STACK_WORDS: &[(&[&str], &str)] = &[
    (
        &["rust"],
        "Rust: borrow checker, lifetimes, traits, crates, cargo.",
    ),
    (
        &["sql", "sqlite", "postgresql", "postgres", "mysql"],
        "SQL: foreign key, join, index, transaction.",
    ),
    (
        &["python", "django", "flask"],
        "Python: pip, virtualenv, list comprehension, decorators.",
    ),
    (
        &["javascript", "typescript", "node", "node.js"],
        "JavaScript: npm, promises, async await, closures.",
    ),
    (
        &["react", "next.js"],
        "React: hooks, useState, props, components.",
    ),
    (&["go", "golang"], "Go: goroutines, channels, interfaces."),
    (
        &["java", "kotlin", "spring"],
        "Java: JVM, Maven, Gradle, generics.",
    ),
    (&["docker"], "Docker: containers, images, Dockerfile."),
    (
        &["kubernetes", "k8s"],
        "Kubernetes: pods, deployments, kubectl.",
    ),
    (
        &["git", "github", "gitlab"],
        "Git: commit, rebase, merge, branch.",
    ),
];

/// Words the transcriber should expect in this session, as Whisper's prompt
/// takes them: common coding words ([`CODING_WORDS`]), the terms that come
/// with the project's stack ([`STACK_WORDS`]), the wake phrase, the
/// project's name and tech stack, and the names of the people in the room
/// ("… Rust: borrow checker, … Hey agent. Lock In: Rust, axum, SQLite. Ada,
/// Bob."). Whisper keeps the end of a long prompt, so the most particular
/// words come last.
pub fn hints(wake_phrase: &str, context: &SessionContext, names: &[&str]) -> String {
    let mut sentences = vec![CODING_WORDS.to_string()];
    if let Some(project) = &context.project {
        let stack: Vec<String> = project
            .tech_stack
            .iter()
            .map(|t| t.trim().to_lowercase())
            .collect();
        sentences.extend(
            STACK_WORDS
                .iter()
                .filter(|(names, _)| names.iter().any(|n| stack.iter().any(|t| t == n)))
                .map(|(_, words)| words.to_string()),
        );
    }
    let mut phrase = wake_phrase.trim().to_string();
    if let Some(first) = phrase.get(..1) {
        phrase.replace_range(..1, &first.to_uppercase());
        sentences.push(format!("{phrase}."));
    }
    if let Some(project) = &context.project {
        if project.tech_stack.is_empty() {
            sentences.push(format!("{}.", project.name));
        } else {
            sentences.push(format!(
                "{}: {}.",
                project.name,
                project.tech_stack.join(", ")
            ));
        }
    }
    let mut names: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !n.trim().is_empty())
        .collect();
    names.sort_unstable();
    names.dedup();
    if !names.is_empty() {
        sentences.push(format!("{}.", names.join(", ")));
    }
    sentences.join(" ")
}

#[cfg(test)]
mod hint_tests {
    use super::*;

    #[test]
    fn hints_name_the_phrase_the_project_and_the_room() {
        let context = SessionContext {
            session: SessionInfo {
                title: "t".into(),
                kind: "coding".into(),
            },
            project: Some(ProjectInfo {
                name: "Lock In".into(),
                description: String::new(),
                tech_stack: vec!["Rust".into(), "axum".into()],
                repo_url: None,
            }),
        };
        assert_eq!(
            hints("hey agent", &context, &["Bob", "Ada", "Bob"]),
            format!(
                "{CODING_WORDS} Rust: borrow checker, lifetimes, traits, crates, cargo. \
                 Hey agent. Lock In: Rust, axum. Ada, Bob."
            )
        );
        let bare = SessionContext {
            project: None,
            ..context
        };
        assert_eq!(
            hints("hey agent", &bare, &[]),
            format!("{CODING_WORDS} Hey agent.")
        );
    }

    #[test]
    fn a_stack_brings_its_terms_by_any_of_its_names() {
        let context = |stack: &[&str]| SessionContext {
            session: SessionInfo {
                title: "t".into(),
                kind: "coding".into(),
            },
            project: Some(ProjectInfo {
                name: "P".into(),
                description: String::new(),
                tech_stack: stack.iter().map(|s| s.to_string()).collect(),
                repo_url: None,
            }),
        };
        let with = hints("hey agent", &context(&["PostgreSQL", " TypeScript "]), &[]);
        assert!(with.contains("SQL: foreign key"), "{with}");
        assert!(with.contains("JavaScript: npm"), "{with}");
        // A name inside another is not it: "Go" is not "MongoDB".
        let without = hints("hey agent", &context(&["MongoDB"]), &[]);
        assert!(!without.contains("goroutines"), "{without}");
    }
}

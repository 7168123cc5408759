//! The wake phrase, in two steps.
//!
//! 1. A [`WakeSpotter`] listens to every frame of an utterance (keyword
//!    search, cheap and eager): it may fire on "the agent said …".
//! 2. The utterance's transcript must then open with the phrase as whole
//!    words, any case ([`WakePhrase::find`]; Pipecat's wake filter matches
//!    the same way), after at most a few filler words ("so, um, hey
//!    agent"). Only then is the text after the phrase taken as the question.
//!    The phrase anywhere else is talk *about* the assistant ("you can say
//!    hey agent to ask it"), not to it.

use regex::Regex;

/// Where a spotter heard the end of the wake phrase, counted in samples from
/// the start of the utterance it was fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spot {
    pub end_sample: u64,
}

/// Frame-by-frame wake-phrase detection, run inside the sans-IO pipeline (so
/// it must be quick: PocketSphinx keyword search takes well under a
/// millisecond per 20 ms frame).
pub trait WakeSpotter: Send {
    /// A new utterance begins.
    fn start(&mut self);
    /// Feeds 16 kHz mono samples; `Some` the first time the phrase is heard.
    fn process(&mut self, pcm: &[i16]) -> Option<Spot>;
    /// The utterance is over.
    fn finish(&mut self);
}

/// Words people say before addressing someone, which may precede the
/// phrase.
const FILLERS: &str = "so|um+|uh+|er+|hm+|oh|okay|ok|and|well|right|alright|yeah";

/// A greeting opening the phrase, and what transcribers hear it as
/// (Whisper tiny.en on synthetic and real voices: "Play agent, …", "Pay
/// agent, …", "Here agent, …", "They agent, …"). Never "the": "the agent
/// said…" is about the assistant, not to it.
const GREETINGS: &str = "hey|hay|hi|he|eh|a|pay|play|here|they";

/// The wake phrase as a case-insensitive, word-bounded pattern.
#[derive(Debug, Clone)]
pub struct WakePhrase {
    phrase: String,
    pattern: Regex,
}

/// Where the phrase was found in a transcript, and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WakeMatch {
    /// The text after the phrase, trimmed of spaces and punctuation.
    pub question: String,
}

impl WakePhrase {
    /// `phrase` like "hey agent"; words may be separated by any spacing or
    /// punctuation in the transcript ("Hey, agent!"). A greeting that opens
    /// the phrase ("hey") is also heard as the words transcribers mistake it
    /// for ("hi", "he", "hay", "a"), and a phrase of greeting + name also
    /// wakes on the name alone said as an address: followed by a comma or
    /// other punctuation ("Agent, what is…"), never by a plain space ("agent
    /// in a tent").
    pub fn new(phrase: &str) -> Self {
        const GAP: &str = r"[\s,.;:!?-]+";
        let words: Vec<String> = phrase.split_whitespace().map(regex::escape).collect();
        let mut alternatives = vec![format!("{}\\b", words.join(GAP))];
        if let [greeting, name @ ..] = words.as_slice()
            && GREETINGS
                .split('|')
                .any(|g| g.eq_ignore_ascii_case(greeting))
            && !name.is_empty()
        {
            let name = name.join(GAP);
            alternatives.push(format!("(?:{GREETINGS}){GAP}{name}\\b"));
            alternatives.push(format!("{name}\\s*[,.;:!?]"));
        }
        let pattern = format!(
            r"(?i)^[\s,.;:!?-]*(?:(?:{FILLERS}){GAP}){{0,3}}(?:{})",
            alternatives
                .iter()
                .map(|a| format!("(?:{a})"))
                .collect::<Vec<_>>()
                .join("|")
        );
        Self {
            phrase: phrase.to_string(),
            pattern: Regex::new(&pattern).expect("escaped words form a valid pattern"),
        }
    }

    pub fn phrase(&self) -> &str {
        &self.phrase
    }

    /// The phrase opening `transcript` (after fillers), with the question
    /// that follows it (empty when the phrase ends the transcript). The
    /// phrase said again right after ("hey agent, hey agent, …"; Whisper
    /// also writes a lone "hey agent" as "Agent, agent,") is not part of
    /// the question.
    pub fn find(&self, transcript: &str) -> Option<WakeMatch> {
        let found = self.pattern.find(transcript)?;
        let mut rest = &transcript[found.end()..];
        while let Some(again) = self.pattern.find(rest) {
            rest = &rest[again.end()..];
        }
        let question = rest
            .trim_matches(|c: char| c.is_whitespace() || c.is_ascii_punctuation())
            .to_string();
        Some(WakeMatch { question })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phrase_wakes_in_any_case_and_spacing() {
        let wake = WakePhrase::new("hey agent");
        assert_eq!(
            wake.find("Hey, Agent! What is a closure in Rust?")
                .unwrap()
                .question,
            "What is a closure in Rust"
        );
        assert_eq!(
            wake.find("hey agent what is a trait").unwrap().question,
            "what is a trait"
        );
        assert_eq!(wake.find("so um hey agent").unwrap().question, "");
    }

    #[test]
    fn the_phrase_said_again_is_not_the_question() {
        let wake = WakePhrase::new("hey agent");
        assert_eq!(wake.find("Agent, agent,").unwrap().question, "");
        assert_eq!(
            wake.find("Hey agent, hey agent, what is a closure?")
                .unwrap()
                .question,
            "what is a closure"
        );
        // "agent" inside the question stays.
        assert_eq!(
            wake.find("Hey agent, agent based models?")
                .unwrap()
                .question,
            "agent based models"
        );
    }

    #[test]
    fn the_word_agent_alone_does_not_wake() {
        let wake = WakePhrase::new("hey agent");
        assert!(wake.find("the agent said hello to the team").is_none());
        assert!(wake.find("hey agents").is_none());
        assert!(wake.find("hey everyone").is_none());
    }

    #[test]
    fn a_misheard_greeting_or_the_name_said_as_an_address_wakes() {
        let wake = WakePhrase::new("hey agent");
        for heard in [
            "Agent, how do I read a file?",
            "He agent, how do I read a file?",
            "Hi agent how do I read a file",
            "A agent, how do I read a file",
            "Play agent, how do I read a file?",
            "Pay agent, how do I read a file",
            "Here agent, how do I read a file?",
            "They agent, how do I read a file?",
        ] {
            assert_eq!(
                wake.find(heard).map(|m| m.question).as_deref(),
                Some("how do I read a file"),
                "{heard}"
            );
        }
        assert!(wake.find("Agent in a tent was reading").is_none());
        assert!(wake.find("A gent in a tent was reading").is_none());
        assert!(wake.find("agency staff, please").is_none());
        assert!(wake.find("The agent said hello to the team.").is_none());
        assert!(wake.find("They agents were all busy").is_none());
        // Another phrase keeps its own words.
        let other = WakePhrase::new("computer");
        assert!(other.find("Computer, lights").is_some());
        assert!(other.find("hey computer").is_none());
    }

    #[test]
    fn the_phrase_said_about_the_assistant_does_not_wake() {
        let wake = WakePhrase::new("hey agent");
        assert!(
            wake.find("you can say hey agent to ask it a question")
                .is_none()
        );
        assert!(
            wake.find("I said hey agent yesterday and it worked")
                .is_none()
        );
        assert_eq!(
            wake.find("Okay, um, hey agent, what is a mutex?")
                .unwrap()
                .question,
            "what is a mutex"
        );
    }
}

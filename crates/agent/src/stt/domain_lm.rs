//! A small language model, written in ARPA format, that biases PocketSphinx
//! towards what people say to a coding assistant.
//!
//! Why: with its general English model PocketSphinx hears flite's "hey agent,
//! what is a closure in rust" as "cage and one is a pleasure in reston"
//! (FACTS.md). A bigram model over a corpus of questions ("hey agent" +
//! question forms × programming topics × languages) plus everyday meeting
//! talk makes the decoder choose those words, so both the wake phrase and the
//! question's keywords come through. Words outside the corpus cannot be
//! recognised at all: this trades open vocabulary for accuracy on the words
//! that matter; Deepgram is the provider for open speech.
//!
//! Smoothing: absolute discounting (D = 0.5) with back-off to add-half
//! unigrams; good enough for a corpus this size.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write;
use std::path::Path;

const DISCOUNT: f64 = 0.5;

/// One question form in this many is counted with "hey agent" in front.
const WAKE_PREFIX_EVERY: usize = 6;

/// How many times the meeting talk is counted, to weigh it against the
/// thousands of generated questions.
const CHATTER_WEIGHT: usize = 12;

const QUESTION_FORMS: &[&str] = &[
    "what is a {t}",
    "what is the {t}",
    "what is a {t} in {l}",
    "what does a {t} do",
    "what does {t} mean in {l}",
    "how does a {t} work",
    "how does the {t} work in {l}",
    "can you explain a {t}",
    "explain the {t} in {l}",
    "tell me about the {t}",
    "why does my {t} fail",
    "what is wrong with my {t}",
    "when should i use a {t}",
    "give me an example of a {t} in {l}",
    "what is the difference between a {t} and a {u}",
    "how do i {v}",
    "how do i {v} in {l}",
    "how can i {v}",
    "what is the best way to {v}",
    "can you help me {v}",
    "is it possible to {v} in {l}",
];

const TOPICS: &[&str] = &[
    "closure",
    "function",
    "variable",
    "trait",
    "struct",
    "enum",
    "lifetime",
    "borrow checker",
    "pointer",
    "reference",
    "iterator",
    "vector",
    "hash map",
    "string",
    "array",
    "loop",
    "class",
    "object",
    "interface",
    "module",
    "package",
    "crate",
    "library",
    "macro",
    "thread",
    "mutex",
    "channel",
    "future",
    "promise",
    "callback",
    "database",
    "query",
    "index",
    "table",
    "transaction",
    "migration",
    "schema",
    "test",
    "unit test",
    "bug",
    "error",
    "exception",
    "stack",
    "queue",
    "heap",
    "tree",
    "graph",
    "list",
    "recursion",
    "algorithm",
    "binary search",
    "api",
    "endpoint",
    "request",
    "response",
    "server",
    "client",
    "socket",
    "router",
    "handler",
    "middleware",
    "cookie",
    "session",
    "token",
    "password",
    "hash",
    "commit",
    "branch",
    "merge",
    "rebase",
    "pull request",
    "repository",
    "container",
    "deployment",
    "build",
    "compiler",
    "type",
    "generic",
    "pattern",
    "match",
    "option",
    "result",
    "panic",
    "memory leak",
    "race condition",
    "deadlock",
    "cache",
    "regular expression",
    "file",
    "method",
    "constructor",
    "parameter",
    "argument",
    "return value",
    "import",
    "dependency",
    "framework",
    "web page",
    "component",
    "state",
    "event",
    "timeout",
    "lock",
    "key",
    "value",
    "slice",
    "box",
    "copy",
    "clone",
    "memory",
    "garbage collector",
    "compiler error",
    "syntax error",
    "null pointer",
    "integer",
    "float",
    "boolean",
    "tuple",
    "map",
    "set",
    "filter",
    "sort",
    "stream",
    "buffer",
    "process",
    "signal",
    "log",
    "debugger",
    "breakpoint",
    "benchmark",
    "performance",
    "design",
    "project",
    "code",
    "function call",
    "async function",
    "await",
];

const LANGUAGES: &[&str] = &[
    "rust",
    "python",
    "javascript",
    "typescript",
    "java",
    "go",
    "c",
    "sql",
    "react",
    "html",
    "css",
    "linux",
    "git",
    "docker",
];

const TASKS: &[&str] = &[
    "write a test",
    "fix this bug",
    "sort a list",
    "read a file",
    "parse json",
    "reverse a string",
    "handle errors",
    "use a closure",
    "create a struct",
    "make a request",
    "connect to the database",
    "deploy the app",
    "start the server",
    "merge a branch",
    "write a function",
    "define a trait",
    "clone a repository",
    "debug this code",
    "speed up the code",
    "install a package",
    "add a dependency",
    "run the tests",
    "print a variable",
    "convert a string to a number",
    "split a string",
    "join two tables",
    "avoid a deadlock",
    "share state between threads",
    "read the documentation",
    "write a loop",
    "call a function",
    "return an error",
    "catch an exception",
    "use a hash map",
    "open a file",
    "write to a file",
    "sort a vector",
    "learn rust",
    "name this variable",
    "fix the build",
    "make it faster",
    "find the bug",
    "undo a commit",
];

/// Meeting talk without the wake phrase, so that speech not meant for the
/// agent is not forced into "hey agent …" sentences.
const CHATTER: &[&str] = &[
    "hello everyone",
    "good morning team",
    "hi there",
    "let us get started",
    "can you hear me",
    "i can hear you",
    "let me share my screen",
    "i am working on the login page",
    "i think the test failed",
    "the build is broken again",
    "thank you",
    "thanks a lot",
    "see you later",
    "who is presenting today",
    "i will take a break",
    "that sounds good",
    "i agree with that",
    "what do you think",
    "the agent is listening",
    "ask the agent",
    "the agent said that",
    "i like the agent",
    "the agent gave a good answer",
    "my code works now",
    "it works on my machine",
    "let us review the pull request",
    "i pushed a commit",
    "one more minute",
    "the team is here",
    "good job everyone",
    "i said hello to the team",
    "are you ready",
    "let us focus",
    "the agent is wrong",
    "the agent knows the project",
    "the answer is correct",
    "the meeting is over",
    "the test passed",
    "the code is ready",
    "the team said hello",
    "the server is down",
    "they said it works",
    "back in five minutes",
    "sorry about that",
    "yes",
    "no",
    "okay",
    "right",
    "sure",
    "great",
    "nice",
];

/// Writes the ARPA text of the bigram model. `dictionary` (a CMU dict file)
/// decides which words the decoder can pronounce; others are left out.
/// `extra_phrases` add words and sentences of the linked project.
pub fn build_arpa(dictionary: &Path, extra_phrases: &[String]) -> std::io::Result<String> {
    let known = dictionary_words(dictionary)?;
    Ok(arpa_from_sentences(&corpus(extra_phrases), &known))
}

/// Every sentence of the corpus, lower case.
pub fn corpus(extra_phrases: &[String]) -> Vec<String> {
    let mut sentences = Vec::new();
    for form in QUESTION_FORMS {
        for (i, topic) in TOPICS.iter().enumerate() {
            // Pair each topic with one language and one other topic, chosen
            // by position: all of them appear without a cross product.
            let language = LANGUAGES[i % LANGUAGES.len()];
            let other = TOPICS[(i * 7 + 3) % TOPICS.len()];
            let task = TASKS[i % TASKS.len()];
            let question = form
                .replace("{t}", topic)
                .replace("{u}", other)
                .replace("{l}", language)
                .replace("{v}", task);
            // Most questions are counted without the wake phrase: the words
            // after "agent" still come from the prefixed ones, and "hey" at
            // the start of a sentence stays no likelier than meeting talk
            // (with every question prefixed, "the agent said …" was heard as
            // "hey agent said …").
            if i % WAKE_PREFIX_EVERY == 0 {
                sentences.push(format!("hey agent {question}"));
            } else {
                sentences.push(question);
            }
        }
    }
    for language in LANGUAGES {
        sentences.push(format!("hey agent what is {language}"));
    }
    sentences.push("hey agent".into());
    for _ in 0..CHATTER_WEIGHT {
        sentences.extend(CHATTER.iter().map(|s| s.to_string()));
    }
    for phrase in extra_phrases {
        let phrase = phrase.to_lowercase();
        sentences.push(format!("hey agent what is {phrase}"));
        sentences.push(phrase);
    }
    sentences
}

fn dictionary_words(path: &Path) -> std::io::Result<HashSet<String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        // Alternate pronunciations are listed as `word(2)`.
        .map(|word| word.split('(').next().unwrap_or(word).to_string())
        .collect())
}

/// The ARPA text of an absolute-discounting bigram model over `sentences`,
/// keeping only words in `known`.
pub fn arpa_from_sentences(sentences: &[String], known: &HashSet<String>) -> String {
    let mut unigrams: BTreeMap<String, u64> = BTreeMap::new();
    let mut bigrams: BTreeMap<(String, String), u64> = BTreeMap::new();
    for sentence in sentences {
        let words: Vec<String> = std::iter::once("<s>".to_string())
            .chain(
                sentence
                    .split(|c: char| !c.is_alphanumeric() && c != '\'')
                    .filter(|w| !w.is_empty())
                    .map(str::to_lowercase)
                    .filter(|w| known.contains(w)),
            )
            .chain(std::iter::once("</s>".to_string()))
            .collect();
        if words.len() <= 2 {
            continue;
        }
        for word in &words {
            *unigrams.entry(word.clone()).or_default() += 1;
        }
        for pair in words.windows(2) {
            *bigrams
                .entry((pair[0].clone(), pair[1].clone()))
                .or_default() += 1;
        }
    }

    // Unigram probabilities; <s> is never predicted.
    let predicted: u64 = unigrams
        .iter()
        .filter(|(w, _)| *w != "<s>")
        .map(|(_, c)| c)
        .sum();
    let vocabulary = unigrams.len() as f64 - 1.0;
    let unigram_p = |word: &str| -> f64 {
        (unigrams[word] as f64 + 0.5) / (predicted as f64 + 0.5 * vocabulary)
    };

    // Per history: how often it is followed by anything, and by what.
    let mut history_total: BTreeMap<&str, u64> = BTreeMap::new();
    let mut followers: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for ((a, b), count) in &bigrams {
        *history_total.entry(a).or_default() += count;
        followers.entry(a).or_default().insert(b);
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\\data\\\nngram 1={}\nngram 2={}\n\n\\1-grams:",
        unigrams.len(),
        bigrams.len()
    );
    for word in unigrams.keys() {
        let log_p = if word == "<s>" {
            -99.0
        } else {
            unigram_p(word).log10()
        };
        match (
            history_total.get(word.as_str()),
            followers.get(word.as_str()),
        ) {
            (Some(&total), Some(next)) => {
                let left = DISCOUNT * next.len() as f64 / total as f64;
                let covered: f64 = next.iter().map(|w| unigram_p(w)).sum();
                let backoff = left / (1.0 - covered).max(1e-9);
                let _ = writeln!(out, "{log_p:.4} {word} {:.4}", backoff.log10());
            }
            _ => {
                let _ = writeln!(out, "{log_p:.4} {word}");
            }
        }
    }
    let _ = writeln!(out, "\n\\2-grams:");
    for ((a, b), count) in &bigrams {
        let p = (*count as f64 - DISCOUNT) / history_total[a.as_str()] as f64;
        let _ = writeln!(out, "{:.4} {a} {b}", p.log10());
    }
    let _ = writeln!(out, "\n\\end\\");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigram_probabilities_from_one_history_sum_to_one() {
        let known: HashSet<String> = ["hey", "agent", "what", "is", "rust"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let sentences = vec![
            "hey agent what is rust".to_string(),
            "hey agent".to_string(),
            "what is rust".to_string(),
        ];
        let arpa = arpa_from_sentences(&sentences, &known);
        assert!(arpa.starts_with("\\data\\\nngram 1=7\n"));
        // "n-gram words" → (log10 p, log10 back-off) from the ARPA lines.
        let entries: std::collections::HashMap<String, (f64, f64)> = arpa
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let p: f64 = fields.first()?.parse().ok()?;
                // A unigram line may end with its back-off weight; a bigram
                // line ends with a word.
                let (words, backoff) = match fields.last()?.parse::<f64>() {
                    Ok(backoff) if fields.len() == 3 => (fields[1].to_string(), backoff),
                    _ => (fields[1..].join(" "), 0.0),
                };
                Some((words, (p, backoff)))
            })
            .collect();
        let p = |words: &str| 10f64.powf(entries[words].0);
        // After "agent": "what" and "</s>" seen once each, the rest backs
        // off to unigrams; the whole distribution sums to one.
        let seen = p("agent what") + p("agent </s>");
        let backoff = 10f64.powf(entries["agent"].1);
        let unseen: f64 = ["hey", "agent", "is", "rust"].iter().map(|w| p(w)).sum();
        assert!(
            (seen + backoff * unseen - 1.0).abs() < 1e-3,
            "{seen} + {backoff} × {unseen}"
        );
        assert!(arpa.trim_end().ends_with("\\end\\"));
    }

    #[test]
    fn every_question_starts_with_the_wake_phrase_or_stands_alone() {
        let sentences = corpus(&["lock in".into()]);
        assert!(
            sentences.contains(&"hey agent what is a closure in rust".to_string())
                || sentences
                    .iter()
                    .any(|s| s.starts_with("hey agent") && s.contains("closure"))
        );
        assert!(sentences.contains(&"hey agent what is lock in".to_string()));
    }
}

//! Questions typed in the chat: a message starting with "@agent" or with the
//! wake phrase ("hey agent") asks the assistant; the rest is the question.

/// The question in a chat message addressed to the assistant, or `None` if
/// the message is not for it. Matching is case-insensitive and on whole
/// words: "@agents" and "hey agentic" ask nothing; "the agent said…" neither.
pub fn question_in(body: &str, wake_phrase: &str) -> Option<String> {
    let trimmed = body.trim_start();
    let lower = trimmed.to_lowercase();
    let wake = wake_phrase.trim().to_lowercase();
    let prefixes = ["@agent", wake.as_str()];
    for prefix in prefixes {
        if prefix.is_empty() || !lower.starts_with(prefix) {
            continue;
        }
        // Lowercasing can change byte lengths outside ASCII; the prefixes
        // are ASCII, so the same byte offset holds in the original when the
        // original starts with ASCII there too.
        let Some(rest) = trimmed.get(prefix.len()..) else {
            continue;
        };
        if rest
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let question = rest
            .trim_start_matches(|c: char| c.is_whitespace() || ",:;.!-–—".contains(c))
            .trim_end();
        return if question.is_empty() {
            None
        } else {
            Some(question.to_string())
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::question_in;

    #[test]
    fn both_prefixes_ask() {
        assert_eq!(
            question_in("@agent what is a closure?", "hey agent").as_deref(),
            Some("what is a closure?")
        );
        assert_eq!(
            question_in("Hey Agent, what is a closure in Rust?", "hey agent").as_deref(),
            Some("what is a closure in Rust?")
        );
        assert_eq!(
            question_in("  @Agent: explain lifetimes", "hey agent").as_deref(),
            Some("explain lifetimes")
        );
    }

    #[test]
    fn other_messages_ask_nothing() {
        for body in [
            "the agent said hello to the team",
            "@agents assemble",
            "hey agentic workflows",
            "hello @agent what",
            "@agent",
            "hey agent!",
            "",
        ] {
            assert_eq!(question_in(body, "hey agent"), None, "{body:?}");
        }
    }
}

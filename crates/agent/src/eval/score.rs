//! Scoring a transcript against what was said: the normalisation both
//! sides go through, and word error rate.

/// Small numbers as digits, so "five" and "5" are the same word.
const NUMBERS: &[(&str, &str)] = &[
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
    ("fifteen", "15"),
    ("twenty", "20"),
    ("thirty", "30"),
    ("fifty", "50"),
];

/// Lowercase words without punctuation: hyphens, slashes and apostrophes
/// split or vanish as a reader would ignore them ("25-minute" → "25
/// minute", "async/await" → "async await", "let's" → "lets"), number words
/// become digits, and "twenty five" becomes "25".
pub fn normalize(text: &str) -> Vec<String> {
    let cleaned: String = text
        .chars()
        .filter(|c| *c != '\'' && *c != '’')
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    let mut words: Vec<String> = Vec::new();
    for word in cleaned.split_whitespace() {
        let word = NUMBERS
            .iter()
            .find(|(name, _)| *name == word)
            .map_or(word, |(_, digits)| digits);
        // "20 5" (from "twenty five") is 25.
        if let (Some(last), Ok(unit)) = (words.last_mut(), word.parse::<u32>())
            && unit < 10
            && let Ok(tens) = last.parse::<u32>()
            && tens >= 20
            && tens % 10 == 0
        {
            *last = (tens + unit).to_string();
            continue;
        }
        words.push(word.to_string());
    }
    words
}

/// Word-level edit distance (substitutions, insertions, deletions).
pub fn word_errors(reference: &[String], heard: &[String]) -> usize {
    let mut previous: Vec<usize> = (0..=heard.len()).collect();
    for (i, said) in reference.iter().enumerate() {
        let mut current = vec![i + 1; heard.len() + 1];
        for (j, got) in heard.iter().enumerate() {
            let substitution = previous[j] + usize::from(said != got);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[heard.len()]
}

/// Whether the topic word was heard. A compound topic ("linked") counts
/// when heard glued to its neighbour ("linkedlist") too.
pub fn topic_heard(topic: &str, heard: &[String]) -> bool {
    heard.iter().any(|word| word.contains(topic)) || heard.concat().contains(topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        normalize(text)
    }

    #[test]
    fn normalisation_ignores_case_punctuation_and_number_spelling() {
        assert_eq!(
            words("Start a 25-minute timer."),
            words("start a twenty five minute timer")
        );
        assert_eq!(words("Add five minutes!"), ["add", "5", "minutes"]);
        assert_eq!(words("What's async/await?"), ["whats", "async", "await"]);
        assert_eq!(words("Hey, Agent!"), ["hey", "agent"]);
    }

    #[test]
    fn word_errors_count_substitutions_insertions_and_deletions() {
        let said = words("what is a closure in rust");
        assert_eq!(word_errors(&said, &said), 0);
        assert_eq!(word_errors(&said, &words("what is a clojure in rust")), 1);
        assert_eq!(word_errors(&said, &words("what is closure in rust")), 1);
        assert_eq!(
            word_errors(&said, &words("so what is a closure in rust")),
            1
        );
        assert_eq!(word_errors(&said, &[]), said.len());
        assert_eq!(word_errors(&[], &said), said.len());
    }

    #[test]
    fn the_topic_counts_only_when_heard() {
        assert!(topic_heard(
            "kubernetes",
            &words("Explain Kubernetes pods.")
        ));
        assert!(topic_heard("linked", &words("reverse a linkedlist")));
        assert!(!topic_heard(
            "kubernetes",
            &words("explain cuban eighties pods")
        ));
    }
}

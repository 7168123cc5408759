//! Cuts the answer's streamed text into pieces to speak, so the first
//! sentence is synthesised and heard while the rest is still generated.

/// Accumulates streamed text and hands out whole sentences.
#[derive(Debug, Default)]
pub struct SentenceSplitter {
    pending: String,
    /// Sentences handed out so far; the first may be cut early at a comma.
    emitted: usize,
}

/// A first piece longer than this is cut at a comma rather than waiting for
/// the full stop: it starts the voice sooner.
const FIRST_PIECE_COMMA_CUT: usize = 60;

impl SentenceSplitter {
    /// Adds streamed text; returns the sentences it completed.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.pending.push_str(text);
        let mut out = Vec::new();
        while let Some(end) = self.sentence_end() {
            let sentence: String = self.pending.drain(..end).collect();
            if let Some(spoken) = speakable(&sentence) {
                out.push(spoken);
                self.emitted += 1;
            }
        }
        out
    }

    /// The rest, at the end of the stream.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        speakable(&rest)
    }

    /// Byte index just past the first sentence end in `pending`.
    fn sentence_end(&self) -> Option<usize> {
        let text = &self.pending;
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let next = chars.peek().map(|(_, n)| *n);
            let boundary = match c {
                '\n' => true,
                '.' | '!' | '?' | ';' => next.is_some_and(char::is_whitespace),
                ',' => {
                    self.emitted == 0
                        && i >= FIRST_PIECE_COMMA_CUT
                        && next.is_some_and(char::is_whitespace)
                }
                _ => false,
            };
            // "e.g. " and "1. " are not sentence ends worth a pause.
            if boundary && (c != '.' || !ends_with_abbreviation(&text[..i])) {
                return Some(i + c.len_utf8());
            }
        }
        None
    }
}

fn ends_with_abbreviation(text: &str) -> bool {
    let last = text
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("");
    matches!(
        last.to_ascii_lowercase().as_str(),
        "e.g" | "i.e" | "etc" | "vs" | "mr" | "mrs" | "dr"
    ) || (!last.is_empty() && last.chars().all(|c| c.is_ascii_digit()))
}

/// What a voice should say of `text`: markdown marks dropped, spaces
/// collapsed; `None` if nothing is left to say.
pub fn speakable(text: &str) -> Option<String> {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if matches!(c, '*' | '#' | '`' | '_' | '|' | '>' | '<') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let joined = words.join(" ");
    joined.chars().any(char::is_alphanumeric).then_some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_come_out_as_soon_as_they_end() {
        let mut splitter = SentenceSplitter::default();
        assert!(splitter.push("A closure is a func").is_empty());
        assert_eq!(
            splitter.push("tion that captures. It can"),
            ["A closure is a function that captures."]
        );
        assert!(splitter.push(" move, e.g. into threads").is_empty());
        assert_eq!(
            splitter.finish().as_deref(),
            Some("It can move, e.g. into threads")
        );
    }

    #[test]
    fn a_long_first_sentence_is_cut_at_a_comma() {
        let mut splitter = SentenceSplitter::default();
        let out = splitter.push("In Rust a closure is an anonymous function that can capture its environment, which means it can use variables, and more. ");
        assert_eq!(out.len(), 2);
        assert!(out[0].ends_with("environment,"));
        assert_eq!(out[1], "which means it can use variables, and more.");
    }

    #[test]
    fn markdown_is_not_read_out() {
        assert_eq!(
            speakable("**Closures** use `move`").as_deref(),
            Some("Closures use move")
        );
        assert_eq!(speakable(" ** "), None);
    }
}

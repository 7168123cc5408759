//! Cuts the answer's streamed text into pieces to speak, so the first
//! sentence is synthesised and heard while the rest is still generated.

/// Accumulates streamed text and hands out whole sentences.
#[derive(Debug, Default)]
pub struct SentenceSplitter {
    pending: String,
    /// Sentences handed out so far; the first may be cut early at a comma.
    emitted: usize,
}

/// The first piece is cut at a comma once it has this many words, rather
/// than waiting for the full stop: it starts the voice sooner.
const FIRST_PIECE_COMMA_WORDS: usize = 3;
/// …and after this many words with no comma, at the next space. The model
/// writes about ten words a second and flite speaks under three, so the
/// rest of the sentence is ready long before these are spoken.
const FIRST_PIECE_WORDS: usize = 8;

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
        let first = self.emitted == 0;
        let mut words = 0;
        let mut in_word = false;
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let next = chars.peek().map(|(_, n)| *n);
            if !c.is_whitespace() && !in_word {
                words += 1;
            }
            in_word = !c.is_whitespace();
            let boundary = match c {
                '\n' => true,
                '.' | '!' | '?' | ';' => next.is_some_and(char::is_whitespace),
                ',' => {
                    first
                        && words >= FIRST_PIECE_COMMA_WORDS
                        && next.is_some_and(char::is_whitespace)
                }
                // A space after the first piece's words (the stream goes on).
                _ if c.is_whitespace() => {
                    first && words >= FIRST_PIECE_WORDS && next.is_some_and(|n| !n.is_whitespace())
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
    fn the_first_piece_is_cut_at_a_comma_or_after_eight_words() {
        let mut splitter = SentenceSplitter::default();
        let out = splitter.push("A closure, in short, is an anonymous function that can capture its environment, which means more. ");
        assert_eq!(
            out,
            [
                "A closure, in short,",
                "is an anonymous function that can capture its environment, which means more."
            ]
        );

        // No comma: the voice starts after eight words, not at the full stop.
        let mut splitter = SentenceSplitter::default();
        assert!(splitter.push("In Rust a closure is an anon").is_empty());
        assert_eq!(
            splitter.push("ymous function that captures its scope. It"),
            [
                "In Rust a closure is an anonymous function",
                "that captures its scope."
            ]
        );
        assert_eq!(splitter.finish().as_deref(), Some("It"));

        // Two words before a comma are too few to say on their own.
        let mut splitter = SentenceSplitter::default();
        assert_eq!(
            splitter.push("In Rust, closures capture. "),
            ["In Rust, closures capture."]
        );
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

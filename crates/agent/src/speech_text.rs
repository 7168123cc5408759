//! What of the answer's streamed text is spoken, and where the answer ends.
//!
//! [`SpeechText`] cuts the text into pieces to speak as it streams, so the
//! first is synthesised and heard while the rest is generated, and knows the
//! text an answer may end with:
//!
//! - **An answer ends at a sentence boundary.** Text after the last
//!   complete sentence (or line, or code block) when the stream ends, be it
//!   the token budget, a time limit, a failure or the model that stopped it,
//!   is neither spoken nor posted. When nothing is complete, all of it is
//!   kept and ended with "…" (a code block is closed).
//! - **Code is posted, not read out.** Text inside a fenced block
//!   (```` ``` ````) is never spoken; once the block is closed the voice says
//!   [`CODE_NOTICE`] in its place. The posted text keeps the block as
//!   written. Inline `` `code` `` is spoken as its words, without the marks.
//!
//! A piece is spoken only once the text up to its end is sure to be kept:
//! a piece that ends a sentence releases itself and the pieces held before
//! it; a piece cut at a `;`, or a line that introduces something (`:`), waits
//! for the next complete one. The first piece alone goes early, cut at a
//! comma or after a few words to start the voice sooner: it begins whatever
//! is kept, so it can never be taken back.

/// What the voice says for a fenced code block.
pub const CODE_NOTICE: &str = "I've put the code in the chat.";

/// A code block's fence.
const FENCE: &str = "```";

/// The first piece is cut at a comma once it has this many words, rather
/// than waiting for the full stop: it starts the voice sooner.
const FIRST_PIECE_COMMA_WORDS: usize = 3;
/// …and after this many words with no comma, at the next space. The model
/// writes about ten words a second and flite speaks under three, so the
/// rest of the sentence is ready long before these are spoken.
const FIRST_PIECE_WORDS: usize = 8;

/// Streamed answer text in, pieces to speak out.
#[derive(Debug, Default)]
pub struct SpeechText {
    /// Everything pushed, as written.
    text: String,
    /// `text[..cut]` has been cut into pieces (or skipped, inside code).
    cut: usize,
    /// `text[..complete]` ends at a sentence, line or code block's end:
    /// where the answer may end.
    complete: usize,
    /// Inside a fenced code block (its opening fence is before `cut`).
    in_code: bool,
    /// Pieces cut but not yet spoken: they wait for a complete one.
    held: Vec<String>,
    /// Pieces cut so far (the first may be cut early).
    pieces: usize,
}

/// The end of the stream: the answer's text and the last pieces to speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// The answer as it stands, untrimmed: the text as written up to its last
    /// complete sentence or block, or all of it ended cleanly.
    pub text: String,
    /// Pieces still to speak, in order.
    pub to_speak: Vec<String>,
}

/// Where a piece of prose ends, and whether the text up to there may end
/// the answer.
struct Boundary {
    end: usize,
    complete: bool,
}

impl SpeechText {
    /// Adds streamed text; returns the pieces now ready to speak.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.text.push_str(text);
        self.cut_pieces(false)
    }

    /// The stream is over: where the answer ends, and what is left to say.
    pub fn finish(mut self) -> Ending {
        let mut to_speak = self.cut_pieces(true);
        let rest = &self.text[self.complete..];
        let nothing_complete = self.text[..self.complete].trim().is_empty();
        if rest.trim().is_empty() || !nothing_complete {
            // The incomplete tail and the pieces held for it go.
            self.text.truncate(self.complete);
            return Ending {
                text: self.text,
                to_speak,
            };
        }
        // Nothing complete: keep it all, and end it cleanly.
        to_speak.append(&mut self.held);
        let mut text = self.text.trim_end().to_owned();
        if self.in_code {
            text.push('\n');
            text.push_str(FENCE);
            to_speak.push(CODE_NOTICE.to_owned());
        } else {
            let cut_short = text.trim_end_matches(|c: char| !c.is_alphanumeric()).len();
            let unspoken = speakable(&text[self.cut.min(cut_short)..cut_short]);
            text.truncate(cut_short);
            text.push('…');
            // Said as a full stop: a voice may not know "…".
            to_speak.extend(unspoken.map(|words| format!("{words}.")));
        }
        Ending { text, to_speak }
    }

    /// Cuts what can be cut of the text not yet cut; returns the pieces
    /// released for speech. At the end of the stream, a sentence may end at
    /// the very end of the text.
    fn cut_pieces(&mut self, at_end: bool) -> Vec<String> {
        let mut released = Vec::new();
        loop {
            let pending = &self.text[self.cut..];
            if self.in_code {
                let Some(fence) = pending.find(FENCE) else {
                    break;
                };
                self.in_code = false;
                self.cut += fence + FENCE.len();
                self.complete = self.cut;
                released.append(&mut self.held);
                released.push(CODE_NOTICE.to_owned());
                continue;
            }
            // A trailing "`" or "``" may be the start of a fence: it waits.
            let fence = pending.find(FENCE);
            let prose_end = fence.unwrap_or(if at_end {
                pending.len()
            } else {
                pending.trim_end_matches('`').len()
            });
            let first = self.pieces == 0;
            if let Some(boundary) = sentence_end(&pending[..prose_end], first, at_end) {
                let piece = pending[..boundary.end].to_owned();
                self.cut += boundary.end;
                self.add_piece(&piece, boundary.complete, &mut released);
                continue;
            }
            let Some(fence) = fence else {
                break;
            };
            // The prose before a code block is a piece of its own.
            let piece = pending[..fence].to_owned();
            self.cut += fence + FENCE.len();
            self.in_code = true;
            let complete = ends_sentence(&piece);
            self.add_piece(&piece, complete, &mut released);
        }
        released
    }

    /// A piece has been cut off before `self.cut`: holds it, or releases it
    /// with the ones held before it.
    fn add_piece(&mut self, piece: &str, complete: bool, released: &mut Vec<String>) {
        let first = self.pieces == 0;
        if let Some(words) = speakable(piece) {
            self.pieces += 1;
            self.held.push(words);
        }
        if complete {
            self.complete = self.cut;
        }
        if complete || first {
            released.append(&mut self.held);
        }
    }
}

/// The first place in `text` (prose, no fence) where a piece ends.
fn sentence_end(text: &str, first: bool, at_end: bool) -> Option<Boundary> {
    let mut words = 0;
    let mut in_word = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|(_, n)| *n);
        let spaced = next.map_or(at_end, char::is_whitespace);
        if !c.is_whitespace() && !in_word {
            words += 1;
        }
        in_word = !c.is_whitespace();
        let end = i + c.len_utf8();
        let boundary = match c {
            // A line that introduces what follows (`Here is how:`) is not
            // complete without it.
            '\n' => Some(!text[..i].trim_end().ends_with(':')),
            // "e.g. " and "1. " are not sentence ends worth a pause.
            '.' if spaced && !ends_with_abbreviation(&text[..i]) => Some(true),
            '!' | '?' if spaced => Some(true),
            ';' if spaced => Some(false),
            ',' if first && words >= FIRST_PIECE_COMMA_WORDS && spaced => Some(false),
            // A space after the first piece's words (the stream goes on).
            _ if c.is_whitespace() => {
                (first && words >= FIRST_PIECE_WORDS && next.is_some_and(|n| !n.is_whitespace()))
                    .then_some(false)
            }
            _ => None,
        };
        if let Some(complete) = boundary {
            return Some(Boundary { end, complete });
        }
    }
    None
}

/// Whether `piece` ends a sentence (the prose before a code block).
fn ends_sentence(piece: &str) -> bool {
    let piece = piece.trim_end();
    piece.ends_with(['!', '?'])
        || piece
            .strip_suffix('.')
            .is_some_and(|before| !ends_with_abbreviation(before))
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

/// What a voice should say of `text`: markdown marks dropped (inline code's
/// backticks too, so its words are said), spaces collapsed; `None` if
/// nothing is left to say.
pub fn speakable(text: &str) -> Option<String> {
    let mut spoken = String::new();
    for c in text.chars() {
        let c = if matches!(c, '*' | '#' | '`' | '_' | '|' | '>' | '<') {
            ' '
        } else {
            c
        };
        if c.is_whitespace() {
            if !spoken.is_empty() && !spoken.ends_with(' ') {
                spoken.push(' ');
            }
            continue;
        }
        // A mark dropped before punctuation leaves no space before it.
        if matches!(c, ',' | '.' | ';' | ':' | '!' | '?') && spoken.ends_with(' ') {
            spoken.pop();
        }
        spoken.push(c);
    }
    let spoken = spoken.trim_end().to_owned();
    spoken.chars().any(char::is_alphanumeric).then_some(spoken)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `pieces` one by one; returns what each released, then the
    /// ending.
    fn stream(pieces: &[&str]) -> (Vec<Vec<String>>, Ending) {
        let mut speech = SpeechText::default();
        let released = pieces.iter().map(|piece| speech.push(piece)).collect();
        (released, speech.finish())
    }

    #[test]
    fn sentences_come_out_as_soon_as_they_end() {
        let (released, ending) = stream(&[
            "A closure is a func",
            "tion that captures. It can",
            " move, e.g. into threads.",
        ]);
        assert_eq!(
            released,
            [
                vec![],
                vec!["A closure is a function that captures."],
                vec![]
            ]
        );
        assert_eq!(ending.to_speak, ["It can move, e.g. into threads."]);
        assert_eq!(
            ending.text,
            "A closure is a function that captures. It can move, e.g. into threads."
        );
    }

    #[test]
    fn the_first_piece_is_cut_at_a_comma_or_after_eight_words() {
        let mut speech = SpeechText::default();
        let out = speech.push("A closure, in short, is an anonymous function that can capture its environment, which means more. ");
        assert_eq!(
            out,
            [
                "A closure, in short,",
                "is an anonymous function that can capture its environment, which means more."
            ]
        );

        // No comma: the voice starts after eight words, not at the full stop.
        let mut speech = SpeechText::default();
        assert!(speech.push("In Rust a closure is an anon").is_empty());
        assert_eq!(
            speech.push("ymous function that captures its scope. It"),
            [
                "In Rust a closure is an anonymous function",
                "that captures its scope."
            ]
        );

        // Two words before a comma are too few to say on their own.
        let mut speech = SpeechText::default();
        assert_eq!(
            speech.push("In Rust, closures capture. "),
            ["In Rust, closures capture."]
        );
    }

    #[test]
    fn an_answer_cut_mid_sentence_ends_at_its_last_whole_sentence() {
        // The budget ran out in the third sentence.
        let (released, ending) = stream(&[
            "Closures capture their scope. ",
            "They are more flexible than functions; ",
            "more flexible than traditional lambdas in",
        ]);
        assert_eq!(
            released,
            [vec!["Closures capture their scope."], vec![], vec![]],
            "the piece cut at `;` waits for its sentence, which never ends"
        );
        assert_eq!(ending.text, "Closures capture their scope.");
        assert!(ending.to_speak.is_empty());
    }

    #[test]
    fn an_answer_with_nothing_complete_is_kept_and_ended_cleanly() {
        let (released, ending) = stream(&["In Rust a closure is an anonymous function that, "]);
        assert_eq!(
            released,
            [vec!["In Rust a closure is an anonymous function"]]
        );
        assert_eq!(
            ending.text,
            "In Rust a closure is an anonymous function that…"
        );
        assert_eq!(ending.to_speak, ["that."]);
    }

    #[test]
    fn a_code_block_is_posted_whole_and_never_spoken() {
        let (released, ending) = stream(&[
            "Use a loop. Here is how:\n``",
            "`rust\nfor i in 0..3 {\n    println!(\"{i}\");\n}\n`",
            "``\nIt prints three lines. And",
        ]);
        assert_eq!(
            released,
            [
                vec!["Use a loop."],
                vec![],
                vec!["Here is how:", CODE_NOTICE, "It prints three lines."]
            ]
        );
        assert_eq!(
            ending.text,
            "Use a loop. Here is how:\n```rust\nfor i in 0..3 {\n    println!(\"{i}\");\n}\n```\nIt prints three lines."
        );
        assert!(ending.to_speak.is_empty());
    }

    #[test]
    fn a_code_block_cut_short_is_dropped_with_its_introduction() {
        let (released, ending) = stream(&["Use a loop. Here is how:\n```rust\nfor i in"]);
        assert_eq!(released, [vec!["Use a loop."]]);
        assert_eq!(ending.text, "Use a loop.");
        assert!(ending.to_speak.is_empty());

        // Only code, cut short: kept and closed, and announced.
        let (_, ending) = stream(&["```python\nprint(1)"]);
        assert_eq!(ending.text, "```python\nprint(1)\n```");
        assert_eq!(ending.to_speak, [CODE_NOTICE]);
    }

    #[test]
    fn inline_code_is_spoken_as_its_words() {
        let (released, _) = stream(&["Call `iter()` on a `Vec<u8>`, then `collect`. "]);
        assert_eq!(
            released,
            [vec!["Call iter() on a Vec u8,", "then collect."]]
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

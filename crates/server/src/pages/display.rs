//! Times, lengths and sizes as people read them.
//!
//! The server does not know the reader's time zone, so a time is rendered as
//! `<time datetime="…">` with a UTC text that the page's script rewrites in
//! the reader's own zone and language.

use chrono::{DateTime, Utc};

/// A moment, for a `<time>` element.
pub struct When {
    /// RFC 3339, for the `datetime` attribute and the script.
    pub iso: String,
    /// Readable without the script: "Tue 24 Nov 2026, 07:46 UTC".
    pub text: String,
}

pub fn when(at: DateTime<Utc>) -> When {
    When {
        iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        text: at.format("%a %-d %b %Y, %H:%M UTC").to_string(),
    }
}

/// "45 s", "12 min", "1 h 05 min".
pub fn duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        _ => format!("{} h {:02} min", seconds / 3600, seconds % 3600 / 60),
    }
}

/// A count of whole minutes: "0 min", "25 min", "1 h 05 min".
pub fn minutes(minutes: i64) -> String {
    if minutes <= 0 {
        return "0 min".to_owned();
    }
    duration(minutes * 60)
}

/// "820 KB", "12.4 MB".
pub fn file_size(bytes: i64) -> String {
    let bytes = bytes.max(0) as f64;
    if bytes < 1024.0 * 1024.0 {
        format!("{:.0} KB", (bytes / 1024.0).ceil())
    } else if bytes < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MB", bytes / (1024.0 * 1024.0))
    } else {
        format!("{:.2} GB", bytes / (1024.0 * 1024.0 * 1024.0))
    }
}

/// "1 person", "3 people".
pub fn people(count: i64) -> String {
    if count == 1 {
        "1 person".to_owned()
    } else {
        format!("{count} people")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn times_read_in_utc_until_the_script_localises_them() {
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 7, 46, 5).unwrap();
        let shown = when(at);
        assert_eq!(shown.iso, "2026-11-24T07:46:05Z");
        assert_eq!(shown.text, "Tue 24 Nov 2026, 07:46 UTC");
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(12 * 60 + 3), "12 min");
        assert_eq!(duration(3600 + 5 * 60), "1 h 05 min");
        assert_eq!(file_size(1000), "1 KB");
        assert_eq!(file_size(13_000_000), "12.4 MB");
        assert_eq!(people(1), "1 person");
        assert_eq!(people(0), "0 people");
    }
}

/// One piece of an assistant's answer as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerPart {
    Text(String),
    /// A fenced code block (```lang … ```), shown as code.
    Code {
        language: String,
        code: String,
    },
}

/// An answer cut into prose and fenced code blocks; an unclosed fence (an
/// answer cut short) still shows what follows it as code. The same rule as
/// the room script's `answerNodes`.
pub fn answer_parts(text: &str) -> Vec<AnswerPart> {
    let mut parts = Vec::new();
    let mut in_code = false;
    let mut language = String::new();
    let mut block = String::new();
    let mut flush = |in_code: bool, language: &str, block: &mut String| {
        let taken = std::mem::take(block);
        if in_code {
            parts.push(AnswerPart::Code {
                language: language.to_owned(),
                code: taken.trim_end_matches('\n').to_owned(),
            });
        } else if !taken.trim().is_empty() {
            parts.push(AnswerPart::Text(taken.trim().to_owned()));
        }
    };
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.trim_start().strip_prefix("```") {
            flush(in_code, &language, &mut block);
            in_code = !in_code;
            language = if in_code {
                rest.trim().to_owned()
            } else {
                String::new()
            };
            continue;
        }
        block.push_str(line);
    }
    flush(in_code, &language, &mut block);
    parts
}

#[cfg(test)]
mod answer_tests {
    use super::*;

    #[test]
    fn fenced_code_is_cut_out_of_the_prose() {
        let parts = answer_parts(
            "A closure captures its scope.\n```rust\nlet add = |x| x + 1;\n```\nThen call it.",
        );
        assert_eq!(
            parts,
            [
                AnswerPart::Text("A closure captures its scope.".into()),
                AnswerPart::Code {
                    language: "rust".into(),
                    code: "let add = |x| x + 1;".into()
                },
                AnswerPart::Text("Then call it.".into()),
            ]
        );
        assert_eq!(answer_parts("plain"), [AnswerPart::Text("plain".into())]);
        assert_eq!(
            answer_parts("Here:\n```\nprint(1)"),
            [
                AnswerPart::Text("Here:".into()),
                AnswerPart::Code {
                    language: String::new(),
                    code: "print(1)".into()
                },
            ]
        );
    }
}

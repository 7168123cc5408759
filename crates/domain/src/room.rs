//! What people ask the assistant about the room itself — the timer, goals,
//! who is here, the project — read from the question's words. These are
//! answered from the session's own data by the server, acting as the asker
//! (a timer change only by the host, a goal change only by its owner); the
//! language model never guesses them.
//!
//! The words come from speech-to-text as often as from a keyboard, so the
//! reading is forgiving: case, punctuation, "what's" and "what is", numbers
//! in words or digits ("twenty five", "25", "twenty-five") all read alike.
//! A question that is not one of these goes to the language model as before.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A question about the room, as [`RoomCommand::read`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomCommand {
    /// "start a 25 minute timer", "start the timer".
    StartTimer {
        /// The minutes named, if any (1–180 is the timer's rule; others are
        /// passed on and refused there).
        minutes: Option<i64>,
    },
    /// "pause the timer".
    PauseTimer,
    /// "resume the timer".
    ResumeTimer,
    /// "skip this block", "skip the break".
    SkipBlock,
    /// "add five minutes", "five more minutes".
    AddFive,
    /// "how much time is left", "how long is left".
    TimeLeft,
    /// "what is my goal".
    MyGoal,
    /// "mark my goal done".
    MarkGoalDone,
    /// "what is everyone working on".
    EveryonesGoals,
    /// "who is here".
    WhoIsHere,
    /// "what is this project about".
    AboutProject,
}

impl RoomCommand {
    /// The room command `question` asks for, if it is one.
    pub fn read(question: &str) -> Option<Self> {
        let words = words_of(question);
        let text = format!(" {} ", words.join(" "));
        let has = |phrase: &str| text.contains(&format!(" {phrase} "));
        let any = |phrases: &[&str]| phrases.iter().any(|phrase| has(phrase));

        // The timer, acted on. "timer" or "clock" must be named for a start,
        // pause or resume, so "start a new project" stays a question.
        let timer = any(&["timer", "clock", "pomodoro", "countdown"]);
        // "star" is "start" as a transcriber hears it run into "a" ("Star to
        // 10 minute timer"): with the timer named it can mean nothing else.
        if timer && any(&["start", "star", "set", "begin", "run", "restart"]) {
            return Some(Self::StartTimer {
                minutes: minutes_in(&words),
            });
        }
        if timer && any(&["pause", "stop", "hold"]) {
            return Some(Self::PauseTimer);
        }
        if timer && any(&["resume", "continue", "unpause"]) {
            return Some(Self::ResumeTimer);
        }
        if has("skip")
            && any(&[
                "block", "break", "this one", "the rest", "timer", "pomodoro",
            ])
        {
            return Some(Self::SkipBlock);
        }
        if any(&[
            "add 5",
            "add another 5",
            "5 more minutes",
            "5 minutes more",
            "another 5 minutes",
            "extra 5 minutes",
            "extend the timer",
            "5 extra minutes",
        ]) {
            return Some(Self::AddFive);
        }
        // The timer, read.
        if any(&[
            "how much time",
            "how long is left",
            "how long left",
            "how long do we have",
            "how long until",
            "how many minutes",
            "time left",
            "time is left",
            "time remaining",
            "time remains",
            "minutes left",
            "when does the break",
            "when is the break",
        ]) {
            return Some(Self::TimeLeft);
        }
        // Goals.
        let goal = any(&["goal", "goals"]);
        if (goal
            && any(&["mark", "set", "check", "tick"])
            && any(&["done", "complete", "completed", "finished"]))
            || any(&[
                "my goal is done",
                "i finished my goal",
                "i completed my goal",
                "i am done with my goal",
                "my goal is complete",
            ])
        {
            return Some(Self::MarkGoalDone);
        }
        if any(&[
            "everyone working on",
            "everybody working on",
            "everyone doing",
            "everybody doing",
            "people working on",
            "others working on",
            "everyone s goals",
            "everyone s goal",
            "everybody s goals",
            "the goals",
            "all the goals",
            "what are the others",
        ]) {
            return Some(Self::EveryonesGoals);
        }
        if goal && any(&["my goal", "what was my", "what is my", "remind me"]) {
            return Some(Self::MyGoal);
        }
        // The room.
        if any(&[
            "who is here",
            "who is in",
            "who else is",
            "who s here",
            "who s in",
            "who are we",
            "who joined",
            "who is on",
            "who is with",
            "how many people",
        ]) {
            return Some(Self::WhoIsHere);
        }
        if any(&["project"])
            && any(&[
                "what is this",
                "what is the",
                "about",
                "tell me",
                "which project",
                "what project",
                "describe",
            ])
        {
            return Some(Self::AboutProject);
        }
        None
    }
}

/// Lower-case words of `text`, its punctuation gone, contractions opened
/// ("what's" → "what is"), numbers in words turned to digits.
pub(crate) fn words_of(text: &str) -> Vec<String> {
    let cleaned: String = text
        .to_lowercase()
        .replace(['’', '‘'], "'")
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let mut words = Vec::new();
    for word in cleaned.split_whitespace() {
        match word {
            "what's" | "whats" => words.extend(["what", "is"]),
            "who's" | "whos" => words.extend(["who", "is"]),
            "how's" => words.extend(["how", "is"]),
            "there's" => words.extend(["there", "is"]),
            "i'm" | "im" => words.extend(["i", "am"]),
            "let's" | "lets" => words.extend(["let", "us"]),
            "everyone's" => words.extend(["everyone", "s"]),
            "everybody's" => words.extend(["everybody", "s"]),
            other => words.push(other.trim_matches('\'')),
        }
    }
    join_numbers(words.into_iter().filter(|w| !w.is_empty()))
}

fn unit(word: &str) -> Option<i64> {
    let value = match word {
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        _ => return None,
    };
    Some(value)
}

fn teen_or_ten(word: &str) -> Option<i64> {
    let value = match word {
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        _ => return None,
    };
    Some(value)
}

fn tens(word: &str) -> Option<i64> {
    let value = match word {
        "twenty" => 20,
        "thirty" => 30,
        "forty" => 40,
        "fifty" => 50,
        "sixty" => 60,
        "seventy" => 70,
        "eighty" => 80,
        "ninety" => 90,
        _ => return None,
    };
    Some(value)
}

/// Numbers in words become digits: "twenty five" → "25", "forty" → "40",
/// "five" → "5", "a hundred and twenty" → "120". "a" alone stays "a".
fn join_numbers<'a>(words: impl Iterator<Item = &'a str>) -> Vec<String> {
    let words: Vec<&str> = words.collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        let mut value = None;
        let mut used = 1;
        if word == "hundred"
            || (matches!(word, "a" | "one") && words.get(i + 1) == Some(&"hundred"))
        {
            let skip = if word == "hundred" { 1 } else { 2 };
            let mut total = 100;
            let mut j = i + skip;
            if words.get(j) == Some(&"and") {
                j += 1;
            }
            let (rest, more) = small_number(&words[j.min(words.len())..]);
            if let Some(rest) = rest {
                total += rest;
                j += more;
            } else if words.get(i + skip) == Some(&"and") {
                j -= 1;
            }
            value = Some(total);
            used = j - i;
        } else {
            let (small, more) = small_number(&words[i..]);
            if small.is_some() {
                value = small;
                used = more;
            }
        }
        match value {
            Some(number) => out.push(number.to_string()),
            None => out.push(word.to_owned()),
        }
        i += used;
    }
    out
}

/// A number below 100 in words at the start of `words`: its value and how
/// many words it took.
fn small_number(words: &[&str]) -> (Option<i64>, usize) {
    let Some(first) = words.first() else {
        return (None, 0);
    };
    if let Some(value) = teen_or_ten(first) {
        return (Some(value), 1);
    }
    if let Some(value) = tens(first) {
        if let Some(ones) = words
            .get(1)
            .and_then(|w| unit(w))
            .filter(|_| words[1] != "a")
        {
            return (Some(value + ones), 2);
        }
        return (Some(value), 1);
    }
    if let Some(value) = unit(first) {
        return (Some(value), 1);
    }
    (None, 0)
}

/// The minutes a start names: the number before "minute(s)"/"min", or one
/// before "pomodoro"/"timer" ("a 25 timer"), or an hour.
fn minutes_in(words: &[String]) -> Option<i64> {
    for (i, word) in words.iter().enumerate() {
        let Ok(number) = word.parse::<i64>() else {
            continue;
        };
        match words.get(i + 1).map(String::as_str) {
            Some("minute" | "minutes" | "min" | "mins" | "timer" | "pomodoro" | "m") => {
                return Some(number);
            }
            Some("hour" | "hours") => return Some(number * 60),
            _ => {}
        }
    }
    if words.iter().any(|w| w == "hour") && words.iter().any(|w| w == "an" || w == "1") {
        return Some(60);
    }
    if words.iter().any(|w| w == "half") && words.iter().any(|w| w == "hour") {
        return Some(30);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::RoomCommand::*;
    use super::*;

    fn read(text: &str) -> Option<RoomCommand> {
        RoomCommand::read(text)
    }

    #[test]
    fn a_timer_start_names_its_minutes_in_words_or_digits() {
        for (text, minutes) in [
            ("start a 25 minute timer", Some(25)),
            ("Start a twenty five minute timer.", Some(25)),
            ("start a twenty-five minute timer", Some(25)),
            ("Can you set a timer for ten minutes?", Some(10)),
            ("start a fifty minute pomodoro", Some(50)),
            ("start the timer", None),
            ("begin a timer for an hour", Some(60)),
            ("start a timer for a hundred and twenty minutes", Some(120)),
            ("start a 90 min timer", Some(90)),
            // Whisper's hearing of "start a ten minute timer" in flite's voice.
            ("Star to 10, Minute, Timer", Some(10)),
        ] {
            assert_eq!(read(text), Some(StartTimer { minutes }), "{text}");
        }
    }

    #[test]
    fn each_room_question_is_read_in_its_usual_words() {
        for (text, command) in [
            ("how much time is left", TimeLeft),
            ("How long is left?", TimeLeft),
            ("how many minutes are left in this block", TimeLeft),
            ("what's the time remaining", TimeLeft),
            ("add five minutes", AddFive),
            ("Add 5 minutes, please.", AddFive),
            ("give us five more minutes", AddFive),
            ("pause the timer", PauseTimer),
            ("resume the timer", ResumeTimer),
            ("skip this block", SkipBlock),
            ("skip the break", SkipBlock),
            ("what is my goal", MyGoal),
            ("What's my goal again?", MyGoal),
            ("mark my goal done", MarkGoalDone),
            ("mark my goal as complete", MarkGoalDone),
            ("I finished my goal", MarkGoalDone),
            ("what is everyone working on", EveryonesGoals),
            ("What's everybody doing?", EveryonesGoals),
            ("who is here", WhoIsHere),
            ("Who's in this session?", WhoIsHere),
            ("how many people are here", WhoIsHere),
            ("what is this project about", AboutProject),
            ("tell me about the project", AboutProject),
        ] {
            assert_eq!(read(text), Some(command), "{text}");
        }
    }

    #[test]
    fn coding_questions_are_not_room_commands() {
        for text in [
            "how do I sort a list of numbers in python",
            "show me a closure in rust",
            "what is a goal post in football",
            "how do I start a new rust project",
            "what is the time complexity of quicksort",
            "how do I set a timeout on a future",
            "why does my clock drift",
            "what's a hash map",
        ] {
            assert_eq!(read(text), None, "{text}");
        }
    }

    #[test]
    fn numbers_in_words_become_digits() {
        assert_eq!(words_of("twenty five"), vec!["25"]);
        assert_eq!(
            words_of("a 25 minute timer"),
            vec!["a", "25", "minute", "timer"]
        );
        assert_eq!(words_of("forty"), vec!["40"]);
        assert_eq!(words_of("a hundred and twenty"), vec!["120"]);
        assert_eq!(words_of("what's up"), vec!["what", "is", "up"]);
    }
}

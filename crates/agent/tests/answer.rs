//! One answer's policy on a fake clock: sentences spoken in order while the
//! text is generated, every time limit, every apology, the answer's shape
//! (whole sentences only, code posted but not read out). Nothing runs a model
//! or a synthesiser and nothing sleeps: the test plays both providers.

use std::time::{Duration, Instant};

use agent::answer::{APOLOGY_NO_ANSWER, APOLOGY_UNHEARD, Answer, Input, Output};
use agent::prompt::{ChatMessage, ChatPrompt, Role};
use agent::providers::{ProviderError, ProviderNames, Timeouts};
use agent::speech_text::CODE_NOTICE;

const PROVIDERS: ProviderNames = ProviderNames {
    stt: "pocketsphinx",
    llm: "scripted",
    tts: "flite",
};

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn prompt() -> ChatPrompt {
    ChatPrompt {
        system: "You are a helpful assistant.".into(),
        messages: vec![ChatMessage {
            role: Role::User,
            content: "Ada asks: what is a closure in rust?".into(),
        }],
    }
}

fn speak(text: &str) -> Output {
    Output::Speak(text.into())
}

fn post(text: &str) -> Output {
    Output::Post(text.into())
}

fn token(text: &str) -> Input {
    Input::Token(text.into())
}

/// An answer on a fake clock: times are milliseconds since it started.
struct Clocked {
    answer: Answer,
    t0: Instant,
}

impl Clocked {
    /// Starts an answer and checks it asks for the model first.
    fn started(timeouts: Timeouts) -> Self {
        let t0 = Instant::now();
        let answer = Answer::new(t0, prompt(), timeouts.clone(), PROVIDERS);
        let mut clocked = Self { answer, t0 };
        let (outputs, deadline) = clocked.drain(0);
        assert_eq!(outputs, [Output::Generate(prompt())]);
        assert_eq!(deadline, Some(timeouts.first_token.min(timeouts.answer)));
        clocked
    }

    /// Each input at its time, in order.
    fn play(&mut self, inputs: impl IntoIterator<Item = (u64, Input)>) {
        for (at, input) in inputs {
            self.answer.handle_input(self.t0 + ms(at), input);
        }
    }

    /// Everything the answer asks for at `at`, and when it next wants to be
    /// polled (since the start).
    fn drain(&mut self, at: u64) -> (Vec<Output>, Option<Duration>) {
        let now = self.t0 + ms(at);
        let mut outputs = Vec::new();
        loop {
            match self.answer.poll_output(now) {
                Output::Wait(deadline) => {
                    return (outputs, deadline.map(|deadline| deadline - self.t0));
                }
                output => outputs.push(output),
            }
        }
    }

    /// The model's first text, `text`, comes at 100 ms: checks that the answer
    /// then sends `sentence` to be spoken, and returns when it next wants to be polled.
    fn speaks_first(&mut self, text: &str, sentence: &str) -> Option<Duration> {
        self.play([(100, token(text))]);
        let (outputs, deadline) = self.drain(100);
        assert_eq!(outputs, [speak(sentence)]);
        deadline
    }

    /// Plays `pieces` of text (10 ms apart from `at`) and the end of
    /// generation, finishing each piece of speech as soon as it is asked
    /// for; returns everything spoken and posted, in order.
    fn play_through(&mut self, at: u64, pieces: &[&str]) -> Vec<Output> {
        let mut at = at;
        let mut inputs: Vec<Input> = pieces.iter().map(|piece| token(piece)).collect();
        inputs.push(Input::GenerationEnd);
        let mut said = Vec::new();
        let mut inputs = inputs.into_iter();
        loop {
            let (outputs, _) = self.drain(at);
            let speaking = outputs.iter().any(|o| matches!(o, Output::Speak(_)));
            let done = outputs.contains(&Output::Done);
            said.extend(
                outputs
                    .into_iter()
                    .filter(|o| matches!(o, Output::Speak(_) | Output::Post(_))),
            );
            if done {
                return said;
            }
            at += 10;
            if speaking {
                self.play([(at, Input::SpeechEnd)]);
            } else if let Some(input) = inputs.next() {
                self.play([(at, input)]);
            }
        }
    }

    /// The failure the answer's record holds, if any.
    fn error(&self) -> Option<&str> {
        self.answer.record().error.as_deref()
    }
}

/// Plays `inputs` into an answer with the default limits and checks that,
/// right after the last, it apologises for having no answer, recording `error`.
fn apologises_for(inputs: Vec<(u64, Input)>, error: &str) {
    let last = inputs.last().map_or(0, |(at, _)| *at);
    let mut answer = Clocked::started(Timeouts::default());
    answer.play(inputs);
    let (outputs, _) = answer.drain(last);
    assert_eq!(outputs, [post(APOLOGY_NO_ANSWER), speak(APOLOGY_NO_ANSWER)]);
    assert_eq!(answer.error(), Some(error));
}

#[test]
fn sentences_are_spoken_one_at_a_time_while_the_text_is_generated() {
    let mut answer = Clocked::started(Timeouts::default());

    answer.speaks_first("A closure is a function. It ", "A closure is a function.");

    // The second sentence waits for the first to be spoken.
    answer.play([
        (150, token("captures its scope. ")),
        (160, token("It can be stored.")),
        (170, Input::GenerationEnd),
    ]);
    let (outputs, _) = answer.drain(170);
    assert_eq!(
        outputs,
        [post(
            "A closure is a function. It captures its scope. It can be stored."
        )],
        "the whole text is posted before it is spoken"
    );

    answer.play([
        (300, Input::SpeechAudio(vec![1; 320])),
        (310, Input::SpeechAudio(vec![2; 320])),
        (320, Input::SpeechEnd),
    ]);
    let (outputs, _) = answer.drain(320);
    assert_eq!(
        outputs,
        [
            Output::Audio(vec![1; 320]),
            Output::Audio(vec![2; 320]),
            speak("It captures its scope."),
        ]
    );
    answer.play([(400, Input::SpeechEnd)]);
    let (outputs, _) = answer.drain(400);
    assert_eq!(outputs, [speak("It can be stored.")]);
    answer.play([
        (500, Input::SpeechAudio(vec![3; 320])),
        (510, Input::SpeechEnd),
    ]);
    let (outputs, deadline) = answer.drain(510);
    assert_eq!(outputs, [Output::Audio(vec![3; 320]), Output::Done]);
    assert_eq!(deadline, None);

    let record = answer.answer.record();
    assert_eq!(
        record.answer,
        "A closure is a function. It captures its scope. It can be stored."
    );
    assert_eq!(record.error, None);
    assert_eq!(record.llm_ttft, Some(ms(100)));
    assert_eq!(record.llm_first_sentence, Some(ms(100)));
    assert_eq!(record.text_complete, Some(ms(170)));
    // The first sentence went to synthesis at 100 ms; its audio came at 300.
    assert_eq!(record.tts_ttfb, Some(ms(200)));
}

#[test]
fn a_model_that_never_answers_times_out_into_an_apology() {
    let mut answer = Clocked::started(Timeouts {
        first_token: ms(400),
        ..Timeouts::default()
    });
    let (outputs, deadline) = answer.drain(399);
    assert!(outputs.is_empty());
    assert_eq!(deadline, Some(ms(400)));

    let (outputs, _) = answer.drain(400);
    assert_eq!(
        outputs,
        [
            Output::StopGenerating,
            post(APOLOGY_NO_ANSWER),
            speak(APOLOGY_NO_ANSWER)
        ]
    );
    assert_eq!(
        answer.error(),
        Some("language model (scripted): timed out after 400ms")
    );
    // Text that comes after the limit is not used.
    answer.play([(450, token("Too late.")), (600, Input::SpeechEnd)]);
    let (outputs, _) = answer.drain(600);
    assert_eq!(outputs, [Output::Done]);
    assert_eq!(answer.answer.record().answer, APOLOGY_NO_ANSWER);
}

#[test]
fn a_failing_model_is_recorded_by_name_and_the_agent_apologises() {
    let overloaded = ProviderError::Status {
        status: 503,
        body: "overloaded".into(),
    };
    apologises_for(
        vec![(50, Input::GenerationFailed(overloaded))],
        "language model (scripted): HTTP status 503: overloaded",
    );
}

#[test]
fn an_empty_answer_is_a_failure_and_is_apologised_for() {
    apologises_for(
        vec![(50, token("  \n")), (60, Input::GenerationEnd)],
        "language model (scripted): empty answer",
    );
}

#[test]
fn a_client_time_out_is_reported_with_the_limit_it_ran_under() {
    let timed_out = ProviderError::Timeout(Duration::ZERO);
    apologises_for(
        vec![(50, Input::GenerationFailed(timed_out))],
        "language model (scripted): timed out after 15s",
    );
}

#[test]
fn the_answer_limit_stops_a_long_generation_and_keeps_what_was_said() {
    let mut answer = Clocked::started(Timeouts {
        answer: ms(2000),
        ..Timeouts::default()
    });
    let deadline = answer.speaks_first(
        "Recursion is a function. It calls",
        "Recursion is a function.",
    );
    assert_eq!(deadline, Some(ms(2000)));
    answer.play([(1000, Input::SpeechEnd)]);
    answer.drain(1000);

    let (outputs, _) = answer.drain(2000);
    assert_eq!(
        outputs,
        [
            Output::StopGenerating,
            post("Recursion is a function."),
            Output::Done
        ],
        "the unfinished sentence is neither spoken nor posted"
    );
    assert_eq!(
        answer.error(),
        Some("language model (scripted): timed out after 2s")
    );
}

#[test]
fn speech_that_stalls_silences_the_rest_but_the_text_completes() {
    let mut answer = Clocked::started(Timeouts {
        speech: ms(500),
        ..Timeouts::default()
    });
    let deadline = answer.speaks_first("First this. ", "First this.");
    assert_eq!(deadline, Some(ms(600)));
    // Each chunk of audio gives synthesis another `speech` to send the next.
    answer.play([(400, Input::SpeechAudio(vec![1; 160]))]);
    let (_, deadline) = answer.drain(400);
    assert_eq!(deadline, Some(ms(900)));

    let (outputs, _) = answer.drain(900);
    assert_eq!(outputs, [Output::StopSpeaking]);
    answer.play([(950, token("Then that. ")), (960, Input::GenerationEnd)]);
    let (outputs, _) = answer.drain(960);
    assert_eq!(outputs, [post("First this. Then that."), Output::Done]);
    assert_eq!(
        answer.error(),
        Some("text-to-speech (flite): timed out after 500ms")
    );
    assert_eq!(answer.answer.record().tts_ttfb, Some(ms(300)));
}

#[test]
fn a_failed_synthesis_is_recorded_after_an_earlier_failure() {
    let mut answer = Clocked::started(Timeouts::default());
    answer.play([(100, token("Half an answer. And"))]);
    answer.drain(100);
    answer.play([
        (
            150,
            Input::GenerationFailed(ProviderError::Connection("reset".into())),
        ),
        (
            200,
            Input::SpeechFailed(ProviderError::Engine("flite crashed".into())),
        ),
    ]);
    let (outputs, _) = answer.drain(200);
    assert_eq!(outputs, [post("Half an answer."), Output::Done]);
    assert_eq!(
        answer.error(),
        Some(
            "language model (scripted): connection failed: reset; text-to-speech (flite): flite crashed"
        )
    );
}

#[test]
fn an_unheard_question_is_apologised_for_without_asking_the_model() {
    let t0 = Instant::now();
    let answer = Answer::unheard(t0, "timed out after 10s", Timeouts::default(), PROVIDERS);
    let mut answer = Clocked { answer, t0 };
    let (outputs, deadline) = answer.drain(0);
    assert_eq!(outputs, [post(APOLOGY_UNHEARD), speak(APOLOGY_UNHEARD)]);
    assert_eq!(deadline, Some(Timeouts::default().speech));
    answer.play([
        (300, Input::SpeechAudio(vec![0; 320])),
        (310, Input::SpeechEnd),
    ]);
    let (outputs, _) = answer.drain(310);
    assert_eq!(outputs, [Output::Audio(vec![0; 320]), Output::Done]);
    assert_eq!(
        answer.error(),
        Some("speech-to-text (pocketsphinx): timed out after 10s")
    );
    assert_eq!(answer.answer.record().answer, APOLOGY_UNHEARD);
}

#[test]
fn a_budget_that_ends_mid_sentence_posts_and_speaks_only_whole_sentences() {
    let mut answer = Clocked::started(Timeouts::default());
    let said = answer.play_through(
        100,
        &[
            "Closures capture their scope. ",
            "They are more flexible than traditional lambdas in",
        ],
    );
    assert_eq!(
        said,
        [
            speak("Closures capture their scope."),
            post("Closures capture their scope.")
        ]
    );
    assert_eq!(
        answer.answer.record().answer,
        "Closures capture their scope."
    );
    assert_eq!(answer.error(), None);
}

#[test]
fn a_budget_that_ends_the_first_sentence_keeps_it_and_ends_it_cleanly() {
    let mut answer = Clocked::started(Timeouts::default());
    let said = answer.play_through(100, &["A closure is a function that can capture its"]);
    assert_eq!(
        said,
        [
            speak("A closure is a function that can capture"),
            speak("its."),
            post("A closure is a function that can capture its…")
        ]
    );
}

#[test]
fn a_code_block_is_posted_whole_and_never_spoken() {
    let mut answer = Clocked::started(Timeouts::default());
    let code = "```rust\nlet squares: Vec<u32> = (1..4).map(|n| n * n).collect();\n```";
    let said = answer.play_through(
        100,
        &[
            "Use map and collect:\n``",
            "`rust\nlet squares: Vec<u32> = (1..4)",
            ".map(|n| n * n).collect();\n``",
            "`\nThat gives one, four and nine.",
        ],
    );
    assert_eq!(
        said,
        [
            speak("Use map and collect:"),
            speak(CODE_NOTICE),
            speak("That gives one, four and nine."),
            post(&format!(
                "Use map and collect:\n{code}\nThat gives one, four and nine."
            )),
        ]
    );
}

#[test]
fn inline_code_is_spoken_without_its_backticks() {
    let mut answer = Clocked::started(Timeouts::default());
    let said = answer.play_through(100, &["Call `collect()` on the `Iterator`. "]);
    assert_eq!(
        said,
        [
            speak("Call collect() on the Iterator."),
            post("Call `collect()` on the `Iterator`.")
        ]
    );
}

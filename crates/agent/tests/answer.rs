//! One answer's policy on a fake clock: sentences spoken in order while the
//! text is generated, every time limit, every apology. Nothing runs a model
//! or a synthesiser and nothing sleeps: the test plays both providers.

use std::time::{Duration, Instant};

use agent::answer::{APOLOGY_NO_ANSWER, APOLOGY_UNHEARD, Answer, Input, Output};
use agent::prompt::{ChatMessage, ChatPrompt, Role};
use agent::providers::{ProviderError, ProviderNames, Timeouts};

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

/// Everything the answer asks for at `now`, and the deadline it then waits for.
fn drain(answer: &mut Answer, now: Instant) -> (Vec<Output>, Option<Instant>) {
    let mut outputs = Vec::new();
    loop {
        match answer.poll_output(now) {
            Output::Wait(deadline) => return (outputs, deadline),
            output => outputs.push(output),
        }
    }
}

fn speak(text: &str) -> Output {
    Output::Speak(text.into())
}

fn post(text: &str) -> Output {
    Output::Post(text.into())
}

/// Starts an answer at `t0` and checks it asks for the model first.
fn started(t0: Instant, timeouts: Timeouts) -> Answer {
    let mut answer = Answer::new(t0, prompt(), timeouts.clone(), PROVIDERS);
    let (outputs, deadline) = drain(&mut answer, t0);
    assert_eq!(outputs, [Output::Generate(prompt())]);
    assert_eq!(
        deadline,
        Some(t0 + timeouts.first_token.min(timeouts.answer))
    );
    answer
}

#[test]
fn sentences_are_spoken_one_at_a_time_while_the_text_is_generated() {
    let t0 = Instant::now();
    let mut answer = started(t0, Timeouts::default());

    answer.handle_input(
        t0 + ms(100),
        Input::Token("A closure is a function. It ".into()),
    );
    let (outputs, _) = drain(&mut answer, t0 + ms(100));
    assert_eq!(outputs, [speak("A closure is a function.")]);

    // The second sentence waits for the first to be spoken.
    answer.handle_input(t0 + ms(150), Input::Token("captures its scope. ".into()));
    answer.handle_input(t0 + ms(160), Input::Token("It can be stored.".into()));
    answer.handle_input(t0 + ms(170), Input::GenerationEnd);
    let (outputs, _) = drain(&mut answer, t0 + ms(170));
    assert_eq!(
        outputs,
        [post(
            "A closure is a function. It captures its scope. It can be stored."
        )],
        "the whole text is posted before it is spoken"
    );

    answer.handle_input(t0 + ms(300), Input::SpeechAudio(vec![1; 320]));
    answer.handle_input(t0 + ms(310), Input::SpeechAudio(vec![2; 320]));
    answer.handle_input(t0 + ms(320), Input::SpeechEnd);
    let (outputs, _) = drain(&mut answer, t0 + ms(320));
    assert_eq!(
        outputs,
        [
            Output::Audio(vec![1; 320]),
            Output::Audio(vec![2; 320]),
            speak("It captures its scope."),
        ]
    );
    answer.handle_input(t0 + ms(400), Input::SpeechEnd);
    let (outputs, _) = drain(&mut answer, t0 + ms(400));
    assert_eq!(outputs, [speak("It can be stored.")]);
    answer.handle_input(t0 + ms(500), Input::SpeechAudio(vec![3; 320]));
    answer.handle_input(t0 + ms(510), Input::SpeechEnd);
    let (outputs, deadline) = drain(&mut answer, t0 + ms(510));
    assert_eq!(outputs, [Output::Audio(vec![3; 320]), Output::Done]);
    assert_eq!(deadline, None);

    let record = answer.record();
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
    let t0 = Instant::now();
    let timeouts = Timeouts {
        first_token: ms(400),
        ..Timeouts::default()
    };
    let mut answer = started(t0, timeouts);
    let (outputs, deadline) = drain(&mut answer, t0 + ms(399));
    assert!(outputs.is_empty());
    assert_eq!(deadline, Some(t0 + ms(400)));

    let (outputs, _) = drain(&mut answer, t0 + ms(400));
    assert_eq!(
        outputs,
        [
            Output::StopGenerating,
            post(APOLOGY_NO_ANSWER),
            speak(APOLOGY_NO_ANSWER)
        ]
    );
    assert_eq!(
        answer.record().error.as_deref(),
        Some("language model (scripted): timed out after 400ms")
    );
    // Text that comes after the limit is not used.
    answer.handle_input(t0 + ms(450), Input::Token("Too late.".into()));
    answer.handle_input(t0 + ms(600), Input::SpeechEnd);
    let (outputs, _) = drain(&mut answer, t0 + ms(600));
    assert_eq!(outputs, [Output::Done]);
    assert_eq!(answer.record().answer, APOLOGY_NO_ANSWER);
}

#[test]
fn a_failing_model_is_recorded_by_name_and_the_agent_apologises() {
    let t0 = Instant::now();
    let mut answer = started(t0, Timeouts::default());
    answer.handle_input(
        t0 + ms(50),
        Input::GenerationFailed(ProviderError::Status {
            status: 503,
            body: "overloaded".into(),
        }),
    );
    let (outputs, _) = drain(&mut answer, t0 + ms(50));
    assert_eq!(outputs, [post(APOLOGY_NO_ANSWER), speak(APOLOGY_NO_ANSWER)]);
    assert_eq!(
        answer.record().error.as_deref(),
        Some("language model (scripted): HTTP status 503: overloaded")
    );
}

#[test]
fn an_empty_answer_is_a_failure_and_is_apologised_for() {
    let t0 = Instant::now();
    let mut answer = started(t0, Timeouts::default());
    answer.handle_input(t0 + ms(50), Input::Token("  \n".into()));
    answer.handle_input(t0 + ms(60), Input::GenerationEnd);
    let (outputs, _) = drain(&mut answer, t0 + ms(60));
    assert_eq!(outputs, [post(APOLOGY_NO_ANSWER), speak(APOLOGY_NO_ANSWER)]);
    assert_eq!(
        answer.record().error.as_deref(),
        Some("language model (scripted): empty answer")
    );
}

#[test]
fn a_client_time_out_is_reported_with_the_limit_it_ran_under() {
    let t0 = Instant::now();
    let mut answer = started(t0, Timeouts::default());
    answer.handle_input(
        t0 + ms(50),
        Input::GenerationFailed(ProviderError::Timeout(Duration::ZERO)),
    );
    drain(&mut answer, t0 + ms(50));
    assert_eq!(
        answer.record().error.as_deref(),
        Some("language model (scripted): timed out after 15s")
    );
}

#[test]
fn the_answer_limit_stops_a_long_generation_and_keeps_what_was_said() {
    let t0 = Instant::now();
    let timeouts = Timeouts {
        answer: ms(2000),
        ..Timeouts::default()
    };
    let mut answer = started(t0, timeouts);
    answer.handle_input(
        t0 + ms(100),
        Input::Token("Recursion is a function. It calls".into()),
    );
    let (outputs, deadline) = drain(&mut answer, t0 + ms(100));
    assert_eq!(outputs, [speak("Recursion is a function.")]);
    assert_eq!(deadline, Some(t0 + ms(2000)));
    answer.handle_input(t0 + ms(1000), Input::SpeechEnd);
    drain(&mut answer, t0 + ms(1000));

    let (outputs, _) = drain(&mut answer, t0 + ms(2000));
    assert_eq!(
        outputs,
        [
            Output::StopGenerating,
            post("Recursion is a function. It calls"),
            Output::Done
        ],
        "the unfinished sentence is not spoken"
    );
    assert_eq!(
        answer.record().error.as_deref(),
        Some("language model (scripted): timed out after 2s")
    );
}

#[test]
fn speech_that_stalls_silences_the_rest_but_the_text_completes() {
    let t0 = Instant::now();
    let timeouts = Timeouts {
        speech: ms(500),
        ..Timeouts::default()
    };
    let mut answer = started(t0, timeouts);
    answer.handle_input(t0 + ms(100), Input::Token("First this. ".into()));
    let (outputs, deadline) = drain(&mut answer, t0 + ms(100));
    assert_eq!(outputs, [speak("First this.")]);
    assert_eq!(deadline, Some(t0 + ms(600)));
    // Each chunk of audio gives synthesis another `speech` to send the next.
    answer.handle_input(t0 + ms(400), Input::SpeechAudio(vec![1; 160]));
    let (_, deadline) = drain(&mut answer, t0 + ms(400));
    assert_eq!(deadline, Some(t0 + ms(900)));

    let (outputs, _) = drain(&mut answer, t0 + ms(900));
    assert_eq!(outputs, [Output::StopSpeaking]);
    answer.handle_input(t0 + ms(950), Input::Token("Then that. ".into()));
    answer.handle_input(t0 + ms(960), Input::GenerationEnd);
    let (outputs, _) = drain(&mut answer, t0 + ms(960));
    assert_eq!(outputs, [post("First this. Then that."), Output::Done]);
    assert_eq!(
        answer.record().error.as_deref(),
        Some("text-to-speech (flite): timed out after 500ms")
    );
    assert_eq!(answer.record().tts_ttfb, Some(ms(300)));
}

#[test]
fn a_failed_synthesis_is_recorded_after_an_earlier_failure() {
    let t0 = Instant::now();
    let mut answer = started(t0, Timeouts::default());
    answer.handle_input(t0 + ms(100), Input::Token("Half an answer. And".into()));
    drain(&mut answer, t0 + ms(100));
    answer.handle_input(
        t0 + ms(150),
        Input::GenerationFailed(ProviderError::Connection("reset".into())),
    );
    answer.handle_input(
        t0 + ms(200),
        Input::SpeechFailed(ProviderError::Engine("flite crashed".into())),
    );
    let (outputs, _) = drain(&mut answer, t0 + ms(200));
    assert_eq!(outputs, [post("Half an answer. And"), Output::Done]);
    assert_eq!(
        answer.record().error.as_deref(),
        Some(
            "language model (scripted): connection failed: reset; text-to-speech (flite): flite crashed"
        )
    );
}

#[test]
fn an_unheard_question_is_apologised_for_without_asking_the_model() {
    let t0 = Instant::now();
    let mut answer = Answer::unheard(t0, "timed out after 10s", Timeouts::default(), PROVIDERS);
    let (outputs, deadline) = drain(&mut answer, t0);
    assert_eq!(outputs, [post(APOLOGY_UNHEARD), speak(APOLOGY_UNHEARD)]);
    assert_eq!(deadline, Some(t0 + Timeouts::default().speech));
    answer.handle_input(t0 + ms(300), Input::SpeechAudio(vec![0; 320]));
    answer.handle_input(t0 + ms(310), Input::SpeechEnd);
    let (outputs, _) = drain(&mut answer, t0 + ms(310));
    assert_eq!(outputs, [Output::Audio(vec![0; 320]), Output::Done]);
    assert_eq!(
        answer.record().error.as_deref(),
        Some("speech-to-text (pocketsphinx): timed out after 10s")
    );
    assert_eq!(answer.record().answer, APOLOGY_UNHEARD);
}

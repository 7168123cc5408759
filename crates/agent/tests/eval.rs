//! The spoken evaluation set through the assistant's ears (see
//! `agent::eval`): at least 40 questions after "hey agent" and 20 decoys,
//! in five synthetic voices from three engines, each fed through a session
//! pipeline with the offline engines — voice activity, end of turn,
//! transcription, the wake phrase on the words.

use agent::eval::{Report, evaluate, samples};
use agent::tts::piper::PiperTts;
use agent::{Agent, AgentConfig};

#[tokio::test(flavor = "multi_thread")]
async fn the_assistant_wakes_only_when_spoken_to_and_hears_the_question() {
    let agent = Agent::new(AgentConfig::default())
        .await
        .expect("the offline engines load (scripts/setup-agent)");
    // Without its noise, Piper speaks each sample the same way on every run.
    let piper = PiperTts::load(agent::models::find)
        .expect("Piper's voice loads")
        .without_noise();
    let report: Report = evaluate(&agent, &piper, &samples())
        .await
        .expect("every sample is spoken");
    println!("{report}");
    assert!(report.questions >= 40 && report.decoys >= 20);
    // The bar, asserted as it is: recall ≥ 95 %, no false wake,
    // word error rate ≤ 15 %, topic word ≥ 90 %. Measured on the offline
    // engines: recall 97.6 %, word error rate 7.4 %, topic word 95.2 %, the
    // same on every run now that every voice's audio is (docs/PERFORMANCE.md).
    assert_eq!(report.false_wakes, 0, "false wakes\n{report}");
    assert!(
        report.wake_recall() >= 0.95,
        "wake recall {:.3}\n{report}",
        report.wake_recall()
    );
    assert!(
        report.word_error_rate() <= 0.15,
        "word error rate {:.3}\n{report}",
        report.word_error_rate()
    );
    assert!(
        report.topic_accuracy() >= 0.90,
        "topic accuracy {:.3}\n{report}",
        report.topic_accuracy()
    );
}

//! `lockin-bench agent --eval`: the spoken evaluation set (`agent::eval`)
//! through the configured engines' ears, scored: wake recall, false wakes,
//! the question's word error rate and its topic word, per voice, with every
//! miss listed.

use agent::eval::{Report, evaluate, samples};
use agent::tts::piper::PiperTts;

/// What the agent's tests require of the offline engines.
const REQUIRED: &str =
    "required: wake recall ≥ 95 %, no false wake, word error rate ≤ 15 %, topic word ≥ 90 %";

pub async fn run_eval(json: bool) -> anyhow::Result<()> {
    let config = server::assistant::engines()?;
    eprintln!("loading the assistant's engines…");
    let assistant = agent::Agent::new(config).await?;
    // The set's Piper voice is the assistant's own offline voice engine.
    // Without its noise, so that every run hears the same audio (the same
    // samples the agent's test asserts on).
    let piper = tokio::task::spawn_blocking(|| PiperTts::load(agent::models::find))
        .await??
        .without_noise();
    let started = std::time::Instant::now();
    let report: Report = evaluate(&assistant, &piper, &samples()).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
        println!("{REQUIRED}");
        println!(
            "providers: stt={}; {} samples in {:.1} s",
            assistant.providers().stt,
            report.outcomes.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

//! Times the voice-to-voice stages on the 20 benchmark questions with the
//! configured providers (the defaults are offline: pocketsphinx, the local
//! model, flite). `cargo run --release -p agent --example bench_agent`;
//! `--json` prints the report as JSON.

use std::time::Duration;

use agent::bench::{BENCH_QUESTIONS, bench_voice_to_voice};
use agent::{Agent, AgentConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = AgentConfig::from_env()?;
    let agent = Agent::new(config).await?;
    // `LOCKIN_BENCH_QUESTIONS=5` runs only the first five.
    let count = std::env::var("LOCKIN_BENCH_QUESTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(BENCH_QUESTIONS.len())
        .min(BENCH_QUESTIONS.len());
    let report =
        bench_voice_to_voice(&agent, &BENCH_QUESTIONS[..count], Duration::from_secs(60)).await;
    if std::env::args().any(|a| a == "--json") {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

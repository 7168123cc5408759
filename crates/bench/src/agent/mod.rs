//! `lockin-bench agent`: the assistant's voice-to-voice latency with the
//! configured engines (offline by default: Silero and Smart Turn, Whisper,
//! SmolLM2 on llama.cpp, Piper), over spoken questions, stage by stage.
//!
//! Each question is synthesised by flite (`"hey agent, <question>"`) and fed
//! through the same session task the rooms use ([`voice_to_voice`]). The
//! baseline measured in the same run is the sum of the stage medians that
//! lie in series between the end of speech and the first answer frame
//! (transcription, the model's first sentence, speech's first audio): the
//! ratio of voice-to-voice to it is what the glue between the stages costs.
//! The ratio to 800 ms is the distance to what cloud-backed voice agents aim
//! for.
//!
//! Then the local model's two engines, llama.cpp and candle, run the same
//! prompts one after the other and their tokens/s are printed side by side
//! ([`llm_engines`]).
//!
//! `lockin-bench agent --eval` scores the spoken evaluation set instead
//! ([`eval`]).

use std::time::Duration;

pub mod eval;
pub mod llm_engines;
pub mod voice_to_voice;
// `lockin-bench turn-taking`.
pub mod turn;

use voice_to_voice::{BENCH_QUESTIONS, BenchReport, bench_voice_to_voice};

/// The voice-to-voice latency cloud-backed voice agents aim for.
const AIM_MS: u64 = 800;

#[derive(clap::Args, Debug)]
pub struct AgentBenchArgs {
    /// How many of the benchmark's 20 questions to ask.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=20))]
    pub questions: u64,
    /// How long to wait for each answer before counting it as a failure.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub per_question: Duration,
    /// Print the whole report, every interaction included, as JSON.
    #[arg(long)]
    pub json: bool,
    /// Score the spoken evaluation set instead (`agent::eval`): wake
    /// recall, false wakes, word error rate and topic words, per voice.
    #[arg(long)]
    pub eval: bool,
    /// Prompts each local model engine answers in the side-by-side
    /// comparison (0 skips it).
    #[arg(long, default_value_t = 10)]
    pub engine_prompts: usize,
}

pub async fn run_agent(args: AgentBenchArgs) -> anyhow::Result<()> {
    if args.eval {
        return eval::run_eval(args.json).await;
    }
    let config = server::assistant::engines()?;
    eprintln!("loading the assistant's engines…");
    let assistant = agent::Agent::new(config).await?;
    let report = bench_voice_to_voice(
        &assistant,
        &BENCH_QUESTIONS[..(args.questions as usize).min(BENCH_QUESTIONS.len())],
        args.per_question,
    )
    .await;
    drop(assistant);
    let engines = if args.engine_prompts > 0 {
        eprintln!("comparing the local model's engines…");
        let path = agent::llm::find_local_model()?;
        Some(llm_engines::bench_llm_engines(&path, args.engine_prompts).await?)
    } else {
        None
    };
    if args.json {
        let json = serde_json::json!({ "voice_to_voice": &report, "llm_engines": &engines });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{report}");
        print!("{}", ratios(&report));
        if let Some(engines) = &engines {
            print!("{engines}");
        }
    }
    anyhow::ensure!(
        report.answered > 0,
        "no question was answered: {:?}",
        report.failures
    );
    Ok(())
}

/// Voice-to-voice against the baseline and the aim.
fn ratios(report: &BenchReport) -> String {
    let Some(v2v) = report.stages.iter().find(|s| s.stage == "voice_to_voice") else {
        return String::new();
    };
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            "n/a".to_string()
        } else {
            format!("{:.2}×", a as f64 / b as f64)
        }
    };
    format!(
        "voice-to-voice p50 {} ms = {} the sum of stage medians ({} ms), {} the {AIM_MS} ms aim\n",
        v2v.p50_ms,
        ratio(v2v.p50_ms, report.sum_of_stage_medians_ms),
        report.sum_of_stage_medians_ms,
        ratio(v2v.p50_ms, AIM_MS),
    )
}

#[cfg(test)]
mod tests {
    use agent::providers::ProviderNames;

    use super::voice_to_voice::StageStats;
    use super::*;

    #[test]
    fn ratios_compare_voice_to_voice_with_the_stages_and_the_aim() {
        let report = BenchReport {
            providers: ProviderNames {
                stt: "whisper",
                llm: "local",
                tts: "flite",
            },
            questions: 2,
            answered: 2,
            stages: vec![StageStats {
                stage: "voice_to_voice",
                samples: 2,
                p50_ms: 1600,
                p95_ms: 2000,
            }],
            sum_of_stage_medians_ms: 1280,
            failures: Vec::new(),
            interactions: Vec::new(),
        };
        assert_eq!(
            ratios(&report),
            "voice-to-voice p50 1600 ms = 1.25× the sum of stage medians (1280 ms), 2.00× the 800 ms aim\n"
        );
    }
}

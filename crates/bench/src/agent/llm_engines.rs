//! The local language model's two engines side by side (`lockin-bench agent`
//! prints it after the voice-to-voice table): llama.cpp and candle run the
//! same SmolLM2 file on the same prompts, one after the other, in the same
//! run.
//!
//! Each prompt opens with its own line, so neither engine's prefix cache
//! holds any of it: prompt evaluation is measured cold, the way a session's
//! first question (or its system message being prepared) meets it. Prompt
//! evaluation speed is the prompt's tokens over the time to the first piece
//! of text; generation speed is the tokens after the first over the time
//! after it.

use std::fmt;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use agent::llm::LocalModel;
use agent::llm::llama::LlamaCppModel;
use agent::llm::local::CandleModel;
use agent::prompt::{ChatPrompt, SessionContext, SessionInfo, build_prompt};

use super::voice_to_voice::{BENCH_QUESTIONS, percentile};

/// Tokens each answer may take (the assistant's own limit).
const MAX_TOKENS: usize = 120;

/// One engine's figures over the prompts.
#[derive(Debug, Clone, Serialize)]
pub struct EngineRow {
    pub engine: &'static str,
    pub prompts: usize,
    pub prompt_tokens: u64,
    pub generated_tokens: u64,
    /// Prompt tokens per second of time to the first piece, over all
    /// prompts.
    pub prompt_tokens_per_s: f64,
    /// Generated tokens (after each answer's first) per second of the time
    /// after the first piece.
    pub generation_tokens_per_s: f64,
    /// Median time from the prompt to the first piece of text.
    pub first_piece_p50_ms: u64,
}

/// Both engines' rows, llama.cpp first.
#[derive(Debug, Clone, Serialize)]
pub struct EnginesReport {
    pub rows: Vec<EngineRow>,
}

/// Runs `questions` through each engine, loaded from `path` one at a time.
pub async fn bench_llm_engines(
    path: &std::path::Path,
    questions: usize,
) -> anyhow::Result<EnginesReport> {
    let prompts = prompts(questions);
    let llama = LlamaCppModel::load(path)?;
    let llama_row = bench_engine("llama.cpp", &llama, &prompts).await?;
    drop(llama);
    let candle = tokio::task::spawn_blocking({
        let path = path.to_path_buf();
        move || CandleModel::load(&path)
    })
    .await??;
    let candle_row = bench_engine("candle", &candle, &prompts).await?;
    Ok(EnginesReport {
        rows: vec![llama_row, candle_row],
    })
}

/// The benchmark's questions, each prompt opening with its own line.
fn prompts(questions: usize) -> Vec<ChatPrompt> {
    let context = SessionContext {
        session: SessionInfo {
            title: "Evening focus".into(),
            kind: "coding".into(),
        },
        project: None,
    };
    BENCH_QUESTIONS
        .iter()
        .cycle()
        .take(questions)
        .enumerate()
        .map(|(i, question)| {
            let mut prompt = build_prompt(&context, &[], 4, "Ada", question);
            prompt.system = format!("Prompt {i} of the engines benchmark.\n{}", prompt.system);
            prompt
        })
        .collect()
}

async fn bench_engine(
    engine: &'static str,
    model: &dyn LocalModel,
    prompts: &[ChatPrompt],
) -> anyhow::Result<EngineRow> {
    let (mut prompt_tokens, mut generated_tokens) = (0, 0);
    let (mut evaluating, mut generating) = (Duration::ZERO, Duration::ZERO);
    let mut after_first = 0;
    let mut first_pieces = Vec::new();
    for prompt in prompts {
        let (evaluated, generated) = (model.prompt_tokens_evaluated(), model.tokens_generated());
        let started = Instant::now();
        let mut stream = model.stream(prompt, MAX_TOKENS).await?;
        let mut first = None;
        while let Some(piece) = stream.next().await {
            piece?;
            first.get_or_insert_with(Instant::now);
        }
        let ended = Instant::now();
        let first = first.ok_or_else(|| anyhow::anyhow!("{engine} answered nothing"))?;
        let generated = model.tokens_generated() - generated;
        prompt_tokens += model.prompt_tokens_evaluated() - evaluated;
        generated_tokens += generated;
        evaluating += first - started;
        generating += ended - first;
        after_first += generated.saturating_sub(1);
        first_pieces.push((first - started).as_millis() as u64);
    }
    first_pieces.sort_unstable();
    let per_s = |tokens: u64, time: Duration| tokens as f64 / time.as_secs_f64().max(1e-9);
    Ok(EngineRow {
        engine,
        prompts: prompts.len(),
        prompt_tokens,
        generated_tokens,
        prompt_tokens_per_s: per_s(prompt_tokens, evaluating),
        generation_tokens_per_s: per_s(after_first, generating),
        first_piece_p50_ms: percentile(&first_pieces, 0.50),
    })
}

impl fmt::Display for EnginesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "local model engines (SmolLM2-135M Q4_1, same prompts, cold prefix):"
        )?;
        writeln!(
            f,
            "  {:<10} {:>7} {:>14} {:>18} {:>16}",
            "engine", "prompts", "prompt tok/s", "generation tok/s", "first piece p50"
        )?;
        for row in &self.rows {
            writeln!(
                f,
                "  {:<10} {:>7} {:>14.0} {:>18.0} {:>13} ms",
                row.engine,
                row.prompts,
                row.prompt_tokens_per_s,
                row.generation_tokens_per_s,
                row.first_piece_p50_ms
            )?;
        }
        if let [first, second] = self.rows.as_slice() {
            writeln!(
                f,
                "  {} / {}: prompt {:.2}×, generation {:.2}×",
                first.engine,
                second.engine,
                first.prompt_tokens_per_s / second.prompt_tokens_per_s.max(1e-9),
                first.generation_tokens_per_s / second.generation_tokens_per_s.max(1e-9),
            )?;
        }
        Ok(())
    }
}

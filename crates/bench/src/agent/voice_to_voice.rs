//! Voice-to-voice timing over synthesised questions, through the same
//! session task the rooms use (`lockin-bench agent` calls
//! [`bench_voice_to_voice`]).
//!
//! Each question is spoken by flite (`"hey agent, <question>"`) and pushed as
//! one block of audio; the pipeline dates the frames of one push back from
//! the moment it arrives, so timing starts as if the person had just
//! finished speaking. Silence then follows in real time, 20 ms at a time, as
//! a microphone sends it, so end-pointing runs on the real clock.
//! Once the answer's text is complete and its first frame has gone out, a
//! short "okay thanks" barges in, so the benchmark does not wait for whole
//! answers to play out; the session's history holds the whole answers, as
//! when people listen to the end.

use std::time::Duration;

use serde::Serialize;

use agent::tts::flite::{FliteVoice, synthesize_blocking};
use agent::{
    Agent, Event, Interaction, ProjectInfo, SessionContext, SessionInfo, SessionInput,
    SessionOutput, SpeakerId,
};

/// Twenty questions people ask a coding assistant.
pub const BENCH_QUESTIONS: [&str; 20] = [
    "what is a closure in rust",
    "how do i write a test in python",
    "what is a borrow checker",
    "what is the difference between a vector and an array",
    "how do i read a file in rust",
    "what is a race condition",
    "how does a hash map work",
    "what is a trait in rust",
    "how do i merge a branch",
    "what is recursion",
    "how do i handle errors in rust",
    "what is a pull request",
    "what does async function mean in javascript",
    "how do i connect to the database",
    "what is a deadlock",
    "how do i sort a list in python",
    "what is a lifetime in rust",
    "how does the router work",
    "what is a unit test",
    "how can i speed up the code",
];

/// Percentiles of one stage, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageStats {
    pub stage: &'static str,
    pub samples: usize,
    pub p50_ms: u64,
    pub p95_ms: u64,
}

/// The benchmark's result.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub providers: agent::providers::ProviderNames,
    pub questions: usize,
    /// Questions that produced an answer frame.
    pub answered: usize,
    pub stages: Vec<StageStats>,
    /// Median of transcription + time to the first sentence + speech's first
    /// audio: the stages in series between the end of speech and the voice.
    pub sum_of_stage_medians_ms: u64,
    /// Errors of failed interactions, and questions that never woke the agent.
    pub failures: Vec<String>,
    pub interactions: Vec<Interaction>,
}

/// Runs `questions` through a session of `agent`; `per_question` bounds the
/// wait for each.
pub async fn bench_voice_to_voice(
    agent: &Agent,
    questions: &[&str],
    per_question: Duration,
) -> BenchReport {
    let context = SessionContext {
        session: SessionInfo {
            title: "Agent benchmark".into(),
            kind: "study".into(),
        },
        project: Some(ProjectInfo {
            name: "Lock In".into(),
            description: "Live focus sessions with a voice coding assistant".into(),
            tech_stack: vec!["Rust".into(), "axum".into(), "SQLite".into()],
            repo_url: None,
        }),
    };
    // The assistant joins a room before anyone asks it anything: the
    // language model takes in the session's fixed prompt then.
    if let Err(error) = agent
        .language_model()
        .prepare(&agent::prompt::history_prompt(&context, &[], 0))
        .await
    {
        tracing::warn!(%error, "preparing the language model failed");
    }
    let mut session = agent.run_session(context, Vec::new());
    let speaker = SpeakerId("bench".into());
    let interrupt =
        tokio::task::spawn_blocking(|| synthesize_blocking(FliteVoice::Slt, "okay thanks"))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
    let mut interactions = Vec::new();
    let mut failures = Vec::new();

    for question in questions {
        let text = format!("hey agent, {question}");
        let speech =
            match tokio::task::spawn_blocking(move || synthesize_blocking(FliteVoice::Slt, &text))
                .await
            {
                Ok(Ok(pcm)) => pcm,
                _ => {
                    failures.push(format!("{question}: flite failed"));
                    continue;
                }
            };
        // 300 ms lead-in and the question in one push, as if just spoken;
        // then the microphone's silence in real time, 20 ms at a time, as
        // a room sends it (end-pointing waits on that clock).
        let mut pcm = vec![0i16; 4800];
        pcm.extend_from_slice(&speech);
        if session
            .input
            .send(SessionInput::Pcm {
                speaker: speaker.clone(),
                pcm,
            })
            .await
            .is_err()
        {
            failures.push("the session task stopped".into());
            break;
        }

        let deadline = tokio::time::Instant::now() + per_question;
        let mut microphone = tokio::time::interval(agent::audio::FRAME_DURATION);
        let (mut spoke, mut written, mut interrupted) = (false, false, false);
        let outcome = loop {
            let output = tokio::select! {
                output = tokio::time::timeout_at(deadline, session.output.recv()) => output,
                _ = microphone.tick() => {
                    let silence = SessionInput::Pcm {
                        speaker: speaker.clone(),
                        pcm: vec![0; agent::audio::FRAME_SAMPLES],
                    };
                    let _ = session.input.send(silence).await;
                    continue;
                }
            };
            let Ok(Some(output)) = output else {
                break None;
            };
            match &output {
                SessionOutput::Frame { .. } => spoke = true,
                SessionOutput::Answered { .. } => written = true,
                _ => {}
            }
            match output {
                SessionOutput::Frame { .. } | SessionOutput::Answered { .. }
                    if spoke && written && !interrupted =>
                {
                    interrupted = true;
                    let mut pcm = interrupt.clone();
                    pcm.extend(std::iter::repeat_n(0i16, 16 * 700));
                    let _ = session
                        .input
                        .send(SessionInput::Pcm {
                            speaker: SpeakerId("listener".into()),
                            pcm,
                        })
                        .await;
                }
                // Every utterance is transcribed now (the listener's "okay
                // thanks" too): only the asker's own rejection is a miss.
                SessionOutput::Event(Event::WakeRejected {
                    transcript,
                    speaker: rejected,
                    ..
                }) if rejected == speaker => {
                    break Some(Err(format!("{question}: not woken (heard {transcript:?})")));
                }
                SessionOutput::Interaction(interaction) => break Some(Ok(interaction)),
                _ => {}
            }
        };
        match outcome {
            Some(Ok(interaction)) => {
                if let Some(error) = &interaction.error {
                    failures.push(format!("{question}: {error}"));
                }
                interactions.push(interaction);
            }
            Some(Err(failure)) => failures.push(failure),
            None => failures.push(format!("{question}: no answer within {per_question:?}")),
        }
    }
    drop(session.input);
    session.task.abort();
    report(agent, questions.len(), interactions, failures)
}

fn report(
    agent: &Agent,
    questions: usize,
    interactions: Vec<Interaction>,
    failures: Vec<String>,
) -> BenchReport {
    let stage = |name: &'static str, pick: fn(&Interaction) -> Option<u64>| {
        let mut values: Vec<u64> = interactions
            .iter()
            .filter(|i| i.error.is_none())
            .filter_map(pick)
            .collect();
        values.sort_unstable();
        StageStats {
            stage: name,
            samples: values.len(),
            p50_ms: percentile(&values, 0.50),
            p95_ms: percentile(&values, 0.95),
        }
    };
    let stages = vec![
        stage("wake_delay", |i| i.latencies.wake_delay_ms),
        stage("transcription_delay", |i| {
            i.latencies.transcription_delay_ms
        }),
        stage("llm_ttft", |i| i.latencies.llm_ttft_ms),
        stage("llm_first_sentence", |i| i.latencies.llm_first_sentence_ms),
        stage("tts_ttfb", |i| i.latencies.tts_ttfb_ms),
        stage("voice_to_voice", |i| i.latencies.voice_to_voice_ms),
    ];
    let median = |name: &str| {
        stages
            .iter()
            .find(|s| s.stage == name)
            .map_or(0, |s| s.p50_ms)
    };
    let sum_of_stage_medians_ms =
        median("transcription_delay") + median("llm_first_sentence") + median("tts_ttfb");
    BenchReport {
        providers: agent.providers(),
        questions,
        answered: interactions
            .iter()
            .filter(|i| i.latencies.voice_to_voice_ms.is_some())
            .count(),
        stages,
        sum_of_stage_medians_ms,
        failures,
        interactions,
    }
}

/// Nearest-rank percentile of sorted values; 0 when there are none.
pub(crate) fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "agent voice-to-voice: stt={} llm={} tts={}; {} of {} questions answered",
            self.providers.stt,
            self.providers.llm,
            self.providers.tts,
            self.answered,
            self.questions
        )?;
        writeln!(
            f,
            "{:<22} {:>7} {:>9} {:>9}",
            "stage", "samples", "p50 ms", "p95 ms"
        )?;
        for s in &self.stages {
            writeln!(
                f,
                "{:<22} {:>7} {:>9} {:>9}",
                s.stage, s.samples, s.p50_ms, s.p95_ms
            )?;
        }
        writeln!(
            f,
            "sum of stage medians (transcription + first sentence + tts): {} ms",
            self.sum_of_stage_medians_ms
        )?;
        for failure in &self.failures {
            writeln!(f, "failure: {failure}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&values, 0.5), 10);
        assert_eq!(percentile(&values, 0.95), 19);
        assert_eq!(percentile(&[7], 0.95), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}

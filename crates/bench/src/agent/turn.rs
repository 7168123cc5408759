//! `lockin-bench turn-taking`: what the assistant's turn-taking costs, and
//! how long it waits after a question before taking it.
//!
//! - Silero VAD's time per 32 ms chunk, over the sentences below.
//! - Smart Turn's time per call on one and on two intra-op threads, and the
//!   part of it that is the log-mel features.
//! - End of speech → end of the utterance, through the sans-IO pipeline on
//!   the real clock, as the session task drives it: each question (`"hey
//!   agent, <question>"`, the voice-to-voice benchmark's, in flite's three
//!   voices, its leading and trailing quiet trimmed) is sent in real time,
//!   20 ms at a time as a microphone sends it, then silence, while Smart
//!   Turn runs on a blocking thread. The baseline is the fixed 500 ms of
//!   silence that ended every utterance before Smart Turn.
//! - Thinking pauses: "hey agent, how do I, um," then 1.5 s of silence,
//!   then the rest of the question: kept as one utterance, or cut.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::mpsc;

use agent::audio::{FRAME_DURATION, FRAME_SAMPLES};
use agent::mel::LogMel;
use agent::pipeline::{Event, Input, Output, PipelineConfig, SessionPipeline, TurnEnd};
use agent::tts::flite::{FliteVoice, synthesize_blocking};
use agent::turn::{SmartTurn, TurnDetector, WINDOW_SECONDS};
use agent::vad::{CHUNK_SAMPLES, Silero, VoiceActivity};
use agent::{SpeakerId, turn::TurnVerdict};

use super::voice_to_voice::BENCH_QUESTIONS;

/// The fixed end-of-speech silence of the pipeline before Smart Turn.
const BASELINE_MS: u64 = 500;
/// The pause inside each thinking-pause question.
const THINKING_PAUSE: Duration = Duration::from_millis(1500);
/// Thinking-pause questions: what comes before the pause, and after it.
const THINKING: [(&str, &str); 3] = [
    ("hey agent, how do I, um,", "sort a list in python"),
    (
        "hey agent, what is the, uh,",
        "difference between a vector and an array",
    ),
    ("hey agent, can you, hmm,", "explain what a trait is"),
];

#[derive(clap::Args, Debug)]
pub struct TurnBenchArgs {
    /// How many of the 20 benchmark questions to time, in each of flite's
    /// three voices.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=20))]
    pub questions: u64,
    /// Smart Turn calls timed per thread count.
    #[arg(long, default_value_t = 40)]
    pub calls: usize,
    /// Print the whole report, every utterance included, as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Percentiles of one measured quantity.
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    pub samples: u64,
    pub p50: u64,
    pub p95: u64,
    pub max: u64,
}

impl Spread {
    fn of(histogram: &Histogram<u64>) -> Self {
        Self {
            samples: histogram.len(),
            p50: histogram.value_at_quantile(0.50),
            p95: histogram.value_at_quantile(0.95),
            max: histogram.max(),
        }
    }
}

/// How one spoken question's turn ended.
#[derive(Debug, Clone, Serialize)]
pub struct TurnTiming {
    pub voice: String,
    pub text: String,
    /// Utterances it became (1 = taken whole).
    pub utterances: usize,
    /// Why the last one ended: `Complete { probability }`, `LongSilence`, …
    pub reason: String,
    /// The last voiced chunk's end → the utterance's end (what the
    /// interaction's `end_of_turn_ms` records).
    pub after_last_voiced_ms: u64,
    /// The audio's last sample → the utterance's end.
    pub after_audio_end_ms: u64,
}

/// The benchmark's result (times per call in µs, delays in ms).
#[derive(Debug, Clone, Serialize)]
pub struct TurnReport {
    pub silero_chunk_us: Spread,
    pub smart_turn_1_thread_us: Spread,
    pub smart_turn_2_threads_us: Spread,
    pub log_mel_us: Spread,
    /// Finished questions: last voiced chunk → utterance end.
    pub end_of_turn_ms: Spread,
    /// Finished questions: the audio's end → utterance end.
    pub after_audio_end_ms: Spread,
    /// Finished questions Smart Turn judged complete at the first pause.
    pub complete_at_first_check: usize,
    pub questions: usize,
    /// Thinking-pause questions taken as one utterance.
    pub pauses_kept_whole: usize,
    pub pauses: usize,
    pub turns: Vec<TurnTiming>,
}

pub async fn run_turn_taking(args: TurnBenchArgs) -> anyhow::Result<()> {
    let report = bench_turn_taking(args.questions as usize, args.calls).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

/// flite's `text` in `voice`, its leading and trailing quiet trimmed.
async fn spoken(voice: FliteVoice, text: &str) -> anyhow::Result<Vec<i16>> {
    let text = text.to_string();
    let pcm = tokio::task::spawn_blocking(move || synthesize_blocking(voice, &text)).await??;
    let loud = |s: &i16| s.unsigned_abs() > 300;
    let start = pcm.iter().position(loud).unwrap_or(0);
    let end = pcm.iter().rposition(loud).map_or(start, |i| i + 1);
    Ok(pcm[start..end].to_vec())
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

/// Runs the benchmark over `questions` of the 20 in each voice, timing
/// `calls` Smart Turn calls per thread count.
pub async fn bench_turn_taking(questions: usize, calls: usize) -> anyhow::Result<TurnReport> {
    let silero = Silero::load()?;
    let mut sentences = Vec::new();
    for voice in FliteVoice::ALL {
        for question in &BENCH_QUESTIONS[..questions.min(BENCH_QUESTIONS.len())] {
            let text = format!("hey agent, {question}");
            sentences.push((voice, spoken(voice, &text).await?, text));
        }
    }

    eprintln!("timing Silero VAD…");
    let mut silero_chunk = histogram();
    for (_, pcm, _) in &sentences {
        let mut detector = silero.detector();
        for chunk in pcm.chunks_exact(CHUNK_SAMPLES) {
            let started = Instant::now();
            detector.speech_probability(chunk.try_into().expect("whole chunks"))?;
            silero_chunk.saturating_record(started.elapsed().as_micros() as u64);
        }
    }

    eprintln!("timing Smart Turn…");
    // What the pipeline hands over: the question and 200 ms of silence.
    let turns: Vec<Vec<i16>> = sentences
        .iter()
        .map(|(_, pcm, _)| {
            let mut turn = pcm.clone();
            turn.extend(std::iter::repeat_n(0, 16 * 200));
            turn
        })
        .collect();
    let mut per_threads = Vec::new();
    for threads in [1, 2] {
        let model = SmartTurn::load(threads)?;
        model.verdict(&turns[0])?;
        let mut took = histogram();
        for turn in turns.iter().cycle().take(calls) {
            let started = Instant::now();
            model.verdict(turn)?;
            took.saturating_record(started.elapsed().as_micros() as u64);
        }
        per_threads.push(took);
    }
    let mel = LogMel::new();
    let mut log_mel = histogram();
    let window = vec![0.1f32; WINDOW_SECONDS * 16_000];
    for _ in 0..calls {
        let started = Instant::now();
        std::hint::black_box(mel.features(&window, WINDOW_SECONDS * 100, true));
        log_mel.saturating_record(started.elapsed().as_micros() as u64);
    }

    eprintln!("timing end of turn on the real clock…");
    let model: Arc<dyn TurnDetector> = Arc::new(SmartTurn::load(1)?);
    let mut timings = Vec::new();
    for (voice, pcm, text) in &sentences {
        let parts = [pcm.clone()];
        timings.push(time_turn(&silero, &model, *voice, text, &parts).await?);
    }
    let question_count = timings.len();
    for (before, after) in THINKING {
        for voice in FliteVoice::ALL {
            let parts = [spoken(voice, before).await?, spoken(voice, after).await?];
            let text = format!("{before} … {after}");
            timings.push(time_turn(&silero, &model, voice, &text, &parts).await?);
        }
    }

    let (finished, paused) = timings.split_at(question_count);
    let mut end_of_turn = histogram();
    let mut after_audio_end = histogram();
    for timing in finished {
        end_of_turn.saturating_record(timing.after_last_voiced_ms);
        after_audio_end.saturating_record(timing.after_audio_end_ms);
    }
    Ok(TurnReport {
        silero_chunk_us: Spread::of(&silero_chunk),
        smart_turn_1_thread_us: Spread::of(&per_threads[0]),
        smart_turn_2_threads_us: Spread::of(&per_threads[1]),
        log_mel_us: Spread::of(&log_mel),
        end_of_turn_ms: Spread::of(&end_of_turn),
        after_audio_end_ms: Spread::of(&after_audio_end),
        complete_at_first_check: finished
            .iter()
            .filter(|t| t.utterances == 1 && t.reason.starts_with("Complete"))
            .count(),
        questions: finished.len(),
        pauses_kept_whole: paused.iter().filter(|t| t.utterances == 1).count(),
        pauses: paused.len(),
        turns: timings,
    })
}

/// Plays `parts` into a fresh pipeline on the real clock as a microphone
/// sends them, a 20 ms frame at a time, with [`THINKING_PAUSE`] between
/// parts, then silence until an utterance ends after the last speech. No
/// spotter (every utterance is checked); Smart Turn runs on a blocking
/// thread, as in the session task.
async fn time_turn(
    silero: &Silero,
    model: &Arc<dyn TurnDetector>,
    voice: FliteVoice,
    text: &str,
    parts: &[Vec<i16>],
) -> anyhow::Result<TurnTiming> {
    let detector = silero.clone();
    let mut pipeline = SessionPipeline::new(
        PipelineConfig::default(),
        Box::new(move || Box::new(detector.detector()) as Box<dyn VoiceActivity>),
        None,
    )?;
    let speaker = SpeakerId::from("bench");
    // Some quiet before the question, the parts with the pause between.
    let pause = vec![0i16; THINKING_PAUSE.as_millis() as usize * 16];
    let mut pcm = vec![0i16; 16 * 300];
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            pcm.extend_from_slice(&pause);
        }
        pcm.extend_from_slice(part);
    }
    let frames: Vec<&[i16]> = pcm.chunks(FRAME_SAMPLES).collect();
    let silence = [0i16; FRAME_SAMPLES];

    let (verdicts, mut verdict_rx) = mpsc::unbounded_channel();
    let mut ends: Vec<(Instant, Duration, TurnEnd)> = Vec::new();
    let mut sent = 0;
    let mut audio_end = None;
    let mut microphone = tokio::time::interval(FRAME_DURATION);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::select! {
            _ = microphone.tick() => {
                let frame = frames.get(sent).copied().unwrap_or(&silence);
                sent += 1;
                let now = Instant::now();
                if sent == frames.len() {
                    audio_end = Some(now);
                }
                pipeline.handle_input(now, Input::Audio { speaker: &speaker, pcm: frame });
            }
            Some((check, verdict)) = verdict_rx.recv() => {
                pipeline.handle_input(Instant::now(), Input::TurnVerdict { check, verdict });
            }
        }
        while let Output::Event(event) = pipeline.poll_output(Instant::now()) {
            match event {
                Event::CheckTurn { check, pcm, .. } => {
                    let (model, verdicts) = (Arc::clone(model), verdicts.clone());
                    tokio::task::spawn_blocking(move || {
                        let verdict: Result<TurnVerdict, String> =
                            model.verdict(&pcm).map_err(|e| e.to_string());
                        let _ = verdicts.send((check, verdict));
                    });
                }
                Event::TurnEnded {
                    silence, reason, ..
                } => ends.push((Instant::now(), silence, reason)),
                _ => {}
            }
        }
        if let (Some(audio_end), Some(&(at, silence, reason))) = (audio_end, ends.last())
            && at >= audio_end
        {
            return Ok(TurnTiming {
                voice: format!("{voice:?}"),
                text: text.to_string(),
                utterances: ends.len(),
                reason: format!("{reason:?}"),
                after_last_voiced_ms: silence.as_millis() as u64,
                after_audio_end_ms: at.saturating_duration_since(audio_end).as_millis() as u64,
            });
        }
        anyhow::ensure!(Instant::now() < deadline, "{text}: no end of turn");
    }
}

impl std::fmt::Display for TurnReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = |f: &mut std::fmt::Formatter<'_>, name: &str, s: &Spread, unit: &str| {
            writeln!(
                f,
                "{name:<44} {:>6} {:>8} {:>8} {:>8}  {unit}",
                s.samples, s.p50, s.p95, s.max
            )
        };
        writeln!(
            f,
            "{:<44} {:>6} {:>8} {:>8} {:>8}",
            "turn-taking", "n", "p50", "p95", "max"
        )?;
        line(
            f,
            "Silero VAD, one 32 ms chunk",
            &self.silero_chunk_us,
            "µs",
        )?;
        line(
            f,
            "Smart Turn, one call, 1 thread",
            &self.smart_turn_1_thread_us,
            "µs",
        )?;
        line(
            f,
            "Smart Turn, one call, 2 threads",
            &self.smart_turn_2_threads_us,
            "µs",
        )?;
        line(f, "  of which log-mel features", &self.log_mel_us, "µs")?;
        line(
            f,
            "end of speech → utterance end (last voiced)",
            &self.end_of_turn_ms,
            "ms",
        )?;
        line(
            f,
            "end of audio → utterance end",
            &self.after_audio_end_ms,
            "ms",
        )?;
        writeln!(
            f,
            "finished questions complete at the first pause: {} of {}; baseline: a fixed {BASELINE_MS} ms wait",
            self.complete_at_first_check, self.questions
        )?;
        writeln!(
            f,
            "thinking pauses ({} ms) kept inside one utterance: {} of {}",
            THINKING_PAUSE.as_millis(),
            self.pauses_kept_whole,
            self.pauses
        )?;
        for turn in self.turns.iter().filter(|t| {
            t.utterances != 1 || !t.reason.starts_with("Complete") || t.text.contains('…')
        }) {
            writeln!(
                f,
                "  {} {:?}: {} utterance(s), {} after {} ms",
                turn.voice, turn.text, turn.utterances, turn.reason, turn.after_last_voiced_ms
            )?;
        }
        Ok(())
    }
}

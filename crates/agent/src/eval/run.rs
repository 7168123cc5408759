//! Putting the set through the assistant's ears: each sample is spoken by
//! its voice and fed, 20 ms at a time on a simulated clock, into a fresh
//! session pipeline with the agent's real voice-activity detector,
//! end-of-turn model and transcriber. The slow work the pipeline asks for
//! runs at once (the simulated clock waits for it), so the outcome depends
//! on what was heard, never on how busy the machine is.

use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::{Outcome, Report, Sample, Voice};
use crate::agent::Agent;
use crate::audio::{FRAME_DURATION, FRAME_SAMPLES, SAMPLE_RATE};
use crate::pipeline::{Event, Input, Output, SpeakerId};
use crate::prompt::{ProjectInfo, SessionContext, SessionInfo, hints};
use crate::providers::ProviderError;
use crate::tts::TextToSpeech;
use crate::tts::flite::{FliteVoice, synthesize_blocking};

/// Silence before each sample (the pipeline keeps a pre-roll from it).
const LEAD_IN: Duration = Duration::from_millis(300);
/// Silence after each sample: longer than the longest pause the pipeline
/// waits out, so every utterance has ended.
const TAIL: Duration = Duration::from_secs(4);

/// Speaks `text` in `voice`: 16 kHz mono PCM. `piper` is the assistant's own
/// voice engine.
pub async fn speak(
    voice: Voice,
    text: &str,
    piper: &dyn TextToSpeech,
) -> Result<Vec<i16>, ProviderError> {
    let flite = |voice: FliteVoice| synthesize_blocking(voice, text);
    match voice {
        Voice::FliteSlt => flite(FliteVoice::Slt),
        Voice::FliteAwb => flite(FliteVoice::Awb),
        Voice::FliteRms => flite(FliteVoice::Rms),
        Voice::EspeakNg => espeak_ng(text),
        Voice::PiperJoe => {
            let mut pcm = Vec::new();
            let mut chunks = piper.synthesize(text).await?;
            while let Some(chunk) = chunks.next().await {
                pcm.extend(chunk?);
            }
            Ok(pcm)
        }
    }
}

/// espeak-ng's command (another engine than the assistant's own), its
/// 22.05 kHz WAV resampled to 16 kHz.
fn espeak_ng(text: &str) -> Result<Vec<i16>, ProviderError> {
    let output = Command::new("espeak-ng")
        .args(["-v", "en-us", "--stdout", text])
        .output()
        .map_err(|e| {
            ProviderError::Engine(format!("espeak-ng: {e} (scripts/setup-agent installs it)"))
        })?;
    if !output.status.success() {
        return Err(ProviderError::Engine(format!(
            "espeak-ng failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let (rate, samples) = wav_pcm(&output.stdout)
        .ok_or_else(|| ProviderError::Engine("espeak-ng gave no 16-bit mono WAV".into()))?;
    resample(&samples, rate)
}

/// The sample rate and samples of a 16-bit mono PCM WAV. espeak-ng writes
/// its data chunk's size as unknown on a pipe: the data then runs to the end.
fn wav_pcm(bytes: &[u8]) -> Option<(usize, Vec<i16>)> {
    if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let (mut offset, mut rate) = (12, None);
    while offset + 8 <= bytes.len() {
        let id = &bytes[offset..offset + 4];
        let size = u32::from_le_bytes(bytes[offset + 4..offset + 8].try_into().ok()?) as usize;
        let body = offset + 8;
        if id == b"fmt " {
            let format = bytes.get(body..body + 16)?;
            let channels = u16::from_le_bytes([format[2], format[3]]);
            let bits = u16::from_le_bytes([format[14], format[15]]);
            if channels != 1 || bits != 16 {
                return None;
            }
            rate = Some(u32::from_le_bytes(format[4..8].try_into().ok()?) as usize);
        } else if id == b"data" {
            let end = body.saturating_add(size).min(bytes.len());
            let samples = bytes[body..end]
                .chunks_exact(2)
                .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            return Some((rate?, samples));
        }
        offset = body + size + size % 2;
    }
    None
}

fn resample(samples: &[i16], rate: usize) -> Result<Vec<i16>, ProviderError> {
    if rate == SAMPLE_RATE as usize || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let failed = |e: &dyn std::fmt::Display| ProviderError::Engine(format!("resampling: {e}"));
    let input: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
    let mut resampler = Fft::<f32>::new(rate, SAMPLE_RATE as usize, 1024, 1, FixedSync::Input)
        .map_err(|e| failed(&e))?;
    let adapter = InterleavedSlice::new(&input, 1, input.len()).map_err(|e| failed(&e))?;
    let output = resampler
        .process_all(&adapter, input.len(), None)
        .map_err(|e| failed(&e))?
        .take_data();
    Ok(output
        .iter()
        .map(|s| (s * 32768.0).clamp(-32768.0, 32767.0) as i16)
        .collect())
}

/// What `agent` hears of each sample, scored.
pub async fn evaluate(
    agent: &Agent,
    piper: &dyn TextToSpeech,
    samples: &[Sample],
) -> Result<Report, ProviderError> {
    // What a session of a coding project would hint; no names (the
    // samples' speakers are anonymous).
    let context = SessionContext {
        session: SessionInfo {
            title: "Evaluation".into(),
            kind: "coding".into(),
        },
        project: Some(ProjectInfo {
            name: "Lock In".into(),
            description: "Live focus sessions with a voice coding assistant".into(),
            tech_stack: vec!["Rust".into(), "axum".into(), "SQLite".into()],
            repo_url: None,
        }),
    };
    let hints = hints(&agent.config().wake_phrase, &context, &[]);
    let mut outcomes = Vec::with_capacity(samples.len());
    for sample in samples {
        let speech = speak(sample.voice, &sample.text, piper).await?;
        outcomes.push(listen(agent, &hints, sample.clone(), &speech).await);
    }
    Ok(Report::new(outcomes))
}

/// Feeds one sample into a fresh pipeline and reports what it made of it.
async fn listen(agent: &Agent, hints: &str, sample: Sample, speech: &[i16]) -> Outcome {
    let speaker = SpeakerId::from("asker");
    let mut pipeline = agent.pipeline();
    let mut audio = vec![0i16; samples_in(LEAD_IN)];
    audio.extend_from_slice(speech);
    audio.extend(std::iter::repeat_n(0i16, samples_in(TAIL)));

    let mut now = Instant::now();
    let mut transcripts = Vec::new();
    let mut question = None;
    'feed: for frame in audio.chunks(FRAME_SAMPLES) {
        now += FRAME_DURATION;
        pipeline.handle_input(
            now,
            Input::Audio {
                speaker: &speaker,
                pcm: frame,
            },
        );
        while let Output::Event(event) = pipeline.poll_output(now) {
            match event {
                Event::CheckTurn { check, pcm, .. } => {
                    let verdict = agent
                        .hearing()
                        .turn
                        .verdict(&pcm)
                        .map_err(|e| e.to_string());
                    pipeline.handle_input(now, Input::TurnVerdict { check, verdict });
                }
                Event::Transcribe { utterance, pcm, .. } => {
                    let result = agent
                        .speech_to_text()
                        .transcribe_with_hints(&pcm, hints)
                        .await
                        .map(|t| t.text)
                        .map_err(|e| e.to_string());
                    pipeline.handle_input(now, Input::Transcript { utterance, result });
                }
                Event::WakeRejected { transcript, .. } => transcripts.push(transcript),
                Event::QuestionReady(ready) => {
                    transcripts.push(ready.transcript);
                    question = Some(ready.text);
                    break 'feed;
                }
                _ => {}
            }
        }
    }
    Outcome {
        sample,
        transcript: transcripts.join(" | "),
        question,
    }
}

fn samples_in(duration: Duration) -> usize {
    (duration.as_millis() as usize) * SAMPLE_RATE as usize / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wav_from_a_pipe_reads_to_its_end() {
        let mut wav = b"RIFF\xff\xff\xff\xffWAVEfmt ".to_vec();
        wav.extend(16u32.to_le_bytes());
        wav.extend(1u16.to_le_bytes()); // PCM
        wav.extend(1u16.to_le_bytes()); // mono
        wav.extend(22_050u32.to_le_bytes());
        wav.extend(44_100u32.to_le_bytes());
        wav.extend(2u16.to_le_bytes());
        wav.extend(16u16.to_le_bytes());
        wav.extend(b"data\xff\xff\xff\xff");
        wav.extend([1, 0, 2, 0, 0xff, 0xff]);
        assert_eq!(wav_pcm(&wav), Some((22_050, vec![1, 2, -1])));
        assert_eq!(wav_pcm(b"not a wav"), None);
    }

    #[test]
    fn resampling_keeps_the_duration() {
        let second: Vec<i16> = (0..22_050)
            .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
            .collect();
        let out = resample(&second, 22_050).unwrap();
        assert!((out.len() as i64 - 16_000).abs() < 400, "{}", out.len());
    }
}

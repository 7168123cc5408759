//! Whisper's log-mel features: what Whisper (speech-to-text) and Smart Turn
//! (end of turn, a Whisper encoder) read instead of raw audio.
//!
//! The same computation as Hugging Face's `WhisperFeatureExtractor`: 25 ms
//! periodic-Hann frames every 10 ms, centred (reflect-padded by half a
//! frame), power spectrum through 80 Slaney-normalised mel filters over
//! 0–8 kHz, `log10` floored at 1e-10, the last frame dropped, values
//! clamped to 8 (log10 units) below the maximum, then scaled to
//! `(x + 4) / 4`. Optionally the waveform is first normalised to zero mean
//! and unit variance (Smart Turn was trained so; Whisper was not).

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// Samples per second the features are computed at.
pub const SAMPLE_RATE: usize = 16_000;
/// Samples per analysis window (25 ms).
pub const N_FFT: usize = 400;
/// Samples between frames (10 ms): one feature frame per hop.
pub const HOP: usize = 160;
/// Mel bands.
pub const N_MELS: usize = 80;

const BINS: usize = N_FFT / 2 + 1;

/// Computes log-mel features; build once, use for every utterance.
pub struct LogMel {
    /// `N_MELS × BINS`, row-major.
    filters: Vec<f32>,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl LogMel {
    pub fn new() -> Self {
        let window = (0..N_FFT)
            .map(|i| {
                let phase = 2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64;
                (0.5 - 0.5 * phase.cos()) as f32
            })
            .collect();
        Self {
            filters: slaney_filterbank(),
            window,
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT),
        }
    }

    /// `N_MELS × n_frames` features (row-major: band by band) of `pcm`
    /// (samples in `-1.0..=1.0`), zero-padded at the end or cut to
    /// `n_frames * HOP` samples first.
    pub fn features(&self, pcm: &[f32], n_frames: usize, normalize: bool) -> Vec<f32> {
        let n_samples = n_frames * HOP;
        let mut audio = vec![0.0f32; n_samples];
        let taken = pcm.len().min(n_samples);
        audio[..taken].copy_from_slice(&pcm[..taken]);
        if normalize {
            let mean = audio.iter().map(|&x| x as f64).sum::<f64>() / n_samples.max(1) as f64;
            let variance = audio
                .iter()
                .map(|&x| (x as f64 - mean).powi(2))
                .sum::<f64>()
                / n_samples.max(1) as f64;
            let scale = 1.0 / (variance + 1e-7).sqrt();
            for x in &mut audio {
                *x = ((*x as f64 - mean) * scale) as f32;
            }
        }

        // Centred frames: reflect-pad half a window at both ends. The
        // reference computes n_samples / HOP + 1 frames and drops the last.
        let pad = N_FFT / 2;
        let padded: Vec<f32> = (0..n_samples + 2 * pad)
            .map(|i| audio[reflect(i as isize - pad as isize, n_samples)])
            .collect();

        let mut mel = vec![0.0f32; N_MELS * n_frames];
        let mut frame = self.fft.make_input_vec();
        let mut spectrum: Vec<Complex<f32>> = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f32; BINS];
        for t in 0..n_frames {
            let start = t * HOP;
            for (slot, (&x, &w)) in frame
                .iter_mut()
                .zip(padded[start..start + N_FFT].iter().zip(&self.window))
            {
                *slot = x * w;
            }
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .expect("buffers come from the plan");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for band in 0..N_MELS {
                let filter = &self.filters[band * BINS..(band + 1) * BINS];
                let energy: f32 = filter.iter().zip(&power).map(|(f, p)| f * p).sum();
                mel[band * n_frames + t] = energy.max(1e-10).log10();
            }
        }

        let floor = mel.iter().copied().fold(f32::NEG_INFINITY, f32::max) - 8.0;
        for value in &mut mel {
            *value = (value.max(floor) + 4.0) / 4.0;
        }
        mel
    }
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

/// Index `i` of a signal of length `n` mirrored at both ends without
/// repeating the edge sample (numpy's "reflect").
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n <= 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let mut i = i.rem_euclid(period);
    if i >= n {
        i = period - i;
    }
    i as usize
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= 1000.0 {
        15.0 + (hz / 1000.0).ln() * (27.0 / 6.4f64.ln())
    } else {
        3.0 * hz / 200.0
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= 15.0 {
        1000.0 * ((6.4f64.ln() / 27.0) * (mel - 15.0)).exp()
    } else {
        200.0 * mel / 3.0
    }
}

/// Triangular filters evenly spaced on the Slaney mel scale over 0–8 kHz,
/// each scaled to unit area (librosa's `norm="slaney"`).
fn slaney_filterbank() -> Vec<f32> {
    let top = hz_to_mel(SAMPLE_RATE as f64 / 2.0);
    let edges: Vec<f64> = (0..N_MELS + 2)
        .map(|i| mel_to_hz(top * i as f64 / (N_MELS + 1) as f64))
        .collect();
    let mut filters = vec![0.0f32; N_MELS * BINS];
    for band in 0..N_MELS {
        let (low, centre, high) = (edges[band], edges[band + 1], edges[band + 2]);
        let area = 2.0 / (high - low);
        for bin in 0..BINS {
            let hz = bin as f64 * (SAMPLE_RATE / 2) as f64 / (BINS - 1) as f64;
            let rising = (hz - low) / (centre - low);
            let falling = (high - hz) / (high - centre);
            filters[band * BINS + bin] = (rising.min(falling).max(0.0) * area) as f32;
        }
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, seconds: f64) -> Vec<f32> {
        (0..(seconds * SAMPLE_RATE as f64) as usize)
            .map(|i| {
                (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / SAMPLE_RATE as f64).sin())
                    as f32
            })
            .collect()
    }

    #[test]
    fn reflection_mirrors_without_repeating_the_edge() {
        let mirrored: Vec<usize> = (-3..8).map(|i| reflect(i, 5)).collect();
        assert_eq!(mirrored, [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]);
    }

    #[test]
    fn filters_cover_the_band_with_unit_area_triangles() {
        let filters = slaney_filterbank();
        for band in 0..N_MELS {
            let row = &filters[band * BINS..(band + 1) * BINS];
            assert!(row.iter().any(|&f| f > 0.0), "band {band} is empty");
            // Each triangle has a single peak: rising, then falling.
            let peak = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            assert!(row[..peak].windows(2).all(|w| w[0] <= w[1]), "band {band}");
            assert!(row[peak..].windows(2).all(|w| w[0] >= w[1]), "band {band}");
        }
        // Slaney scale: linear below 1 kHz (bands 3/200 mel apart per hertz).
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-9);
        assert!((mel_to_hz(hz_to_mel(3210.0)) - 3210.0).abs() < 1e-6);
    }

    #[test]
    fn a_tone_lights_the_band_of_its_pitch_and_values_are_scaled() {
        let mel = LogMel::new();
        let frames = 100;
        let low = mel.features(&tone(300.0, 1.0), frames, false);
        let high = mel.features(&tone(3000.0, 1.0), frames, false);
        let loudest_band = |features: &[f32]| {
            (0..N_MELS)
                .max_by(|&a, &b| features[a * frames + 50].total_cmp(&features[b * frames + 50]))
                .unwrap()
        };
        let (low_band, high_band) = (loudest_band(&low), loudest_band(&high));
        assert!(
            low_band < high_band,
            "300 Hz in band {low_band}, 3 kHz in {high_band}"
        );
        assert!((mel_to_hz(hz_to_mel(300.0)) - 300.0).abs() < 1e-6);
        // The maximum maps to (max + 4) / 4 and nothing is more than 2 below it.
        let top = low.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert!(low.iter().all(|&v| v >= top - 2.0 - 1e-6));
    }

    #[test]
    fn input_is_padded_or_cut_to_the_frames_asked_for() {
        let mel = LogMel::new();
        assert_eq!(
            mel.features(&tone(440.0, 0.3), 800, true).len(),
            N_MELS * 800
        );
        assert_eq!(
            mel.features(&tone(440.0, 10.0), 800, true).len(),
            N_MELS * 800
        );
        // Silence normalises without dividing by zero.
        assert!(
            mel.features(&[0.0; 1600], 10, true)
                .iter()
                .all(|v| v.is_finite())
        );
    }
}

//! Audio formats at the agent's edges.
//!
//! Inside, everything is 16 kHz mono signed 16-bit PCM, in 20 ms frames (320
//! samples) for Opus and 32 ms chunks for the voice detector ([`Chunker`]
//! cuts both): what PocketSphinx, Silero VAD and flite use. At the
//! edges is Opus: libopus decodes any Opus stream straight to 16 kHz and
//! encodes from 16 kHz, so no resampler is needed. The RTP clock of Opus is
//! always 48 kHz whatever the coded bandwidth: +960 per 20 ms frame.

use audiopus::coder::{Decoder, Encoder};
use audiopus::packet::Packet;
use audiopus::{Application, Bitrate, Channels, MutSignals, SampleRate};

/// Samples per second of the agent's internal audio.
pub const SAMPLE_RATE: u32 = 16_000;
/// One 20 ms frame at [`SAMPLE_RATE`].
pub const FRAME_SAMPLES: usize = 320;
/// How long one frame lasts.
pub const FRAME_DURATION: std::time::Duration = std::time::Duration::from_millis(20);
/// RTP timestamp increment of one 20 ms Opus frame (48 kHz clock).
pub const RTP_TICKS_PER_FRAME: u32 = 960;

#[derive(Debug, thiserror::Error)]
#[error("opus: {0}")]
pub struct OpusError(String);

impl From<audiopus::Error> for OpusError {
    fn from(error: audiopus::Error) -> Self {
        Self(error.to_string())
    }
}

/// Decodes one speaker's Opus packets to 16 kHz mono PCM. Keep one per
/// incoming track: the decoder carries state between packets.
pub struct OpusDecoder {
    decoder: Decoder,
    /// Room for the longest Opus packet, 120 ms at 16 kHz.
    buffer: Vec<i16>,
}

impl OpusDecoder {
    pub fn new() -> Result<Self, OpusError> {
        Ok(Self {
            decoder: Decoder::new(SampleRate::Hz16000, Channels::Mono)?,
            buffer: vec![0; 1920],
        })
    }

    /// Decodes one packet. An empty `packet` means it was lost: libopus
    /// conceals the gap (packet loss concealment) with one frame.
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[i16], OpusError> {
        let input = if packet.is_empty() {
            None
        } else {
            Some(Packet::try_from(packet)?)
        };
        let output = if input.is_none() {
            MutSignals::try_from(&mut self.buffer[..FRAME_SAMPLES])?
        } else {
            MutSignals::try_from(&mut self.buffer[..])?
        };
        let samples = self.decoder.decode(input, output, false)?;
        Ok(&self.buffer[..samples])
    }
}

/// Encodes the agent's voice: 20 ms frames of 16 kHz PCM in, Opus packets
/// out (the browser decodes them at 48 kHz as for any Opus stream).
pub struct OpusEncoder {
    encoder: Encoder,
    packet: Vec<u8>,
}

impl OpusEncoder {
    pub fn new() -> Result<Self, OpusError> {
        let mut encoder = Encoder::new(SampleRate::Hz16000, Channels::Mono, Application::Voip)?;
        encoder.set_bitrate(Bitrate::BitsPerSecond(24_000))?;
        Ok(Self {
            encoder,
            packet: vec![0; 1500],
        })
    }

    /// Encodes exactly one 20 ms frame.
    pub fn encode(&mut self, frame: &[i16; FRAME_SAMPLES]) -> Result<Vec<u8>, OpusError> {
        let len = self.encoder.encode(frame, &mut self.packet)?;
        Ok(self.packet[..len].to_vec())
    }
}

/// Cuts a PCM stream of any chunk sizes into whole chunks of `N` samples,
/// keeping the remainder for the next push.
#[derive(Debug)]
pub struct Chunker<const N: usize> {
    pending: Vec<i16>,
}

/// A [`Chunker`] of 20 ms frames.
pub type Framer = Chunker<FRAME_SAMPLES>;

impl<const N: usize> Default for Chunker<N> {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
        }
    }
}

impl<const N: usize> Chunker<N> {
    pub fn push(&mut self, pcm: &[i16], mut frame: impl FnMut([i16; N])) {
        self.pending.extend_from_slice(pcm);
        let whole = self.pending.len() / N * N;
        for chunk in self.pending[..whole].chunks_exact(N) {
            frame(chunk.try_into().expect("chunks_exact gives whole frames"));
        }
        self.pending.drain(..whole);
    }

    /// Pads what is left with silence into a last frame, if anything is left.
    pub fn flush(&mut self) -> Option<[i16; N]> {
        if self.pending.is_empty() {
            return None;
        }
        let mut frame = [0i16; N];
        frame[..self.pending.len()].copy_from_slice(&self.pending);
        self.pending.clear();
        Some(frame)
    }

    /// Samples waiting for the rest of their chunk.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Root-mean-square level of a frame, 0.0 ‥ 1.0 of full scale.
pub fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    let sum: f64 = pcm.iter().map(|&s| (s as f64 / 32768.0).powi(2)).sum();
    (sum / pcm.len() as f64).sqrt()
}

/// A frame's level in dBov as RFC 6464 puts it on an audio packet: 0 is
/// the loudest, -127 silence.
pub fn dbov(pcm: &[i16]) -> i8 {
    let rms = rms(pcm);
    if rms <= 0.0 {
        return -127;
    }
    (20.0 * rms.log10()).round().clamp(-127.0, 0.0) as i8
}

/// Decodes little-endian signed 16-bit PCM bytes, keeping an odd trailing
/// byte for the next call (HTTP chunks split samples anywhere).
#[derive(Debug, Default)]
pub struct S16leDecoder {
    carry: Option<u8>,
}

impl S16leDecoder {
    pub fn decode(&mut self, bytes: &[u8]) -> Vec<i16> {
        let mut out = Vec::with_capacity(bytes.len() / 2 + 1);
        let mut rest = bytes;
        if let Some(low) = self.carry.take() {
            if let Some((&high, tail)) = rest.split_first() {
                out.push(i16::from_le_bytes([low, high]));
                rest = tail;
            } else {
                self.carry = Some(low);
                return out;
            }
        }
        let mut chunks = rest.chunks_exact(2);
        out.extend(chunks.by_ref().map(|b| i16::from_le_bytes([b[0], b[1]])));
        self.carry = chunks.remainder().first().copied();
        out
    }
}

/// Little-endian bytes of PCM samples, as streaming speech APIs take them.
pub fn s16le_bytes(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framer_cuts_whole_frames_and_pads_the_rest() {
        let mut framer = Framer::default();
        let mut frames = Vec::new();
        framer.push(&[1; 500], |f| frames.push(f));
        framer.push(&[2; 200], |f| frames.push(f));
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1][179], 1);
        assert_eq!(frames[1][180], 2);
        let last = framer.flush().unwrap();
        assert_eq!(&last[..60], &[2; 60]);
        assert_eq!(last[60], 0);
        assert!(framer.flush().is_none());
    }

    #[test]
    fn levels_are_dbov_from_silence_to_full_scale() {
        assert_eq!(dbov(&[0; 960]), -127);
        assert_eq!(dbov(&[]), -127);
        // A full-scale square wave is 0 dBov; half of it about -6.
        let full: Vec<i16> = (0..960)
            .map(|i| if i % 2 == 0 { 32767 } else { -32767 })
            .collect();
        assert_eq!(dbov(&full), 0);
        let half: Vec<i16> = full.iter().map(|s| s / 2).collect();
        assert_eq!(dbov(&half), -6);
        // One step of noise is near silence, not speech.
        assert!(dbov(&[1; 960]) < -80);
    }

    #[test]
    fn s16le_survives_odd_splits() {
        let pcm = [1i16, -2, 300, -32768, 32767];
        let bytes = s16le_bytes(&pcm);
        let mut decoder = S16leDecoder::default();
        let mut out = decoder.decode(&bytes[..3]);
        out.extend(decoder.decode(&bytes[3..4]));
        out.extend(decoder.decode(&bytes[4..]));
        assert_eq!(out, pcm);
    }

    #[test]
    fn opus_round_trip_keeps_a_tone() {
        let mut encoder = OpusEncoder::new().unwrap();
        let mut decoder = OpusDecoder::new().unwrap();
        let mut energy_in = 0.0;
        let mut energy_out = 0.0;
        for n in 0..50 {
            let frame: [i16; FRAME_SAMPLES] = std::array::from_fn(|i| {
                let t = (n * FRAME_SAMPLES + i) as f64 / SAMPLE_RATE as f64;
                ((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16
            });
            let packet = encoder.encode(&frame).unwrap();
            assert!(packet.len() < 200, "a 24 kbit/s frame is about 60 bytes");
            let decoded = decoder.decode(&packet).unwrap();
            assert_eq!(decoded.len(), FRAME_SAMPLES);
            if n >= 10 {
                energy_in += rms(&frame);
                energy_out += rms(decoded);
            }
        }
        assert!(
            (energy_out / energy_in - 1.0).abs() < 0.2,
            "{energy_in} vs {energy_out}"
        );
        // A lost packet is concealed with one frame.
        assert_eq!(decoder.decode(&[]).unwrap().len(), FRAME_SAMPLES);
    }
}

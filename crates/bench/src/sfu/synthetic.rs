//! Synthetic participants for load tests of an SFU, ours or another.
//!
//! An [`Endpoint`] is a client peer of the `sfu` crate on a UDP socket of its
//! own ([`sfu::client::ClientDriver`]), standing in for a browser: it sends Opus-like audio (a packet every 20 ms) and
//! VP8-like video (30 frames a second), and records every frame it receives.
//! Every payload carries a [`Stamp`]: who sent it, which track, its sequence
//! number and when it was written, so a receiver can tell latency and loss on
//! its own. The payloads are not real codec output: an SFU forwards without
//! decoding, so only their size, their packetization and the VP8 keyframe
//! bit matter.
//!
//! Signalling is the caller's business (`lockin-bench sfu` drives ours
//! through an [`SfuHandle`](sfu::SfuHandle) and Janus through its HTTP
//! API): the endpoint makes and takes SDP, and answers the offers passed to
//! [`Endpoint::run`] while it runs. The peer connection itself (ICE, DTLS,
//! RTP, the socket) is all the client peer's; this module only decides what
//! to send and notes what arrives.

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sfu::TrackKind;
use sfu::client::{ClientDriver, ClientError, ClientEvent, Direction, Mid, ReceivedFrame};
use tokio::sync::{mpsc, oneshot, watch};

/// Opus packets are this far apart.
pub const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
/// Video frames per second.
pub const VIDEO_FPS: u32 = 30;
/// A keyframe is this many times the size of a delta frame, as a real
/// encoder's roughly is.
pub const KEYFRAME_FACTOR: usize = 3;

/// What a frame says about itself, at the start of its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    /// The sending participant's number in the test.
    pub publisher: u16,
    pub kind: TrackKind,
    /// Counts the frames of one track from 0, one by one.
    pub seq: u32,
    /// When the frame was written, in nanoseconds since the test's epoch.
    pub sent_nanos: u64,
}

impl Stamp {
    const MAGIC: [u8; 4] = *b"LKIN";
    const LEN: usize = 4 + 2 + 1 + 4 + 8;

    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&Self::MAGIC);
        out.extend_from_slice(&self.publisher.to_be_bytes());
        out.push(match self.kind {
            TrackKind::Audio => 0,
            TrackKind::Video => 1,
        });
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.sent_nanos.to_be_bytes());
    }

    fn read(bytes: &[u8]) -> Option<Self> {
        let bytes = bytes.get(..Self::LEN)?;
        if bytes[..4] != Self::MAGIC {
            return None;
        }
        let kind = match bytes[6] {
            0 => TrackKind::Audio,
            1 => TrackKind::Video,
            _ => return None,
        };
        Some(Self {
            publisher: u16::from_be_bytes(bytes[4..6].try_into().ok()?),
            kind,
            seq: u32::from_be_bytes(bytes[7..11].try_into().ok()?),
            sent_nanos: u64::from_be_bytes(bytes[11..19].try_into().ok()?),
        })
    }
}

/// An Opus-like packet of `len` bytes: a TOC byte (CELT fullband, 20 ms,
/// mono, one frame), the stamp, then filler.
pub fn audio_payload(stamp: &Stamp, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len.max(1 + Stamp::LEN));
    out.push(0xf8);
    stamp.write_to(&mut out);
    out.resize(len.max(out.len()), 0x55);
    out
}

/// The frame tag of a VP8 keyframe (version 0, shown), its start code and a
/// 640×360 size; a delta frame has only the 3-byte tag, with the low bit set.
const VP8_KEYFRAME_HEADER: [u8; 10] = [0x10, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01];
const VP8_DELTA_HEADER: [u8; 3] = [0x11, 0, 0];

/// A VP8-like frame of `len` bytes: a VP8 frame header (SFUs and str0m read
/// the keyframe bit), the stamp, then filler.
pub fn video_payload(stamp: &Stamp, len: usize, keyframe: bool) -> Vec<u8> {
    let header: &[u8] = if keyframe {
        &VP8_KEYFRAME_HEADER
    } else {
        &VP8_DELTA_HEADER
    };
    let mut out = Vec::with_capacity(len.max(header.len() + Stamp::LEN));
    out.extend_from_slice(header);
    stamp.write_to(&mut out);
    out.resize(len.max(out.len()), 0xaa);
    out
}

/// The stamp of a received frame, if it is one of ours.
pub fn read_stamp(kind: TrackKind, payload: &[u8]) -> Option<Stamp> {
    let offset = match kind {
        TrackKind::Audio => 1,
        TrackKind::Video if payload.first()? & 1 == 0 => VP8_KEYFRAME_HEADER.len(),
        TrackKind::Video => VP8_DELTA_HEADER.len(),
    };
    Stamp::read(payload.get(offset..)?).filter(|stamp| stamp.kind == kind)
}

/// How big the frames a publisher sends are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaShape {
    /// Opus packets vary between this many bytes and twice as many, as they
    /// do at 24–48 kbit/s.
    pub audio_bytes: usize,
    /// A delta frame; keyframes are [`KEYFRAME_FACTOR`] times as large.
    pub video_frame_bytes: usize,
}

impl Default for MediaShape {
    fn default() -> Self {
        Self {
            audio_bytes: 60,
            video_frame_bytes: 2000,
        }
    }
}

impl MediaShape {
    fn audio_len(&self, seq: u32) -> usize {
        // Deterministic variation, so every run sends the same bytes.
        self.audio_bytes + (seq as usize * 37) % (self.audio_bytes + 1)
    }
}

/// Where a test stands, for every endpoint at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Publishers send as soon as they are connected.
    Sending,
    /// Publishers stop; frames still in flight are received.
    Quiet,
    /// Endpoints stop and hand in their [`Report`].
    Done,
}

/// A frame a publisher wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub kind: TrackKind,
    pub seq: u32,
    pub sent_nanos: u64,
}

/// A frame received whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub stamp: Stamp,
    /// When str0m handed the whole frame over, nanoseconds since the epoch.
    pub received_nanos: u64,
}

/// What an endpoint did, handed in when the test is [`Phase::Done`].
#[derive(Debug, Default)]
pub struct Report {
    /// Every frame written, in order.
    pub sent: Vec<Sent>,
    /// Every stamped frame received, in order of arrival.
    pub arrivals: Vec<Arrival>,
    /// Media payloads received that carried no stamp of ours.
    pub unreadable: u64,
}

/// An SDP offer from the far side while the endpoint runs; the answer (or why
/// there is none) goes back on `answer`.
#[derive(Debug)]
pub struct RemoteOffer {
    pub sdp: String,
    pub answer: oneshot::Sender<Result<String, SyntheticError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyntheticError {
    #[error("UDP: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// One peer connection on its own UDP socket. See the module docs.
pub struct Endpoint {
    driver: ClientDriver,
    /// The zero of every timestamp, shared by all endpoints of a test.
    epoch: Instant,
    /// Set when this endpoint sends: the participant's number.
    publisher: Option<u16>,
    shape: MediaShape,
    /// The lines this endpoint sends on.
    sending: Vec<Line>,
    connected: bool,
    /// Which (publisher, track) pairs have been heard from.
    heard: HashSet<(u16, TrackKind)>,
    /// Counts, across all endpoints of a test, the pairs first heard.
    progress: Arc<watch::Sender<usize>>,
    report: Report,
}

struct Line {
    mid: Mid,
    kind: TrackKind,
    next_seq: u32,
    /// When the next frame is due; `None` until connected.
    next_at: Option<Instant>,
    keyframe_wanted: bool,
}

impl Line {
    fn interval(&self) -> Duration {
        match self.kind {
            TrackKind::Audio => AUDIO_INTERVAL,
            TrackKind::Video => Duration::from_secs(1) / VIDEO_FPS,
        }
    }
}

impl Endpoint {
    /// A client peer on a UDP socket of its own, for an SFU at `server`.
    pub async fn bind(
        server: IpAddr,
        epoch: Instant,
        shape: MediaShape,
        progress: Arc<watch::Sender<usize>>,
    ) -> Result<Self, SyntheticError> {
        Ok(Self {
            driver: ClientDriver::bind(server).await?,
            epoch,
            publisher: None,
            shape,
            sending: Vec::new(),
            connected: false,
            heard: HashSet::new(),
            progress,
            report: Report::default(),
        })
    }

    /// An offer to publish an audio and a video track as participant
    /// `publisher`; with `None`, an offer of one receive-only audio line,
    /// for an SFU that needs a line to answer before it adds its own.
    pub fn offer(&mut self, publisher: Option<u16>) -> Result<String, SyntheticError> {
        self.publisher = publisher;
        let lines: &[(TrackKind, Direction)] = match publisher {
            Some(_) => &[
                (TrackKind::Audio, Direction::SendOnly),
                (TrackKind::Video, Direction::SendOnly),
            ],
            None => &[(TrackKind::Audio, Direction::RecvOnly)],
        };
        let (offer, mids) = self.driver.peer().offer(lines)?;
        if publisher.is_some() {
            self.sending = mids
                .into_iter()
                .zip(lines)
                .map(|(mid, &(kind, _))| Line {
                    mid,
                    kind,
                    next_seq: 0,
                    next_at: None,
                    keyframe_wanted: true,
                })
                .collect();
        }
        Ok(offer)
    }

    /// Takes the far side's answer to [`Endpoint::offer`].
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), SyntheticError> {
        Ok(self.driver.peer().accept_answer(sdp)?)
    }

    /// Answers the far side's offer (lines it sends on are received here).
    pub fn accept_offer(&mut self, sdp: &str) -> Result<String, SyntheticError> {
        Ok(self.driver.peer().accept_offer(sdp)?)
    }

    /// Runs the connection until `phase` says [`Phase::Done`] (or its sender
    /// goes): sends media while [`Phase::Sending`], receives throughout, and
    /// answers the offers that come in on `offers`. A connection that breaks
    /// shows in the report as frames missing; the test goes on.
    pub async fn run(
        mut self,
        mut offers: mpsc::UnboundedReceiver<RemoteOffer>,
        mut phase: watch::Receiver<Phase>,
    ) -> Report {
        let mut offers_open = true;
        let mut alive = true;
        loop {
            let now = Instant::now();
            let current = *phase.borrow_and_update();
            if current == Phase::Done {
                break;
            }
            let sending = current == Phase::Sending && self.connected;
            if sending && self.write_due_frame(now) {
                continue;
            }
            let due = sending
                .then(|| self.sending.iter().filter_map(|line| line.next_at).min())
                .flatten();
            tokio::select! {
                event = self.driver.next_event(), if alive => match event {
                    Ok(event) => self.on_event(event),
                    Err(error) => {
                        tracing::debug!(%error, "synthetic endpoint failed");
                        alive = false;
                    }
                },
                offer = offers.recv(), if offers_open => match offer {
                    Some(RemoteOffer { sdp, answer }) => {
                        let _ = answer.send(self.accept_offer(&sdp));
                    }
                    None => offers_open = false,
                },
                changed = phase.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                () = tokio::time::sleep_until(due.unwrap_or(now).into()), if due.is_some() => {}
            }
        }
        self.report
    }

    /// Writes the first frame that is due, if any. Frames a stalled endpoint
    /// missed are skipped, not sent in a burst.
    fn write_due_frame(&mut self, now: Instant) -> bool {
        let Some(publisher) = self.publisher else {
            return false;
        };
        let Some(index) = self
            .sending
            .iter()
            .position(|line| line.next_at.is_some_and(|at| at <= now))
        else {
            return false;
        };
        let shape = self.shape;
        let sent_nanos = self.nanos(now);
        let line = &mut self.sending[index];
        let interval = line.interval();
        let at = line.next_at.expect("due");
        line.next_at = Some(if at + interval > now {
            at + interval
        } else {
            now + interval
        });
        let stamp = Stamp {
            publisher,
            kind: line.kind,
            seq: line.next_seq,
            sent_nanos,
        };
        let (payload, rtp_time) = match line.kind {
            TrackKind::Audio => (
                audio_payload(&stamp, shape.audio_len(stamp.seq)),
                u64::from(stamp.seq) * 960,
            ),
            TrackKind::Video => {
                let keyframe = std::mem::take(&mut line.keyframe_wanted);
                let len = shape.video_frame_bytes * if keyframe { KEYFRAME_FACTOR } else { 1 };
                let ticks = 90_000 / u64::from(VIDEO_FPS);
                (
                    video_payload(&stamp, len, keyframe),
                    u64::from(stamp.seq) * ticks,
                )
            }
        };
        let (mid, kind) = (line.mid, line.kind);
        match self.driver.peer().write(now, mid, rtp_time, payload) {
            Ok(()) => {
                self.sending[index].next_seq += 1;
                self.report.sent.push(Sent {
                    kind,
                    seq: stamp.seq,
                    sent_nanos,
                });
            }
            // Not negotiated (yet): nothing was sent, and nothing is counted.
            Err(ClientError::NotNegotiated { .. }) => {}
            Err(e) => tracing::debug!(error = %e, "synthetic frame not written"),
        }
        true
    }

    fn on_event(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Connected => {
                self.connected = true;
                let now = Instant::now();
                for line in &mut self.sending {
                    line.next_at.get_or_insert(now);
                }
            }
            ClientEvent::Media(frame) => self.on_media(&frame),
            ClientEvent::KeyframeRequest { mid } => {
                if let Some(line) = self.sending.iter_mut().find(|l| l.mid == mid) {
                    line.keyframe_wanted = true;
                }
            }
        }
    }

    fn on_media(&mut self, frame: &ReceivedFrame) {
        let Some(stamp) = read_stamp(frame.kind, &frame.payload) else {
            self.report.unreadable += 1;
            return;
        };
        let received_nanos = self.nanos(Instant::now());
        self.report.arrivals.push(Arrival {
            stamp,
            received_nanos,
        });
        if self.heard.insert((stamp.publisher, stamp.kind)) {
            self.progress.send_modify(|heard| *heard += 1);
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(kind: TrackKind) -> Stamp {
        Stamp {
            publisher: 3,
            kind,
            seq: 70_000,
            sent_nanos: 12_345_678_901,
        }
    }

    #[test]
    fn audio_payloads_carry_their_stamp() {
        let payload = audio_payload(&stamp(TrackKind::Audio), 90);
        assert_eq!(payload.len(), 90);
        assert_eq!(
            read_stamp(TrackKind::Audio, &payload),
            Some(stamp(TrackKind::Audio))
        );
        // Too short a size still fits the stamp.
        assert!(audio_payload(&stamp(TrackKind::Audio), 4).len() > 4);
    }

    #[test]
    fn video_payloads_carry_their_stamp_and_keyframe_bit() {
        for keyframe in [true, false] {
            let payload = video_payload(&stamp(TrackKind::Video), 2000, keyframe);
            assert_eq!(payload.len(), 2000);
            assert_eq!(payload[0] & 1 == 0, keyframe);
            assert_eq!(
                read_stamp(TrackKind::Video, &payload),
                Some(stamp(TrackKind::Video))
            );
        }
    }

    #[test]
    fn foreign_payloads_have_no_stamp() {
        assert_eq!(read_stamp(TrackKind::Audio, &[0xf8; 40]), None);
        assert_eq!(read_stamp(TrackKind::Video, &[]), None);
        let audio = audio_payload(&stamp(TrackKind::Audio), 90);
        assert_eq!(read_stamp(TrackKind::Video, &audio), None);
    }

    #[test]
    fn audio_sizes_vary_within_the_shape() {
        let shape = MediaShape::default();
        let sizes: Vec<usize> = (0..200).map(|seq| shape.audio_len(seq)).collect();
        assert!(sizes.iter().all(|&s| (60..=120).contains(&s)));
        assert!(sizes.iter().any(|&s| s < 70) && sizes.iter().any(|&s| s > 110));
    }
}

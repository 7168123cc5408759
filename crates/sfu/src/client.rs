//! The other end of the SFU: one str0m `Rtc` acting as a participant, the
//! way a browser's `RTCPeerConnection` does. The assistant's worker joins
//! rooms through it, `lockin-bench sfu` loads the SFU with it, and the
//! server's tests stand in for browsers with it.
//!
//! [`ClientPeer`] is sans-IO, like [`Room`](crate::Room): received datagrams
//! and time go in through [`ClientPeer::handle_input`]; local commands are
//! its methods (make an offer, apply an answer, answer an offer, write a
//! frame); [`ClientPeer::poll_output`] hands out datagrams to send, events
//! (connected, a received frame, a keyframe request) and, last, the next
//! timeout. Signalling is the caller's: the peer makes and takes SDP text.
//!
//! **Every change to the `Rtc` is followed by draining its outputs until
//! `Timeout`** (str0m's rule), inside the peer, so callers cannot forget it;
//! what the drain yields waits in a queue for `poll_output`.
//!
//! [`driver::ClientDriver`] runs a peer on a UDP socket of its own.

pub mod driver;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Frequency, MediaKind, MediaTime, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcError};

pub use str0m::media::{Direction, Mid};

pub use driver::ClientDriver;

use crate::signal::TrackKind;

/// What happens to a client peer.
#[derive(Debug)]
pub enum ClientInput<'a> {
    /// A UDP datagram from `source`, received at `at`.
    Receive {
        at: Instant,
        source: SocketAddr,
        contents: &'a [u8],
    },
    /// Time has passed.
    Timeout(Instant),
}

/// What a client peer wants done.
#[derive(Debug)]
pub enum ClientOutput {
    /// Send a UDP datagram.
    Transmit {
        destination: SocketAddr,
        contents: Vec<u8>,
    },
    Event(ClientEvent),
    /// Nothing more to do until this instant (or the next input).
    Timeout(Instant),
}

/// What the far side did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// ICE and DTLS are up: media can be written.
    Connected,
    /// A whole frame arrived on a line the far side sends on.
    Media(ReceivedFrame),
    /// The far side wants a keyframe on a line this peer sends on.
    KeyframeRequest { mid: Mid },
}

/// A received frame, as its sender wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFrame {
    pub mid: Mid,
    /// The kind of the line it came on.
    pub kind: TrackKind,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("WebRTC: {0}")]
    Rtc(#[from] RtcError),
    #[error("SDP: {0}")]
    Sdp(String),
    #[error("no {codec} on line {mid} (not negotiated yet, or refused)")]
    NotNegotiated { mid: Mid, codec: &'static str },
    #[error("the peer connection is closed")]
    Closed,
}

/// One participant's peer connection. See the module docs.
pub struct ClientPeer {
    rtc: Rtc,
    /// The one host candidate: every datagram is taken as sent to it.
    local: SocketAddr,
    /// This peer's own offer, until the far side answers it.
    pending: Option<SdpPendingOffer>,
    /// The payload type each sending line writes with, once looked up.
    payload_types: HashMap<Mid, Pt>,
    /// Drained from the `Rtc`, not yet polled.
    outputs: VecDeque<ClientOutput>,
    /// When the `Rtc` next wants `Input::Timeout`.
    timeout: Instant,
}

impl ClientPeer {
    /// A peer whose host candidate is `local`: the address the far side
    /// reaches it at, which every received datagram is taken as sent to.
    pub fn new(local: SocketAddr, now: Instant) -> Result<Self, ClientError> {
        let mut rtc = Rtc::builder().build(now);
        let candidate =
            Candidate::host(local, "udp").map_err(|e| ClientError::Sdp(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let mut peer = Self {
            rtc,
            local,
            pending: None,
            payload_types: HashMap::new(),
            outputs: VecDeque::new(),
            timeout: now,
        };
        peer.drain()?;
        Ok(peer)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether ICE and DTLS are up.
    pub fn is_connected(&self) -> bool {
        self.rtc.is_connected()
    }

    /// False once the connection failed or was closed; it never comes back.
    pub fn is_alive(&self) -> bool {
        self.rtc.is_alive()
    }

    /// Whether this peer's offer waits for the far side's answer.
    pub fn awaits_answer(&self) -> bool {
        self.pending.is_some()
    }

    /// An offer of one line per entry, in order; returns the SDP and the
    /// lines' mids. The far side's answer goes to [`Self::accept_answer`].
    pub fn offer(
        &mut self,
        lines: &[(TrackKind, Direction)],
    ) -> Result<(String, Vec<Mid>), ClientError> {
        let mut api = self.rtc.sdp_api();
        let mids: Vec<Mid> = lines
            .iter()
            .map(|&(kind, direction)| {
                let kind = match kind {
                    TrackKind::Audio => MediaKind::Audio,
                    TrackKind::Video => MediaKind::Video,
                };
                api.add_media(kind, direction, None, None, None)
            })
            .collect();
        let applied = api.apply();
        self.drain()?;
        let (offer, pending) =
            applied.ok_or_else(|| ClientError::Sdp("nothing to offer".into()))?;
        self.pending = Some(pending);
        Ok((offer.to_sdp_string(), mids))
    }

    /// Takes the far side's answer to [`Self::offer`].
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), ClientError> {
        let pending = self
            .pending
            .take()
            .ok_or_else(|| ClientError::Sdp("an answer without an offer".into()))?;
        let answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|e| ClientError::Sdp(e.to_string()))?;
        let accepted = self.rtc.sdp_api().accept_answer(pending, answer);
        self.drain()?;
        Ok(accepted?)
    }

    /// Answers the far side's offer: the lines it sends on are received here.
    pub fn accept_offer(&mut self, sdp: &str) -> Result<String, ClientError> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| ClientError::Sdp(e.to_string()))?;
        let answer = self.rtc.sdp_api().accept_offer(offer);
        self.drain()?;
        Ok(answer?.to_sdp_string())
    }

    /// Writes one frame on a sending line: Opus on an audio line, VP8 on a
    /// video line. `rtp_time` counts in the codec's clock (48 kHz for Opus,
    /// 90 kHz for VP8).
    pub fn write(
        &mut self,
        now: Instant,
        mid: Mid,
        rtp_time: u64,
        payload: Vec<u8>,
    ) -> Result<(), ClientError> {
        self.write_with_level(now, mid, rtp_time, payload, None)
    }

    /// [`ClientPeer::write`] of an Opus frame with its level in dBov (0 the
    /// loudest, -127 silence) on the RFC 6464 audio-level header: what the
    /// room tells who speaks from.
    pub fn write_audio(
        &mut self,
        now: Instant,
        mid: Mid,
        rtp_time: u64,
        payload: Vec<u8>,
        level: i8,
    ) -> Result<(), ClientError> {
        self.write_with_level(now, mid, rtp_time, payload, Some(level))
    }

    fn write_with_level(
        &mut self,
        now: Instant,
        mid: Mid,
        rtp_time: u64,
        payload: Vec<u8>,
        level: Option<i8>,
    ) -> Result<(), ClientError> {
        let kind = self.rtc.media(mid).map(|media| media.kind());
        let (codec, name, time) = match kind {
            Some(MediaKind::Video) => (Codec::Vp8, "VP8", MediaTime::from_90khz(rtp_time)),
            _ => (
                Codec::Opus,
                "Opus",
                MediaTime::new(rtp_time, Frequency::FORTY_EIGHT_KHZ),
            ),
        };
        let not_negotiated = ClientError::NotNegotiated { mid, codec: name };
        let Some(mut writer) = self.rtc.writer(mid) else {
            return Err(not_negotiated);
        };
        let known = self.payload_types.get(&mid).copied();
        let Some(pt) = known.or_else(|| {
            writer
                .payload_params()
                .find(|p| p.spec().codec == codec)
                .map(|p| p.pt())
        }) else {
            return Err(not_negotiated);
        };
        if let Some(level) = level {
            writer = writer.audio_level(level, level >= crate::speakers::SPEECH_LEVEL);
        }
        let written = writer.write(pt, now, time, payload);
        self.drain()?;
        written?;
        self.payload_types.insert(mid, pt);
        Ok(())
    }

    /// A datagram or the passing of time. A datagram that is not WebRTC is
    /// dropped.
    pub fn handle_input(&mut self, input: ClientInput<'_>) -> Result<(), ClientError> {
        let input = match input {
            ClientInput::Receive {
                at,
                source,
                contents,
            } => {
                let Ok(contents) = contents.try_into() else {
                    return Ok(());
                };
                Input::Receive(
                    at,
                    Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: self.local,
                        contents,
                    },
                )
            }
            ClientInput::Timeout(now) => Input::Timeout(now),
        };
        let handled = self.rtc.handle_input(input);
        self.drain()?;
        Ok(handled?)
    }

    /// The next thing to do; [`ClientOutput::Timeout`] when there is
    /// nothing until then.
    pub fn poll_output(&mut self) -> ClientOutput {
        self.outputs
            .pop_front()
            .unwrap_or(ClientOutput::Timeout(self.timeout))
    }

    /// Moves everything the `Rtc` has to say into `outputs`.
    fn drain(&mut self) -> Result<(), ClientError> {
        loop {
            let output = match self.rtc.poll_output()? {
                Output::Timeout(at) => {
                    self.timeout = at;
                    return Ok(());
                }
                Output::Transmit(transmit) => ClientOutput::Transmit {
                    destination: transmit.destination,
                    contents: transmit.contents.into(),
                },
                Output::Event(event) => match self.event(event) {
                    Some(event) => ClientOutput::Event(event),
                    None => continue,
                },
            };
            self.outputs.push_back(output);
        }
    }

    fn event(&self, event: Event) -> Option<ClientEvent> {
        match event {
            Event::Connected => Some(ClientEvent::Connected),
            Event::MediaData(data) => {
                let kind = match self.rtc.media(data.mid)?.kind() {
                    MediaKind::Audio => TrackKind::Audio,
                    MediaKind::Video => TrackKind::Video,
                };
                Some(ClientEvent::Media(ReceivedFrame {
                    mid: data.mid,
                    kind,
                    payload: data.data.to_vec(),
                }))
            }
            Event::KeyframeRequest(request) => {
                Some(ClientEvent::KeyframeRequest { mid: request.mid })
            }
            Event::IceConnectionStateChange(state) => {
                tracing::debug!(local = %self.local, ?state, "client peer ICE");
                None
            }
            _ => None,
        }
    }
}

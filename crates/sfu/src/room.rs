//! A media room: the WebRTC peers of one session, and the forwarding of every
//! peer's published tracks to every other peer.
//!
//! Sans-IO, like the str0m [`Rtc`]s it holds: feed it with
//! [`Room::handle_input`], then drain [`Room::poll_output`] until it returns
//! [`RoomOutput::Timeout`]; call again with [`RoomInput::Timeout`] at that
//! instant. It never reads a clock or touches a socket, so tests drive it
//! with fake time and an in-memory network.
//!
//! # How media flows
//!
//! - A browser joins by sending an offer with its own tracks
//!   ([`RoomInput::AddPeer`]); the room answers. Each media line the browser
//!   sends on becomes a *published* track.
//! - For every published track the room adds a send-only media line to every
//!   other peer's session and offers it to that browser (a *forwarded*
//!   track). Frames arriving on the published track are written to each
//!   forwarded line (str0m's frame mode: it re-packetizes, and keeps sequence
//!   numbers and timestamps continuous per subscriber).
//! - Who is speaking is worked out from the audio level browsers put on
//!   their microphone's packets (the `speakers` module), looked at every
//!   `SPEAKER_TICK`, and given out as [`RoomOutput::ActiveSpeakers`] and to
//!   every browser as [`SignalOut::Speakers`] when the set of speakers
//!   changes. A held microphone speaks for nobody.
//! - **Last N**: in a room with more than `LAST_N` cameras, a subscriber gets
//!   the cameras of the `LAST_N` people who spoke most recently on the layer
//!   its bandwidth allows, and every other camera on its smallest layer;
//!   the budget the small ones leave goes to the large ones. Screen shares
//!   are never made small this way.
//! - Each published track has a subscriber list (its open forwarded lines),
//!   so a frame costs its subscribers, not the room. The lists are derived
//!   from the peers' lines and rebuilt after any change to peers or lines;
//!   media alone changes neither, so in a steady room they are built once.
//!   Likewise offers and track lists are looked at only after such a change.
//! - A late joiner is offered every track already published, right after its
//!   answer.
//! - When a peer leaves, every other peer is offered the same session with
//!   that peer's lines stopped, and told at once (a new
//!   [`SignalOut::Tracks`]) that those lines carry nothing any more.
//! - NACKs and retransmission (RTX), sender and receiver reports, and
//!   transport-wide congestion control all run inside each `Rtc`. Keyframe
//!   requests (PLI/FIR) from a subscriber are relayed to the publisher of the
//!   track, merged per `KEYFRAME_INTERVAL` (500 ms).
//! - Each subscriber's bandwidth is estimated separately (str0m's BWE). For a
//!   simulcast publisher, each subscriber gets the largest layer its own
//!   estimate allows (the `layers` module), so one slow receiver does not pull
//!   the others down.
//!
//! # Negotiation
//!
//! The browser speaks first (its offer joins), and after that either side may
//! offer. **The room is the polite side and never has two offers out to one
//! browser**: changes wait while an offer is pending and go out together once
//! it is answered; an offer from the browser while the room's is pending rolls
//! the room's back (the changes are queued again) and is answered.
//!
//! # The str0m rule
//!
//! **Every mutation of an `Rtc` is followed by draining its `poll_output`
//! until `Timeout`, before the next mutation of that `Rtc`.** All mutations
//! go through `Room::mutate`, which does exactly that. Events that need
//! another peer changed are queued as `Work` and carried out afterwards, one
//! mutation and drain at a time.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, Mid, Rid, Rids};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tracing::{debug, info, warn};

use crate::error::SfuError;
use crate::layers;
use crate::peer::{Forwarded, OutState, Peer, PeerKey, Published};
use crate::signal::{
    CloseReason, MediaSource, PeerId, SignalIn, SignalOut, Sources, TrackInfo, TrackKind,
};
use crate::speakers::Speakers;

/// How often each subscriber's simulcast layers are chosen again, besides
/// on every new bandwidth estimate.
const LAYER_TICK: Duration = Duration::from_secs(1);

/// A frame for at least this many subscribers is split across the
/// [`RoomConfig::fanout`] thread and the caller's.
pub const FANOUT_SPLIT: usize = 4;

/// How often the room looks at who is speaking.
const SPEAKER_TICK: Duration = Duration::from_millis(200);

/// Above this many cameras in a room, only the cameras of the people who
/// spoke last get more than their smallest simulcast layer.
pub const LAST_N: usize = 4;

/// How many recent speakers are remembered, most recent first.
const RECENT_SPEAKERS: usize = 32;

/// What a forwarded audio track is assumed to need, in bits per second,
/// when sharing a subscriber's estimate among its tracks.
const AUDIO_ALLOWANCE: u64 = 64_000;

/// What a forwarded video track whose rate is unknown would like.
const VIDEO_WANT: u64 = 1_500_000;

/// Settings of one room.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// The SFU's ICE host candidates, put in every answer and offer.
    pub candidates: Vec<SocketAddr>,
    /// At most this many peers (the session's seat limit); `None`: no limit.
    pub seat_limit: Option<usize>,
    /// How long a peer whose ICE connection dropped is kept for it to come
    /// back (by itself or by an ICE restart) before it is let go.
    pub disconnect_grace: Duration,
    /// Where each subscriber's bandwidth estimate starts, bits per second.
    pub initial_bitrate: u64,
    /// A peer's offer may send on at most this many media lines: what it
    /// publishes, one line per [`MediaSource`](crate::MediaSource) (microphone,
    /// camera, screen share and its sound). Each one costs every other peer a
    /// line and a share of the forwarding.
    pub max_send_lines: usize,
    /// An offer may hold at most this many media lines in all, stopped ones
    /// included: the bound when the room has no seat limit, and room for the
    /// stopped lines a long session leaves behind (str0m does not reuse the
    /// room's own stopped lines). With a seat limit, the lines still in use
    /// are bounded by the seats too (see [`RoomConfig::max_live_lines`]).
    pub max_media_lines: usize,
    /// A second thread for big fan-outs: a frame for at least
    /// [`FANOUT_SPLIT`] subscribers is written to half of them there while
    /// the caller writes to the other half. `None`: all on the caller's.
    pub fanout: Option<Arc<rayon::ThreadPool>>,
}

impl RoomConfig {
    pub fn new(candidates: Vec<SocketAddr>) -> Self {
        Self {
            candidates,
            seat_limit: None,
            disconnect_grace: Duration::from_secs(30),
            initial_bitrate: 600_000,
            max_send_lines: 4,
            max_media_lines: 256,
            fanout: None,
        }
    }

    /// How many media lines still in use (not stopped) one peer's session
    /// can need: its own send lines and the room's lines for every other
    /// seat's, plus one seat's worth for lines in flux (a publisher that
    /// switched tracks, a seat changing hands).
    pub fn max_live_lines(&self) -> usize {
        match self.seat_limit {
            Some(seats) => (seats + 1)
                .saturating_mul(self.max_send_lines)
                .min(self.max_media_lines),
            None => self.max_media_lines,
        }
    }

    /// Refuses an offer with more media lines than a peer may have, before
    /// anything in the room is touched.
    fn check_lines(&self, offer: &SdpOffer) -> Result<(), SfuError> {
        let lines = &offer.media_lines;
        let live = lines.iter().filter(|line| !line.disabled);
        let sending = live
            .clone()
            .filter(|line| line.direction().is_sending())
            .count();
        let too_many = |count: usize, limit: usize, which: &str| {
            SfuError::bad(
                "offer",
                format!("too many media lines: {count} {which}, at most {limit}"),
            )
        };
        if sending > self.max_send_lines {
            return Err(too_many(sending, self.max_send_lines, "sending"));
        }
        let live = live.count();
        if live > self.max_live_lines() {
            return Err(too_many(live, self.max_live_lines(), "in use"));
        }
        if lines.len() > self.max_media_lines {
            return Err(too_many(lines.len(), self.max_media_lines, "in all"));
        }
        Ok(())
    }
}

/// What happens to a room.
#[derive(Debug)]
pub enum RoomInput<'a> {
    /// Someone joins with their browser's offer, which the room answers
    /// ([`SignalOut::Answer`] in the outputs). Joining with the id of a peer
    /// already in the room replaces that peer (no [`RoomOutput::PeerGone`]
    /// for it: the caller knows).
    AddPeer {
        peer_id: PeerId,
        name: String,
        offer_sdp: String,
        sources: Sources,
        /// Sources the host switched off on an earlier connection of this
        /// person's that they have not turned on again since: held from
        /// the start, as [`RoomInput::Hold`] would (the browser is told,
        /// after the answer, with [`SignalOut::Held`] `renewed`).
        held: Vec<MediaSource>,
    },
    /// Someone leaves: their tracks are stopped for everyone at once.
    RemovePeer { peer_id: PeerId },
    /// The host removed someone from the session: as [`RoomInput::RemovePeer`],
    /// their connection closed at once, and they are told
    /// [`CloseReason::Removed`].
    Expel { peer_id: PeerId },
    /// The host switched off some of a peer's sources: from this input on,
    /// **the room forwards nothing of them** until the browser says it
    /// turned them off and then on again ([`SignalIn::Sending`]). The
    /// browser is told ([`SignalOut::Held`]). When the browser lets a hold
    /// go, the room says so ([`RoomOutput::Released`]).
    Hold {
        peer_id: PeerId,
        sources: Vec<MediaSource>,
    },
    /// A signalling message from a peer's browser.
    Signal { peer_id: PeerId, signal: SignalIn },
    /// A UDP datagram. `peer_id` is the caller's guess of whose it is (from
    /// the source address); the room checks it, and without a guess (or with
    /// a wrong one) finds the owner itself.
    Receive {
        peer_id: Option<PeerId>,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &'a [u8],
    },
    /// The session ended: everyone is let go ([`CloseReason::RoomClosed`]).
    Close,
    /// Time has passed.
    Timeout,
}

/// What a room wants done.
#[derive(Debug, PartialEq)]
pub enum RoomOutput {
    /// Send a UDP datagram.
    Transmit {
        source: SocketAddr,
        destination: SocketAddr,
        bytes: Vec<u8>,
    },
    /// Send a signalling message to a peer's browser.
    Signal { peer_id: PeerId, signal: SignalOut },
    /// The browser of `peer_id` turned these held sources off and on again
    /// ([`SignalIn::Sending`]): the holds are let go. Given out while that
    /// signal is handled.
    Released {
        peer_id: PeerId,
        sources: Vec<MediaSource>,
    },
    /// Who is speaking now, loudest first (none: nobody). Given out when the
    /// set of speakers changes, with hysteresis so it does not flap.
    ActiveSpeakers { speakers: Vec<PeerId> },
    /// The peer is no longer in the room (it was removed, or its connection
    /// failed or stayed down), and its tracks are being stopped for everyone.
    PeerGone {
        peer_id: PeerId,
        reason: CloseReason,
    },
    /// Nothing more to do until this instant (or the next input).
    Timeout(Instant),
}

/// Changes to other peers that an event of one peer calls for, carried out
/// after that peer's drain (see the module docs).
enum Work {
    /// A frame from a publisher, to write to each subscriber.
    Forward { from: PeerKey, data: Box<MediaData> },
    /// Ask a publisher for a keyframe on one of its tracks (and layer).
    Keyframe {
        publisher: PeerKey,
        mid: Mid,
        rid: Option<Rid>,
        kind: KeyframeRequestKind,
    },
    /// A subscriber asked for a keyframe on a forwarded line.
    KeyframeFromSubscriber {
        subscriber: PeerKey,
        mid: Mid,
        kind: KeyframeRequestKind,
    },
    /// A peer started publishing a track: every other peer should get it.
    Published { from: PeerKey, mid: Mid },
    /// A peer stopped publishing a track (or left).
    Unpublished { from: PeerKey, mid: Mid },
    /// A peer's connection is up: its video needs keyframes to start.
    Connected { peer: PeerKey },
    /// Choose a subscriber's simulcast layers again.
    Reselect { peer: PeerKey },
}

/// The peers of one session and the media between them. See the module docs.
pub struct Room {
    config: RoomConfig,
    peers: Vec<Peer>,
    /// Where each peer is in `peers`, by id: a datagram's guessed owner and
    /// a signal's sender are found without a scan. Rebuilt (with `by_key`)
    /// whenever a peer comes or goes, which is rare next to media.
    by_id: HashMap<PeerId, usize>,
    /// Where each peer is in `peers`, by key.
    by_key: HashMap<PeerKey, usize>,
    /// Each published track's subscribers: (publisher, mid) → the (peer
    /// index, position in its `forwarded`) of every open line carrying it,
    /// so a frame goes to its own subscribers without a scan of the room.
    /// Derived from the peers' `forwarded`, which stays the truth.
    subscribers: HashMap<(PeerKey, Mid), Vec<(usize, usize)>>,
    /// `subscribers` may no longer match the peers' lines. **Set by every
    /// change to `peers` or to any peer's `forwarded` lines**
    /// (`Room::lines_touched`); the next frame rebuilds the lists first.
    subscribers_stale: bool,
    /// Lines or peers may have changed since the last settle, so offers
    /// and track lists must be looked at again. Media alone (a frame in, a
    /// frame out) changes neither, and then the room skips that look at
    /// every peer.
    lines_changed: bool,
    /// The key the next peer gets.
    next_key: PeerKey,
    work: VecDeque<Work>,
    outputs: VecDeque<RoomOutput>,
    /// The latest time given; time never goes back.
    now: Instant,
    /// When layers are next chosen again for everyone.
    next_layer_tick: Instant,
    /// Who is speaking, from the microphones' audio levels.
    speakers: Speakers<PeerKey>,
    /// When the speakers are next looked at.
    next_speaker_tick: Instant,
    /// Who spoke, most recent first (at most `RECENT_SPEAKERS`): whose
    /// cameras are the last N.
    recent_speakers: Vec<PeerKey>,
}

impl Room {
    pub fn new(config: RoomConfig, now: Instant) -> Self {
        Self {
            config,
            peers: Vec::new(),
            by_id: HashMap::new(),
            by_key: HashMap::new(),
            subscribers: HashMap::new(),
            subscribers_stale: false,
            lines_changed: false,
            next_key: 1,
            work: VecDeque::new(),
            outputs: VecDeque::new(),
            now,
            next_layer_tick: now + LAYER_TICK,
            speakers: Speakers::new(),
            next_speaker_tick: now + SPEAKER_TICK,
            recent_speakers: Vec::new(),
        }
    }

    /// The ids of the peers in the room.
    pub fn peer_ids(&self) -> impl Iterator<Item = &PeerId> {
        self.peers.iter().map(|p| &p.id)
    }

    pub fn contains(&self, peer_id: &PeerId) -> bool {
        self.index_of(peer_id).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Changes the seat limit for joins from now on (people already in stay).
    pub fn set_seat_limit(&mut self, seat_limit: Option<usize>) {
        self.config.seat_limit = seat_limit;
    }

    /// Whose a datagram is, if anyone's in this room.
    pub fn accepts(
        &self,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> Option<&PeerId> {
        let input = receive_input(self.now, source, destination, datagram)?;
        self.peers
            .iter()
            .find(|p| p.failed.is_none() && p.rtc.accepts(&input))
            .map(|p| &p.id)
    }

    /// Feeds one input, then does everything it leads to. Outputs queue up
    /// for [`Room::poll_output`].
    ///
    /// An error refuses that input alone (a bad offer, a full room, a peer
    /// not here); the room is as it was for everyone else.
    pub fn handle_input(&mut self, now: Instant, input: RoomInput<'_>) -> Result<(), SfuError> {
        self.now = self.now.max(now);
        let now = self.now;
        // Anything but media and time may change lines (offers, answers,
        // sources, holds, peers); media and time change them only through
        // the work they lead to, which says so itself.
        let touches_lines = !matches!(input, RoomInput::Receive { .. } | RoomInput::Timeout);
        let result = match input {
            RoomInput::AddPeer {
                peer_id,
                name,
                offer_sdp,
                sources,
                held,
            } => self.add_peer(now, peer_id, name, &offer_sdp, sources, &held),
            RoomInput::RemovePeer { peer_id } => match self.index_of(&peer_id) {
                Some(index) => {
                    self.remove_peer(index, Some(CloseReason::Left));
                    Ok(())
                }
                None => Err(SfuError::UnknownPeer),
            },
            RoomInput::Expel { peer_id } => match self.index_of(&peer_id) {
                Some(index) => {
                    self.remove_peer(index, Some(CloseReason::Removed));
                    Ok(())
                }
                None => Err(SfuError::UnknownPeer),
            },
            RoomInput::Hold { peer_id, sources } => match self.index_of(&peer_id) {
                Some(index) => {
                    self.peers[index].hold(&sources);
                    self.outputs.push_back(RoomOutput::Signal {
                        peer_id,
                        signal: SignalOut::Held {
                            sources,
                            renewed: false,
                        },
                    });
                    Ok(())
                }
                None => Err(SfuError::UnknownPeer),
            },
            RoomInput::Signal { peer_id, signal } => self.signal(now, &peer_id, signal),
            RoomInput::Receive {
                peer_id,
                source,
                destination,
                datagram,
            } => self.receive(now, peer_id.as_ref(), source, destination, datagram),
            RoomInput::Close => {
                while !self.peers.is_empty() {
                    self.remove_peer(0, Some(CloseReason::RoomClosed));
                }
                Ok(())
            }
            RoomInput::Timeout => {
                self.timeout(now);
                Ok(())
            }
        };
        if touches_lines {
            self.lines_touched();
        }
        self.settle(now);
        result
    }

    /// The next thing to do; [`RoomOutput::Timeout`] when there is nothing
    /// until then.
    pub fn poll_output(&mut self) -> RoomOutput {
        match self.outputs.pop_front() {
            Some(output) => output,
            None => RoomOutput::Timeout(self.next_timeout()),
        }
    }

    fn next_timeout(&self) -> Instant {
        let mut soonest = self.next_layer_tick.min(self.next_speaker_tick);
        for peer in self.peers.iter().filter(|p| p.failed.is_none()) {
            soonest = soonest.min(peer.timeout);
            if let Some(since) = peer.disconnected_since {
                soonest = soonest.min(since + self.config.disconnect_grace);
            }
            for track in &peer.published {
                for gate in &track.keyframes {
                    if let Some(at) = gate.deferred_until() {
                        soonest = soonest.min(at);
                    }
                }
            }
        }
        soonest
    }

    // ----- inputs -----

    fn add_peer(
        &mut self,
        now: Instant,
        peer_id: PeerId,
        name: String,
        offer_sdp: &str,
        sources: Sources,
        held: &[MediaSource],
    ) -> Result<(), SfuError> {
        let offer = SdpOffer::from_sdp_string(offer_sdp).map_err(|e| SfuError::bad("offer", e))?;
        self.config.check_lines(&offer)?;
        match self.index_of(&peer_id) {
            Some(old) => {
                info!(peer = %peer_id, "media peer joins again; the old connection goes");
                self.remove_peer(old, None);
            }
            None => {
                if let Some(seats) = self.config.seat_limit
                    && self.peers.len() >= seats
                {
                    return Err(SfuError::RoomFull { seats });
                }
            }
        }

        let key = self.next_key;
        self.next_key += 1;
        let mut peer = Peer::new(key, peer_id.clone(), name, self.build_rtc(now), now);
        peer.sources = sources
            .iter()
            .map(|(mid, source)| (Mid::from(mid.as_str()), *source))
            .collect();
        peer.hold(held);
        self.peers.push(peer);
        self.reindex();
        let index = self.peers.len() - 1;

        for addr in self.config.candidates.clone() {
            match Candidate::host(addr, "udp") {
                Ok(candidate) => self.mutate(index, now, |peer| {
                    peer.rtc.add_local_candidate(candidate);
                }),
                Err(e) => warn!(%addr, error = %e, "unusable host candidate"),
            }
        }

        let answer = self.mutate(index, now, |peer| peer.rtc.sdp_api().accept_offer(offer));
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                self.peers.remove(index);
                self.reindex();
                return Err(SfuError::bad("offer", e));
            }
        };
        info!(peer = %peer_id, "media peer joined");
        self.outputs.push_back(RoomOutput::Signal {
            peer_id: peer_id.clone(),
            signal: SignalOut::Answer {
                sdp: answer.to_sdp_string(),
            },
        });
        if !held.is_empty() {
            self.outputs.push_back(RoomOutput::Signal {
                peer_id: peer_id.clone(),
                signal: SignalOut::Held {
                    sources: held.to_vec(),
                    renewed: true,
                },
            });
        }
        let speakers = self.speaker_ids();
        if !speakers.is_empty() {
            self.outputs.push_back(RoomOutput::Signal {
                peer_id,
                signal: SignalOut::Speakers { speakers },
            });
        }

        // A late joiner gets everything already published.
        let existing: Vec<(PeerKey, Mid, TrackKind, Option<Rid>)> = self
            .peers
            .iter()
            .filter(|p| p.key != key && p.failed.is_none())
            .flat_map(|p| {
                p.published
                    .iter()
                    .map(move |t| (p.key, t.mid, t.kind, first_layer(t)))
            })
            .collect();
        let newcomer = &mut self.peers[index];
        for (from, mid, kind, layer) in existing {
            newcomer
                .forwarded
                .push(Forwarded::new(from, mid, kind, layer));
        }
        Ok(())
    }

    fn build_rtc(&self, now: Instant) -> Rtc {
        Rtc::builder()
            // The browser runs the connectivity checks and nominates; the SFU
            // answers them. No checks towards addresses the browser merely
            // listed (often unreachable, or mDNS names).
            .set_ice_lite(true)
            // Codecs every browser has, so any subscriber can take what any
            // publisher sends without transcoding.
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_h264(true)
            .enable_bwe(Some(Bitrate::bps(self.config.initial_bitrate)))
            .build(now)
    }

    fn signal(&mut self, now: Instant, peer_id: &PeerId, signal: SignalIn) -> Result<(), SfuError> {
        let index = self.index_of(peer_id).ok_or(SfuError::UnknownPeer)?;
        match signal {
            SignalIn::Answer { sdp } => self.accept_answer(now, index, &sdp),
            SignalIn::Offer { sdp, sources } => {
                let offer =
                    SdpOffer::from_sdp_string(&sdp).map_err(|e| SfuError::bad("offer", e))?;
                self.config.check_lines(&offer)?;
                self.set_sources(index, &sources);
                let peer = &mut self.peers[index];
                if peer.pending_offer.is_some() {
                    debug!(peer = %peer.id, "offers crossed; the room gives way");
                    peer.roll_back_offer();
                }
                let answer = self.mutate(index, now, |peer| peer.rtc.sdp_api().accept_offer(offer));
                let answer = answer.map_err(|e| SfuError::bad("offer", e))?;
                self.outputs.push_back(RoomOutput::Signal {
                    peer_id: peer_id.clone(),
                    signal: SignalOut::Answer {
                        sdp: answer.to_sdp_string(),
                    },
                });
                Ok(())
            }
            SignalIn::Candidate { candidate } => {
                let line = candidate.trim();
                let line = line.strip_prefix("a=").unwrap_or(line);
                if line.is_empty() {
                    return Ok(());
                }
                let candidate =
                    Candidate::from_sdp_string(line).map_err(|e| SfuError::bad("candidate", e))?;
                self.mutate(index, now, |peer| peer.rtc.add_remote_candidate(candidate));
                Ok(())
            }
            SignalIn::IceRestart => {
                self.peers[index].ice_restart_wanted = true;
                Ok(())
            }
            SignalIn::Publish { sources } => {
                self.set_sources(index, &sources);
                Ok(())
            }
            SignalIn::Sending {
                microphone,
                camera,
                screen,
            } => {
                let said = [
                    (MediaSource::Microphone, microphone),
                    (MediaSource::Camera, camera),
                    (MediaSource::Screen, screen),
                    (MediaSource::ScreenAudio, screen),
                ];
                let mut released = Vec::new();
                for (source, on) in said {
                    if let Some(on) = on
                        && self.peers[index].report_sending(source, on)
                    {
                        released.push(source);
                    }
                }
                if !released.is_empty() {
                    self.after_release(index, &released);
                    self.outputs.push_back(RoomOutput::Released {
                        peer_id: peer_id.clone(),
                        sources: released,
                    });
                }
                Ok(())
            }
        }
    }

    /// Sources of peer `index` were let go: the subscribers of its video
    /// among them need a keyframe to show it again.
    fn after_release(&mut self, index: usize, released: &[MediaSource]) {
        let publisher = &self.peers[index];
        let mids: Vec<Mid> = publisher
            .published
            .iter()
            .filter(|t| t.kind == TrackKind::Video && released.contains(&t.source))
            .map(|t| t.mid)
            .collect();
        let from = publisher.key;
        for peer in &self.peers {
            for track in &peer.forwarded {
                if track.from == from && mids.contains(&track.from_mid) {
                    self.work.push_back(Work::Keyframe {
                        publisher: from,
                        mid: track.from_mid,
                        rid: track.layer.wanted(),
                        kind: KeyframeRequestKind::Pli,
                    });
                }
            }
        }
    }

    fn set_sources(&mut self, index: usize, sources: &Sources) {
        let peer = &mut self.peers[index];
        for (mid, source) in sources {
            let mid = Mid::from(mid.as_str());
            peer.sources.insert(mid, *source);
            if let Some(track) = peer.published_mut(mid) {
                track.source = *source;
            }
        }
    }

    fn accept_answer(&mut self, now: Instant, index: usize, sdp: &str) -> Result<(), SfuError> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| SfuError::bad("answer", e))?;
        let Some(pending) = self.peers[index].pending_offer.take() else {
            return Err(SfuError::bad("answer", "no offer is waiting for an answer"));
        };
        let accepted = self.mutate(index, now, |peer| {
            peer.rtc.sdp_api().accept_answer(pending, answer)
        });
        let peer = &mut self.peers[index];
        if let Err(e) = accepted {
            // The offer is spent either way: queue its changes again.
            peer.roll_back_offer();
            return Err(SfuError::bad("answer", e));
        }
        peer.ice_restart_in_flight = false;
        let mut opened = Vec::new();
        peer.forwarded.retain_mut(|track| match track.state {
            OutState::Negotiating(mid) if track.source_gone => {
                track.state = OutState::ToStop(mid);
                true
            }
            OutState::Negotiating(mid) => {
                track.state = OutState::Open(mid);
                if track.kind == TrackKind::Video {
                    opened.push((track.from, track.from_mid, track.layer.wanted()));
                }
                true
            }
            OutState::NegotiatingStop(_) => false,
            _ => true,
        });
        if peer.connected {
            for (publisher, mid, rid) in opened {
                self.work.push_back(Work::Keyframe {
                    publisher,
                    mid,
                    rid,
                    kind: KeyframeRequestKind::Pli,
                });
            }
        }
        Ok(())
    }

    fn receive(
        &mut self,
        now: Instant,
        guess: Option<&PeerId>,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), SfuError> {
        let Some(input) = receive_input(now, source, destination, datagram) else {
            // Not STUN, DTLS, RTP or RTCP: nobody's.
            return Ok(());
        };
        let guessed = guess
            .and_then(|id| self.index_of(id))
            .filter(|&i| self.peers[i].rtc.accepts(&input));
        let index = match guessed {
            Some(index) => index,
            None => self
                .peers
                .iter()
                .position(|p| p.failed.is_none() && p.rtc.accepts(&input))
                .ok_or(SfuError::UnknownPeer)?,
        };
        self.mutate(index, now, |peer| {
            if let Err(e) = peer.rtc.handle_input(input) {
                debug!(peer = %peer.id, error = %e, "datagram refused");
            }
        });
        Ok(())
    }

    fn timeout(&mut self, now: Instant) {
        let mut deferred = Vec::new();
        for index in 0..self.peers.len() {
            let peer = &mut self.peers[index];
            if peer.failed.is_some() {
                continue;
            }
            if let Some(since) = peer.disconnected_since
                && now >= since + self.config.disconnect_grace
            {
                info!(peer = %peer.id, "media connection stayed down; letting it go");
                peer.failed = Some(CloseReason::Disconnected);
                continue;
            }
            for track in &mut peer.published {
                for gate in &track.keyframes {
                    if let (Some(at), Some(kind)) = (gate.deferred_until(), gate.deferred)
                        && at <= now
                    {
                        deferred.push((peer.key, track.mid, gate.rid, kind));
                    }
                }
            }
            if peer.timeout <= now {
                self.mutate(index, now, |peer| {
                    if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                        warn!(peer = %peer.id, error = %e, "media timeout failed");
                    }
                });
            }
        }
        for (publisher, mid, rid, kind) in deferred {
            self.work.push_back(Work::Keyframe {
                publisher,
                mid,
                rid,
                kind,
            });
        }
        if now >= self.next_speaker_tick {
            self.next_speaker_tick = now + SPEAKER_TICK;
            if let Some(keys) = self.speakers.update(now) {
                self.speakers_changed(&keys);
            }
        }
        if now >= self.next_layer_tick {
            self.next_layer_tick = now + LAYER_TICK;
            for peer in &self.peers {
                self.work.push_back(Work::Reselect { peer: peer.key });
            }
        }
    }

    /// The ids of the speakers last given out, loudest first, of those still
    /// in the room.
    fn speaker_ids(&self) -> Vec<PeerId> {
        self.speakers
            .announced()
            .iter()
            .filter_map(|&key| self.peer_by_key(key))
            .map(|peer| peer.id.clone())
            .collect()
    }

    /// The speakers changed to `keys`: everyone is told, and where the last
    /// N apply, the cameras are chosen again.
    fn speakers_changed(&mut self, keys: &[PeerKey]) {
        let speakers = self.speaker_ids();
        for &key in keys.iter().rev() {
            self.recent_speakers.retain(|&k| k != key);
            self.recent_speakers.insert(0, key);
        }
        self.recent_speakers.truncate(RECENT_SPEAKERS);
        let reselect = self.full_cameras().is_some();
        for peer in self.peers.iter().filter(|p| p.failed.is_none()) {
            self.outputs.push_back(RoomOutput::Signal {
                peer_id: peer.id.clone(),
                signal: SignalOut::Speakers {
                    speakers: speakers.clone(),
                },
            });
            if reselect {
                self.work.push_back(Work::Reselect { peer: peer.key });
            }
        }
        self.outputs
            .push_back(RoomOutput::ActiveSpeakers { speakers });
    }

    /// The publishers whose cameras a subscriber gets in full: all of them
    /// when there are `LAST_N` cameras or fewer, else the last N speakers'.
    fn full_cameras(&self) -> Option<&[PeerKey]> {
        let cameras = self
            .peers
            .iter()
            .filter(|p| p.failed.is_none())
            .flat_map(|p| &p.published)
            .filter(|t| t.kind == TrackKind::Video && t.source == MediaSource::Camera)
            .count();
        (cameras > LAST_N).then(|| &self.recent_speakers[..self.recent_speakers.len().min(LAST_N)])
    }

    // ----- the machinery -----

    /// Carries out everything queued, removes failed peers, and offers what
    /// waits to be offered, until nothing is left to do.
    ///
    /// Offers and track lists are looked at only when lines or peers may
    /// have changed (`lines_changed`): nothing else can call for them.
    fn settle(&mut self, now: Instant) {
        loop {
            self.run_work(now);
            self.reap_failed();
            if !self.work.is_empty() {
                continue;
            }
            if !self.lines_changed {
                return;
            }
            for index in 0..self.peers.len() {
                self.negotiate(index, now);
            }
            if self.work.is_empty() {
                break;
            }
        }
        self.lines_changed = false;
        for index in 0..self.peers.len() {
            self.announce(index);
        }
    }

    /// Peers or lines changed (or may have): subscriber lists are rebuilt
    /// before the next frame, offers and track lists looked at in the
    /// next settle.
    fn lines_touched(&mut self) {
        self.subscribers_stale = true;
        self.lines_changed = true;
    }

    /// Makes `subscribers` match the peers' open lines again. A peer takes
    /// a track on its first open line for it.
    fn rebuild_subscribers(&mut self) {
        self.subscribers.clear();
        for (index, peer) in self.peers.iter().enumerate() {
            for (position, track) in peer.forwarded.iter().enumerate() {
                if track.open_mid().is_none() {
                    continue;
                }
                let list = self
                    .subscribers
                    .entry((track.from, track.from_mid))
                    .or_default();
                if list.last().is_none_or(|&(last, _)| last != index) {
                    list.push((index, position));
                }
            }
        }
        self.subscribers_stale = false;
    }

    /// One mutation of a peer's `Rtc`, and the drain that must follow it.
    fn mutate<T>(&mut self, index: usize, now: Instant, change: impl FnOnce(&mut Peer) -> T) -> T {
        let result = change(&mut self.peers[index]);
        self.drain(index, now);
        result
    }

    /// Polls a peer's `Rtc` until it has nothing more: datagrams go to the
    /// outputs, events update the peer and queue work for the others.
    fn drain(&mut self, index: usize, now: Instant) {
        drain_peer(
            &mut self.peers[index],
            now,
            &mut self.work,
            &mut self.outputs,
        );
    }

    fn run_work(&mut self, now: Instant) {
        while let Some(item) = self.work.pop_front() {
            match item {
                Work::Forward { from, data } => self.forward(now, from, &data),
                Work::Keyframe {
                    publisher,
                    mid,
                    rid,
                    kind,
                } => self.request_keyframe(now, publisher, mid, rid, kind),
                Work::KeyframeFromSubscriber {
                    subscriber,
                    mid,
                    kind,
                } => {
                    let source = self.peer_by_key(subscriber).and_then(|peer| {
                        peer.forwarded
                            .iter()
                            .find(|f| f.open_mid() == Some(mid))
                            .map(|f| (f.from, f.from_mid, f.layer.wanted()))
                    });
                    if let Some((publisher, mid, rid)) = source {
                        self.request_keyframe(now, publisher, mid, rid, kind);
                    }
                }
                Work::Published { from, mid } => self.forward_to_everyone(from, mid),
                Work::Unpublished { from, mid } => self.stop_for_everyone(from, mid),
                Work::Connected { peer } => {
                    let wanted: Vec<_> = self
                        .peer_by_key(peer)
                        .map(|p| {
                            p.forwarded
                                .iter()
                                .filter(|f| f.kind == TrackKind::Video && f.open_mid().is_some())
                                .map(|f| (f.from, f.from_mid, f.layer.wanted()))
                                .collect()
                        })
                        .unwrap_or_default();
                    for (publisher, mid, rid) in wanted {
                        self.request_keyframe(now, publisher, mid, rid, KeyframeRequestKind::Pli);
                    }
                }
                Work::Reselect { peer } => self.choose_layers(now, peer),
            }
        }
    }

    /// Writes one frame of a publisher's track to every subscriber's line
    /// for it: the track's subscriber list, not every peer.
    fn forward(&mut self, now: Instant, from: PeerKey, data: &MediaData) {
        let Some(publisher) = self.peer_by_key(from) else {
            return;
        };
        if publisher.is_held(data.mid) {
            return;
        }
        if let Some(level) = data.ext_vals.audio_level
            && publisher
                .published(data.mid)
                .is_some_and(|track| track.source == MediaSource::Microphone)
        {
            self.speakers.heard(&from, now, level);
        }
        if self.subscribers_stale {
            self.rebuild_subscribers();
        }
        let Room {
            config,
            peers,
            subscribers,
            work,
            outputs,
            ..
        } = self;
        let Some(list) = subscribers.get(&(from, data.mid)) else {
            return;
        };
        let is_keyframe = data.is_keyframe();
        let Some(pool) = config
            .fanout
            .as_ref()
            .filter(|_| list.len() >= FANOUT_SPLIT)
        else {
            for &(index, position) in list {
                forward_to(
                    &mut peers[index],
                    position,
                    data,
                    is_keyframe,
                    now,
                    work,
                    outputs,
                );
            }
            return;
        };
        // The list holds each peer at most once, in the peers' order
        // (`rebuild_subscribers`): its first half are all peers before its
        // middle one, so cutting the peers there lends each half to one
        // thread.
        let (mine, theirs) = list.split_at(list.len() / 2);
        let cut = theirs[0].0;
        let (my_peers, their_peers) = peers.split_at_mut(cut);
        let (mut their_work, mut their_outputs) = (VecDeque::new(), VecDeque::new());
        pool.in_place_scope(|scope| {
            scope.spawn(|_| {
                for &(index, position) in theirs {
                    forward_to(
                        &mut their_peers[index - cut],
                        position,
                        data,
                        is_keyframe,
                        now,
                        &mut their_work,
                        &mut their_outputs,
                    );
                }
            });
            for &(index, position) in mine {
                let peer = &mut my_peers[index];
                forward_to(peer, position, data, is_keyframe, now, work, outputs);
            }
        });
        work.append(&mut their_work);
        outputs.append(&mut their_outputs);
    }

    fn request_keyframe(
        &mut self,
        now: Instant,
        publisher: PeerKey,
        mid: Mid,
        rid: Option<Rid>,
        kind: KeyframeRequestKind,
    ) {
        let Some(index) = self.index_of_key(publisher) else {
            return;
        };
        let peer = &mut self.peers[index];
        if peer.failed.is_some() {
            return;
        }
        let Some(track) = peer.published_mut(mid) else {
            return;
        };
        if track.kind != TrackKind::Video || !track.gate(rid).admit(now, kind) {
            return;
        }
        self.mutate(index, now, |peer| {
            let Some(mut writer) = peer.rtc.writer(mid) else {
                return;
            };
            let kind = if writer.is_request_keyframe_possible(kind) {
                kind
            } else {
                KeyframeRequestKind::Pli
            };
            if let Err(e) = writer.request_keyframe(rid, kind) {
                debug!(peer = %peer.id, %mid, error = %e, "keyframe request not sent");
            }
        });
    }

    /// Gives every other peer a line for a newly published track.
    fn forward_to_everyone(&mut self, from: PeerKey, mid: Mid) {
        let Some(track) = self.peer_by_key(from).and_then(|p| p.published(mid)) else {
            return;
        };
        let (kind, layer) = (track.kind, first_layer(track));
        self.lines_touched();
        for peer in &mut self.peers {
            if peer.key == from || peer.failed.is_some() {
                continue;
            }
            if !peer
                .forwarded
                .iter()
                .any(|f| f.comes_from(from, mid) && f.is_live())
            {
                peer.forwarded.push(Forwarded::new(from, mid, kind, layer));
            }
        }
    }

    /// Stops every other peer's line for a track that is no longer published.
    fn stop_for_everyone(&mut self, from: PeerKey, mid: Mid) {
        self.lines_touched();
        for peer in &mut self.peers {
            peer.forwarded.retain_mut(|track| {
                if !track.comes_from(from, mid) {
                    return true;
                }
                match track.state {
                    OutState::ToOpen => return false,
                    OutState::Negotiating(_) => track.source_gone = true,
                    OutState::Open(line) => track.state = OutState::ToStop(line),
                    OutState::ToStop(_) | OutState::NegotiatingStop(_) => {}
                }
                true
            });
        }
    }

    /// Chooses each simulcast layer a subscriber gets from its bandwidth
    /// estimate and the last N speakers, and tells its BWE what to aim for.
    fn choose_layers(&mut self, now: Instant, key: PeerKey) {
        let Some(index) = self.index_of_key(key) else {
            return;
        };
        let subscriber = &self.peers[index];
        if subscriber.failed.is_some() {
            return;
        }
        let full_cameras = self.full_cameras();

        // What each video line's publisher offers, looked up before the
        // subscriber is changed; `small`: a camera outside the last N.
        struct Offered {
            position: usize,
            layers: Vec<layers::LayerView>,
            top: Option<u64>,
            /// The rate of its smallest active layer (0 until measured).
            smallest_bps: u64,
            small: bool,
        }
        let offered: Vec<Offered> = subscriber
            .forwarded
            .iter()
            .enumerate()
            .filter(|(_, f)| f.is_listed() && f.kind == TrackKind::Video)
            .filter_map(|(position, f)| {
                let track = self.peer_by_key(f.from)?.published(f.from_mid)?;
                let small = track.source == MediaSource::Camera
                    && full_cameras.is_some_and(|full| !full.contains(&f.from));
                let layers = track.layers.ordered();
                let smallest_bps = layers
                    .iter()
                    .find(|l| l.active)
                    .and_then(|l| l.bps)
                    .unwrap_or(0);
                Some(Offered {
                    position,
                    layers,
                    top: track.layers.top_bps(),
                    smallest_bps,
                    small,
                })
            })
            .collect();
        let audio_tracks = subscriber
            .forwarded
            .iter()
            .filter(|f| f.is_listed() && f.kind == TrackKind::Audio)
            .count() as u64;
        // The small cameras' smallest layers come off the top; the rest is
        // shared by the others.
        let small_bps: u64 = offered
            .iter()
            .filter(|o| o.small)
            .map(|o| o.smallest_bps)
            .sum();
        let full_tracks = offered.iter().filter(|o| !o.small).count() as u64;
        let budget = subscriber.estimate.map(|e| {
            e.saturating_sub(audio_tracks * AUDIO_ALLOWANCE + small_bps) / full_tracks.max(1)
        });

        let mut minimum = audio_tracks * AUDIO_ALLOWANCE;
        let mut desired = audio_tracks * AUDIO_ALLOWANCE;
        let mut keyframes = Vec::new();
        let subscriber = &mut self.peers[index];
        for offer in offered {
            let track = &mut subscriber.forwarded[offer.position];
            if offer.layers.is_empty() {
                desired += VIDEO_WANT;
                continue;
            }
            desired += if offer.small {
                offer.smallest_bps
            } else {
                offer.top.unwrap_or(VIDEO_WANT)
            };
            let current = track.layer.current;
            minimum += offer
                .layers
                .iter()
                .find(|l| Some(l.rid) == current)
                .and_then(|l| l.bps)
                .unwrap_or(0);
            let choice = if offer.small {
                layers::choose(&offer.layers, None, current)
            } else {
                layers::choose(&offer.layers, budget, current)
            };
            if choice != track.layer.target {
                track.layer.target = choice;
                if choice != current {
                    keyframes.push((track.from, track.from_mid, choice));
                }
            }
        }

        let minimum = minimum.min(desired);
        let wanted = Some((minimum, desired));
        if desired > 0 && differs(subscriber.bwe_bitrates, wanted) {
            subscriber.bwe_bitrates = wanted;
            self.mutate(index, now, |peer| {
                peer.rtc
                    .bwe()
                    .set_bitrate(Bitrate::bps(minimum), Bitrate::bps(desired));
            });
        }
        for (publisher, mid, rid) in keyframes {
            self.request_keyframe(now, publisher, mid, rid, KeyframeRequestKind::Pli);
        }
    }

    /// Offers a peer what waits to be offered, unless an offer is out.
    fn negotiate(&mut self, index: usize, now: Instant) {
        let peer = &self.peers[index];
        if peer.failed.is_some() || peer.pending_offer.is_some() || !peer.wants_offer() {
            return;
        }
        self.subscribers_stale = true;
        let stream_ids: Vec<Option<String>> = peer
            .forwarded
            .iter()
            .map(|f| match f.state {
                OutState::ToOpen => self.stream_id(f.from, f.from_mid),
                _ => None,
            })
            .collect();
        let offer = self.mutate(index, now, |peer| {
            let Peer {
                rtc,
                forwarded,
                ice_restart_wanted,
                ice_restart_in_flight,
                ..
            } = peer;
            let mut api = rtc.sdp_api();
            for (track, stream_id) in forwarded.iter_mut().zip(stream_ids) {
                match track.state {
                    OutState::ToOpen => {
                        let kind = match track.kind {
                            TrackKind::Audio => MediaKind::Audio,
                            TrackKind::Video => MediaKind::Video,
                        };
                        let mid = api.add_media(kind, Direction::SendOnly, stream_id, None, None);
                        track.state = OutState::Negotiating(mid);
                    }
                    OutState::ToStop(mid) => {
                        api.stop_media(mid);
                        track.state = OutState::NegotiatingStop(mid);
                    }
                    _ => {}
                }
            }
            if *ice_restart_wanted {
                api.ice_restart(true);
                *ice_restart_wanted = false;
                *ice_restart_in_flight = true;
            }
            api.apply()
        });
        let peer = &mut self.peers[index];
        match offer {
            Some((offer, pending)) => {
                peer.pending_offer = Some(pending);
                let peer_id = peer.id.clone();
                // The browser learns what the new lines carry before it
                // sees them.
                self.announce(index);
                self.outputs.push_back(RoomOutput::Signal {
                    peer_id,
                    signal: SignalOut::Offer {
                        sdp: offer.to_sdp_string(),
                    },
                });
            }
            None => {
                // Only stops of lines str0m had already stopped: done.
                peer.forwarded
                    .retain(|f| !matches!(f.state, OutState::NegotiatingStop(_)));
                peer.ice_restart_in_flight = false;
            }
        }
    }

    /// Tells a peer which lines carry whose media, if that changed.
    fn announce(&mut self, index: usize) {
        let peer = &self.peers[index];
        if peer.failed.is_some() {
            return;
        }
        let tracks: Vec<TrackInfo> = peer
            .forwarded
            .iter()
            .filter(|f| f.is_listed())
            .filter_map(|f| {
                let publisher = self.peer_by_key(f.from)?;
                let track = publisher.published(f.from_mid)?;
                Some(TrackInfo {
                    mid: f.mid()?.to_string(),
                    peer_id: publisher.id.clone(),
                    name: publisher.name.clone(),
                    kind: track.kind,
                    source: track.source,
                })
            })
            .collect();
        if peer.announced.as_deref().unwrap_or_default() == tracks.as_slice() {
            return;
        }
        let peer_id = peer.id.clone();
        self.peers[index].announced = Some(tracks.clone());
        self.outputs.push_back(RoomOutput::Signal {
            peer_id,
            signal: SignalOut::Tracks { tracks },
        });
    }

    /// The media stream a forwarded line belongs to in the browser: the
    /// publisher's id, with screen shares in a stream of their own, so the
    /// browser syncs a person's voice with their camera.
    fn stream_id(&self, from: PeerKey, mid: Mid) -> Option<String> {
        let publisher = self.peer_by_key(from)?;
        let screen = publisher
            .published(mid)
            .is_some_and(|t| t.source.is_screen());
        Some(if screen {
            format!("{}-screen", publisher.id)
        } else {
            publisher.id.to_string()
        })
    }

    fn reap_failed(&mut self) {
        while let Some(index) = self.peers.iter().position(|p| p.failed.is_some()) {
            let reason = self.peers[index].failed;
            self.remove_peer(index, reason);
        }
    }

    /// Takes a peer out: says goodbye on the wire, stops its tracks for
    /// everyone (queued), and reports it gone if `gone` says why.
    fn remove_peer(&mut self, index: usize, gone: Option<CloseReason>) {
        let mut peer = self.peers.remove(index);
        self.reindex();
        self.speakers.forget(&peer.key);
        self.recent_speakers.retain(|&k| k != peer.key);
        info!(peer = %peer.id, reason = ?gone, "media peer leaves");
        if peer.rtc.is_alive() && peer.rtc.close().is_ok() {
            // RTCP BYE and DTLS close_notify: the browser learns at once.
            // Bounded, in case the engine keeps producing output.
            for _ in 0..64 {
                match peer.rtc.poll_output() {
                    Ok(Output::Transmit(transmit)) => {
                        self.outputs.push_back(RoomOutput::Transmit {
                            source: transmit.source,
                            destination: transmit.destination,
                            bytes: transmit.contents.into(),
                        })
                    }
                    Ok(Output::Event(_)) => {}
                    Ok(Output::Timeout(_)) | Err(_) => break,
                }
            }
        }
        for track in &peer.published {
            self.work.push_back(Work::Unpublished {
                from: peer.key,
                mid: track.mid,
            });
        }
        if let Some(reason) = gone {
            self.outputs.push_back(RoomOutput::PeerGone {
                peer_id: peer.id,
                reason,
            });
        }
    }

    /// Makes `by_id` and `by_key` match `peers` again. **Called after every
    /// change to `peers`**, before anything looks a peer up.
    fn reindex(&mut self) {
        self.lines_touched();
        self.by_id.clear();
        self.by_key.clear();
        for (index, peer) in self.peers.iter().enumerate() {
            self.by_id.insert(peer.id.clone(), index);
            self.by_key.insert(peer.key, index);
        }
    }

    fn index_of(&self, peer_id: &PeerId) -> Option<usize> {
        self.by_id.get(peer_id).copied()
    }

    fn index_of_key(&self, key: PeerKey) -> Option<usize> {
        self.by_key.get(&key).copied()
    }

    fn peer_by_key(&self, key: PeerKey) -> Option<&Peer> {
        self.index_of_key(key).map(|index| &self.peers[index])
    }
}

/// How many timeouts already due one drain of a peer's `Rtc` handles before
/// it leaves the rest to the driver's next turn.
const MAX_DUE_ROUNDS: usize = 256;

/// Polls a peer's `Rtc` until it has nothing more: datagrams go to
/// `outputs`, events update the peer and queue work for the others.
/// Writes a publisher's frame to one subscriber's line `position`, if that
/// line takes it (open, its layer), and drains what that makes.
fn forward_to(
    peer: &mut Peer,
    position: usize,
    data: &MediaData,
    is_keyframe: bool,
    now: Instant,
    work: &mut VecDeque<Work>,
    outputs: &mut VecDeque<RoomOutput>,
) {
    if peer.failed.is_some() {
        return;
    }
    let track = &mut peer.forwarded[position];
    let Some(mid) = track.open_mid() else {
        return;
    };
    if data.rid.is_some() && track.layer.target.is_none() {
        // Simulcast the SDP did not announce: take the first layer seen.
        track.layer.target = data.rid;
    }
    let Some(time) = track
        .layer
        .admit(data.rid, is_keyframe, data.time, data.network_time)
    else {
        return;
    };
    let Some(writer) = peer.rtc.writer(mid) else {
        return;
    };
    let Some(pt) = writer.match_params(data.params) else {
        debug!(peer = %peer.id, %mid, "no matching codec to forward");
        return;
    };
    let written = writer.write(pt, data.network_time, time, data.data.clone());
    if let Err(e) = written {
        debug!(peer = %peer.id, %mid, error = %e, "frame not forwarded");
    }
    drain_peer(peer, now, work, outputs);
}

fn drain_peer(
    peer: &mut Peer,
    now: Instant,
    work: &mut VecDeque<Work>,
    outputs: &mut VecDeque<RoomOutput>,
) {
    let mut due_rounds = 0;
    loop {
        if !peer.rtc.is_alive() {
            peer.failed.get_or_insert(CloseReason::Failed);
            return;
        }
        match peer.rtc.poll_output() {
            // Due already (str0m asks for a timeout before each paced
            // packet, and after new media): handled now, so a frame's
            // packets leave in this step rather than one per turn of the
            // driver. Bounded, in case the engine keeps asking.
            Ok(Output::Timeout(at)) if at <= now && due_rounds < MAX_DUE_ROUNDS => {
                due_rounds += 1;
                if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                    warn!(peer = %peer.id, error = %e, "media timeout failed");
                }
            }
            Ok(Output::Timeout(at)) => {
                peer.timeout = at;
                return;
            }
            Ok(Output::Transmit(transmit)) => outputs.push_back(RoomOutput::Transmit {
                source: transmit.source,
                destination: transmit.destination,
                bytes: transmit.contents.into(),
            }),
            Ok(Output::Event(event)) => on_event(peer, event, now, work),
            Err(e) => {
                warn!(peer = %peer.id, error = %e, "media connection failed");
                peer.failed.get_or_insert(CloseReason::Failed);
                peer.rtc.disconnect();
                return;
            }
        }
    }
}

/// What one event of a peer's `Rtc` means. Only this peer is changed here;
/// what others must do is queued.
fn on_event(peer: &mut Peer, event: Event, now: Instant, work: &mut VecDeque<Work>) {
    match event {
        Event::Connected => {
            debug!(peer = %peer.id, "media connected");
            peer.connected = true;
            peer.disconnected_since = None;
            work.push_back(Work::Connected { peer: peer.key });
        }
        Event::IceConnectionStateChange(state) => match state {
            IceConnectionState::Disconnected => {
                debug!(peer = %peer.id, "media disconnected");
                peer.disconnected_since.get_or_insert(now);
            }
            IceConnectionState::Connected | IceConnectionState::Completed => {
                peer.disconnected_since = None;
            }
            _ => {}
        },
        Event::MediaAdded(added) => {
            let rids = added
                .simulcast
                .map(|s| s.recv.into_iter().map(|layer| layer.rid).collect())
                .unwrap_or_default();
            if added.direction.is_receiving() {
                publish(peer, added.mid, added.kind.into(), rids, work);
            }
        }
        Event::MediaChanged(changed) => {
            let published = peer.published(changed.mid).is_some();
            if published && !changed.direction.is_receiving() {
                peer.published.retain(|t| t.mid != changed.mid);
                work.push_back(Work::Unpublished {
                    from: peer.key,
                    mid: changed.mid,
                });
            } else if !published && changed.direction.is_receiving() {
                let Some(media) = peer.rtc.media(changed.mid) else {
                    return;
                };
                let kind = media.kind().into();
                let rids = match media.rids_rx() {
                    Rids::Specific(rids) => rids.clone(),
                    _ => Vec::new(),
                };
                publish(peer, changed.mid, kind, rids, work);
            }
        }
        Event::MediaData(data) => {
            let Some(track) = peer.published_mut(data.mid) else {
                return;
            };
            if let Some(rid) = data.rid {
                track.layers.record(now, rid, data.data.len());
            }
            if track.kind == TrackKind::Video && !data.contiguous {
                // Frames were lost for good: the subscribers' decoders need
                // a fresh start.
                work.push_back(Work::Keyframe {
                    publisher: peer.key,
                    mid: data.mid,
                    rid: data.rid,
                    kind: KeyframeRequestKind::Pli,
                });
            }
            work.push_back(Work::Forward {
                from: peer.key,
                data: Box::new(data),
            });
        }
        Event::KeyframeRequest(request) => work.push_back(Work::KeyframeFromSubscriber {
            subscriber: peer.key,
            mid: request.mid,
            kind: request.kind,
        }),
        Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
            peer.estimate = Some(estimate.as_u64());
            work.push_back(Work::Reselect { peer: peer.key });
        }
        Event::StreamPaused(paused) => {
            if let (Some(track), Some(rid)) = (peer.published_mut(paused.mid), paused.rid) {
                track.layers.set_paused(rid, paused.paused);
            }
        }
        Event::Closed => {
            peer.failed.get_or_insert(CloseReason::Hangup);
        }
        _ => {}
    }
}

/// Records a track a peer started sending, unless it is one of the room's
/// own lines or already known.
fn publish(peer: &mut Peer, mid: Mid, kind: TrackKind, rids: Vec<Rid>, work: &mut VecDeque<Work>) {
    if peer.is_forwarding_line(mid) || peer.published(mid).is_some() {
        return;
    }
    let source = peer.source_for(mid, kind);
    debug!(peer = %peer.id, %mid, ?kind, ?source, layers = rids.len(), "track published");
    peer.published.push(Published::new(mid, kind, source, rids));
    work.push_back(Work::Published {
        from: peer.key,
        mid,
    });
}

/// The layer a new subscriber starts with: the smallest.
fn first_layer(track: &Published) -> Option<Rid> {
    if !track.layers.is_simulcast() {
        return None;
    }
    layers::choose(&track.layers.ordered(), None, None)
}

/// Whether BWE settings moved by more than a tenth, worth telling str0m.
fn differs(old: Option<(u64, u64)>, new: Option<(u64, u64)>) -> bool {
    match (old, new) {
        (Some((old_min, old_desired)), Some((new_min, new_desired))) => {
            let apart = |a: u64, b: u64| a.abs_diff(b) * 10 > a.max(b);
            apart(old_min, new_min) || apart(old_desired, new_desired)
        }
        (old, new) => old != new,
    }
}

fn receive_input(
    now: Instant,
    source: SocketAddr,
    destination: SocketAddr,
    datagram: &[u8],
) -> Option<Input<'_>> {
    let contents = DatagramRecv::try_from(datagram).ok()?;
    Some(Input::Receive(
        now,
        Receive {
            proto: Protocol::Udp,
            source,
            destination,
            contents,
        },
    ))
}

#[cfg(test)]
mod tests;

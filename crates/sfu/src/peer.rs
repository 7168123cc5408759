//! One browser in a room: its str0m [`Rtc`], the tracks it publishes, the
//! tracks the room forwards to it, and where its SDP negotiation stands.
//!
//! Everything here is about a single peer; what crosses between peers
//! (routing, renegotiation, teardown) is in [`crate::room`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use str0m::Rtc;
use str0m::change::SdpPendingOffer;
use str0m::media::{KeyframeRequestKind, MediaTime, Mid, Rid};

use crate::layers::Layers;
use crate::signal::{CloseReason, MediaSource, PeerId, TrackInfo, TrackKind};

/// The room's own name for a peer. Unlike the [`PeerId`], it is never reused:
/// when someone joins again with the same id, work still queued for the old
/// connection cannot reach the new one.
pub(crate) type PeerKey = u64;

/// A publisher is asked for a keyframe of the same layer at most this often;
/// requests in between are merged into one sent when the interval is over.
/// Many subscribers losing packets at once then cost the publisher one
/// keyframe, not one each.
pub(crate) const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

pub(crate) struct Peer {
    pub key: PeerKey,
    pub id: PeerId,
    pub name: String,
    pub rtc: Rtc,
    /// When `rtc` wants its next `Input::Timeout`, as of its last drain.
    pub timeout: Instant,
    /// The browser's names for its own media lines.
    pub sources: HashMap<Mid, MediaSource>,
    /// Tracks this peer sends to the room.
    pub published: Vec<Published>,
    /// Tracks of other peers the room sends (or will send) to this peer.
    pub forwarded: Vec<Forwarded>,
    /// The room's offer waiting for this browser's answer. **While it is
    /// there, the room makes no other offer to this peer**: changes wait in
    /// `forwarded` (as `ToOpen`/`ToStop`) and go out together afterwards.
    pub pending_offer: Option<SdpPendingOffer>,
    /// An ICE restart the browser asked for and no offer has carried yet.
    pub ice_restart_wanted: bool,
    /// The pending offer carries an ICE restart (to redo it if the offer is
    /// rolled back).
    pub ice_restart_in_flight: bool,
    /// ICE and DTLS are up: media written now is actually sent.
    pub connected: bool,
    /// Since when the peer has been without a working connection: from the
    /// join until it first connects, and from each ICE disconnect until it
    /// is back. Past the room's grace period the peer is let go.
    pub disconnected_since: Option<Instant>,
    /// The latest bandwidth estimate towards this browser, bits per second.
    pub estimate: Option<u64>,
    /// The (minimum, desired) bitrates last given to str0m's BWE.
    pub bwe_bitrates: Option<(u64, u64)>,
    /// The track list this browser was last told about.
    pub announced: Option<Vec<TrackInfo>>,
    /// Set when the connection is beyond saving; the room removes the peer.
    pub failed: Option<CloseReason>,
    /// Sources of this peer's that the host switched off: **nothing of a
    /// held source is forwarded**, whatever the browser sends.
    pub holds: Vec<Hold>,
}

/// A source the host switched off for one peer. It lets go once the browser
/// has said the source is off and then on again: the person's own choice,
/// made after their page heard of the hold (an "on" the page sent before it
/// heard cannot undo it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hold {
    pub source: MediaSource,
    /// The browser has said the source is off since the hold began.
    pub seen_off: bool,
}

impl Peer {
    pub fn new(key: PeerKey, id: PeerId, name: String, rtc: Rtc, now: Instant) -> Self {
        Self {
            key,
            id,
            name,
            rtc,
            timeout: now,
            sources: HashMap::new(),
            published: Vec::new(),
            forwarded: Vec::new(),
            pending_offer: None,
            ice_restart_wanted: false,
            ice_restart_in_flight: false,
            connected: false,
            disconnected_since: Some(now),
            estimate: None,
            bwe_bitrates: None,
            announced: None,
            failed: None,
            holds: Vec::new(),
        }
    }

    /// Whether the host holds the source of this peer's published line `mid`.
    pub fn is_held(&self, mid: Mid) -> bool {
        !self.holds.is_empty()
            && self
                .published(mid)
                .is_some_and(|track| self.holds.iter().any(|h| h.source == track.source))
    }

    /// Holds `sources` (again: an earlier "off" no longer counts).
    pub fn hold(&mut self, sources: &[MediaSource]) {
        for &source in sources {
            self.holds.retain(|h| h.source != source);
            self.holds.push(Hold {
                source,
                seen_off: false,
            });
        }
    }

    /// The browser says whether it sends `source` now. Returns true when
    /// that lets a hold go.
    pub fn report_sending(&mut self, source: MediaSource, on: bool) -> bool {
        let Some(index) = self.holds.iter().position(|h| h.source == source) else {
            return false;
        };
        if !on {
            self.holds[index].seen_off = true;
            false
        } else if self.holds[index].seen_off {
            self.holds.remove(index);
            true
        } else {
            false
        }
    }

    pub fn published(&self, mid: Mid) -> Option<&Published> {
        self.published.iter().find(|p| p.mid == mid)
    }

    pub fn published_mut(&mut self, mid: Mid) -> Option<&mut Published> {
        self.published.iter_mut().find(|p| p.mid == mid)
    }

    /// Whether `mid` is one of the lines the room added to send on.
    pub fn is_forwarding_line(&self, mid: Mid) -> bool {
        self.forwarded.iter().any(|f| f.mid() == Some(mid))
    }

    pub fn source_for(&self, mid: Mid, kind: TrackKind) -> MediaSource {
        self.sources
            .get(&mid)
            .copied()
            .unwrap_or_else(|| MediaSource::default_for(kind))
    }

    /// Puts the changes of an offer that will never be answered back in the
    /// queue, to be offered again.
    pub fn roll_back_offer(&mut self) {
        self.pending_offer = None;
        for track in &mut self.forwarded {
            track.state = match track.state {
                OutState::Negotiating(_) => OutState::ToOpen,
                OutState::NegotiatingStop(mid) => OutState::ToStop(mid),
                other => other,
            };
        }
        if self.ice_restart_in_flight {
            self.ice_restart_in_flight = false;
            self.ice_restart_wanted = true;
        }
    }

    /// Whether anything waits for an offer.
    pub fn wants_offer(&self) -> bool {
        self.ice_restart_wanted
            || self
                .forwarded
                .iter()
                .any(|f| matches!(f.state, OutState::ToOpen | OutState::ToStop(_)))
    }
}

/// A track a peer publishes.
pub(crate) struct Published {
    pub mid: Mid,
    pub kind: TrackKind,
    pub source: MediaSource,
    /// Its simulcast layers; none when the browser sends one stream.
    pub layers: Layers,
    /// Keyframe requests to this track, per layer.
    pub keyframes: Vec<KeyframeGate>,
}

impl Published {
    pub fn new(mid: Mid, kind: TrackKind, source: MediaSource, rids: Vec<Rid>) -> Self {
        Self {
            mid,
            kind,
            source,
            layers: Layers::new(rids),
            keyframes: Vec::new(),
        }
    }

    pub fn gate(&mut self, rid: Option<Rid>) -> &mut KeyframeGate {
        let index = match self.keyframes.iter().position(|g| g.rid == rid) {
            Some(index) => index,
            None => {
                self.keyframes.push(KeyframeGate {
                    rid,
                    last_sent: None,
                    deferred: None,
                });
                self.keyframes.len() - 1
            }
        };
        &mut self.keyframes[index]
    }
}

/// Throttles keyframe requests for one layer of a published track.
pub(crate) struct KeyframeGate {
    pub rid: Option<Rid>,
    pub last_sent: Option<Instant>,
    /// A request that came too soon after the last, sent once the interval
    /// is over. FIR wins over PLI when both wait.
    pub deferred: Option<KeyframeRequestKind>,
}

impl KeyframeGate {
    /// Whether a request may go out at `now`; if not, it is kept for later.
    pub fn admit(&mut self, now: Instant, kind: KeyframeRequestKind) -> bool {
        if let Some(last) = self.last_sent
            && now < last + KEYFRAME_INTERVAL
        {
            self.deferred = Some(match (self.deferred, kind) {
                (Some(KeyframeRequestKind::Fir), _) => KeyframeRequestKind::Fir,
                _ => kind,
            });
            return false;
        }
        self.last_sent = Some(now);
        self.deferred = None;
        true
    }

    /// When the deferred request may go out.
    pub fn deferred_until(&self) -> Option<Instant> {
        self.deferred?;
        Some(self.last_sent? + KEYFRAME_INTERVAL)
    }
}

/// Where a forwarded track's media line stands in the subscriber's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutState {
    /// Wanted; goes into the next offer.
    ToOpen,
    /// In the pending offer as this mid.
    Negotiating(Mid),
    /// Negotiated: media flows on this mid.
    Open(Mid),
    /// Its publisher stopped; goes into the next offer as a stopped line.
    ToStop(Mid),
    /// Stopped in the pending offer; forgotten once it is answered.
    NegotiatingStop(Mid),
}

/// A track of another peer that the room sends to this peer.
pub(crate) struct Forwarded {
    /// The publisher, and its track.
    pub from: PeerKey,
    pub from_mid: Mid,
    pub kind: TrackKind,
    pub state: OutState,
    /// The publisher stopped while this line was being negotiated: stop it as
    /// soon as the answer is in.
    pub source_gone: bool,
    pub layer: LayerChoice,
}

impl Forwarded {
    pub fn new(from: PeerKey, from_mid: Mid, kind: TrackKind, first_layer: Option<Rid>) -> Self {
        Self {
            from,
            from_mid,
            kind,
            state: OutState::ToOpen,
            source_gone: false,
            layer: LayerChoice::new(first_layer),
        }
    }

    pub fn mid(&self) -> Option<Mid> {
        match self.state {
            OutState::ToOpen => None,
            OutState::Negotiating(m)
            | OutState::Open(m)
            | OutState::ToStop(m)
            | OutState::NegotiatingStop(m) => Some(m),
        }
    }

    pub fn open_mid(&self) -> Option<Mid> {
        match self.state {
            OutState::Open(m) => Some(m),
            _ => None,
        }
    }

    /// Whether the browser is (about to be) receiving media on it, and so
    /// should know what it carries.
    pub fn is_listed(&self) -> bool {
        !self.source_gone && matches!(self.state, OutState::Negotiating(_) | OutState::Open(_))
    }

    pub fn comes_from(&self, from: PeerKey, mid: Mid) -> bool {
        self.from == from && self.from_mid == mid
    }

    /// Whether the line is (going to be) carrying its track, rather than
    /// being stopped. A track published again on the same mid after it
    /// stopped gets a new line beside the one being stopped.
    pub fn is_live(&self) -> bool {
        !self.source_gone
            && matches!(
                self.state,
                OutState::ToOpen | OutState::Negotiating(_) | OutState::Open(_)
            )
    }
}

/// Which simulcast layer of its publisher a forwarded track carries.
///
/// **A subscriber only ever changes layer on a keyframe of the new layer**
/// (its decoder cannot start mid-stream), so a change first sets `target`,
/// asks the publisher for a keyframe on it, and takes effect when that
/// keyframe arrives. Until then the old layer keeps flowing.
pub(crate) struct LayerChoice {
    /// The layer being forwarded (`None` without simulcast, or before the
    /// first keyframe of a simulcast track).
    pub current: Option<Rid>,
    /// The layer wanted.
    pub target: Option<Rid>,
    /// Added to the publisher's media time, so that time keeps going forward
    /// across a layer change (each layer has its own RTP timestamps).
    offset: i64,
    /// The last media time written, and when.
    last_out: Option<(u64, Instant)>,
}

impl LayerChoice {
    fn new(first: Option<Rid>) -> Self {
        Self {
            current: None,
            target: first,
            offset: 0,
            last_out: None,
        }
    }

    /// The layer keyframe requests for this track should name.
    pub fn wanted(&self) -> Option<Rid> {
        self.target.or(self.current)
    }

    /// Decides whether a frame from layer `rid` is forwarded, and with which
    /// media time.
    pub fn admit(
        &mut self,
        rid: Option<Rid>,
        is_keyframe: bool,
        time: MediaTime,
        arrived: Instant,
    ) -> Option<MediaTime> {
        if rid != self.current {
            if rid.is_none() || rid != self.target || !is_keyframe {
                return None;
            }
            self.offset = match self.last_out {
                // Continue one tick after where the old layer left off, plus
                // the time that has passed since.
                Some((last, at)) => {
                    let passed = arrived.saturating_duration_since(at).as_secs_f64();
                    let ticks = (passed * f64::from(time.frequency().get())) as i64;
                    last as i64 + ticks.max(1) - time.numer() as i64
                }
                None => 0,
            };
            self.current = rid;
        }
        let out = (time.numer() as i64 + self.offset).max(0) as u64;
        self.last_out = Some((out, arrived));
        Some(MediaTime::new(out, time.frequency()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn without_simulcast_everything_passes_unchanged() {
        let mut choice = LayerChoice::new(None);
        let now = Instant::now();
        let t = MediaTime::from_90khz(12345);
        assert_eq!(choice.admit(None, false, t, now), Some(t));
    }

    #[test]
    fn a_layer_change_waits_for_a_keyframe_and_keeps_time_going_forward() {
        let start = Instant::now();
        let mut choice = LayerChoice::new(Some("l".into()));
        // Nothing until the first keyframe of the target layer.
        let l = Some(Rid::from("l"));
        let h = Some(Rid::from("h"));
        assert_eq!(
            choice.admit(l, false, MediaTime::from_90khz(1000), at(start, 0)),
            None
        );
        assert_eq!(
            choice.admit(h, true, MediaTime::from_90khz(50), at(start, 0)),
            None
        );
        let first = choice.admit(l, true, MediaTime::from_90khz(4000), at(start, 33));
        assert_eq!(first, Some(MediaTime::from_90khz(4000)));

        // Switch to h: its delta frames are dropped, l keeps flowing.
        choice.target = h;
        assert_eq!(
            choice.admit(h, false, MediaTime::from_90khz(90), at(start, 66)),
            None
        );
        assert!(
            choice
                .admit(l, false, MediaTime::from_90khz(7000), at(start, 66))
                .is_some()
        );
        // h's keyframe 33 ms later: continues at 7000 + 33 ms of 90 kHz.
        let switched = choice
            .admit(h, true, MediaTime::from_90khz(100), at(start, 99))
            .unwrap();
        assert_eq!(switched.numer(), 7000 + 2970);
        assert_eq!(choice.current, h);
        // Now l is dropped.
        assert_eq!(
            choice.admit(l, false, MediaTime::from_90khz(10000), at(start, 132)),
            None
        );
    }

    #[test]
    fn keyframe_requests_are_merged_within_the_interval() {
        let start = Instant::now();
        let mut gate = KeyframeGate {
            rid: None,
            last_sent: None,
            deferred: None,
        };
        assert!(gate.admit(start, KeyframeRequestKind::Pli));
        assert!(!gate.admit(at(start, 100), KeyframeRequestKind::Fir));
        assert!(!gate.admit(at(start, 200), KeyframeRequestKind::Pli));
        assert_eq!(gate.deferred, Some(KeyframeRequestKind::Fir));
        assert_eq!(gate.deferred_until(), Some(at(start, 500)));
        assert!(gate.admit(at(start, 500), KeyframeRequestKind::Fir));
        assert_eq!(gate.deferred_until(), None);
    }
}

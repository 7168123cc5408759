//! The room with fake time and an in-memory network. str0m `Rtc`s play the
//! browsers: they offer, answer the room's offers, connect over ICE and DTLS,
//! and send media whose payload names the sender, the layer and a sequence
//! number. Nothing sleeps: [`Net::step`] moves time to the next thing due.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{
    Direction, Frequency, KeyframeRequest, KeyframeRequestKind, MediaKind, MediaTime, Mid, Rid,
    Simulcast, SimulcastLayer,
};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use super::*;
use crate::signal::MediaSource;

const SERVER: &str = "10.0.0.1:5000";

/// Every datagram takes this long on the wire.
const LATENCY: Duration = Duration::from_millis(5);

/// A capped link holds at most this much in its queue; the rest is lost.
const MAX_QUEUE_DELAY: Duration = Duration::from_millis(250);

struct Browser {
    id: PeerId,
    addr: SocketAddr,
    rtc: Rtc,
    timeout: Instant,
    /// The browser's own offer waiting for the room's answer.
    pending: Option<SdpPendingOffer>,
    /// Answer the room's offers by itself (off to hold an offer unanswered).
    auto_answer: bool,
    /// Room offers received and not answered (when `auto_answer` is off).
    held_offers: Vec<String>,
    offers_received: usize,
    /// Lines this browser sends on, with what they carry.
    sending: Vec<Sending>,
    /// The room's latest list of what each received line carries.
    tracks: Vec<TrackInfo>,
    /// Payloads received, by line.
    received: Vec<(Mid, Vec<u8>)>,
    keyframe_requests: Vec<KeyframeRequest>,
    /// Datagrams to and from it vanish (its network is down).
    unplugged: bool,
    /// The audio level (dBov) its microphone packets carry; `None`: no
    /// level at all, as before any test set one.
    audio_level: Option<i8>,
    /// Its downlink, bits per second; `None`: unlimited.
    downlink_bps: Option<u64>,
    /// When its downlink has sent everything queued on it.
    downlink_free_at: Instant,
    gone: Option<CloseReason>,
}

struct Sending {
    mid: Mid,
    kind: MediaKind,
    /// Simulcast layers with their payload size; one `None` layer without.
    layers: Vec<(Option<Rid>, usize)>,
    seq: u64,
    /// Layers whose next frame must be a keyframe.
    keyframe_due: Vec<Option<Rid>>,
}

/// A line a test browser sends: its kind, and its simulcast layers (rid and
/// payload size) if it simulcasts.
type Line<'a> = (MediaKind, Option<&'a [(&'a str, usize)]>);

struct Datagram {
    at: Instant,
    source: SocketAddr,
    destination: SocketAddr,
    bytes: Vec<u8>,
}

struct Net {
    now: Instant,
    room: Room,
    room_timeout: Instant,
    browsers: Vec<Browser>,
    /// Signals from browsers, delivered to the room in order.
    to_room_signals: VecDeque<(PeerId, SignalIn)>,
    in_flight: Vec<Datagram>,
    /// Every output of the room that is not a datagram, in order.
    log: Vec<RoomOutput>,
    /// When browsers send their next frames.
    next_frame: Instant,
    /// Routes datagrams to the room as the driver does; `None`: the room
    /// finds every datagram's owner itself.
    routes: Option<crate::routes::Routes>,
    /// The payload of each audio frame browsers joining from now on send.
    audio_bytes: usize,
}

fn server() -> SocketAddr {
    SERVER.parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Net {
    fn new() -> Self {
        Self::with_config(|_| {})
    }

    fn with_config(change: impl FnOnce(&mut RoomConfig)) -> Self {
        let now = Instant::now();
        let mut config = RoomConfig::new(vec![server()]);
        config.disconnect_grace = Duration::from_secs(8);
        change(&mut config);
        Self {
            now,
            room: Room::new(config, now),
            room_timeout: now,
            browsers: Vec::new(),
            to_room_signals: VecDeque::new(),
            in_flight: Vec::new(),
            log: Vec::new(),
            next_frame: now,
            routes: None,
            audio_bytes: 60,
        }
    }

    /// A browser with a microphone and a camera joins.
    fn join(&mut self, id: &str) -> Result<(), SfuError> {
        self.join_with(id, &[(MediaKind::Audio, None), (MediaKind::Video, None)])
    }

    /// A browser joins sending these lines (kind, simulcast layers with
    /// payload sizes).
    fn join_with(&mut self, id: &str, lines: &[Line<'_>]) -> Result<(), SfuError> {
        self.join_held(id, lines, &[])
    }

    /// As [`Net::join_with`], with sources the host held on an earlier
    /// connection of theirs.
    fn join_held(
        &mut self,
        id: &str,
        lines: &[Line<'_>],
        held: &[MediaSource],
    ) -> Result<(), SfuError> {
        let number = self.browsers.len() as u8 + 1;
        let addr: SocketAddr = format!("10.0.1.{number}:4000").parse().unwrap();
        let mut rtc = Rtc::builder().build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let mut sending = Vec::new();
        let mut sources = Sources::new();
        for (kind, layers) in lines {
            let simulcast = layers.map(|layers| {
                let mut simulcast = Simulcast::new();
                for (rid, _) in layers {
                    simulcast.add_send_layer(SimulcastLayer::new(rid));
                }
                simulcast
            });
            let mid = api.add_media(*kind, Direction::SendOnly, None, None, simulcast);
            let size = if *kind == MediaKind::Audio {
                self.audio_bytes
            } else {
                300
            };
            let layers = match layers {
                Some(layers) => layers
                    .iter()
                    .map(|(rid, size)| (Some(Rid::from(*rid)), *size))
                    .collect(),
                None => vec![(None, size)],
            };
            sources.insert(
                mid.to_string(),
                match kind {
                    MediaKind::Audio => MediaSource::Microphone,
                    MediaKind::Video => MediaSource::Camera,
                },
            );
            sending.push(Sending {
                mid,
                kind: *kind,
                keyframe_due: layers.iter().map(|(rid, _)| *rid).collect(),
                layers,
                seq: 0,
            });
        }
        let (offer, pending) = api.apply().unwrap();
        self.browsers.push(Browser {
            id: PeerId::from(id),
            addr,
            rtc,
            timeout: self.now,
            pending: Some(pending),
            auto_answer: true,
            held_offers: Vec::new(),
            offers_received: 0,
            sending,
            tracks: Vec::new(),
            received: Vec::new(),
            keyframe_requests: Vec::new(),
            unplugged: false,
            audio_level: None,
            downlink_bps: None,
            downlink_free_at: self.now,
            gone: None,
        });
        let index = self.browsers.len() - 1;
        self.drain_browser(index);
        let joined = self.room.handle_input(
            self.now,
            RoomInput::AddPeer {
                peer_id: id.into(),
                name: name_of(id),
                offer_sdp: offer.to_sdp_string(),
                sources,
                held: held.to_vec(),
            },
        );
        if joined.is_err() {
            self.browsers.pop();
        }
        self.drain_room();
        joined
    }

    fn browser(&mut self, id: &str) -> &mut Browser {
        self.browsers
            .iter_mut()
            .find(|b| b.id.as_str() == id)
            .unwrap_or_else(|| panic!("no browser {id}"))
    }

    fn index(&self, id: &str) -> usize {
        self.browsers
            .iter()
            .position(|b| b.id.as_str() == id)
            .unwrap()
    }

    fn input(&mut self, input: RoomInput<'_>) -> Result<(), SfuError> {
        let result = self.room.handle_input(self.now, input);
        self.drain_room();
        result
    }

    fn signal(&mut self, id: &str, signal: SignalIn) -> Result<(), SfuError> {
        self.input(RoomInput::Signal {
            peer_id: id.into(),
            signal,
        })
    }

    /// Takes everything the room wants done.
    fn drain_room(&mut self) {
        loop {
            match self.room.poll_output() {
                RoomOutput::Timeout(at) => {
                    self.room_timeout = at;
                    return;
                }
                RoomOutput::Transmit {
                    source,
                    destination,
                    bytes,
                } => self.send(source, destination, bytes),
                RoomOutput::Signal { peer_id, signal } => {
                    self.log.push(RoomOutput::Signal {
                        peer_id: peer_id.clone(),
                        signal: signal.clone(),
                    });
                    self.deliver_to_browser(&peer_id, signal);
                }
                told @ (RoomOutput::ActiveSpeakers { .. } | RoomOutput::Released { .. }) => {
                    self.log.push(told)
                }
                gone @ RoomOutput::PeerGone { .. } => {
                    if let RoomOutput::PeerGone { peer_id, reason } = &gone
                        && let Some(b) = self.browsers.iter_mut().find(|b| &b.id == peer_id)
                    {
                        b.gone = Some(*reason);
                    }
                    self.log.push(gone);
                }
            }
        }
    }

    /// What a browser's page would do with a signal.
    fn deliver_to_browser(&mut self, peer_id: &PeerId, signal: SignalOut) {
        let Some(index) = self.browsers.iter().position(|b| &b.id == peer_id) else {
            return;
        };
        let browser = &mut self.browsers[index];
        match signal {
            SignalOut::Answer { sdp } => {
                let pending = browser.pending.take().expect("an answer to an offer");
                let answer = SdpAnswer::from_sdp_string(&sdp).unwrap();
                browser
                    .rtc
                    .sdp_api()
                    .accept_answer(pending, answer)
                    .unwrap();
            }
            SignalOut::Offer { sdp } => {
                browser.offers_received += 1;
                if browser.pending.is_some() || !browser.auto_answer {
                    // Impolite while its own offer is out, as the Lock In
                    // page is: the room will offer again.
                    if !browser.auto_answer {
                        browser.held_offers.push(sdp);
                    }
                    return;
                }
                let offer = SdpOffer::from_sdp_string(&sdp).unwrap();
                let answer = browser.rtc.sdp_api().accept_offer(offer).unwrap();
                self.to_room_signals.push_back((
                    peer_id.clone(),
                    SignalIn::Answer {
                        sdp: answer.to_sdp_string(),
                    },
                ));
            }
            SignalOut::Tracks { tracks } => browser.tracks = tracks,
            SignalOut::Closed { reason } => browser.gone = Some(reason),
            SignalOut::Held { .. } | SignalOut::Speakers { .. } => {}
        }
        self.drain_browser(index);
    }

    fn drain_browser(&mut self, index: usize) {
        loop {
            let browser = &mut self.browsers[index];
            match browser.rtc.poll_output().unwrap() {
                Output::Timeout(at) => {
                    browser.timeout = at;
                    return;
                }
                Output::Transmit(t) => {
                    let (source, destination) = (t.source, t.destination);
                    self.send(source, destination, t.contents.into());
                }
                Output::Event(Event::MediaData(data)) => {
                    browser.received.push((data.mid, data.data.to_vec()));
                }
                Output::Event(Event::KeyframeRequest(request)) => {
                    browser.keyframe_requests.push(request);
                    if let Some(line) = browser.sending.iter_mut().find(|s| s.mid == request.mid) {
                        line.keyframe_due.push(request.rid);
                    }
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Puts a datagram on the wire, through the receiver's downlink.
    fn send(&mut self, source: SocketAddr, destination: SocketAddr, bytes: Vec<u8>) {
        let now = self.now;
        let mut at = now + LATENCY;
        for b in &mut self.browsers {
            if b.addr == source && b.unplugged {
                return;
            }
            if b.addr == destination {
                if b.unplugged {
                    return;
                }
                if let Some(bps) = b.downlink_bps {
                    let start = b.downlink_free_at.max(now);
                    if start > now + MAX_QUEUE_DELAY {
                        return; // queue full: lost
                    }
                    let busy = Duration::from_secs_f64(bytes.len() as f64 * 8.0 / bps as f64);
                    b.downlink_free_at = start + busy;
                    at = b.downlink_free_at + LATENCY;
                }
            }
        }
        self.in_flight.push(Datagram {
            at,
            source,
            destination,
            bytes,
        });
    }

    /// Delivers what is due now, then moves time to the next thing due.
    fn step(&mut self) {
        while let Some((peer_id, signal)) = self.to_room_signals.pop_front() {
            // A browser that was let go may still answer; the room refuses.
            let _ = self.signal(peer_id.as_str(), signal);
        }
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|d| d.at <= now);
        self.in_flight = later;
        for datagram in due {
            if datagram.destination == server() {
                let Some(peer_id) = self.route(&datagram) else {
                    continue;
                };
                let _ = self.input(RoomInput::Receive {
                    peer_id,
                    source: datagram.source,
                    destination: datagram.destination,
                    datagram: &datagram.bytes,
                });
            } else if let Some(index) = self
                .browsers
                .iter()
                .position(|b| b.addr == datagram.destination)
            {
                let input = Input::Receive(
                    now,
                    Receive {
                        proto: Protocol::Udp,
                        source: datagram.source,
                        destination: datagram.destination,
                        contents: datagram.bytes.as_slice().try_into().unwrap(),
                    },
                );
                self.browsers[index].rtc.handle_input(input).unwrap();
                self.drain_browser(index);
            }
        }
        if !self.to_room_signals.is_empty() {
            return;
        }

        let mut next = self.room_timeout.min(self.next_frame);
        for browser in &self.browsers {
            next = next.min(browser.timeout);
        }
        for datagram in &self.in_flight {
            next = next.min(datagram.at);
        }
        // Time always moves, at most 20 ms at a time.
        self.now = next.clamp(self.now + ms(1), self.now + ms(20));
        let now = self.now;

        if self.room_timeout <= now {
            self.input(RoomInput::Timeout).unwrap();
        }
        for index in 0..self.browsers.len() {
            if self.browsers[index].timeout <= now {
                self.browsers[index]
                    .rtc
                    .handle_input(Input::Timeout(now))
                    .unwrap();
                self.drain_browser(index);
            }
        }
        if self.next_frame <= now {
            self.next_frame = now + ms(20);
            for index in 0..self.browsers.len() {
                self.send_frames(index);
            }
        }
    }

    /// Each connected browser sends one frame on each of its lines: the
    /// payload says who, which layer and which frame.
    fn send_frames(&mut self, index: usize) {
        let now = self.now;
        let browser = &mut self.browsers[index];
        if !browser.rtc.is_connected() || browser.gone.is_some() {
            return;
        }
        for line in &mut browser.sending {
            line.seq += 1;
            for &(rid, size) in &line.layers {
                let keyframe = line.keyframe_due.contains(&rid);
                line.keyframe_due.retain(|r| *r != rid);
                let mut payload = Vec::with_capacity(size);
                // A VP8 payload header says keyframe when its lowest bit is 0.
                payload.push(if keyframe { 0x00 } else { 0x01 });
                let layer = rid.map(|r| r.to_string()).unwrap_or_default();
                payload.extend_from_slice(
                    format!("{}|{}|{}|", browser.id, layer, line.seq).as_bytes(),
                );
                payload.resize(size.max(payload.len()), 0x55);
                let (codec, time) = match line.kind {
                    MediaKind::Audio => (
                        Codec::Opus,
                        MediaTime::new(line.seq * 960, Frequency::FORTY_EIGHT_KHZ),
                    ),
                    MediaKind::Video => (Codec::Vp8, MediaTime::from_90khz(line.seq * 1800)),
                };
                // A browser the room closed has no writers any more.
                let Some(mut writer) = browser.rtc.writer(line.mid) else {
                    continue;
                };
                let pt = writer
                    .payload_params()
                    .find(|p| p.spec().codec == codec)
                    .unwrap()
                    .pt();
                if let Some(rid) = rid {
                    writer = writer.rid(rid);
                }
                if line.kind == MediaKind::Audio
                    && let Some(level) = browser.audio_level
                {
                    writer = writer.audio_level(level, level >= -50);
                }
                writer.write(pt, now, time, payload).unwrap();
            }
        }
        self.drain_browser(index);
    }

    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.step();
        }
    }

    /// Runs until `done`, failing the test if it takes longer than `limit`.
    fn run_until(&mut self, limit: Duration, what: &str, done: impl Fn(&Net) -> bool) {
        let end = self.now + limit;
        while !done(self) {
            assert!(self.now < end, "not within {limit:?}: {what}");
            self.step();
        }
    }

    fn connected(&self, id: &str) -> bool {
        self.browsers[self.index(id)].rtc.is_connected()
    }

    /// The line of `viewer` that carries `publisher`'s track of `kind`.
    fn line(&self, viewer: &str, publisher: &str, kind: TrackKind) -> Option<Mid> {
        self.browsers[self.index(viewer)]
            .tracks
            .iter()
            .find(|t| t.peer_id.as_str() == publisher && t.kind == kind)
            .map(|t| Mid::from(t.mid.as_str()))
    }

    /// Payloads `viewer` got from `publisher` (by the name in the payload).
    fn got_from(&self, viewer: &str, publisher: &str) -> Vec<(Mid, String)> {
        let prefix = format!("{publisher}|");
        self.browsers[self.index(viewer)]
            .received
            .iter()
            .filter(|(_, payload)| payload[1..].starts_with(prefix.as_bytes()))
            .map(|(mid, payload)| (*mid, String::from_utf8_lossy(&payload[1..]).into_owned()))
            .collect()
    }

    /// Signals the room sent `id` since log entry `from`.
    fn signals_to(&self, id: &str, from: usize) -> Vec<&SignalOut> {
        self.log[from..]
            .iter()
            .filter_map(|o| match o {
                RoomOutput::Signal { peer_id, signal } if peer_id.as_str() == id => Some(signal),
                _ => None,
            })
            .collect()
    }

    /// Holds let go since log entry `from`: whose, and which sources.
    fn released(&self, from: usize) -> Vec<(&str, Vec<MediaSource>)> {
        self.log[from..]
            .iter()
            .filter_map(|o| match o {
                RoomOutput::Released { peer_id, sources } => {
                    Some((peer_id.as_str(), sources.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Everyone joined so far is connected and knows all the others' tracks.
    fn settled(&self) -> bool {
        let live: Vec<&Browser> = self.browsers.iter().filter(|b| b.gone.is_none()).collect();
        live.iter().all(|b| {
            b.rtc.is_connected()
                && b.pending.is_none()
                && live.iter().filter(|o| o.id != b.id).all(|o| {
                    b.tracks.iter().filter(|t| t.peer_id == o.id).count() == o.sending.len()
                })
        }) && self.to_room_signals.is_empty()
    }

    fn settle(&mut self) {
        self.run_until(Duration::from_secs(10), "everyone connected", Net::settled);
    }

    /// A room that `ids` (browsers with a microphone and a camera) have
    /// joined, everyone connected.
    fn joined(ids: &[&str]) -> Self {
        let mut net = Net::new();
        for id in ids {
            net.join(id).unwrap();
        }
        net.settle();
        net
    }

    /// `id`'s network stops carrying anything; waits (up to `within`) for
    /// the room to let them go as disconnected.
    fn unplug(&mut self, id: &str, within: Duration) {
        self.browser(id).unplugged = true;
        self.run_until(within, &format!("{} let go", name_of(id)), |net| {
            !net.room.contains(&id.into())
        });
        assert!(self.log.contains(&RoomOutput::PeerGone {
            peer_id: id.into(),
            reason: CloseReason::Disconnected,
        }));
    }
}

fn name_of(id: &str) -> String {
    let mut name = id.to_string();
    name[..1].make_ascii_uppercase();
    name
}

#[test]
fn a_publisher_reaches_a_subscriber() {
    let mut net = Net::joined(&["ada", "bob"]);

    let bob = &net.browsers[net.index("bob")];
    let mut tracks = bob.tracks.clone();
    tracks.sort_by_key(|t| t.kind == TrackKind::Video);
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].peer_id.as_str(), "ada");
    assert_eq!(tracks[0].name, "Ada");
    assert_eq!(
        (tracks[0].kind, tracks[0].source),
        (TrackKind::Audio, MediaSource::Microphone)
    );
    assert_eq!(
        (tracks[1].kind, tracks[1].source),
        (TrackKind::Video, MediaSource::Camera)
    );

    net.run_for(Duration::from_secs(1));
    let audio = net.line("bob", "ada", TrackKind::Audio).unwrap();
    let video = net.line("bob", "ada", TrackKind::Video).unwrap();
    let got = net.got_from("bob", "ada");
    assert!(
        got.iter().filter(|(mid, _)| *mid == audio).count() > 20,
        "{got:?}"
    );
    assert!(got.iter().filter(|(mid, _)| *mid == video).count() > 20);
    // Each line carries what it says.
    assert!(got.iter().all(|(mid, _)| *mid == audio || *mid == video));
    // And the other way round; nobody gets their own media back.
    assert!(net.got_from("ada", "bob").len() > 40);
    assert!(net.got_from("ada", "ada").is_empty());
}

#[test]
fn a_late_joiner_gets_everything_and_everyone_gets_the_late_joiner() {
    let mut net = Net::joined(&["ada", "bob"]);
    net.run_for(ms(200));

    let mark = net.log.len();
    net.join("cyd").unwrap();
    // In the join itself: the answer, then what the new lines carry, then
    // the offer of everything already published.
    let to_cyd = net.signals_to("cyd", mark);
    assert!(matches!(to_cyd[0], SignalOut::Answer { .. }), "{to_cyd:?}");
    let SignalOut::Tracks { tracks } = to_cyd[1] else {
        panic!("tracks before the offer: {to_cyd:?}");
    };
    assert_eq!(tracks.len(), 4);
    assert!(matches!(to_cyd[2], SignalOut::Offer { .. }));

    net.settle();
    // The others were offered Cyd's tracks.
    assert!(net.line("ada", "cyd", TrackKind::Video).is_some());
    assert!(net.line("bob", "cyd", TrackKind::Audio).is_some());
    net.run_for(Duration::from_secs(1));
    for (viewer, publisher) in [
        ("cyd", "ada"),
        ("cyd", "bob"),
        ("ada", "cyd"),
        ("bob", "cyd"),
    ] {
        assert!(
            net.got_from(viewer, publisher).len() > 40,
            "{viewer} gets {publisher}"
        );
    }
}

#[test]
fn leaving_stops_the_tracks_for_everyone_at_once() {
    let mut net = Net::joined(&["ada", "bob", "cyd"]);
    net.run_for(ms(500));
    let ada_lines_at_bob = [
        net.line("bob", "ada", TrackKind::Audio).unwrap(),
        net.line("bob", "ada", TrackKind::Video).unwrap(),
    ];

    let mark = net.log.len();
    net.input(RoomInput::RemovePeer {
        peer_id: "ada".into(),
    })
    .unwrap();

    // One input: Ada is gone, and Bob and Cyd each hear of it and get an
    // offer stopping her lines.
    assert!(net.log[mark..].contains(&RoomOutput::PeerGone {
        peer_id: "ada".into(),
        reason: CloseReason::Left,
    }));
    for viewer in ["bob", "cyd"] {
        let signals = net.signals_to(viewer, mark);
        let Some(SignalOut::Tracks { tracks }) = signals.first() else {
            panic!("{viewer} told first: {signals:?}");
        };
        assert!(tracks.iter().all(|t| t.peer_id.as_str() != "ada"));
        assert_eq!(tracks.len(), 2);
        assert!(matches!(signals.get(1), Some(SignalOut::Offer { .. })));
    }
    assert!(!net.room.contains(&"ada".into()));

    net.run_until(Duration::from_secs(2), "answers in", |net| {
        net.to_room_signals.is_empty() && net.room.peers.iter().all(|p| p.pending_offer.is_none())
    });
    let bob = &net.browsers[net.index("bob")];
    for mid in ada_lines_at_bob {
        let media = bob.rtc.media(mid).unwrap();
        assert!(media.stopped() || media.disabled(), "{mid} still live");
    }
    // Ada's browser sends on, but nobody gets it any more.
    let before = net.got_from("bob", "ada").len();
    net.run_for(ms(500));
    assert_eq!(net.got_from("bob", "ada").len(), before);
    assert!(net.got_from("bob", "cyd").len() > 40);
}

#[test]
fn keyframe_requests_reach_the_publisher() {
    let mut net = Net::joined(&["ada", "bob"]);
    net.run_for(Duration::from_secs(1));

    let video = net.line("bob", "ada", TrackKind::Video).unwrap();
    let ada_video = net.browser("ada").sending[1].mid;
    net.browser("ada").keyframe_requests.clear();
    let bob = net.browser("bob");
    bob.rtc
        .writer(video)
        .unwrap()
        .request_keyframe(None, KeyframeRequestKind::Pli)
        .unwrap();
    let index = net.index("bob");
    net.drain_browser(index);

    net.run_until(ms(300), "Ada asked for a keyframe", |net| {
        !net.browsers[net.index("ada")].keyframe_requests.is_empty()
    });
    let request = net.browser("ada").keyframe_requests[0];
    assert_eq!(request.mid, ada_video);

    // A burst of requests within the interval costs one more keyframe, not one each.
    net.run_for(Duration::from_secs(1));
    net.browser("ada").keyframe_requests.clear();
    for _ in 0..5 {
        let bob = net.browser("bob");
        let mut writer = bob.rtc.writer(video).unwrap();
        writer
            .request_keyframe(None, KeyframeRequestKind::Pli)
            .unwrap();
        net.drain_browser(index);
        net.run_for(ms(40));
    }
    net.run_for(Duration::from_secs(1));
    let requests = net.browser("ada").keyframe_requests.len();
    assert!((1..=2).contains(&requests), "{requests} requests");
}

#[test]
fn crossing_offers_the_room_gives_way() {
    let mut net = Net::joined(&["ada"]);
    net.browser("ada").auto_answer = false;

    // Bob joins: the room offers his tracks to Ada, who does not answer yet…
    net.join("bob").unwrap();
    net.run_for(ms(50));
    assert_eq!(net.browser("ada").held_offers.len(), 1);

    // …because she is offering a screen share of her own at the same moment.
    let ada = net.browser("ada");
    let mut api = ada.rtc.sdp_api();
    let screen = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    ada.pending = Some(pending);
    ada.held_offers.clear(); // the impolite side drops the room's offer
    ada.auto_answer = true;
    ada.sending.push(Sending {
        mid: screen,
        kind: MediaKind::Video,
        layers: vec![(None, 200)],
        seq: 0,
        keyframe_due: vec![None],
    });
    let sources = Sources::from([(screen.to_string(), MediaSource::Screen)]);
    let mark = net.log.len();
    net.signal(
        "ada",
        SignalIn::Offer {
            sdp: offer.to_sdp_string(),
            sources,
        },
    )
    .unwrap();

    // The room answered her, and offered Bob's tracks again afterwards.
    let signals = net.signals_to("ada", mark);
    assert!(
        matches!(signals[0], SignalOut::Answer { .. }),
        "{signals:?}"
    );
    assert!(signals.iter().any(|s| matches!(s, SignalOut::Offer { .. })));

    net.settle();
    net.run_for(Duration::from_secs(1));
    assert!(net.got_from("ada", "bob").len() > 40);
    let screen_at_bob = net.browsers[net.index("bob")]
        .tracks
        .iter()
        .find(|t| t.source == MediaSource::Screen)
        .cloned()
        .expect("Bob knows of Ada's screen");
    assert_eq!(screen_at_bob.peer_id.as_str(), "ada");
    let got = net.got_from("bob", "ada");
    assert!(
        got.iter()
            .filter(|(mid, _)| mid.to_string() == screen_at_bob.mid)
            .count()
            > 20
    );
}

fn ice_ufrag(sdp: &str) -> &str {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap()
}

#[test]
fn a_brief_network_drop_recovers_with_an_ice_restart() {
    let mut net = Net::joined(&["ada", "bob"]);
    net.run_for(ms(500));
    let first_ufrag = net
        .log
        .iter()
        .find_map(|o| match o {
            RoomOutput::Signal {
                peer_id,
                signal: SignalOut::Answer { sdp },
            } if peer_id.as_str() == "ada" => Some(ice_ufrag(sdp).to_string()),
            _ => None,
        })
        .unwrap();

    // Ada's network drops for a few seconds.
    net.browser("ada").unplugged = true;
    net.run_for(Duration::from_secs(4));
    net.browser("ada").unplugged = false;

    // Her page notices and asks for an ICE restart.
    let mark = net.log.len();
    net.signal("ada", SignalIn::IceRestart).unwrap();
    let signals = net.signals_to("ada", mark);
    let Some(SignalOut::Offer { sdp }) = signals.last() else {
        panic!("an offer: {signals:?}");
    };
    assert_ne!(ice_ufrag(sdp), first_ufrag, "new ICE credentials");

    let before = net.got_from("bob", "ada").len();
    net.run_for(Duration::from_secs(2));
    assert!(net.connected("ada"));
    assert!(net.room.contains(&"ada".into()));
    assert!(net.got_from("bob", "ada").len() > before + 40);
    assert!(
        !net.log
            .iter()
            .any(|o| matches!(o, RoomOutput::PeerGone { .. }))
    );
}

#[test]
fn a_connection_that_stays_down_is_let_go() {
    let mut net = Net::joined(&["ada", "bob"]);

    net.unplug("ada", Duration::from_secs(30));
    net.run_for(ms(200));
    assert!(net.browser("bob").tracks.is_empty());
}

#[test]
fn the_seat_limit_holds_for_media() {
    let mut net = Net::with_config(|c| c.seat_limit = Some(2));
    net.join("ada").unwrap();
    net.join("bob").unwrap();
    assert_eq!(net.join("cyd"), Err(SfuError::RoomFull { seats: 2 }));
    assert_eq!(net.room.peer_ids().count(), 2);
    net.settle();
}

#[test]
fn joining_again_replaces_the_old_connection() {
    let mut net = Net::joined(&["ada", "bob"]);
    let old_lines = net.browser("bob").tracks.clone();

    // Ada reloads her page: a new browser session with the same id.
    let old = net.index("ada");
    net.browsers[old].id = "ada-old-tab".into();
    net.join("ada").unwrap();
    // (The driver tells the old tab it was replaced.)
    net.browsers[old].gone = Some(CloseReason::Replaced);
    net.settle();

    assert_eq!(net.room.peer_ids().count(), 2);
    let new_lines = net.browser("bob").tracks.clone();
    assert_eq!(new_lines.len(), 2);
    assert!(new_lines.iter().all(|t| t.peer_id.as_str() == "ada"));
    assert!(
        new_lines.iter().all(|t| !old_lines.contains(t)),
        "new lines"
    );
    assert!(
        !net.log
            .iter()
            .any(|o| matches!(o, RoomOutput::PeerGone { .. }))
    );
    net.run_for(Duration::from_secs(1));
    assert!(net.got_from("bob", "ada").len() > 40);
}

#[test]
fn bad_signals_are_refused_and_change_nothing() {
    let mut net = Net::new();
    assert!(matches!(
        net.input(RoomInput::AddPeer {
            peer_id: "ada".into(),
            name: "Ada".into(),
            offer_sdp: "v=0 nonsense".into(),
            sources: Sources::new(),
            held: Vec::new(),
        }),
        Err(SfuError::BadSignal { what: "offer", .. })
    ));
    assert!(net.room.is_empty());
    net.join("ada").unwrap();
    assert_eq!(
        net.signal("nobody", SignalIn::IceRestart),
        Err(SfuError::UnknownPeer)
    );
    assert!(matches!(
        net.signal("ada", SignalIn::Answer { sdp: "v=0".into() }),
        Err(SfuError::BadSignal { .. })
    ));
    assert!(matches!(
        net.signal(
            "ada",
            SignalIn::Candidate {
                candidate: "candidate:junk".into()
            }
        ),
        Err(SfuError::BadSignal {
            what: "candidate",
            ..
        })
    ));
    net.signal(
        "ada",
        SignalIn::Candidate {
            candidate: String::new(),
        },
    )
    .unwrap();
    net.join("bob").unwrap();
    net.settle();
}

#[test]
fn simulcast_layers_follow_each_subscribers_bandwidth() {
    let mut net = Net::new();
    // Ada simulcasts her camera: a small layer (~40 kbit/s) and a large one
    // (~400 kbit/s).
    net.join_with(
        "ada",
        &[(MediaKind::Video, Some(&[("l", 100), ("h", 1000)]))],
    )
    .unwrap();
    net.join_with("bob", &[(MediaKind::Audio, None)]).unwrap();
    net.join_with("cyd", &[(MediaKind::Audio, None)]).unwrap();
    // Cyd is on a slow link.
    net.browser("cyd").downlink_bps = Some(150_000);
    net.settle();

    // Until the layers are measured and estimates are in, everyone starts small.
    net.run_for(ms(500));
    let layer_of = |net: &Net, viewer: &str| {
        net.got_from(viewer, "ada")
            .last()
            .map(|(_, payload)| payload.split('|').nth(1).unwrap().to_string())
    };
    assert_eq!(layer_of(&net, "bob").as_deref(), Some("l"));
    assert_eq!(layer_of(&net, "cyd").as_deref(), Some("l"));

    net.run_until(Duration::from_secs(20), "Bob on the large layer", |net| {
        layer_of(net, "bob").as_deref() == Some("h")
    });
    net.run_for(Duration::from_secs(5));
    assert_eq!(layer_of(&net, "bob").as_deref(), Some("h"));
    assert_eq!(
        layer_of(&net, "cyd").as_deref(),
        Some("l"),
        "the slow link stays small"
    );
    // Bob's picture did not wait for Cyd's: both got frames all along.
    let recent = |net: &Net, viewer: &str| {
        let got = net.got_from(viewer, "ada");
        got.len()
    };
    let (bob_before, cyd_before) = (recent(&net, "bob"), recent(&net, "cyd"));
    net.run_for(Duration::from_secs(1));
    assert!(recent(&net, "bob") - bob_before > 40);
    assert!(recent(&net, "cyd") - cyd_before > 40);
}

#[test]
fn a_browser_that_never_connects_is_let_go() {
    let mut net = Net::joined(&["ada"]);
    // Bob's answer arrives but his network never lets a check through.
    net.join("bob").unwrap();
    net.unplug("bob", Duration::from_secs(20));
    assert!(net.room.contains(&"ada".into()));
}

impl Net {
    /// The browser renegotiates on its own (as `negotiationneeded` does).
    fn browser_offers(&mut self, id: &str, change: impl FnOnce(&mut str0m::change::SdpApi)) {
        let browser = self.browser(id);
        let mut api = browser.rtc.sdp_api();
        change(&mut api);
        let (offer, pending) = api.apply().unwrap();
        browser.pending = Some(pending);
        self.signal(
            id,
            SignalIn::Offer {
                sdp: offer.to_sdp_string(),
                sources: Sources::new(),
            },
        )
        .unwrap();
    }
}

#[test]
fn a_track_stopped_and_started_again_is_renegotiated_for_the_others() {
    let mut net = Net::joined(&["ada", "bob"]);
    net.run_for(ms(300));
    let camera = net.browser("ada").sending[1].mid;
    let old_line = net.line("bob", "ada", TrackKind::Video).unwrap();

    // Ada turns her camera off…
    net.browser_offers("ada", |api| api.set_direction(camera, Direction::Inactive));
    net.run_for(ms(300));
    assert_eq!(net.line("bob", "ada", TrackKind::Video), None);
    assert!(net.line("bob", "ada", TrackKind::Audio).is_some());
    let bob = &net.browsers[net.index("bob")];
    let media = bob.rtc.media(old_line).unwrap();
    assert!(media.stopped() || media.disabled());

    // …and on again: Bob gets a new line for it, and her picture.
    net.browser_offers("ada", |api| api.set_direction(camera, Direction::SendOnly));
    net.run_for(ms(300));
    let new_line = net
        .line("bob", "ada", TrackKind::Video)
        .expect("a line again");
    assert_ne!(new_line, old_line);
    net.run_for(Duration::from_secs(1));
    let got = net.got_from("bob", "ada");
    assert!(got.iter().filter(|(mid, _)| *mid == new_line).count() > 20);
}

#[test]
fn an_offer_with_too_many_lines_is_refused_and_changes_nothing() {
    let mut net = Net::with_config(|c| c.seat_limit = Some(4));
    let (audio, video) = ((MediaKind::Audio, None), (MediaKind::Video, None));
    let five = [audio, video, video, audio, video];
    let refused = net.join_with("ada", &five);
    assert!(
        matches!(&refused, Err(SfuError::BadSignal { what: "offer", reason }) if reason.contains("too many media lines")),
        "{refused:?}"
    );
    assert!(net.room.is_empty());

    // A microphone, a camera, a screen share and its sound are fine.
    net.join_with("ada", &five[..4]).unwrap();
    net.join("bob").unwrap();
    net.settle();
    let bob_sees = net.browser("bob").tracks.clone();
    assert_eq!(bob_sees.len(), 4);

    // Ada adds a fifth send line by renegotiating: refused, nothing moves.
    let browser = net.browser("ada");
    let mut api = browser.rtc.sdp_api();
    api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, _pending) = api.apply().unwrap();
    let refused = net.signal(
        "ada",
        SignalIn::Offer {
            sdp: offer.to_sdp_string(),
            sources: Sources::new(),
        },
    );
    assert!(
        matches!(&refused, Err(SfuError::BadSignal { what: "offer", .. })),
        "{refused:?}"
    );
    net.run_for(ms(300));
    assert_eq!(net.browser("bob").tracks, bob_sees);
    assert_eq!(net.room.peer_ids().count(), 2);
}

#[test]
fn lines_in_use_are_bounded_by_the_seats() {
    let mut config = RoomConfig::new(vec![server()]);
    assert_eq!(config.max_live_lines(), config.max_media_lines);
    config.seat_limit = Some(4);
    // Four send lines each for four seats, and one seat's worth in flux.
    assert_eq!(config.max_live_lines(), 20);
}

impl Net {
    /// Whose a datagram to the room is, as the driver's routes find it:
    /// `None` when they drop it or no peer claims it.
    fn route(&mut self, datagram: &Datagram) -> Option<Option<PeerId>> {
        use crate::routes::Route;
        let Some(routes) = &mut self.routes else {
            return Some(None);
        };
        match routes.route(self.now, datagram.source) {
            Route::Peer(_, peer) => Some(Some(peer)),
            Route::Drop => None,
            Route::Lookup => {
                let peer = self
                    .room
                    .accepts(datagram.source, datagram.destination, &datagram.bytes)?
                    .clone();
                routes.claim(datagram.source, "room".into(), peer.clone());
                Some(Some(peer))
            }
        }
    }
}

#[test]
fn a_flood_from_an_unknown_address_does_not_keep_a_new_peer_out() {
    use crate::routes::{Routes, UnknownSourceLimit};
    let limit = UnknownSourceLimit::default();
    let mut net = Net::new();
    net.routes = Some(Routes::new(limit));
    net.join("ada").unwrap();
    net.settle();
    let before = net.routes.as_ref().unwrap().lookups();

    // A STUN binding request header from an address nobody has, many times.
    let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[7; 12]);
    let flooder: SocketAddr = "203.0.113.9:4000".parse().unwrap();
    for _ in 0..5_000 {
        net.send(flooder, server(), stun.clone());
    }
    // Delivered well within one refill period.
    net.run_for(ms(50));
    let routes = net.routes.as_ref().unwrap();
    assert!(routes.lookups() - before <= u64::from(limit.burst));
    assert!(routes.dropped() >= 5_000 - u64::from(limit.burst));

    // Bob's first checks come from a fresh address: he connects.
    net.join("bob").unwrap();
    net.settle();
    net.run_for(Duration::from_secs(1));
    assert!(net.got_from("bob", "ada").len() > 20);
}

/// With a fan-out thread (as the media thread has), a frame for five
/// subscribers is written to half of them on that thread: every one of
/// them still gets everyone's media, in order.
#[test]
fn a_fan_out_split_across_two_threads_reaches_everyone() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut net = Net::with_config(|config| config.fanout = Some(std::sync::Arc::new(pool)));
    let ids = ["p1", "p2", "p3", "p4", "p5", "p6"];
    for id in ids {
        net.join(id).unwrap();
    }
    net.settle();
    net.run_for(ms(1000));
    for viewer in ids {
        for publisher in ids.iter().filter(|p| **p != viewer) {
            let got = net.got_from(viewer, publisher);
            assert!(
                got.len() > 40,
                "{viewer} got {} from {publisher}",
                got.len()
            );
            for kind in [TrackKind::Audio, TrackKind::Video] {
                let line = net.line(viewer, publisher, kind).unwrap();
                let seqs: Vec<u64> = got
                    .iter()
                    .filter(|(mid, _)| *mid == line)
                    .filter_map(|(_, payload)| payload.split('|').nth(2)?.parse().ok())
                    .collect();
                assert!(
                    seqs.len() > 10,
                    "{viewer} got {seqs:?} of {publisher}'s {kind:?}"
                );
                assert!(
                    seqs.windows(2).all(|pair| pair[0] < pair[1]),
                    "{viewer} got {publisher}'s {kind:?} out of order: {seqs:?}"
                );
            }
        }
    }
}

/// Payloads `viewer` got on `line`.
fn count_on(net: &Net, viewer: &str, publisher: &str, line: Mid) -> usize {
    net.got_from(viewer, publisher)
        .iter()
        .filter(|(mid, _)| *mid == line)
        .count()
}

#[test]
fn a_held_microphone_is_forwarded_to_nobody_until_its_owner_turns_it_off_and_on() {
    let mut net = Net::joined(&["ada", "bob", "cyd"]);
    net.run_for(ms(500));
    let bob_audio_at = |net: &Net, viewer: &str| net.line(viewer, "bob", TrackKind::Audio).unwrap();
    let bob_video_at_ada = net.line("ada", "bob", TrackKind::Video).unwrap();

    let mark = net.log.len();
    net.input(RoomInput::Hold {
        peer_id: "bob".into(),
        sources: vec![MediaSource::Microphone],
    })
    .unwrap();
    // Bob's browser is told, in the same step.
    assert_eq!(
        net.signals_to("bob", mark),
        vec![&SignalOut::Held {
            sources: vec![MediaSource::Microphone],
            renewed: false,
        }]
    );
    // What was on the wire before the hold lands; after that, nothing more
    // of Bob's microphone reaches Ada or Cyd, though his browser sends on.
    net.run_for(ms(100));
    let heard = |net: &Net| {
        (
            count_on(net, "ada", "bob", bob_audio_at(net, "ada")),
            count_on(net, "cyd", "bob", bob_audio_at(net, "cyd")),
        )
    };
    let at_hold = heard(&net);
    let video_at_hold = count_on(&net, "ada", "bob", bob_video_at_ada);
    net.run_for(ms(500));
    assert_eq!(heard(&net), at_hold, "a held microphone was forwarded");
    assert!(
        count_on(&net, "ada", "bob", bob_video_at_ada) > video_at_hold + 10,
        "his camera goes on"
    );
    // Ada's microphone is nobody's business but hers.
    assert!(
        count_on(
            &net,
            "bob",
            "ada",
            net.line("bob", "ada", TrackKind::Audio).unwrap()
        ) > 40
    );

    // An "on" his page sent before it heard of the hold changes nothing.
    let sending = |microphone| SignalIn::Sending {
        microphone: Some(microphone),
        camera: Some(true),
        screen: None,
    };
    net.signal("bob", sending(true)).unwrap();
    net.run_for(ms(300));
    assert_eq!(heard(&net), at_hold, "a stale 'on' lifted the hold");

    // His page turns it off (having heard), then he turns it on again.
    net.signal("bob", sending(false)).unwrap();
    net.run_for(ms(300));
    assert_eq!(heard(&net), at_hold);
    let mark = net.log.len();
    net.signal("bob", sending(true)).unwrap();
    // The room says so, for the server to forget the hold.
    assert_eq!(net.released(mark), [("bob", vec![MediaSource::Microphone])]);
    net.run_for(ms(500));
    let (ada_heard, cyd_heard) = heard(&net);
    assert!(ada_heard > at_hold.0 + 10, "Ada hears Bob again");
    assert!(cyd_heard > at_hold.1 + 10, "Cyd hears Bob again");
}

/// A hold made on an earlier connection (the page joined again, or the
/// session's media moved to a new home) holds from the join on: nothing of
/// it is forwarded, the browser is told after its answer, and it goes the
/// same way as any hold.
#[test]
fn a_joiner_held_before_is_held_from_the_start() {
    let mut net = Net::joined(&["ada", "bob"]);
    let mark = net.log.len();
    net.join_held(
        "cyd",
        &[(MediaKind::Audio, None), (MediaKind::Video, None)],
        &[MediaSource::Microphone],
    )
    .unwrap();
    let told = net.signals_to("cyd", mark);
    assert!(
        matches!(told[0], SignalOut::Answer { .. }),
        "the answer comes first: {told:?}"
    );
    assert_eq!(
        told[1],
        &SignalOut::Held {
            sources: vec![MediaSource::Microphone],
            renewed: true,
        }
    );
    net.settle();
    net.run_for(ms(500));
    let cyd_audio_at_ada = net.line("ada", "cyd", TrackKind::Audio).unwrap();
    let cyd_video_at_ada = net.line("ada", "cyd", TrackKind::Video).unwrap();
    assert_eq!(
        count_on(&net, "ada", "cyd", cyd_audio_at_ada),
        0,
        "a renewed hold was forwarded"
    );
    assert!(count_on(&net, "ada", "cyd", cyd_video_at_ada) > 10);

    let sending = |microphone| SignalIn::Sending {
        microphone: Some(microphone),
        camera: Some(true),
        screen: None,
    };
    net.signal("cyd", sending(true)).unwrap();
    net.run_for(ms(300));
    assert_eq!(count_on(&net, "ada", "cyd", cyd_audio_at_ada), 0);
    net.signal("cyd", sending(false)).unwrap();
    let mark = net.log.len();
    net.signal("cyd", sending(true)).unwrap();
    assert_eq!(net.released(mark), [("cyd", vec![MediaSource::Microphone])]);
    net.run_for(ms(500));
    assert!(count_on(&net, "ada", "cyd", cyd_audio_at_ada) > 10);
}

#[test]
fn a_held_camera_stops_for_everyone_and_holding_nobody_is_refused() {
    let mut net = Net::joined(&["ada", "bob"]);
    net.run_for(ms(500));
    net.input(RoomInput::Hold {
        peer_id: "ada".into(),
        sources: vec![MediaSource::Camera],
    })
    .unwrap();
    net.run_for(ms(100));
    let video = net.line("bob", "ada", TrackKind::Video).unwrap();
    let audio = net.line("bob", "ada", TrackKind::Audio).unwrap();
    let (seen, heard) = (
        count_on(&net, "bob", "ada", video),
        count_on(&net, "bob", "ada", audio),
    );
    net.run_for(ms(500));
    assert_eq!(count_on(&net, "bob", "ada", video), seen);
    assert!(count_on(&net, "bob", "ada", audio) > heard + 10);
    assert_eq!(
        net.input(RoomInput::Hold {
            peer_id: "nobody".into(),
            sources: vec![MediaSource::Camera],
        }),
        Err(SfuError::UnknownPeer)
    );
}

#[test]
fn a_removed_peer_is_closed_and_its_tracks_go_for_everyone_at_once() {
    let mut net = Net::joined(&["ada", "bob", "cyd"]);
    net.run_for(ms(500));

    let mark = net.log.len();
    net.input(RoomInput::Expel {
        peer_id: "bob".into(),
    })
    .unwrap();
    assert!(net.log[mark..].contains(&RoomOutput::PeerGone {
        peer_id: "bob".into(),
        reason: CloseReason::Removed,
    }));
    assert!(!net.room.contains(&"bob".into()));
    // In that same step each other browser hears his lines carry nothing.
    for viewer in ["ada", "cyd"] {
        let signals = net.signals_to(viewer, mark);
        let Some(SignalOut::Tracks { tracks }) = signals.first() else {
            panic!("{viewer} told first: {signals:?}");
        };
        assert!(tracks.iter().all(|t| t.peer_id.as_str() != "bob"));
    }
    // His connection is closed: nothing of his reaches anyone any more,
    // though his browser would send on.
    net.run_for(ms(100));
    let before = (
        net.got_from("ada", "bob").len(),
        net.got_from("cyd", "bob").len(),
    );
    net.run_for(ms(500));
    assert_eq!(
        (
            net.got_from("ada", "bob").len(),
            net.got_from("cyd", "bob").len()
        ),
        before
    );
    assert!(net.got_from("ada", "cyd").len() > 40);
    // Removing him twice: he is not here.
    assert_eq!(
        net.input(RoomInput::Expel {
            peer_id: "bob".into()
        }),
        Err(SfuError::UnknownPeer)
    );
}

// ----- each published track's subscriber list -----
//
// The room forwards a frame to its track's subscriber list, derived from the
// peers' lines. These change what the lists are made of (peers' places in the
// room, lines' places in a peer) and check that every frame still lands on
// the line that says it carries its publisher, and on no other.

impl Net {
    /// Everyone still here gets everyone else's audio and video on the
    /// lines the room announced for them (`> min` frames of each since
    /// `since`, one entry per browser in `received` counts), and nothing on
    /// a line not announced for its sender.
    fn check_lines_carry_what_they_say(&self, since: &[usize], min: usize) {
        let live: Vec<&Browser> = self.browsers.iter().filter(|b| b.gone.is_none()).collect();
        for (viewer, &from) in self.browsers.iter().zip(since) {
            if viewer.gone.is_some() {
                continue;
            }
            for (mid, payload) in &viewer.received[from..] {
                let sender = String::from_utf8_lossy(&payload[1..]);
                let sender = sender.split('|').next().unwrap_or_default();
                let announced = viewer.tracks.iter().find(|t| t.mid == mid.to_string());
                assert_eq!(
                    announced.map(|t| t.peer_id.as_str()),
                    Some(sender),
                    "{} got {sender}'s frame on {mid}",
                    viewer.id
                );
            }
            for other in live.iter().filter(|o| o.id != viewer.id) {
                for kind in [TrackKind::Audio, TrackKind::Video] {
                    let line = self
                        .line(viewer.id.as_str(), other.id.as_str(), kind)
                        .unwrap_or_else(|| {
                            panic!("{} has a {kind:?} line for {}", viewer.id, other.id)
                        });
                    let count = viewer.received[from..]
                        .iter()
                        .filter(|(mid, _)| *mid == line)
                        .count();
                    assert!(
                        count > min,
                        "{} got {count} {kind:?} frames of {}",
                        viewer.id,
                        other.id
                    );
                }
            }
        }
    }

    fn received_marks(&self) -> Vec<usize> {
        self.browsers.iter().map(|b| b.received.len()).collect()
    }
}

#[test]
fn when_the_first_peer_leaves_the_others_still_get_each_other_on_the_right_lines() {
    let mut net = Net::joined(&["ada", "bob", "cyd", "dan"]);
    net.run_for(ms(500));
    let marks = net.received_marks();
    net.run_for(ms(500));
    net.check_lines_carry_what_they_say(&marks, 10);

    // Ada was first in: everyone after her moves up a place.
    net.input(RoomInput::RemovePeer {
        peer_id: "ada".into(),
    })
    .unwrap();
    net.settle();
    net.run_for(ms(100));
    let marks = net.received_marks();
    net.run_for(ms(500));
    net.check_lines_carry_what_they_say(&marks, 10);
    for viewer in ["bob", "cyd", "dan"] {
        assert!(
            net.got_from(viewer, "ada").iter().all(|(mid, _)| net.line(
                viewer,
                "ada",
                TrackKind::Audio
            ) != Some(*mid)),
            "{viewer} no longer has a line for Ada"
        );
    }

    // A newcomer takes the last place, and is a subscriber and a publisher
    // like the others.
    net.join("eve").unwrap();
    net.settle();
    net.run_for(ms(100));
    let marks = net.received_marks();
    net.run_for(ms(500));
    net.check_lines_carry_what_they_say(&marks, 10);
}

#[test]
fn a_stopped_line_renegotiated_away_leaves_the_other_lines_carrying_their_own() {
    // Bob's lines: Ada's audio and video, then Cyd's. Ada's camera going off
    // takes her video line out of Bob's session once he answers, moving
    // Cyd's lines up a place in his list.
    let mut net = Net::joined(&["ada", "bob", "cyd"]);
    net.run_for(ms(300));
    let camera = net.browser("ada").sending[1].mid;
    net.browser_offers("ada", |api| api.set_direction(camera, Direction::Inactive));
    net.run_until(Duration::from_secs(2), "the stops answered", |net| {
        net.to_room_signals.is_empty()
            && net.room.peers.iter().all(|p| p.pending_offer.is_none())
            && net.line("bob", "ada", TrackKind::Video).is_none()
    });
    net.run_for(ms(100));
    let marks = net.received_marks();
    net.run_for(ms(500));
    let ada_audio_at_bob = net.line("bob", "ada", TrackKind::Audio).unwrap();
    assert!(count_on(&net, "bob", "ada", ada_audio_at_bob) > 20);
    for (viewer, publisher) in [("bob", "cyd"), ("ada", "cyd"), ("cyd", "bob")] {
        for kind in [TrackKind::Audio, TrackKind::Video] {
            let line = net.line(viewer, publisher, kind).unwrap();
            let count = net.browsers[net.index(viewer)].received[marks[net.index(viewer)]..]
                .iter()
                .filter(|(mid, _)| *mid == line)
                .count();
            assert!(count > 10, "{viewer} gets {publisher}'s {kind:?}: {count}");
        }
    }

    // Her camera on again: a new line at the end of everyone's list.
    net.browser_offers("ada", |api| api.set_direction(camera, Direction::SendOnly));
    net.settle();
    net.run_for(ms(100));
    let marks = net.received_marks();
    net.run_for(ms(500));
    net.check_lines_carry_what_they_say(&marks, 10);
}

#[test]
fn a_hold_on_one_peer_leaves_the_lists_of_the_others_alone() {
    let mut net = Net::joined(&["ada", "bob", "cyd"]);
    net.run_for(ms(300));
    net.input(RoomInput::Hold {
        peer_id: "ada".into(),
        sources: vec![MediaSource::Camera, MediaSource::Microphone],
    })
    .unwrap();
    net.run_for(ms(100));
    let held = |net: &Net| ["bob", "cyd"].map(|viewer| net.got_from(viewer, "ada").len());
    let at_hold = held(&net);
    let marks = net.received_marks();
    net.run_for(ms(500));
    assert_eq!(held(&net), at_hold, "nothing of Ada's while held");
    for (viewer, publisher) in [
        ("bob", "cyd"),
        ("cyd", "bob"),
        ("ada", "bob"),
        ("ada", "cyd"),
    ] {
        let line = net.line(viewer, publisher, TrackKind::Video).unwrap();
        let got = net.browsers[net.index(viewer)].received[marks[net.index(viewer)]..]
            .iter()
            .filter(|(mid, _)| *mid == line)
            .count();
        assert!(got > 10, "{viewer} still gets {publisher}: {got}");
    }
}

// ----- who is speaking -----

impl Net {
    /// Every list of speakers the room gave out since log entry `from`.
    fn speaker_lists(&self, from: usize) -> Vec<Vec<&str>> {
        self.log[from..]
            .iter()
            .filter_map(|o| match o {
                RoomOutput::ActiveSpeakers { speakers } => {
                    Some(speakers.iter().map(PeerId::as_str).collect())
                }
                _ => None,
            })
            .collect()
    }

    fn talk(&mut self, id: &str, level: i8) {
        self.browser(id).audio_level = Some(level);
    }
}

#[test]
fn the_room_says_who_speaks_once_and_again_when_they_stop() {
    let mut net = Net::joined(&["ada", "bob", "cyd"]);
    for id in ["ada", "bob", "cyd"] {
        net.talk(id, -127);
    }
    net.run_for(ms(500));
    let mark = net.log.len();
    assert!(net.speaker_lists(0).is_empty());

    net.talk("ada", -30);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.speaker_lists(mark), vec![vec!["ada"]]);

    // A breath between sentences changes nothing.
    net.talk("ada", -127);
    net.run_for(ms(400));
    net.talk("ada", -30);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.speaker_lists(mark), vec![vec!["ada"]]);

    // Bob joins in, louder; then Ada is quiet for good.
    net.talk("bob", -20);
    net.run_for(Duration::from_secs(1));
    net.talk("ada", -127);
    net.run_for(Duration::from_secs(3));
    assert_eq!(
        net.speaker_lists(mark),
        vec![vec!["ada"], vec!["bob", "ada"], vec!["bob"]]
    );
}

#[test]
fn a_held_or_departed_speaker_is_no_speaker() {
    let mut net = Net::joined(&["ada", "bob", "cyd"]);
    net.talk("ada", -30);
    net.talk("bob", -30);
    net.run_for(Duration::from_secs(2));
    let mark = net.log.len();

    // The host mutes Ada: however loud her packets, she no longer speaks.
    net.input(RoomInput::Hold {
        peer_id: "ada".into(),
        sources: vec![MediaSource::Microphone],
    })
    .unwrap();
    net.run_for(Duration::from_secs(3));
    assert_eq!(net.speaker_lists(mark), vec![vec!["bob"]]);

    // Bob leaves mid-sentence: gone from the list at the next look.
    let mark = net.log.len();
    net.input(RoomInput::RemovePeer {
        peer_id: "bob".into(),
    })
    .unwrap();
    net.run_for(ms(500));
    assert_eq!(net.speaker_lists(mark), vec![Vec::<&str>::new()]);
}

/// The speakers lists the room sent `id` since log entry `from`.
fn speakers_told(net: &Net, id: &str, from: usize) -> Vec<Vec<String>> {
    net.signals_to(id, from)
        .into_iter()
        .filter_map(|signal| match signal {
            SignalOut::Speakers { speakers } => {
                Some(speakers.iter().map(|p| p.as_str().to_owned()).collect())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn every_browser_is_told_who_speaks_and_a_joiner_at_once() {
    let mut net = Net::joined(&["ada", "bob", "cyd"]);
    for id in ["ada", "bob", "cyd"] {
        net.talk(id, -127);
    }
    net.run_for(ms(500));
    let mark = net.log.len();

    net.talk("ada", -30);
    net.run_for(Duration::from_secs(2));
    for id in ["ada", "bob", "cyd"] {
        assert_eq!(speakers_told(&net, id, mark), vec![vec!["ada"]], "{id}");
    }

    // Dee joins while Ada speaks: she hears so right after her answer.
    let mark = net.log.len();
    net.join("dee").unwrap();
    let told = net.signals_to("dee", mark);
    assert!(matches!(told.first(), Some(SignalOut::Answer { .. })));
    assert_eq!(speakers_told(&net, "dee", mark), vec![vec!["ada"]]);

    // Ada stops: everyone, Dee too, is told nobody speaks.
    net.settle();
    let mark = net.log.len();
    net.talk("ada", -127);
    net.run_for(Duration::from_secs(3));
    for id in ["ada", "bob", "cyd", "dee"] {
        assert_eq!(
            speakers_told(&net, id, mark),
            vec![Vec::<String>::new()],
            "{id}"
        );
    }
}

/// Six people with a simulcast camera (a small and a large layer) and a
/// microphone, and Zed who watches.
fn six_cameras() -> Net {
    let mut net = Net::new();
    // Voice at the rate the room allows for it, so that the bandwidth
    // estimate (which follows what is sent) leaves room for the cameras.
    net.audio_bytes = 160;
    let camera: Line<'_> = (MediaKind::Video, Some(&[("l", 30), ("h", 100)]));
    for id in ["p1", "p2", "p3", "p4", "p5", "p6"] {
        net.join_with(id, &[(MediaKind::Audio, None), camera])
            .unwrap();
        net.talk(id, -127);
    }
    net.join_with("zed", &[(MediaKind::Audio, None)]).unwrap();
    net.settle();
    net
}

impl Net {
    /// The layer of `publisher`'s camera that `viewer` got last.
    fn layer_from(&self, viewer: &str, publisher: &str) -> Option<String> {
        self.got_from(viewer, publisher)
            .iter()
            .rev()
            .filter_map(|(_, payload)| payload.split('|').nth(1).map(str::to_owned))
            .find(|layer| !layer.is_empty())
    }

    fn layers_seen_by(&self, viewer: &str, publishers: &[&str]) -> Vec<Option<String>> {
        publishers
            .iter()
            .map(|p| self.layer_from(viewer, p))
            .collect()
    }

    /// `ids` speak for a while, then are quiet for good.
    fn speak_in_turn(&mut self, ids: &[&str]) {
        for id in ids {
            self.talk(id, -30);
        }
        self.run_for(Duration::from_secs(2));
        for id in ids {
            self.talk(id, -127);
        }
        self.run_for(Duration::from_secs(3));
    }
}

#[test]
fn above_n_cameras_only_the_last_speakers_are_large() {
    let mut net = six_cameras();
    let everyone = ["p1", "p2", "p3", "p4", "p5", "p6"];
    // Nobody has spoken: six cameras, all small, however fast Zed's link.
    net.run_for(Duration::from_secs(10));
    let small = |n: usize| vec![Some("l".to_string()); n];
    assert_eq!(net.layers_seen_by("zed", &everyone), small(6));

    // P1 and p2 speak, then p3 and p4: the last four speakers are large.
    net.speak_in_turn(&["p1", "p2"]);
    net.speak_in_turn(&["p3", "p4"]);
    let large = |net: &Net, ids: &[&str]| {
        ids.iter()
            .all(|id| net.layer_from("zed", id).as_deref() == Some("h"))
    };
    net.run_until(
        Duration::from_secs(30),
        "the last four speakers large for Zed",
        |net| large(net, &["p1", "p2", "p3", "p4"]),
    );
    net.run_for(Duration::from_secs(2));
    assert!(large(&net, &["p1", "p2", "p3", "p4"]));
    assert_eq!(net.layers_seen_by("zed", &["p5", "p6"]), small(2));

    // P6 speaks: theirs grows, and the speaker longest quiet (p1 or p2,
    // who spoke together) shrinks. Still four large.
    net.speak_in_turn(&["p6"]);
    net.run_until(Duration::from_secs(30), "p6 large for Zed", |net| {
        large(net, &["p6"])
    });
    net.run_for(Duration::from_secs(2));
    let seen = net.layers_seen_by("zed", &everyone);
    let count = |layer: &str| seen.iter().filter(|l| l.as_deref() == Some(layer)).count();
    assert_eq!((count("h"), count("l")), (4, 2), "{seen:?}");
    assert!(large(&net, &["p3", "p4", "p6"]), "{seen:?}");
    assert_eq!(net.layer_from("zed", "p5").as_deref(), Some("l"));
}

#[test]
fn at_most_n_cameras_are_all_large_without_anyone_speaking() {
    let mut net = Net::new();
    net.audio_bytes = 160;
    let camera: Line<'_> = (MediaKind::Video, Some(&[("l", 30), ("h", 100)]));
    for id in ["p1", "p2", "p3", "p4"] {
        net.join_with(id, &[(MediaKind::Audio, None), camera])
            .unwrap();
        net.talk(id, -127);
    }
    net.join_with("zed", &[(MediaKind::Audio, None)]).unwrap();
    net.settle();
    net.run_until(Duration::from_secs(30), "all four large for Zed", |net| {
        ["p1", "p2", "p3", "p4"]
            .iter()
            .all(|id| net.layer_from("zed", id).as_deref() == Some("h"))
    });
}

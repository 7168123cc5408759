//! Client peers on fake time, datagrams carried in memory: two peers with
//! each other, and peers in a [`Room`]. Nothing sleeps; time jumps to the
//! next timeout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::room::{Room, RoomConfig, RoomInput, RoomOutput};
use crate::signal::{PeerId, SignalIn, SignalOut, Sources};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Takes everything `peer` wants done: datagrams go to `wire` as
/// (from, to, bytes), events to `events`.
fn drain(
    peer: &mut ClientPeer,
    wire: &mut Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    events: &mut Vec<ClientEvent>,
) -> Instant {
    loop {
        match peer.poll_output() {
            ClientOutput::Transmit {
                destination,
                contents,
            } => wire.push((peer.local_addr(), destination, contents)),
            ClientOutput::Event(event) => events.push(event),
            ClientOutput::Timeout(at) => return at,
        }
    }
}

/// Two peers and the wire between them.
struct Pair {
    now: Instant,
    peers: [ClientPeer; 2],
    events: [Vec<ClientEvent>; 2],
    wire: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
}

impl Pair {
    /// Delivers what is on the wire, then moves time to the next timeout
    /// (at most 10 ms on).
    fn step(&mut self) {
        let mut next = self.now + Duration::from_millis(10);
        for index in 0..2 {
            let at = drain(
                &mut self.peers[index],
                &mut self.wire,
                &mut self.events[index],
            );
            next = next.min(at);
        }
        for (source, destination, bytes) in std::mem::take(&mut self.wire) {
            let Some(peer) = self
                .peers
                .iter_mut()
                .find(|p| p.local_addr() == destination)
            else {
                continue;
            };
            let input = ClientInput::Receive {
                at: self.now,
                source,
                contents: &bytes,
            };
            peer.handle_input(input).unwrap();
        }
        self.now = next.max(self.now + Duration::from_millis(1));
        for peer in &mut self.peers {
            peer.handle_input(ClientInput::Timeout(self.now)).unwrap();
        }
    }

    fn run_until(&mut self, what: &str, done: impl Fn(&Self) -> bool) {
        let end = self.now + Duration::from_secs(10);
        while !done(self) {
            assert!(self.now < end, "not within 10 s of fake time: {what}");
            self.step();
        }
    }
}

fn frames(events: &[ClientEvent]) -> Vec<&ReceivedFrame> {
    events
        .iter()
        .filter_map(|event| match event {
            ClientEvent::Media(frame) => Some(frame),
            _ => None,
        })
        .collect()
}

#[test]
fn two_peers_connect_and_carry_audio_and_video() {
    let now = Instant::now();
    let mut caller = ClientPeer::new(addr("10.0.0.1:1000"), now).unwrap();
    let mut callee = ClientPeer::new(addr("10.0.0.2:2000"), now).unwrap();
    let (offer, mids) = caller
        .offer(&[
            (TrackKind::Audio, Direction::SendOnly),
            (TrackKind::Video, Direction::SendOnly),
        ])
        .unwrap();
    assert!(
        callee.accept_answer("v=0").is_err(),
        "no offer to answer yet"
    );
    let answer = callee.accept_offer(&offer).unwrap();
    caller.accept_answer(&answer).unwrap();
    let mut pair = Pair {
        now,
        peers: [caller, callee],
        events: [Vec::new(), Vec::new()],
        wire: Vec::new(),
    };
    pair.run_until("both connected", |p| {
        p.peers.iter().all(ClientPeer::is_connected)
    });
    pair.step();
    assert!(
        pair.events
            .iter()
            .all(|e| e.contains(&ClientEvent::Connected))
    );

    let (audio, video) = (mids[0], mids[1]);
    let mut keyframe = vec![0x10, 0, 0, 0x9d, 0x01, 0x2a];
    keyframe.resize(3000, 0xaa);
    for seq in 0..5u64 {
        let at = pair.now;
        let caller = &mut pair.peers[0];
        caller
            .write(at, audio, seq * 960, vec![0xf8, seq as u8, 1, 2])
            .unwrap();
        caller
            .write(at, video, seq * 3000, keyframe.clone())
            .unwrap();
        pair.step();
        pair.step();
    }
    pair.run_until("every frame received", |p| frames(&p.events[1]).len() >= 10);

    let received = frames(&pair.events[1]);
    let heard: Vec<&[u8]> = received
        .iter()
        .filter(|f| f.mid == audio && f.kind == TrackKind::Audio)
        .map(|f| f.payload.as_slice())
        .collect();
    assert_eq!(heard.len(), 5);
    assert_eq!(heard[3], &[0xf8, 3, 1, 2]);
    let seen = received
        .iter()
        .filter(|f| f.mid == video && f.kind == TrackKind::Video);
    assert!(seen.clone().count() == 5 && seen.into_iter().all(|f| f.payload == keyframe));
    assert!(
        frames(&pair.events[0]).is_empty(),
        "the callee sends nothing"
    );
}

#[test]
fn writing_before_negotiation_says_so() {
    let now = Instant::now();
    let mut peer = ClientPeer::new(addr("10.0.0.1:1000"), now).unwrap();
    let (_, mids) = peer
        .offer(&[(TrackKind::Audio, Direction::SendRecv)])
        .unwrap();
    let written = peer.write(now, mids[0], 0, vec![0xf8]);
    assert!(
        matches!(written, Err(ClientError::NotNegotiated { .. })),
        "{written:?}"
    );
    assert!(peer.accept_answer("v=0\r\nnonsense").is_err());
}

/// Client peers in an SFU room: the first publishes a microphone, the
/// second joins, answers the room's offer of it, and hears it.
#[test]
fn peers_in_a_room_hear_each_other_and_who_speaks() {
    let server = addr("10.0.0.9:5000");
    let mut now = Instant::now();
    let mut room = Room::new(RoomConfig::new(vec![server]), now);
    let mut peers = vec![
        ClientPeer::new(addr("10.0.1.1:4000"), now).unwrap(),
        ClientPeer::new(addr("10.0.1.2:4000"), now).unwrap(),
    ];
    let ids = [PeerId::from("ada"), PeerId::from("bob")];
    let mut events = vec![Vec::new(), Vec::new()];
    let mut wire = Vec::new();
    let mut microphone = None;
    let mut heard_from_ada = 0;
    let mut bob_told_ada_speaks = false;
    let mut seq = 0u64;

    for index in 0..2 {
        let (offer_sdp, mids) = peers[index]
            .offer(&[(TrackKind::Audio, Direction::SendRecv)])
            .unwrap();
        microphone.get_or_insert(mids[0]);
        let join = RoomInput::AddPeer {
            peer_id: ids[index].clone(),
            name: ids[index].to_string(),
            offer_sdp,
            sources: Sources::new(),
            held: Vec::new(),
        };
        room.handle_input(now, join).unwrap();
        let end = now + Duration::from_secs(10);
        // Ada speaks every 20 ms once connected, until Bob hears her and is
        // told she speaks (from the level she writes on each frame).
        while index == 0 && !peers[0].is_connected()
            || index == 1 && (heard_from_ada < 5 || !bob_told_ada_speaks)
        {
            assert!(now < end, "peer {index} not done within 10 s of fake time");
            let mut next = now + Duration::from_millis(20);
            let mut signals = Vec::new();
            loop {
                match room.poll_output() {
                    RoomOutput::Timeout(at) => {
                        next = next.min(at);
                        break;
                    }
                    RoomOutput::Transmit {
                        source,
                        destination,
                        bytes,
                    } => wire.push((source, destination, bytes)),
                    RoomOutput::Signal { peer_id, signal } => signals.push((peer_id, signal)),
                    RoomOutput::PeerGone { peer_id, .. } => panic!("{peer_id} was let go"),
                    RoomOutput::ActiveSpeakers { .. } | RoomOutput::Released { .. } => {}
                }
            }
            for (peer_id, signal) in signals {
                let who = ids.iter().position(|id| *id == peer_id).unwrap();
                match signal {
                    SignalOut::Answer { sdp } => peers[who].accept_answer(&sdp).unwrap(),
                    SignalOut::Offer { sdp } => {
                        let sdp = peers[who].accept_offer(&sdp).unwrap();
                        let answer = RoomInput::Signal {
                            peer_id,
                            signal: SignalIn::Answer { sdp },
                        };
                        room.handle_input(now, answer).unwrap();
                    }
                    SignalOut::Speakers { speakers } => {
                        if who == 1 {
                            bob_told_ada_speaks = speakers == [ids[0].clone()];
                        }
                    }
                    SignalOut::Tracks { .. }
                    | SignalOut::Closed { .. }
                    | SignalOut::Held { .. } => {}
                }
            }
            for (peer, events) in peers.iter_mut().zip(&mut events) {
                next = next.min(drain(peer, &mut wire, events));
            }
            heard_from_ada = frames(&events[1])
                .iter()
                .filter(|f| f.payload.starts_with(b"ada"))
                .count();
            for (source, destination, bytes) in std::mem::take(&mut wire) {
                if destination == server {
                    let input = RoomInput::Receive {
                        peer_id: None,
                        source,
                        destination,
                        datagram: &bytes,
                    };
                    let _ = room.handle_input(now, input);
                } else if let Some(peer) = peers.iter_mut().find(|p| p.local_addr() == destination)
                {
                    let input = ClientInput::Receive {
                        at: now,
                        source,
                        contents: &bytes,
                    };
                    peer.handle_input(input).unwrap();
                }
            }
            now = next.max(now + Duration::from_millis(1));
            room.handle_input(now, RoomInput::Timeout).unwrap();
            for peer in &mut peers {
                peer.handle_input(ClientInput::Timeout(now)).unwrap();
            }
            if peers[0].is_connected() {
                let payload = format!("ada|{seq}").into_bytes();
                if peers[0]
                    .write_audio(now, microphone.unwrap(), seq * 960, payload, -20)
                    .is_ok()
                {
                    seq += 1;
                }
            }
        }
    }
    assert!(heard_from_ada >= 5);
    assert!(
        frames(&events[1])
            .iter()
            .all(|f| f.kind == TrackKind::Audio && f.mid != microphone.unwrap()),
        "Ada is heard on a line the room added, not on Bob's own"
    );
}

//! The media thread over real UDP on the loopback interface: two client peers
//! ([`sfu::client`]) play browsers, join through the [`SfuHandle`], and get
//! each other's media. Every wait is for an event, with a deadline.

use std::time::{Duration, Instant};

use sfu::client::{ClientDriver, ClientEvent, Direction, Mid};
use sfu::{
    CloseReason, JoinRequest, MediaSource, PeerId, RoomId, Sfu, SfuConfig, SfuError, SfuHandle,
    SignalIn, SignalOut, Sources, TrackInfo, TrackKind,
};
use tokio::sync::mpsc;
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(15);

#[derive(Debug)]
enum Seen {
    /// A frame whose payload starts with this sender's name.
    Media(String),
    Tracks(Vec<TrackInfo>),
    Closed(CloseReason),
}

/// A browser stand-in: a client peer on its own UDP socket, sending a
/// microphone and a camera line.
struct Client {
    name: String,
    driver: ClientDriver,
    lines: Vec<Mid>,
}

impl Client {
    async fn join(
        handle: &SfuHandle,
        room: &RoomId,
        name: &str,
        seat_limit: Option<usize>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<SignalOut>), SfuError> {
        let mut driver = ClientDriver::bind([127, 0, 0, 1].into()).await.unwrap();
        let (offer_sdp, lines) = driver
            .peer()
            .offer(&[
                (TrackKind::Audio, Direction::SendOnly),
                (TrackKind::Video, Direction::SendOnly),
            ])
            .unwrap();
        let sources = Sources::from([
            (lines[0].to_string(), MediaSource::Microphone),
            (lines[1].to_string(), MediaSource::Camera),
        ]);
        let joined = handle
            .join(
                room.clone(),
                JoinRequest {
                    peer_id: PeerId::from(name),
                    name: name.to_uppercase(),
                    offer_sdp,
                    sources,
                    seat_limit,
                    held: Vec::new(),
                },
            )
            .await?;
        driver.peer().accept_answer(&joined.answer_sdp).unwrap();
        let client = Self {
            name: name.to_string(),
            driver,
            lines,
        };
        Ok((client, joined.signals))
    }

    /// Runs the client until the room closes it, sending a frame on each
    /// line every 20 ms once connected.
    async fn run(
        mut self,
        handle: SfuHandle,
        room: RoomId,
        mut signals: mpsc::UnboundedReceiver<SignalOut>,
        seen: mpsc::UnboundedSender<Seen>,
    ) {
        let mut pace = tokio::time::interval(Duration::from_millis(20));
        let mut seq = 0u64;
        // The peer may see the room go (its connection closes) before the
        // room's `Closed` signal arrives; the signal is what ends the client.
        let mut connected = true;
        loop {
            tokio::select! {
                event = self.driver.next_event(), if connected => match event {
                    Err(_) => connected = false,
                    Ok(ClientEvent::Media(frame)) => {
                        let payload = String::from_utf8_lossy(&frame.payload[1..]).into_owned();
                        let from = payload.split('|').next().unwrap_or_default().to_string();
                        let _ = seen.send(Seen::Media(from));
                    }
                    Ok(ClientEvent::Connected | ClientEvent::KeyframeRequest { .. }) => {}
                },
                signal = signals.recv() => match signal {
                    Some(SignalOut::Offer { sdp }) => {
                        let answer = self.driver.peer().accept_offer(&sdp).unwrap();
                        let signal = SignalIn::Answer { sdp: answer };
                        handle.signal(room.clone(), self.name.as_str().into(), signal).await.unwrap();
                    }
                    Some(SignalOut::Tracks { tracks }) => { let _ = seen.send(Seen::Tracks(tracks)); }
                    Some(SignalOut::Closed { reason }) => {
                        let _ = seen.send(Seen::Closed(reason));
                        return;
                    }
                    Some(SignalOut::Answer { .. }) => panic!("an answer to no offer"),
                    Some(SignalOut::Held { .. } | SignalOut::Speakers { .. }) => {}
                    None => return,
                },
                _ = pace.tick() => {
                    let peer = self.driver.peer();
                    if !connected || !peer.is_connected() {
                        continue;
                    }
                    seq += 1;
                    for (index, &mid) in self.lines.iter().enumerate() {
                        // A VP8 payload header says keyframe when its lowest bit is 0.
                        let mut payload = vec![if seq == 1 { 0x00 } else { 0x01 }];
                        payload.extend_from_slice(format!("{}|{}|", self.name, seq).as_bytes());
                        let ticks = if index == 0 { seq * 960 } else { seq * 1800 };
                        peer.write(Instant::now(), mid, ticks, payload).unwrap();
                    }
                }
            }
        }
    }
}

/// Waits for the first thing seen that `wanted` picks.
async fn wait_for<T>(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    what: &str,
    mut wanted: impl FnMut(&Seen) -> Option<T>,
) -> T {
    timeout(DEADLINE, async {
        loop {
            let next = seen.recv().await.expect("client still running");
            if let Some(found) = wanted(&next) {
                return found;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not within {DEADLINE:?}: {what}"))
}

async fn count_media(seen: &mut mpsc::UnboundedReceiver<Seen>, from: &str, count: usize) {
    let mut got = 0;
    wait_for(seen, &format!("{count} frames from {from}"), |s| {
        if matches!(s, Seen::Media(sender) if sender == from) {
            got += 1;
        }
        (got >= count).then_some(())
    })
    .await
}

#[tokio::test]
async fn two_clients_meet_through_the_media_thread() {
    let sfu = Sfu::bind(SfuConfig {
        udp_listen: "127.0.0.1:0".parse().unwrap(),
        ..SfuConfig::default()
    })
    .unwrap();
    assert_eq!(sfu.candidates().addrs(), &[sfu.local_addr()]);
    let handle = sfu.handle();
    let media = sfu.spawn().unwrap();
    let room = RoomId::from("session-1");

    let (ada, ada_signals) = Client::join(&handle, &room, "ada", Some(2)).await.unwrap();
    let (bob, bob_signals) = Client::join(&handle, &room, "bob", Some(2)).await.unwrap();
    // The seat limit holds for media.
    let full = Client::join(&handle, &room, "cyd", Some(2)).await.err();
    assert_eq!(full, Some(SfuError::RoomFull { seats: 2 }));
    // A join with a broken offer is refused.
    let bad = handle
        .join(
            room.clone(),
            JoinRequest {
                peer_id: "dan".into(),
                name: "Dan".into(),
                offer_sdp: "v=0".into(),
                sources: Sources::new(),
                seat_limit: None,
                held: Vec::new(),
            },
        )
        .await;
    assert!(matches!(bad, Err(SfuError::BadSignal { .. })));

    let (ada_tx, mut ada_seen) = mpsc::unbounded_channel();
    let (bob_tx, mut bob_seen) = mpsc::unbounded_channel();
    tokio::spawn(ada.run(handle.clone(), room.clone(), ada_signals, ada_tx));
    tokio::spawn(bob.run(handle.clone(), room.clone(), bob_signals, bob_tx));

    count_media(&mut bob_seen, "ada", 50).await;
    count_media(&mut ada_seen, "bob", 50).await;

    // Ada leaves: her page hears it, and Bob's list empties.
    handle.leave(room.clone(), "ada".into()).await.unwrap();
    let reason = wait_for(&mut ada_seen, "Ada closed", |s| match s {
        Seen::Closed(reason) => Some(*reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, CloseReason::Left);
    wait_for(&mut bob_seen, "Bob's list without Ada", |s| match s {
        Seen::Tracks(tracks) if tracks.is_empty() => Some(()),
        _ => None,
    })
    .await;
    // Leaving twice is fine.
    handle.leave(room.clone(), "ada".into()).await.unwrap();

    // The server stops: Bob's page hears that the room closed.
    timeout(DEADLINE, media.stop()).await.unwrap();
    let reason = wait_for(&mut bob_seen, "Bob closed", |s| match s {
        Seen::Closed(reason) => Some(*reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, CloseReason::RoomClosed);
    assert_eq!(
        handle.leave(room, "bob".into()).await,
        Err(SfuError::Stopped)
    );
}

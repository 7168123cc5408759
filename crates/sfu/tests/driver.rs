//! The SFU task over real UDP on the loopback interface: two str0m clients
//! play browsers, join through the [`SfuHandle`], and get each other's media.
//! Every wait is for an event, with a deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sfu::{
    CloseReason, JoinRequest, MediaSource, PeerId, RoomId, Sfu, SfuConfig, SfuError, SfuHandle,
    SignalIn, SignalOut, Sources, TrackInfo,
};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(15);

#[derive(Debug)]
enum Seen {
    /// A frame whose payload starts with this sender's name.
    Media(String),
    Tracks(Vec<TrackInfo>),
    Closed(CloseReason),
}

/// A browser stand-in: an `Rtc` on its own UDP socket, sending a microphone
/// and a camera line.
struct Client {
    name: String,
    rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
    lines: Vec<(Mid, MediaKind)>,
}

impl Client {
    async fn join(
        handle: &SfuHandle,
        room: &RoomId,
        name: &str,
        seat_limit: Option<usize>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<SignalOut>), SfuError> {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let mut rtc = Rtc::builder().build(Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let video = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        let sources = Sources::from([
            (audio.to_string(), MediaSource::Microphone),
            (video.to_string(), MediaSource::Camera),
        ]);
        let joined = handle
            .join(
                room.clone(),
                JoinRequest {
                    peer_id: PeerId::from(name),
                    name: name.to_uppercase(),
                    offer_sdp: offer.to_sdp_string(),
                    sources,
                    seat_limit,
                },
            )
            .await?;
        let answer = SdpAnswer::from_sdp_string(&joined.answer_sdp).unwrap();
        rtc.sdp_api().accept_answer(pending, answer).unwrap();
        let client = Self {
            name: name.to_string(),
            rtc,
            socket,
            addr,
            lines: vec![(audio, MediaKind::Audio), (video, MediaKind::Video)],
        };
        Ok((client, joined.signals))
    }

    /// Runs the client until the room closes it: one `Rtc` mutation per turn,
    /// each followed by a full drain.
    async fn run(
        mut self,
        handle: SfuHandle,
        room: RoomId,
        mut signals: mpsc::UnboundedReceiver<SignalOut>,
        seen: mpsc::UnboundedSender<Seen>,
    ) {
        let mut buf = vec![0u8; 2048];
        let mut next_frame = Instant::now();
        let mut frames_due: Vec<(Mid, MediaKind)> = Vec::new();
        let mut seq = 0u64;
        loop {
            let wake = loop {
                match self.rtc.poll_output().unwrap() {
                    Output::Timeout(at) => break at,
                    Output::Transmit(t) => {
                        self.socket
                            .send_to(&t.contents, t.destination)
                            .await
                            .unwrap();
                    }
                    Output::Event(Event::MediaData(data)) => {
                        let payload = String::from_utf8_lossy(&data.data[1..]).into_owned();
                        let from = payload.split('|').next().unwrap_or_default().to_string();
                        let _ = seen.send(Seen::Media(from));
                    }
                    Output::Event(_) => {}
                }
            };
            if let Some((mid, kind)) = frames_due.pop() {
                let (codec, time) = match kind {
                    MediaKind::Audio => (
                        Codec::Opus,
                        MediaTime::new(seq * 960, Frequency::FORTY_EIGHT_KHZ),
                    ),
                    MediaKind::Video => (Codec::Vp8, MediaTime::from_90khz(seq * 1800)),
                };
                let writer = self.rtc.writer(mid).unwrap();
                let pt = writer
                    .payload_params()
                    .find(|p| p.spec().codec == codec)
                    .unwrap()
                    .pt();
                let mut payload = vec![if seq == 1 { 0x00 } else { 0x01 }];
                payload.extend_from_slice(format!("{}|{}|", self.name, seq).as_bytes());
                writer.write(pt, Instant::now(), time, payload).unwrap();
                continue;
            }
            let wake = wake.min(next_frame);
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    let (len, source) = received.unwrap();
                    let input = Input::Receive(Instant::now(), Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: self.addr,
                        contents: buf[..len].try_into().unwrap(),
                    });
                    self.rtc.handle_input(input).unwrap();
                }
                signal = signals.recv() => match signal {
                    Some(SignalOut::Offer { sdp }) => {
                        let offer = SdpOffer::from_sdp_string(&sdp).unwrap();
                        let answer = self.rtc.sdp_api().accept_offer(offer).unwrap();
                        let signal = SignalIn::Answer { sdp: answer.to_sdp_string() };
                        handle.signal(room.clone(), self.name.as_str().into(), signal).await.unwrap();
                    }
                    Some(SignalOut::Tracks { tracks }) => { let _ = seen.send(Seen::Tracks(tracks)); }
                    Some(SignalOut::Closed { reason }) => {
                        let _ = seen.send(Seen::Closed(reason));
                        return;
                    }
                    Some(SignalOut::Answer { .. }) => panic!("an answer to no offer"),
                    None => return,
                },
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= next_frame {
                        next_frame = now + Duration::from_millis(20);
                        if self.rtc.is_connected() {
                            seq += 1;
                            frames_due = self.lines.clone();
                        }
                    }
                    self.rtc.handle_input(Input::Timeout(now)).unwrap();
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
async fn two_clients_meet_through_the_sfu_task() {
    let sfu = Sfu::bind(SfuConfig {
        udp_listen: "127.0.0.1:0".parse().unwrap(),
        ..SfuConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(sfu.candidates().addrs(), &[sfu.local_addr()]);
    let handle = sfu.handle();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(sfu.run(async {
        let _ = stopped.await;
    }));
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
    stop.send(()).unwrap();
    let reason = wait_for(&mut bob_seen, "Bob closed", |s| match s {
        Seen::Closed(reason) => Some(*reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, CloseReason::RoomClosed);
    timeout(DEADLINE, task).await.unwrap().unwrap();
    assert_eq!(
        handle.leave(room, "bob".into()).await,
        Err(SfuError::Stopped)
    );
}

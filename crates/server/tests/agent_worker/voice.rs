//! A spoken question through the SFU: a person's str0m peer (standing in for
//! a browser, as in tests/live/media.rs) publishes flite speech; the worker
//! hears it on the assistant's peer, answers, logs it with trigger `voice`,
//! and the person receives the assistant's voice on its track.

use std::time::Instant;

use agent::audio::{Framer, OpusEncoder};
use agent::tts::flite::{FliteVoice, synthesize_blocking};
use futures::{SinkExt, StreamExt};
use protocol::media::{ClientMessage, MediaSource, ServerMessage, Sources};
use serde_json::json;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::{DEADLINE, Live, Person, TestApp, agent_messages, agent_status, agent_with_fake_model};

/// The person's microphone: silence, `words` if any, then silence for good.
fn microphone(words: Option<&str>) -> Vec<Vec<u8>> {
    let mut pcm = vec![0i16; 16_000 / 2];
    if let Some(words) = words {
        pcm.extend(synthesize_blocking(FliteVoice::Slt, words).expect("flite speech"));
    }
    pcm.extend(std::iter::repeat_n(0i16, 16_000 * 2));
    let mut encoder = OpusEncoder::new().expect("an Opus encoder");
    let mut framer = Framer::default();
    let mut packets = Vec::new();
    framer.push(&pcm, |frame| {
        packets.push(encoder.encode(&frame).expect("an Opus frame"))
    });
    packets
}

/// Joins the session's media as `person` and publishes `packets` (then
/// silence) every 20 ms once connected; reports on `heard` a 0 when the
/// server's offer of someone else's track is accepted, then the running
/// count of packets received on such tracks.
async fn person_peer(
    app: &TestApp,
    person: &Person,
    session_id: String,
    packets: Vec<Vec<u8>>,
    heard: mpsc::UnboundedSender<usize>,
) {
    let url = format!(
        "{}/api/live?token={}",
        app.address.replacen("http", "ws", 1),
        person.token
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("a live connection");
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("a UDP socket");
    let addr = socket.local_addr().unwrap();
    let mut rtc = Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
    let mut api = rtc.sdp_api();
    let mic: Mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().expect("an offer");
    let join = ClientMessage::Join {
        session_id: session_id.to_string(),
        offer: offer.to_sdp_string(),
        sources: Sources::from([(mic.to_string(), MediaSource::Microphone)]),
    };
    ws.send(Message::text(serde_json::to_string(&join).unwrap()))
        .await
        .unwrap();
    let mut pending = Some(pending);
    let silence = packets.last().cloned().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        let mut pace = tokio::time::interval(agent::audio::FRAME_DURATION);
        let mut connected = false;
        let mut seq: u64 = 0;
        let mut received = 0usize;
        loop {
            let timeout = loop {
                match rtc.poll_output() {
                    Ok(Output::Timeout(at)) => break at,
                    Ok(Output::Transmit(t)) => {
                        let _ = socket.send_to(&t.contents, t.destination).await;
                    }
                    Ok(Output::Event(Event::Connected)) => connected = true,
                    Ok(Output::Event(Event::MediaData(data))) if data.mid != mic => {
                        received += 1;
                        let _ = heard.send(received);
                    }
                    Ok(Output::Event(_)) => {}
                    Err(_) => return,
                }
            };
            let wait = timeout.saturating_duration_since(Instant::now());
            tokio::select! {
                got = socket.recv_from(&mut buf) => {
                    let Ok((len, source)) = got else { continue };
                    let Ok(contents) = buf[..len].try_into() else { continue };
                    let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: addr, contents });
                    if rtc.handle_input(input).is_err() { return; }
                }
                _ = pace.tick() => {
                    if !connected { continue; }
                    let packet = packets.get(seq as usize).cloned().unwrap_or_else(|| silence.clone());
                    let Some(writer) = rtc.writer(mic) else { continue };
                    let Some(pt) = writer.payload_params().find(|p| p.spec().codec == Codec::Opus).map(|p| p.pt()) else { continue };
                    let time = MediaTime::new(seq * 960, Frequency::FORTY_EIGHT_KHZ);
                    let _ = writer.write(pt, Instant::now(), time, packet);
                    seq += 1;
                }
                frame = ws.next() => {
                    let Some(Ok(Message::Text(text))) = frame else {
                        if frame.is_none() { return; }
                        continue;
                    };
                    // Live query results and pongs are not media messages.
                    let Ok(message) = serde_json::from_str::<ServerMessage>(text.as_str()) else { continue };
                    match message {
                        ServerMessage::Answer { session_id, sdp } => {
                            if let Some(pending) = pending.take() {
                                let answer = SdpAnswer::from_sdp_string(&sdp).unwrap();
                                rtc.sdp_api().accept_answer(pending, answer).unwrap();
                                let state = ClientMessage::State { session_id: session_id.to_string(), microphone: true, camera: false };
                                let _ = ws.send(Message::text(serde_json::to_string(&state).unwrap())).await;
                            }
                        }
                        ServerMessage::Offer { session_id, sdp } => {
                            let offer = SdpOffer::from_sdp_string(&sdp).unwrap();
                            let answer = rtc.sdp_api().accept_offer(offer).unwrap();
                            let reply = ClientMessage::Answer { session_id: session_id.to_string(), sdp: answer.to_sdp_string() };
                            let _ = ws.send(Message::text(serde_json::to_string(&reply).unwrap())).await;
                            let _ = heard.send(0);
                        }
                        ServerMessage::Error { .. } => panic!("media refused: {message:?}"),
                        _ => {}
                    }
                }
                () = tokio::time::sleep(wait) => {
                    if rtc.handle_input(Input::Timeout(Instant::now())).is_err() { return; }
                }
            }
        }
    });
}

#[tokio::test]
async fn a_spoken_question_is_heard_answered_aloud_and_logged() {
    let app = TestApp::spawn().await;
    let ada = app.register("Ada").await;
    let session = app.session_with_assistant(&ada).await;
    let mut live = Live::connect(&app, &ada).await;
    live.subscribe("p", &format!("participants:{session}"))
        .await;
    live.subscribe("l", &format!("ai_logs:{session}")).await;

    let (agent, _) = agent_with_fake_model().await;
    let (_stop, _worker) = app.worker("worker-a", agent);
    live.until("p", DEADLINE, |p| {
        agent_status(p).as_deref() == Some("joined")
    })
    .await;

    let (heard_tx, mut heard) = mpsc::unbounded_channel();
    let question = microphone(Some("hey agent, what is a closure in rust"));
    person_peer(&app, &ada, session.clone(), question, heard_tx).await;

    let logs = live
        .until("l", DEADLINE * 3, |l| {
            l.as_array()
                .is_some_and(|l| l.iter().any(|log| log["trigger"] == "voice"))
        })
        .await;
    let log = logs
        .as_array()
        .unwrap()
        .iter()
        .find(|log| log["trigger"] == "voice")
        .unwrap();
    assert!(
        log["question"]
            .as_str()
            .unwrap_or_default()
            .contains("closure"),
        "{log}"
    );
    assert!(
        !log["answer"].as_str().unwrap_or_default().is_empty(),
        "{log}"
    );
    assert_eq!(log["user_id"], ada.id.as_str(), "{log}");

    // The answer is spoken on the assistant's track.
    hears_the_assistant(&mut heard).await;
}

/// Waits for half a second of the assistant's voice on the person's peer.
async fn hears_the_assistant(heard: &mut mpsc::UnboundedReceiver<usize>) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let count = tokio::time::timeout_at(deadline, heard.recv())
            .await
            .expect("the assistant's voice within the deadline")
            .expect("the person's peer runs");
        if count >= 25 {
            break;
        }
    }
}

#[tokio::test]
async fn a_typed_question_is_answered_in_the_chat_and_out_loud() {
    let crate::Room {
        app,
        ada,
        session,
        mut live,
        assistant,
        _worker,
    } = crate::Room::with_assistant().await;

    // Ada is in the room's audio, silent, and offered the assistant's track.
    let (heard_tx, mut heard) = mpsc::unbounded_channel();
    person_peer(&app, &ada, session.clone(), microphone(None), heard_tx).await;
    let offered = tokio::time::timeout(DEADLINE, heard.recv()).await;
    assert_eq!(
        offered.ok().flatten(),
        Some(0),
        "the assistant's track is offered"
    );

    app.post(
        &ada,
        &format!("/api/sessions/{session}/messages"),
        json!({"body": "@agent how do I reverse a string in Python?"}),
    )
    .await;
    live.until("c", DEADLINE, |c| {
        agent_messages(c, &assistant)
            .iter()
            .any(|m| m.contains("closure"))
    })
    .await;
    hears_the_assistant(&mut heard).await;
    let logs = live
        .until("l", DEADLINE, |l| {
            l.as_array().is_some_and(|l| !l.is_empty())
        })
        .await;
    assert_eq!(logs[0]["trigger"], "text", "{logs}");
    assert_eq!(logs[0]["user_id"], ada.id.as_str(), "{logs}");
}

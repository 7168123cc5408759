//! A spoken question through the SFU: a person's client peer
//! ([`sfu::client`], standing in for a browser, as in tests/live/media.rs) publishes flite speech; the worker
//! hears it on the assistant's peer, answers, logs it with trigger `voice`,
//! and the person receives the assistant's voice on its track.

use std::time::Instant;

use agent::audio::{Framer, OpusEncoder};
use agent::tts::flite::{FliteVoice, synthesize_blocking};
use futures::{SinkExt, StreamExt};
use protocol::media::{ClientMessage, MediaSource, ServerMessage, Sources};
use sfu::TrackKind;
use sfu::client::{ClientDriver, ClientEvent, Direction};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::{DEADLINE, Room};

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

/// Ada joins the room's media and her microphone says `words` (see
/// [`microphone`]), one packet every 20 ms once connected. What her peer
/// hears comes on the returned channel: a 0 when the server's offer of
/// someone else's track is accepted, then the running count of packets
/// received on such tracks.
async fn ada_in_the_call(room: &Room, words: Option<&str>) -> mpsc::UnboundedReceiver<usize> {
    let (heard, hearing) = mpsc::unbounded_channel();
    let packets = microphone(words);
    let url = room.app.live_url(Some(&room.ada.token));
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("a live connection");
    let mut driver = ClientDriver::bind([127, 0, 0, 1].into())
        .await
        .expect("a UDP socket");
    let (offer, mids) = driver
        .peer()
        .offer(&[(TrackKind::Audio, Direction::SendOnly)])
        .expect("an offer");
    let mic = mids[0];
    let join = ClientMessage::Join {
        session_id: room.session.clone(),
        offer,
        sources: Sources::from([(mic.to_string(), MediaSource::Microphone)]),
    };
    ws.send(Message::text(serde_json::to_string(&join).unwrap()))
        .await
        .unwrap();
    let silence = packets.last().cloned().unwrap();
    tokio::spawn(async move {
        let mut pace = tokio::time::interval(agent::audio::FRAME_DURATION);
        let mut seq: u64 = 0;
        let mut received = 0usize;
        loop {
            tokio::select! {
                event = driver.next_event() => match event {
                    Ok(ClientEvent::Media(frame)) if frame.mid != mic => {
                        received += 1;
                        let _ = heard.send(received);
                    }
                    Ok(_) => {}
                    Err(_) => return,
                },
                _ = pace.tick() => {
                    let peer = driver.peer();
                    if !peer.is_connected() { continue; }
                    let packet = packets.get(seq as usize).cloned().unwrap_or_else(|| silence.clone());
                    if peer.write(Instant::now(), mic, seq * 960, packet).is_ok() {
                        seq += 1;
                    }
                }
                frame = ws.next() => {
                    let Some(Ok(Message::Text(text))) = frame else {
                        if frame.is_none() { return; }
                        continue;
                    };
                    // Live query results and pongs are not media messages.
                    let Ok(message) = serde_json::from_str::<ServerMessage>(text.as_str()) else { continue };
                    match message {
                        ServerMessage::Answer { session_id, sdp } if driver.peer().awaits_answer() => {
                            driver.peer().accept_answer(&sdp).unwrap();
                            let state = ClientMessage::State { session_id: session_id.to_string(), microphone: true, camera: false, screen: None };
                            let _ = ws.send(Message::text(serde_json::to_string(&state).unwrap())).await;
                        }
                        ServerMessage::Offer { session_id, sdp } => {
                            let answer = driver.peer().accept_offer(&sdp).unwrap();
                            let reply = ClientMessage::Answer { session_id: session_id.to_string(), sdp: answer };
                            let _ = ws.send(Message::text(serde_json::to_string(&reply).unwrap())).await;
                            let _ = heard.send(0);
                        }
                        ServerMessage::Error { .. } => panic!("media refused: {message:?}"),
                        _ => {}
                    }
                }
            }
        }
    });
    hearing
}

#[tokio::test]
async fn a_spoken_question_is_heard_answered_aloud_and_logged() {
    let mut room = Room::with_assistant().await;

    let question = Some("hey agent, what is a closure in rust");
    let mut heard = ada_in_the_call(&room, question).await;

    let logs = room
        .live
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
    assert_eq!(log["user_id"], room.ada.id.as_str(), "{log}");

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
    let mut room = Room::with_assistant().await;

    // Ada is in the room's audio, silent, and offered the assistant's track.
    let mut heard = ada_in_the_call(&room, None).await;
    let offered = tokio::time::timeout(DEADLINE, heard.recv()).await;
    assert_eq!(
        offered.ok().flatten(),
        Some(0),
        "the assistant's track is offered"
    );

    room.type_in_chat("@agent how do I reverse a string in Python?")
        .await;
    room.until_answered(|said| said.iter().any(|m| m.contains("closure")))
        .await;
    hears_the_assistant(&mut heard).await;
    let logs = room.until_logged(1).await;
    assert_eq!(logs[0]["trigger"], "text", "{logs}");
    assert_eq!(logs[0]["user_id"], room.ada.id.as_str(), "{logs}");
}

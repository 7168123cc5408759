//! The assistant's media in a session (docs/MEDIA.md): one peer connection
//! to the SFU (an [`sfu::client`] peer on its driver's UDP socket) over its
//! own live connection, signalled with `media.*` messages. Its single audio line is `sendrecv`: the assistant's voice goes
//! out on it; every other speaker's microphone arrives on the lines the
//! server offers later, named by `media.tracks`. Received Opus packets go
//! into the agent's session as [`SessionInput::Opus`]; a track gone becomes
//! [`SessionInput::SpeakerLeft`].

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use protocol::live::ServerMessage as LiveMessage;
use protocol::media::{ClientMessage, CloseReason, MediaSource, ServerMessage, Sources, TrackKind};
use sfu::client::{ClientDriver, ClientEvent, ClientPeer, Direction, Mid};
use tokio::sync::mpsc;

use super::api::ServerApi;
use super::live::{LiveConnection, Push};
use crate::agent::SessionInput;
use crate::pipeline::SpeakerId;

/// One 20 ms Opus frame of the assistant's voice and its 48 kHz RTP time.
pub struct OutFrame {
    pub opus: Vec<u8>,
    pub rtp_timestamp: u32,
    /// dBov (RFC 6464).
    pub audio_level: i8,
}

/// How long to wait before joining the room's media again after the link
/// failed.
const REJOIN_AFTER: Duration = Duration::from_secs(1);

/// Runs the assistant's media in `session_id` until `frames` closes (the
/// session task ended). A link that fails (the live connection closed, the
/// peer connection timed out, the server refused) is joined again.
pub async fn serve(
    api: ServerApi,
    session_id: String,
    me: String,
    input: mpsc::Sender<SessionInput>,
    mut frames: mpsc::Receiver<OutFrame>,
) {
    loop {
        match run(&api, &session_id, &me, &input, &mut frames).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(session = %session_id, error = %format!("{error:#}"), "the assistant's media link failed; joining again");
            }
        }
        // Voice frames meanwhile have nowhere to go.
        let rejoin = tokio::time::sleep(REJOIN_AFTER);
        tokio::pin!(rejoin);
        loop {
            tokio::select! {
                () = &mut rejoin => break,
                frame = frames.recv() => if frame.is_none() { return },
            }
        }
    }
}

/// One media link: joins, then forwards until `frames` closes (`Ok`) or the
/// link fails (`Err`, saying why).
async fn run(
    api: &ServerApi,
    session_id: &str,
    me: &str,
    input: &mpsc::Sender<SessionInput>,
    frames: &mut mpsc::Receiver<OutFrame>,
) -> anyhow::Result<()> {
    let mut live = LiveConnection::connect(api).await?;
    let server = api.server_ip().await?;
    let mut driver = ClientDriver::bind(server)
        .await
        .context("binding a UDP socket")?;
    let (offer, mids) = driver
        .peer()
        .offer(&[(TrackKind::Audio, Direction::SendRecv)])
        .context("making an offer")?;
    let own_mid = mids[0];
    live.send(&ClientMessage::Join {
        session_id: session_id.to_owned(),
        offer,
        sources: Sources::from([(own_mid.to_string(), MediaSource::Microphone)]),
    })
    .await?;
    let mut link = Link {
        session_id: session_id.to_string(),
        me: me.to_string(),
        own_mid,
        speakers: HashMap::new(),
        input: input.clone(),
    };
    let result = forward(&mut live, &mut driver, &mut link, frames).await;
    match result {
        Ok(()) => {
            let _ = live
                .send(&ClientMessage::Leave {
                    session_id: session_id.to_owned(),
                })
                .await;
            live.close().await;
            Ok(())
        }
        Err(error) => {
            // The speakers heard on the failed link are gone until it is back.
            for speaker in link.speakers.into_values() {
                let _ = input.try_send(SessionInput::SpeakerLeft {
                    speaker: SpeakerId(speaker),
                });
            }
            Err(error)
        }
    }
}

async fn forward(
    live: &mut LiveConnection,
    driver: &mut ClientDriver,
    link: &mut Link,
    frames: &mut mpsc::Receiver<OutFrame>,
) -> anyhow::Result<()> {
    let session_id = link.session_id.clone();
    loop {
        tokio::select! {
            event = driver.next_event() => {
                link.on_event(event.context("the peer connection")?).await;
            }
            frame = frames.recv() => {
                let Some(frame) = frame else { return Ok(()) };
                link.write(driver.peer(), frame);
            }
            push = live.next() => match push? {
                None => return Err(anyhow!("the live connection closed")),
                Some(Push::Media(message)) if message.session_id() == Some(session_id.as_str()) => {
                    if let Some(reply) = link.on_signal(driver.peer(), message).await? {
                        live.send(&reply).await?;
                    }
                }
                Some(Push::Live(LiveMessage::Error { error, .. })) => tracing::warn!(session = %session_id, error = %error.message, "media refused"),
                Some(_) => {}
            },
        }
    }
}

/// The state beside the peer.
struct Link {
    session_id: String,
    me: String,
    own_mid: Mid,
    /// Received audio lines and whose they are.
    speakers: HashMap<Mid, String>,
    input: mpsc::Sender<SessionInput>,
}

impl Link {
    /// Hands the session what was heard. A session that stopped listening
    /// is ending, and this link with it: there is no one left to tell.
    async fn tell(&self, heard: SessionInput) {
        let _ = self.input.send(heard).await;
    }

    async fn on_event(&mut self, event: ClientEvent) {
        let ClientEvent::Media(frame) = event else {
            return;
        };
        if frame.mid == self.own_mid {
            return;
        }
        let Some(speaker) = self.speakers.get(&frame.mid) else {
            return;
        };
        self.tell(SessionInput::Opus {
            speaker: SpeakerId(speaker.clone()),
            packet: frame.payload,
        })
        .await;
    }

    fn write(&mut self, peer: &mut ClientPeer, frame: OutFrame) {
        let time = u64::from(frame.rtp_timestamp);
        let written = peer.write_audio(
            Instant::now(),
            self.own_mid,
            time,
            frame.opus,
            frame.audio_level,
        );
        if let Err(error) = written {
            tracing::debug!(session = %self.session_id, %error, "a voice frame was not sent");
        }
    }

    /// Acts on a `media.*` message; answers what to send back.
    async fn on_signal(
        &mut self,
        peer: &mut ClientPeer,
        message: ServerMessage,
    ) -> anyhow::Result<Option<ClientMessage>> {
        match message {
            ServerMessage::Answer { sdp, .. } => {
                if !peer.awaits_answer() {
                    return Ok(None);
                }
                peer.accept_answer(&sdp)
                    .context("applying the server's answer")?;
                Ok(None)
            }
            ServerMessage::Offer { sdp, .. } => {
                let answer = peer
                    .accept_offer(&sdp)
                    .context("answering the server's offer")?;
                Ok(Some(ClientMessage::Answer {
                    session_id: self.session_id.clone(),
                    sdp: answer,
                }))
            }
            ServerMessage::Tracks { tracks, .. } => {
                let mut now: HashMap<Mid, String> = HashMap::new();
                for track in tracks {
                    let user = track.user_id;
                    if track.kind != TrackKind::Audio || user == self.me {
                        continue;
                    }
                    if !self.speakers.values().any(|known| *known == user) {
                        self.tell(SessionInput::Speaker {
                            speaker: SpeakerId(user.clone()),
                            name: track.name,
                        })
                        .await;
                    }
                    now.insert(Mid::from(track.mid.as_str()), user);
                }
                let still: HashSet<&String> = now.values().collect();
                let gone: Vec<String> = self
                    .speakers
                    .values()
                    .filter(|user| !still.contains(user))
                    .cloned()
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                for speaker in gone {
                    self.tell(SessionInput::SpeakerLeft {
                        speaker: SpeakerId(speaker),
                    })
                    .await;
                }
                self.speakers = now;
                Ok(None)
            }
            ServerMessage::Error { error, .. } => {
                tracing::warn!(session = %self.session_id, code = %error.code, error = %error.message, "the server refused the assistant's media");
                Ok(None)
            }
            // The session's media went to another node: join again, there.
            ServerMessage::Closed {
                reason: CloseReason::Moved,
                ..
            } => Err(anyhow!("the session's media moved to another node")),
            _ => Ok(None),
        }
    }
}

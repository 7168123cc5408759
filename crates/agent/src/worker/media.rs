//! The assistant's media in a session (docs/MEDIA.md): one peer connection
//! to the SFU over its own live connection, signalled with `media.*`
//! messages. Its single audio line is `sendrecv`: the assistant's voice goes
//! out on it; every other speaker's microphone arrives on the lines the
//! server offers later, named by `media.tracks`. Received Opus packets go
//! into the agent's session as [`SessionInput::Opus`]; a track gone becomes
//! [`SessionInput::SpeakerLeft`].

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use protocol::media::{ClientMessage, MediaSource, ServerMessage, Sources, TrackKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::api::ServerApi;
use super::live::{LiveConnection, Push};
use crate::agent::SessionInput;
use crate::pipeline::SpeakerId;
use protocol::live::ServerMessage as LiveMessage;

/// One 20 ms Opus frame of the assistant's voice and its 48 kHz RTP time.
pub struct OutFrame {
    pub opus: Vec<u8>,
    pub rtp_timestamp: u32,
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
    let result = link(api, session_id, me, input, frames).await;
    result.map_err(|(error, speakers)| {
        // The speakers heard on the failed link are gone until it is back.
        for speaker in speakers {
            let _ = input.try_send(SessionInput::SpeakerLeft {
                speaker: SpeakerId(speaker),
            });
        }
        error
    })
}

async fn link(
    api: &ServerApi,
    session_id: &str,
    me: &str,
    input: &mpsc::Sender<SessionInput>,
    frames: &mut mpsc::Receiver<OutFrame>,
) -> Result<(), (anyhow::Error, Vec<String>)> {
    let no_speakers = |error: anyhow::Error| (error, Vec::new());
    let mut live = LiveConnection::connect(api).await.map_err(no_speakers)?;
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .context("binding a UDP socket")
        .map_err(no_speakers)?;
    let local = socket.local_addr().map_err(|e| no_speakers(e.into()))?;
    let mut rtc = Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(
        Candidate::host(local, "udp")
            .context("a host candidate")
            .map_err(no_speakers)?,
    );
    let mut sdp = rtc.sdp_api();
    let own_mid = sdp.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = sdp
        .apply()
        .ok_or_else(|| anyhow!("no offer to make"))
        .map_err(no_speakers)?;
    live.send(&ClientMessage::Join {
        session_id: session_id.to_owned(),
        offer: offer.to_sdp_string(),
        sources: Sources::from([(own_mid.to_string(), MediaSource::Microphone)]),
    })
    .await
    .map_err(no_speakers)?;
    let mut pending: Option<SdpPendingOffer> = Some(pending);
    let mut link = Link {
        session_id: session_id.to_string(),
        me: me.to_string(),
        own_mid,
        pt: None,
        speakers: HashMap::new(),
        input: input.clone(),
    };
    let result = forward(
        &mut live,
        &socket,
        &mut rtc,
        &mut link,
        &mut pending,
        frames,
    )
    .await;
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
        Err(error) => Err((error, link.speakers.into_values().collect())),
    }
}

async fn forward(
    live: &mut LiveConnection,
    socket: &UdpSocket,
    rtc: &mut Rtc,
    link: &mut Link,
    pending: &mut Option<SdpPendingOffer>,
    frames: &mut mpsc::Receiver<OutFrame>,
) -> anyhow::Result<()> {
    let local = socket.local_addr()?;
    let session_id = link.session_id.clone();
    let mut buf = vec![0u8; 2048];
    loop {
        if !rtc.is_alive() {
            return Err(anyhow!("the peer connection closed"));
        }
        // Drain str0m after every change (its rule).
        let timeout = loop {
            match rtc.poll_output().context("the peer connection failed")? {
                Output::Timeout(at) => break at,
                Output::Transmit(t) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Output::Event(event) => link.on_event(event).await,
            }
        };
        let wait = timeout.saturating_duration_since(Instant::now());
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let Ok((len, source)) = received else { continue };
                let Ok(contents) = buf[..len].try_into() else { continue };
                rtc.handle_input(Input::Receive(Instant::now(), Receive {
                    proto: Protocol::Udp,
                    source,
                    destination: local,
                    contents,
                }))?;
            }
            frame = frames.recv() => {
                let Some(frame) = frame else { return Ok(()) };
                link.write(rtc, frame);
            }
            push = live.next() => match push? {
                None => return Err(anyhow!("the live connection closed")),
                Some(Push::Media(message)) if message.session_id() == Some(session_id.as_str()) => {
                    if let Some(reply) = link.on_signal(rtc, pending, message).await? {
                        live.send(&reply).await?;
                    }
                }
                Some(Push::Live(LiveMessage::Error { error, .. })) => tracing::warn!(session = %session_id, error = %error.message, "media refused"),
                Some(_) => {}
            },
            () = tokio::time::sleep(wait) => {
                rtc.handle_input(Input::Timeout(Instant::now()))?;
            }
        }
    }
}

/// The state beside the `Rtc`.
struct Link {
    session_id: String,
    me: String,
    own_mid: Mid,
    pt: Option<Pt>,
    /// Received audio lines and whose they are.
    speakers: HashMap<Mid, String>,
    input: mpsc::Sender<SessionInput>,
}

impl Link {
    async fn on_event(&mut self, event: Event) {
        match event {
            Event::MediaData(data) if data.mid != self.own_mid => {
                let Some(speaker) = self.speakers.get(&data.mid) else {
                    return;
                };
                let _ = self
                    .input
                    .send(SessionInput::Opus {
                        speaker: SpeakerId(speaker.clone()),
                        packet: data.data.to_vec(),
                    })
                    .await;
            }
            Event::IceConnectionStateChange(state) => {
                tracing::debug!(session = %self.session_id, ?state, "the assistant's media")
            }
            _ => {}
        }
    }

    fn write(&mut self, rtc: &mut Rtc, frame: OutFrame) {
        let Some(writer) = rtc.writer(self.own_mid) else {
            return;
        };
        let Some(pt) = self.pt.or_else(|| {
            writer
                .payload_params()
                .find(|p| p.spec().codec == Codec::Opus)
                .map(|p| p.pt())
        }) else {
            return;
        };
        self.pt = Some(pt);
        let time = MediaTime::new(u64::from(frame.rtp_timestamp), Frequency::FORTY_EIGHT_KHZ);
        if let Err(error) = writer.write(pt, Instant::now(), time, frame.opus) {
            tracing::debug!(session = %self.session_id, %error, "a voice frame was not sent");
        }
    }

    /// Acts on a `media.*` message; answers what to send back.
    async fn on_signal(
        &mut self,
        rtc: &mut Rtc,
        pending: &mut Option<SdpPendingOffer>,
        message: ServerMessage,
    ) -> anyhow::Result<Option<ClientMessage>> {
        match message {
            ServerMessage::Answer { sdp, .. } => {
                let Some(pending) = pending.take() else {
                    return Ok(None);
                };
                let answer = SdpAnswer::from_sdp_string(&sdp).context("the server's answer")?;
                rtc.sdp_api()
                    .accept_answer(pending, answer)
                    .context("applying the server's answer")?;
                Ok(None)
            }
            ServerMessage::Offer { sdp, .. } => {
                let offer = SdpOffer::from_sdp_string(&sdp).context("the server's offer")?;
                let answer = rtc
                    .sdp_api()
                    .accept_offer(offer)
                    .context("answering the server's offer")?;
                Ok(Some(ClientMessage::Answer {
                    session_id: self.session_id.clone(),
                    sdp: answer.to_sdp_string(),
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
                        let _ = self
                            .input
                            .send(SessionInput::Speaker {
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
                    let _ = self
                        .input
                        .send(SessionInput::SpeakerLeft {
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
            _ => Ok(None),
        }
    }
}

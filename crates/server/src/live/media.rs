//! Media signalling on the live WebSocket: the `media.*` messages of
//! docs/MEDIA.md, carried between a page and the SFU ([`sfu::SfuHandle`]).
//!
//! # Who gets media
//!
//! **Only a person joined to an active session, on an authenticated
//! connection, ever holds media in it.** Every `media.join` (and every
//! `media.config`, which carries the TURN password) checks the store; the
//! room's peer id is the user id of the connection, never one from a message;
//! the session's seat limit goes with every join. Once in, a person's media
//! ends — their tracks stop for everyone in one step — when they send
//! `media.leave`, close the connection, are marked left (on any node: the bus
//! says their session's participants changed, and [`watch_departures`]
//! checks the store), or the session ends.
//!
//! # Layout
//!
//! - [`MediaRooms`]: this node's side of the SFU: who holds media in which
//!   session, through which connection, with their microphone and camera
//!   on or off. Joins and leaves of one session are serialised here. It also
//!   holds the ICE servers ([`super::turn`]) each `media.config` carries.
//! - [`watch_departures`]: the task that tears down the media of people
//!   marked left (expels the removed) and of sessions that ended, and holds
//!   the media the host silenced.
//! - [`Links`]: one live connection's media: its `media.*` messages in, the
//!   SFU's signals and the room's on/off states out. The messages are
//!   `protocol::media`'s.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::extract::ws::Utf8Bytes;
use domain::Id;
use domain::event::Event;
use domain::moderation::SilencedMedia;
use domain::session::{ParticipantStatus, Session, SessionStatus};
use domain::user::User;
pub use protocol::media::MediaState;
use protocol::media::{ClientMessage, Refusal, ServerMessage, Track};
use sfu::{
    JoinRequest, MediaSource, PeerId, RoomId, SfuError, SfuHandle, SignalIn, SignalOut, Sources,
};
use tokio::sync::{OwnedMutexGuard, broadcast, watch};
use tokio::task::JoinHandle;
use tokio_stream::StreamMap;
use tokio_stream::wrappers::{UnboundedReceiverStream, WatchStream};

use super::turn::IceServers;
use crate::AppState;
use crate::app::{self, Caller};
use crate::error::ApiError;

/// One person holding media in a session on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    /// The [`Links`] (live connection) that joined.
    link: u64,
    state: MediaState,
}

/// The people holding media in one session, by user id.
type Members = BTreeMap<Id, Member>;

/// This node's media: the SFU, and who holds media in which session.
pub struct MediaRooms {
    sfu: SfuHandle,
    /// The TURN servers handed to browsers, with each person's credentials.
    ice_servers: IceServers,
    rooms: Mutex<HashMap<Id, Arc<Room>>>,
    next_link: AtomicU64,
}

struct Room {
    /// Held across each join and leave of the session together with the SFU
    /// call it makes. A page joining again (a reload, another tab) and its old
    /// connection closing therefore cannot interleave, and the old
    /// connection's leave never takes out the new one's media.
    changes: Arc<tokio::sync::Mutex<()>>,
    /// Who holds media here. Every link in the room watches it, for
    /// `media.states`.
    members: watch::Sender<Members>,
}

impl MediaRooms {
    pub fn new(sfu: SfuHandle, ice_servers: IceServers) -> Arc<Self> {
        Arc::new(Self {
            sfu,
            ice_servers,
            rooms: Mutex::default(),
            next_link: AtomicU64::new(1),
        })
    }

    /// The SFU itself, for signals from people already in.
    pub fn sfu(&self) -> &SfuHandle {
        &self.sfu
    }

    /// The sessions someone holds media in on this node.
    pub fn sessions(&self) -> Vec<Id> {
        self.rooms
            .lock()
            .expect("media lock")
            .keys()
            .cloned()
            .collect()
    }

    /// The people holding media in `session_id` on this node.
    pub fn members(&self, session_id: &Id) -> Vec<Id> {
        self.current(session_id)
            .map(|room| room.members.borrow().keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `link` is the connection through which `user_id` holds media
    /// in `session_id`.
    fn holds(&self, session_id: &Id, user_id: &Id, link: u64) -> bool {
        self.current(session_id).is_some_and(|room| {
            room.members
                .borrow()
                .get(user_id)
                .is_some_and(|member| member.link == link)
        })
    }

    fn current(&self, session_id: &Id) -> Option<Arc<Room>> {
        self.rooms
            .lock()
            .expect("media lock")
            .get(session_id)
            .cloned()
    }

    /// The session's room with its changes locked, made if `create`. A room
    /// that was dropped while this waited for its lock is not used: the
    /// search starts again.
    async fn lock(
        &self,
        session_id: &Id,
        create: bool,
    ) -> Option<(Arc<Room>, OwnedMutexGuard<()>)> {
        loop {
            let room = if create {
                self.rooms
                    .lock()
                    .expect("media lock")
                    .entry(session_id.clone())
                    .or_insert_with(|| {
                        Arc::new(Room {
                            changes: Arc::default(),
                            members: watch::channel(Members::new()).0,
                        })
                    })
                    .clone()
            } else {
                self.current(session_id)?
            };
            let guard = room.changes.clone().lock_owned().await;
            let still_current = self
                .current(session_id)
                .is_some_and(|current| Arc::ptr_eq(&current, &room));
            if still_current {
                return Some((room, guard));
            }
        }
    }

    /// Drops an empty room. Called with its changes locked.
    fn drop_if_empty(&self, session_id: &Id, room: &Arc<Room>) {
        if !room.members.borrow().is_empty() {
            return;
        }
        let mut rooms = self.rooms.lock().expect("media lock");
        if rooms
            .get(session_id)
            .is_some_and(|current| Arc::ptr_eq(current, room))
        {
            rooms.remove(session_id);
        }
    }

    /// Joins `user`'s page to the session's media through connection `link`.
    async fn join(
        &self,
        session: &Session,
        user: &User,
        link: u64,
        offer_sdp: String,
        sources: Sources,
    ) -> Result<(sfu::Joined, watch::Receiver<Members>), SfuError> {
        let (room, _changes) = self.lock(&session.id, true).await.expect("made if missing");
        let joined = self
            .sfu
            .join(
                RoomId::new(session.id.as_str()),
                JoinRequest {
                    peer_id: PeerId::new(user.id.as_str()),
                    name: user.name.clone(),
                    offer_sdp,
                    sources,
                    seat_limit: Some(seat_limit(
                        session.max_participants,
                        session.ai_agent_enabled,
                    )),
                },
            )
            .await;
        match joined {
            Ok(joined) => {
                room.members.send_modify(|members| {
                    members.insert(
                        user.id.clone(),
                        Member {
                            link,
                            state: MediaState::default(),
                        },
                    );
                });
                Ok((joined, room.members.subscribe()))
            }
            Err(error) => {
                self.drop_if_empty(&session.id, &room);
                Err(error)
            }
        }
    }

    /// Takes `user_id`'s media out of the session: their tracks stop for
    /// everyone at once. With `link`, only if that connection holds it (an
    /// old tab closing leaves the new tab's media be).
    pub async fn leave(&self, session_id: &Id, user_id: &Id, link: Option<u64>) {
        self.take_out(session_id, user_id, link, false).await;
    }

    /// Takes out the media of someone the host removed: their tracks stop
    /// for everyone at once, and their page hears `media.closed` (`removed`).
    pub async fn expel(&self, session_id: &Id, user_id: &Id) {
        self.take_out(session_id, user_id, None, true).await;
    }

    async fn take_out(&self, session_id: &Id, user_id: &Id, link: Option<u64>, removed: bool) {
        let Some((room, _changes)) = self.lock(session_id, false).await else {
            return;
        };
        let holds = room
            .members
            .borrow()
            .get(user_id)
            .is_some_and(|member| link.is_none_or(|link| member.link == link));
        if holds {
            let (room_id, peer_id) = (
                RoomId::new(session_id.as_str()),
                PeerId::new(user_id.as_str()),
            );
            let out = if removed {
                self.sfu.expel(room_id, peer_id).await
            } else {
                self.sfu.leave(room_id, peer_id).await
            };
            if let Err(error) = out {
                report(&error, session_id, "taking someone's media out");
            }
            room.members.send_modify(|members| {
                members.remove(user_id);
            });
        }
        self.drop_if_empty(session_id, &room);
    }

    /// Forgets `user_id`'s media after the SFU let it go by itself (its
    /// connection failed, or it joined again through another link).
    async fn forget(&self, session_id: &Id, user_id: &Id, link: u64) {
        let Some((room, _changes)) = self.lock(session_id, false).await else {
            return;
        };
        room.members.send_if_modified(|members| {
            let held = members
                .get(user_id)
                .is_some_and(|member| member.link == link);
            if held {
                members.remove(user_id);
            }
            held
        });
        self.drop_if_empty(session_id, &room);
    }

    /// The host switched off `user_id`'s `media`: the SFU forwards none of
    /// it from now on (until their page turns it off and on again), their
    /// page is told (`media.held`), and the others see it off at once.
    /// Nothing to do when they hold no media on this node.
    pub async fn silence(&self, session_id: &Id, user_id: &Id, media: SilencedMedia) {
        let Some((room, _changes)) = self.lock(session_id, false).await else {
            return;
        };
        if !room.members.borrow().contains_key(user_id) {
            return;
        }
        let sources = match media {
            SilencedMedia::Microphone => vec![MediaSource::Microphone],
            SilencedMedia::Camera => vec![MediaSource::Camera],
            SilencedMedia::Screen => vec![MediaSource::Screen, MediaSource::ScreenAudio],
        };
        let held = self
            .sfu
            .hold(
                RoomId::new(session_id.as_str()),
                PeerId::new(user_id.as_str()),
                sources,
            )
            .await;
        if let Err(error) = held {
            report(&error, session_id, "holding someone's media");
            return;
        }
        room.members.send_if_modified(|members| {
            let Some(member) = members.get_mut(user_id) else {
                return false;
            };
            let before = member.state;
            match media {
                SilencedMedia::Microphone => member.state.microphone = false,
                SilencedMedia::Camera => member.state.camera = false,
                SilencedMedia::Screen => {}
            }
            member.state != before
        });
    }

    /// Ends the session's media: everyone's connection is let go.
    pub async fn close(&self, session_id: &Id) {
        let Some((room, _changes)) = self.lock(session_id, false).await else {
            return;
        };
        if let Err(error) = self.sfu.close_room(RoomId::new(session_id.as_str())).await {
            report(&error, session_id, "closing a media room");
        }
        room.members.send_modify(Members::clear);
        self.drop_if_empty(session_id, &room);
    }

    /// Records what `user_id`'s page sends. False when `link` does not hold
    /// their media.
    fn set_state(&self, session_id: &Id, user_id: &Id, link: u64, state: MediaState) -> bool {
        let Some(room) = self.current(session_id) else {
            return false;
        };
        let mut held = false;
        room.members
            .send_if_modified(|members| match members.get_mut(user_id) {
                Some(member) if member.link == link => {
                    held = true;
                    let changed = member.state != state;
                    member.state = state;
                    changed
                }
                _ => false,
            });
        held
    }
}

/// Logs an SFU refusal of a leave or a close. The SFU stopping (the node is
/// shutting down, and has let everyone go) is no news.
fn report(error: &SfuError, session_id: &Id, doing: &str) {
    match error {
        SfuError::Stopped => {
            tracing::debug!(session = %session_id, "{doing}: the media server has stopped")
        }
        other => tracing::warn!(error = %other, session = %session_id, "{doing}"),
    }
}

/// The room's seat limit: the session's, and one more for the AI assistant,
/// which joins as a participant the limit does not count.
fn seat_limit(max_participants: i64, assistant_on: bool) -> usize {
    usize::try_from(max_participants).unwrap_or(0) + usize::from(assistant_on)
}

/// Tears down media as people are marked left and sessions end, whichever
/// node marked them: every change to the participants or the session of a
/// room with media on this node is checked against the store. Media the
/// host silenced (`media_silenced`, which carries who and what: nothing of
/// it is stored) is held here when the person's media is on this node.
pub fn watch_departures(state: AppState) -> JoinHandle<()> {
    let mut events = state.app.events();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                () = state.shutdown.cancelled() => return,
            };
            let sessions = match event {
                Ok(
                    Event::ParticipantsChanged { session_id }
                    | Event::SessionChanged { session_id },
                ) => {
                    vec![session_id]
                }
                Ok(Event::MediaSilenced {
                    session_id,
                    user_ids,
                    media,
                }) => {
                    for user_id in &user_ids {
                        state.media.silence(&session_id, user_id, media).await;
                    }
                    continue;
                }
                // Events were missed: look at every room.
                Ok(Event::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    state.media.sessions()
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            for session_id in sessions {
                if !state.media.members(&session_id).is_empty()
                    && let Err(error) = tear_down_departed(&state, &session_id).await
                {
                    tracing::warn!(?error, session = %session_id, "checking who still holds media");
                }
            }
        }
    })
}

/// Lets go of the media of everyone in the session who is no longer joined,
/// or of everyone when the session is over.
async fn tear_down_departed(state: &AppState, session_id: &Id) -> anyhow::Result<()> {
    let session = state.app.session_snapshot(session_id).await?;
    if session.is_none_or(|session| session.status != SessionStatus::Active) {
        state.media.close(session_id).await;
        return Ok(());
    }
    let participants = state
        .app
        .participants_snapshot(session_id)
        .await?
        .map(|(_, participants)| participants)
        .unwrap_or_default();
    for user_id in state.media.members(session_id) {
        let seat = participants
            .iter()
            .find(|participant| participant.user_id == user_id);
        match seat {
            Some(seat) if seat.status == ParticipantStatus::Joined => {}
            Some(seat) if seat.removed => state.media.expel(session_id, &user_id).await,
            _ => state.media.leave(session_id, &user_id, None).await,
        }
    }
    Ok(())
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        let detail = error.detail();
        Refusal::new(detail.code, detail.message)
    }
}

fn encode(message: &ServerMessage) -> Utf8Bytes {
    serde_json::to_string(message)
        .expect("media messages serialize")
        .into()
}

/// The session, if the caller may hold media in it now.
async fn seat(state: &AppState, caller: &Caller, session_id: &Id) -> Result<Session, Refusal> {
    Ok(state
        .app
        .media_seat(caller, session_id)
        .await
        .map_err(ApiError::from)?)
}

/// One live connection's media: the sessions it holds media in, the SFU's
/// signals for each, and each room's on/off states.
pub struct Links {
    /// This connection among all links of the node: who holds a person's
    /// media is decided by it, not by the person alone.
    id: u64,
    /// The sessions whose media this connection joined and has not left.
    joined: HashSet<Id>,
    signals: StreamMap<Id, UnboundedReceiverStream<SignalOut>>,
    states: StreamMap<Id, WatchStream<Members>>,
}

/// Something for the connection's select loop to pass on: a signal from
/// the SFU, or a room's new states. Opaque: [`Links::outgoing`] reads it.
pub struct Outgoing(Pending);

enum Pending {
    Signal(Id, SignalOut),
    States(Id, Members),
}

impl Links {
    pub fn new(media: &MediaRooms) -> Self {
        Self {
            id: media.next_link.fetch_add(1, Ordering::Relaxed),
            joined: HashSet::new(),
            signals: StreamMap::new(),
            states: StreamMap::new(),
        }
    }

    /// The next signal or state change to pass on. Pending forever while the
    /// connection holds no media, so it can sit in a `select!`.
    pub async fn next(&mut self) -> Outgoing {
        use futures::StreamExt;
        tokio::select! {
            Some((session_id, signal)) = self.signals.next() => Outgoing(Pending::Signal(session_id, signal)),
            Some((session_id, members)) = self.states.next() => Outgoing(Pending::States(session_id, members)),
            else => std::future::pending().await,
        }
    }

    /// Turns what [`Links::next`] gave into a message for the page.
    pub async fn outgoing(
        &mut self,
        state: &AppState,
        caller: &Caller,
        outgoing: Outgoing,
    ) -> Utf8Bytes {
        match outgoing.0 {
            Pending::Signal(session_id, signal) => {
                self.signal_message(state, caller, &session_id, signal)
                    .await
            }
            Pending::States(session_id, members) => {
                let states = members
                    .into_iter()
                    .map(|(user_id, member)| (user_id, member.state))
                    .collect();
                encode(&ServerMessage::States { session_id, states })
            }
        }
    }

    async fn signal_message(
        &mut self,
        state: &AppState,
        caller: &Caller,
        session_id: &Id,
        signal: SignalOut,
    ) -> Utf8Bytes {
        let user = caller.user();
        let session_id = session_id.clone();
        match signal {
            SignalOut::Answer { sdp } => encode(&ServerMessage::Answer { session_id, sdp }),
            SignalOut::Offer { sdp } => encode(&ServerMessage::Offer { session_id, sdp }),
            SignalOut::Tracks { tracks } => encode(&ServerMessage::Tracks {
                session_id,
                tracks: tracks.iter().map(Track::from).collect(),
            }),
            SignalOut::Held { sources } => encode(&ServerMessage::Held {
                session_id,
                sources,
            }),
            SignalOut::Closed { reason } => {
                // Nothing more comes on this channel; the room is no longer ours.
                self.joined.remove(&session_id);
                self.states.remove(&session_id);
                state.media.forget(&session_id, &user.id, self.id).await;
                encode(&ServerMessage::Closed { session_id, reason })
            }
        }
    }

    /// Handles one `media.*` message; returns the immediate answer, if any.
    /// `text` is the whole message, whose type starts with `media.`.
    pub async fn handle(
        &mut self,
        state: &AppState,
        caller: &Caller,
        text: &str,
    ) -> Option<Utf8Bytes> {
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(message) => message,
            Err(error) => {
                let message = error.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message);
                let session_id = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|value| value.get("session_id")?.as_str().map(str::to_owned));
                return Some(encode(&ServerMessage::Error {
                    session_id,
                    error: Refusal::new("invalid", format!("malformed message: {message}")),
                }));
            }
        };
        let raw_session_id = message.session_id().to_owned();
        match self.apply(state, caller, message).await {
            Ok(answer) => answer,
            Err(error) => Some(encode(&ServerMessage::Error {
                session_id: Some(raw_session_id),
                error,
            })),
        }
    }

    async fn apply(
        &mut self,
        state: &AppState,
        caller: &Caller,
        message: ClientMessage,
    ) -> Result<Option<Utf8Bytes>, Refusal> {
        let user = caller.user();
        let session_id = Id::parse("session_id", message.session_id()).map_err(ApiError::from)?;
        let signal = match message {
            ClientMessage::Config { .. } => {
                seat(state, caller, &session_id).await?;
                return Ok(Some(encode(&ServerMessage::Config {
                    ice_servers: state
                        .media
                        .ice_servers
                        .for_person(&user.id, SystemTime::now()),
                    session_id,
                })));
            }
            ClientMessage::Join { offer, sources, .. } => {
                return self
                    .join(state, caller, &session_id, offer, sources)
                    .await
                    .map(Some);
            }
            ClientMessage::Leave { .. } => {
                self.joined.remove(&session_id);
                // The SFU says `closed` (left) on the signal channel, which
                // then ends.
                state
                    .media
                    .leave(&session_id, &user.id, Some(self.id))
                    .await;
                return Ok(None);
            }
            ClientMessage::State {
                microphone,
                camera,
                screen,
                ..
            } => {
                let media_state = MediaState { microphone, camera };
                if !self.joined.contains(&session_id)
                    || !state
                        .media
                        .set_state(&session_id, &user.id, self.id, media_state)
                {
                    return Err(Refusal::not_in_media());
                }
                // The SFU hears it too: what the host held is let go only
                // once the page has turned it off and then on.
                SignalIn::Sending {
                    microphone: Some(microphone),
                    camera: Some(camera),
                    screen,
                }
            }
            ClientMessage::Answer { sdp, .. } => SignalIn::Answer { sdp },
            ClientMessage::Offer { sdp, sources, .. } => SignalIn::Offer { sdp, sources },
            ClientMessage::Candidate { candidate, .. } => SignalIn::Candidate { candidate },
            ClientMessage::Publish { sources, .. } => SignalIn::Publish { sources },
            ClientMessage::RestartIce { .. } => SignalIn::IceRestart,
        };
        // Only the connection holding the person's media speaks for it: an
        // old tab's late answer must not reach the new tab's connection.
        if !self.joined.contains(&session_id) || !state.media.holds(&session_id, &user.id, self.id)
        {
            return Err(Refusal::not_in_media());
        }
        state
            .media
            .sfu()
            .signal(
                RoomId::new(session_id.as_str()),
                PeerId::new(user.id.as_str()),
                signal,
            )
            .await?;
        Ok(None)
    }

    async fn join(
        &mut self,
        state: &AppState,
        caller: &Caller,
        session_id: &Id,
        offer: String,
        sources: Sources,
    ) -> Result<Utf8Bytes, Refusal> {
        let user = caller.user();
        let session = seat(state, caller, session_id).await?;
        let (joined, members) = state
            .media
            .join(&session, user, self.id, offer, sources)
            .await?;
        // Marked left while joining? The departure watcher could not see
        // this media yet, so look again now that it is registered.
        if seat(state, caller, session_id).await.is_err() {
            state.media.leave(session_id, &user.id, Some(self.id)).await;
            return Err(
                ApiError::from(app::Error::Forbidden("join the session before its media")).into(),
            );
        }
        self.joined.insert(session_id.clone());
        // Replaces the streams of an earlier join on this connection, whose
        // `replaced` the page need not hear: it asked for it.
        self.signals.insert(
            session_id.clone(),
            UnboundedReceiverStream::new(joined.signals),
        );
        self.states
            .insert(session_id.clone(), WatchStream::new(members));
        Ok(encode(&ServerMessage::Answer {
            session_id: session_id.clone(),
            sdp: joined.answer_sdp,
        }))
    }

    /// The connection closed: its media leaves every room.
    pub async fn close(&mut self, state: &AppState, caller: &Caller) {
        let user = caller.user();
        for session_id in std::mem::take(&mut self.joined) {
            state
                .media
                .leave(&session_id, &user.id, Some(self.id))
                .await;
        }
        self.signals.clear();
        self.states.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assistant_has_a_seat_of_its_own() {
        assert_eq!(seat_limit(4, false), 4);
        assert_eq!(seat_limit(4, true), 5);
        assert_eq!(seat_limit(-1, false), 0);
    }
}

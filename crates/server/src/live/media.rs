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
//! # One home per session
//!
//! With several nodes, a session's media lives on one of them, its home
//! (recorded in the store, docs/MEDIA.md). A page's `media.*` messages
//! reach whichever node holds its live connection; that node relays them to
//! the home over the bus and waits for each answer, so they stay in order,
//! and the home sends its signals for the page back the same way. The
//! waiting is done by the connection's media signalling task
//! ([`Signalling`]), never by the connection itself: a home that is slow
//! to answer holds up that page's media messages (a bounded queue, past
//! which they are refused), not its chat, presence or pings. **The
//! home decides**: it checks the seat of the relayed person (the
//! authenticated user of the relaying connection) and runs the room exactly
//! as for a page connected to it. With a bus to no other node, every
//! session's home is here and nothing is recorded.
//!
//! # Layout
//!
//! - [`MediaRooms`]: this node's side of the SFU: who holds media in which
//!   session, through which link (a connection here, or a join relayed from
//!   another node), with their microphone and camera on or off. Joins and
//!   leaves of one session are serialised here. It also holds the ICE
//!   servers ([`super::turn`]) each `media.config` carries, and the way to
//!   the other nodes (`Relay`).
//! - [`watch_departures`]: the task that tears down the media of people
//!   marked left (expels the removed) and of sessions that ended, and holds
//!   the media the host silenced, for the rooms homed here.
//! - [`Signalling`]: one live connection's media signalling, on a task
//!   beside the connection, fed through a queue of at most
//!   [`MEDIA_QUEUE`] messages and [`MEDIA_QUEUE_BYTES`] bytes.
//! - [`Links`]: one live connection's media (what [`Signalling`]'s task
//!   owns): its `media.*` messages in (to
//!   the room here, or relayed to the home), the SFU's signals, the room's
//!   on/off states and the homes' messages out. The messages are
//!   `protocol::media`'s.
//! - `at_home`: what a session's home does with one page's message, whether
//!   the page is connected here or relayed.
//! - [`serve_letters`]: the task taking the other nodes' letters: pages'
//!   messages relayed here (`MediaLetter::Ask`, each answered, and a join's
//!   signals then sent back by a `Forward`), the homes' messages for
//!   pages here (`MediaLetter::Tell`), and other nodes asking whether this
//!   one is there (`MediaLetter::Ping`).
//! - [`watch_homes`]: the task asking the homes of this node's relayed
//!   joins, once a second, whether they are there, and telling the pages of
//!   a home that is gone that their media moved.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::ws::Utf8Bytes;
use bus::{Bus, Unreachable};
use domain::Id;
use domain::event::Event;
use domain::moderation::SilencedMedia;
use domain::session::{ParticipantStatus, Session, SessionStatus};
pub use protocol::media::MediaState;
use protocol::media::{ClientMessage, CloseReason, Refusal, ServerMessage, Track};
use serde::{Deserialize, Serialize};
use sfu::{
    JoinRequest, MediaSource, PeerId, RoomId, SfuError, SfuHandle, SignalIn, SignalOut, Sources,
};
use store::MediaHome;
use tokio::sync::{OwnedMutexGuard, broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::StreamMap;
use tokio_stream::wrappers::{UnboundedReceiverStream, WatchStream};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::turn::IceServers;
use crate::AppState;
use crate::app::{self, Caller};
use crate::error::ApiError;

/// One person holding media in a session on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    /// What joined: a [`Links`] (live connection) of this node, or one join
    /// relayed from another node's connection.
    link: Uuid,
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
    relay: Relay,
}

/// How this node's pages reach the media of sessions homed on another node,
/// and how that node's messages come back.
struct Relay {
    bus: Arc<dyn Bus>,
    /// This node as a media home: its id, and its SFU's addresses.
    here: MediaHome,
    /// A home whose node showed no life for this long is taken over.
    dead_after: Duration,
    /// This node's joins to media homed elsewhere: where the home's messages
    /// for each go (the [`Links`] that made it), and the home's session and
    /// node, which [`watch_homes`] looks after.
    joins: Mutex<HashMap<Uuid, RelayedJoin>>,
}

/// A join of this node's to media homed on another node.
struct RelayedJoin {
    link: mpsc::UnboundedSender<Told>,
    session_id: Id,
    home: String,
}

/// How often a node asks the homes of its relayed joins whether they are
/// still there ([`watch_homes`]).
const HOME_CHECK_EVERY: Duration = Duration::from_secs(1);

/// A message from a session's home for one relayed join.
type Told = (Uuid, ServerMessage);

/// A letter between nodes about media (on the bus, [`Bus::request`] and
/// [`Bus::send`]).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum MediaLetter {
    /// A page's `media.*` message, relayed to the session's home by the node
    /// holding its live connection. The person is the connection's
    /// authenticated one; `join` names this join of theirs on the home.
    /// Answered with a [`RelayAnswer`].
    Ask {
        from_node: String,
        join: Uuid,
        user_id: Id,
        name: String,
        message: ClientMessage,
    },
    /// The home's message for the page of a relayed join.
    Tell { join: Uuid, message: ServerMessage },
    /// Is this node still there? Answered at once, with `null`.
    Ping,
}

/// The home's immediate answer to a relayed message (a join's
/// `media.answer`), or its refusal.
type RelayAnswer = Result<Option<ServerMessage>, Refusal>;

/// What a page did to the session's media, at its home.
enum Done {
    Nothing,
    Joined(sfu::Joined, watch::Receiver<Members>),
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
    /// This node's media: its SFU, reached by browsers at `here`'s
    /// addresses, and the bus to the other nodes. A session's home whose
    /// node showed no life for `dead_after` may be taken over.
    pub fn new(
        sfu: SfuHandle,
        ice_servers: IceServers,
        bus: Arc<dyn Bus>,
        here: MediaHome,
        dead_after: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            sfu,
            ice_servers,
            rooms: Mutex::default(),
            relay: Relay {
                bus,
                here,
                dead_after,
                joins: Mutex::default(),
            },
        })
    }

    /// This node's id, as the sessions it is home to record it.
    pub fn node_id(&self) -> &str {
        &self.relay.here.node_id
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
    fn holds(&self, session_id: &Id, user_id: &Id, link: Uuid) -> bool {
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
    /// What the host holds of theirs is read under the room's lock, so a
    /// hold is either read here or finds them in the room ([`Self::silence`]).
    async fn join(
        &self,
        app: &app::App,
        session: &Session,
        user: &Person,
        link: Uuid,
        offer_sdp: String,
        sources: Sources,
    ) -> Result<(sfu::Joined, watch::Receiver<Members>), Refusal> {
        let (room, _changes) = self.lock(&session.id, true).await.expect("made if missing");
        let held = match app.media_holds(&session.id, &user.id).await {
            Ok(held) => held.into_iter().flat_map(held_sources).collect(),
            Err(error) => {
                self.drop_if_empty(&session.id, &room);
                return Err(ApiError::from(error).into());
            }
        };
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
                    held,
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
                Err(error.into())
            }
        }
    }

    /// Takes `user_id`'s media out of the session: their tracks stop for
    /// everyone at once. With `link`, only if that connection holds it (an
    /// old tab closing leaves the new tab's media be).
    pub async fn leave(&self, session_id: &Id, user_id: &Id, link: Option<Uuid>) {
        self.take_out(session_id, user_id, link, false).await;
    }

    /// Takes out the media of someone the host removed: their tracks stop
    /// for everyone at once, and their page hears `media.closed` (`removed`).
    pub async fn expel(&self, session_id: &Id, user_id: &Id) {
        self.take_out(session_id, user_id, None, true).await;
    }

    async fn take_out(&self, session_id: &Id, user_id: &Id, link: Option<Uuid>, removed: bool) {
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
    async fn forget(&self, session_id: &Id, user_id: &Id, link: Uuid) {
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
        let held = self
            .sfu
            .hold(
                RoomId::new(session_id.as_str()),
                PeerId::new(user_id.as_str()),
                held_sources(media),
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
    fn set_state(&self, session_id: &Id, user_id: &Id, link: Uuid, state: MediaState) -> bool {
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

/// The SFU's sources a hold of the host's covers.
fn held_sources(media: SilencedMedia) -> Vec<MediaSource> {
    match media {
        SilencedMedia::Microphone => vec![MediaSource::Microphone],
        SilencedMedia::Camera => vec![MediaSource::Camera],
        SilencedMedia::Screen => vec![MediaSource::Screen, MediaSource::ScreenAudio],
    }
}

/// The holds of the host's that the SFU's sources let go of cover.
fn released_media(sources: &[MediaSource]) -> Vec<SilencedMedia> {
    let mut media: Vec<SilencedMedia> = Vec::new();
    for source in sources {
        let kind = match source {
            MediaSource::Microphone => SilencedMedia::Microphone,
            MediaSource::Camera => SilencedMedia::Camera,
            MediaSource::Screen | MediaSource::ScreenAudio => SilencedMedia::Screen,
        };
        if !media.contains(&kind) {
            media.push(kind);
        }
    }
    media
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

/// Who holds media: the authenticated person of a live connection, on this
/// node or on the node that relayed their page's message here. Never taken
/// from what a page sends.
#[derive(Debug, Clone)]
struct Person {
    id: Id,
    name: String,
}

impl Person {
    fn of(caller: &Caller) -> Self {
        let user = caller.user();
        Self {
            id: user.id.clone(),
            name: user.name.clone(),
        }
    }
}

/// The session, if the person may hold media in it now.
async fn seat(state: &AppState, user_id: &Id, session_id: &Id) -> Result<Session, Refusal> {
    Ok(state
        .app
        .media_seat(user_id, session_id)
        .await
        .map_err(ApiError::from)?)
}

/// The session, if the person may hold media in it now, and its media home
/// when that is another node. With a bus to no other node, always here.
async fn home_of(
    state: &AppState,
    person: &Person,
    session_id: &Id,
) -> Result<(Session, Option<MediaHome>), Refusal> {
    if state.shutdown.is_cancelled() {
        // Gave its homes up: pinning one again would strand it.
        return Err(SfuError::Stopped.into());
    }
    let relay = &state.media.relay;
    if !relay.bus.spans_nodes() {
        return Ok((seat(state, &person.id, session_id).await?, None));
    }
    let (session, home) = state
        .app
        .media_home(&person.id, session_id, &relay.here, relay.dead_after)
        .await
        .map_err(ApiError::from)?;
    let elsewhere = (home.node_id != relay.here.node_id).then_some(home);
    Ok((session, elsewhere))
}

/// A refusal for a message the session's home could not be asked about.
fn unavailable(why: impl std::fmt::Display) -> Refusal {
    Refusal::new(
        "unavailable",
        format!("the session's media server cannot be reached ({why}); join again"),
    )
}

/// Joins the person's page to the session's media on this node, through
/// `link` (a live connection here, or a join relayed from another node).
async fn join_here(
    state: &AppState,
    session: &Session,
    person: &Person,
    link: Uuid,
    offer: String,
    sources: Sources,
) -> Result<(sfu::Joined, watch::Receiver<Members>), Refusal> {
    let joined = state
        .media
        .join(&state.app, session, person, link, offer, sources)
        .await?;
    // Marked left while joining? The departure watcher could not see
    // this media yet, so look again now that it is registered.
    if seat(state, &person.id, &session.id).await.is_err() {
        state.media.leave(&session.id, &person.id, Some(link)).await;
        return Err(
            ApiError::from(app::Error::Forbidden("join the session before its media")).into(),
        );
    }
    Ok(joined)
}

/// What the session's home does with a page's media message (any node
/// answers `media.config` itself). `link` is the page's live connection on
/// this node, or its join relayed from another.
async fn at_home(
    state: &AppState,
    person: &Person,
    link: Uuid,
    session_id: &Id,
    message: ClientMessage,
) -> Result<Done, Refusal> {
    let mut sending = None;
    let signal = match message {
        ClientMessage::Config { .. } => {
            return Err(Refusal::new(
                "invalid",
                "media.config is answered by the node it is sent to",
            ));
        }
        ClientMessage::Join { offer, sources, .. } => {
            // The seat is checked here, on the home, for the person of the
            // connection that relayed the join.
            let (session, elsewhere) = home_of(state, person, session_id).await?;
            if elsewhere.is_some() {
                return Err(unavailable("the session's media moved to another node"));
            }
            let (joined, members) =
                join_here(state, &session, person, link, offer, sources).await?;
            return Ok(Done::Joined(joined, members));
        }
        ClientMessage::Leave { .. } => {
            // The SFU says `closed` (left) on the signal channel, which
            // then ends.
            state.media.leave(session_id, &person.id, Some(link)).await;
            return Ok(Done::Nothing);
        }
        ClientMessage::State {
            microphone,
            camera,
            screen,
            ..
        } => {
            // The SFU hears it first: what the host held is let go only
            // once the page has turned it off and then on. The others see
            // the new state once that is settled.
            sending = Some(MediaState { microphone, camera });
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
    // Only the link holding the person's media speaks for it: an old tab's
    // late answer must not reach the new tab's connection.
    if !state.media.holds(session_id, &person.id, link) {
        return Err(Refusal::not_in_media());
    }
    let released = state
        .media
        .sfu()
        .signal(
            RoomId::new(session_id.as_str()),
            PeerId::new(person.id.as_str()),
            signal,
        )
        .await?;
    if !released.is_empty() {
        // Forgotten before the page's next message is handled, so its next
        // join is not held again.
        state
            .app
            .release_media_holds(session_id, &person.id, &released_media(&released))
            .await
            .map_err(ApiError::from)?;
    }
    if let Some(media_state) = sending
        && !state
            .media
            .set_state(session_id, &person.id, link, media_state)
    {
        return Err(Refusal::not_in_media());
    }
    Ok(Done::Nothing)
}

/// The page's message for a signal of the SFU's.
fn signal_message(session_id: Id, signal: SignalOut) -> ServerMessage {
    match signal {
        SignalOut::Answer { sdp } => ServerMessage::Answer { session_id, sdp },
        SignalOut::Offer { sdp } => ServerMessage::Offer { session_id, sdp },
        SignalOut::Tracks { tracks } => ServerMessage::Tracks {
            session_id,
            tracks: tracks.iter().map(Track::from).collect(),
        },
        SignalOut::Held { sources, renewed } => ServerMessage::Held {
            session_id,
            sources,
            renewed,
        },
        SignalOut::Closed { reason } => ServerMessage::Closed { session_id, reason },
        SignalOut::Speakers { speakers } => ServerMessage::Speakers {
            session_id,
            user_ids: speakers
                .iter()
                .map(|peer| peer.as_str().to_owned())
                .collect(),
        },
    }
}

/// The page's `media.states` for the room's members.
fn states_message(session_id: Id, members: Members) -> ServerMessage {
    let states = members
        .into_iter()
        .map(|(user_id, member)| (user_id, member.state))
        .collect();
    ServerMessage::States { session_id, states }
}

/// Sends a page's media message to the session's home on node `home`, as
/// the relayed join `join`, and waits for its answer.
async fn relay(
    state: &AppState,
    home: &str,
    join: Uuid,
    person: &Person,
    message: ClientMessage,
) -> Result<RelayAnswer, Unreachable> {
    let relay = &state.media.relay;
    let letter = MediaLetter::Ask {
        from_node: relay.here.node_id.clone(),
        join,
        user_id: person.id.clone(),
        name: person.name.clone(),
        message,
    };
    let payload = serde_json::to_vec(&letter).expect("media letters serialize");
    let answer = relay.bus.request(home, payload).await?;
    serde_json::from_slice(&answer).map_err(|error| Unreachable::NoAnswer(error.to_string()))
}

/// Takes the letters other nodes send this node about media: their pages'
/// messages for sessions homed here (each answered by the home, as if the
/// page were connected here), and the messages of other homes for this
/// node's pages.
pub fn serve_letters(state: AppState, mut letters: mpsc::Receiver<bus::Letter>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let letter = tokio::select! {
                letter = letters.recv() => letter,
                () = state.shutdown.cancelled() => return,
            };
            let Some(letter) = letter else { return };
            match serde_json::from_slice::<MediaLetter>(&letter.payload) {
                Ok(MediaLetter::Tell { join, message }) => state.media.relay.tell(join, message),
                // Any answer but none at all, which says the node is gone.
                Ok(MediaLetter::Ping) => letter.answer(b"null".to_vec()),
                Ok(MediaLetter::Ask {
                    from_node,
                    join,
                    user_id,
                    name,
                    message,
                }) => {
                    // One at a time per page: its node waits for each answer
                    // before it relays the next message.
                    let state = state.clone();
                    tokio::spawn(async move {
                        let person = Person { id: user_id, name };
                        let answer = serve_ask(&state, from_node, join, &person, message).await;
                        letter.answer(serde_json::to_vec(&answer).expect("answers serialize"));
                    });
                }
                Err(error) => tracing::warn!(%error, "skipping a media letter that makes no sense"),
            }
        }
    })
}

/// Does at home what a page on node `from_node` asked, through its join `join`.
async fn serve_ask(
    state: &AppState,
    from_node: String,
    join: Uuid,
    person: &Person,
    message: ClientMessage,
) -> RelayAnswer {
    let session_id = Id::parse("session_id", message.session_id()).map_err(ApiError::from)?;
    match at_home(state, person, join, &session_id, message).await? {
        Done::Nothing => Ok(None),
        Done::Joined(joined, members) => {
            let forward = Forward {
                state: state.clone(),
                session_id: session_id.clone(),
                user_id: person.id.clone(),
                join,
                to_node: from_node,
            };
            tokio::spawn(forward.run(joined.signals, members));
            Ok(Some(ServerMessage::Answer {
                session_id,
                sdp: joined.answer_sdp,
            }))
        }
    }
}

/// Carries the SFU's signals and the room's states for a relayed join to
/// the node holding its page, in order, until the SFU lets it go.
struct Forward {
    state: AppState,
    session_id: Id,
    user_id: Id,
    join: Uuid,
    to_node: String,
}

impl Forward {
    async fn run(
        self,
        signals: mpsc::UnboundedReceiver<SignalOut>,
        members: watch::Receiver<Members>,
    ) {
        use futures::StreamExt;
        let mut signals = UnboundedReceiverStream::new(signals);
        let mut states = WatchStream::new(members);
        loop {
            let (message, closed) = tokio::select! {
                signal = signals.next() => match signal {
                    Some(signal) => {
                        let closed = matches!(signal, SignalOut::Closed { .. });
                        (signal_message(self.session_id.clone(), signal), closed)
                    }
                    None => return,
                },
                Some(members) = states.next() => (states_message(self.session_id.clone(), members), false),
            };
            if closed {
                // Nothing more comes for this join; the room is no longer its.
                self.state
                    .media
                    .forget(&self.session_id, &self.user_id, self.join)
                    .await;
            }
            // A room closed because this node stops has not ended: the page
            // joins again, and its node pins the session elsewhere.
            let message = match message {
                ServerMessage::Closed {
                    session_id,
                    reason: CloseReason::RoomClosed,
                } if self.state.shutdown.is_cancelled() => ServerMessage::Closed {
                    session_id,
                    reason: CloseReason::Moved,
                },
                other => other,
            };
            let letter = MediaLetter::Tell {
                join: self.join,
                message,
            };
            let payload = serde_json::to_vec(&letter).expect("media letters serialize");
            if let Err(error) = self
                .state
                .media
                .relay
                .bus
                .send(&self.to_node, payload)
                .await
            {
                tracing::warn!(?error, session = %self.session_id, "telling a page's node of its media");
            }
            if closed {
                return;
            }
        }
    }
}

/// Completes when this node stops, once it has given up the media homes it
/// holds (the SFU stops then).
pub async fn hand_over(state: AppState) {
    state.shutdown.cancelled().await;
    if let Err(error) = state.app.release_media_homes(state.media.node_id()).await {
        tracing::warn!(?error, "giving up this node's media homes");
    }
}

/// Asks the home of each of this node's relayed joins, once a second,
/// whether its node is still there. A node killed outright says nothing, and
/// its pages' connections to its SFU take several seconds to be given up
/// for lost; when nobody takes that node's letters any more, its relayed
/// joins here are told at once that their media `moved`, and their pages
/// join again (the first takes the session's home over).
pub fn watch_homes(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HOME_CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let ping = serde_json::to_vec(&MediaLetter::Ping).expect("media letters serialize");
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = state.shutdown.cancelled() => return,
            }
            let relay = &state.media.relay;
            for home in relay.homes() {
                // Only a node nobody serves is gone; a slow answer is not.
                if let Err(Unreachable::NoSuchNode) = relay.bus.request(&home, ping.clone()).await {
                    tracing::info!(node = %home, "a media home's node is gone; its pages here move");
                    relay.moved_from(&home);
                }
            }
        }
    })
}

impl Relay {
    /// Hands a home's message to the connection of the relayed join it is
    /// for; dropped when that join is over.
    fn tell(&self, join: Uuid, message: ServerMessage) {
        if let Some(relayed) = self.joins.lock().expect("joins lock").get(&join) {
            // A closed connection is leaving its joins; nothing to tell it.
            let _ = relayed.link.send((join, message));
        }
    }

    /// The nodes this node's relayed joins are homed on.
    fn homes(&self) -> HashSet<String> {
        let joins = self.joins.lock().expect("joins lock");
        joins.values().map(|relayed| relayed.home.clone()).collect()
    }

    /// Tells each relayed join homed on `node` that its media moved.
    fn moved_from(&self, node: &str) {
        let joins = self.joins.lock().expect("joins lock");
        for (join, relayed) in joins.iter().filter(|(_, relayed)| relayed.home == node) {
            let closed = ServerMessage::Closed {
                session_id: relayed.session_id.clone(),
                reason: CloseReason::Moved,
            };
            let _ = relayed.link.send((*join, closed));
        }
    }

    fn forget(&self, join: Uuid) {
        self.joins.lock().expect("joins lock").remove(&join);
    }
}

/// How many `media.*` messages of one connection may wait for its media
/// signalling; past that each is refused (`rate_limited`) at once. A page
/// sends a few at a time (a join, its candidates, an answer); only a home
/// that does not answer, or a flood, fills it.
pub const MEDIA_QUEUE: usize = 64;

/// How many bytes of `media.*` messages one connection may have waiting, so
/// a queue of offers the size of a whole room cannot hold much memory. A
/// message that finds the queue empty is always taken (the socket already
/// limits one message to [`super::MAX_MESSAGE_BYTES`]).
pub const MEDIA_QUEUE_BYTES: usize = 1024 * 1024;

/// One live connection's media signalling, run on a task of its own beside
/// the connection: a `media.*` message relayed to a slow home waits there
/// (up to the bus's request timeout), while the connection goes on
/// answering everything else. The messages are handled one at a time, in
/// the order the page sent them; the answers and the homes' and the SFU's
/// signals come back through [`Signalling::next`].
#[derive(Default)]
pub struct Signalling {
    running: Option<Running>,
}

struct Running {
    inbox: mpsc::Sender<Utf8Bytes>,
    outbox: mpsc::UnboundedReceiver<Utf8Bytes>,
    /// Cancelled when the connection closes: messages still queued are moot.
    closing: CancellationToken,
    /// The bytes of the messages in `inbox`, not yet taken by the task.
    queued: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Signalling {
    /// Queues one `media.*` message (its whole text); the task starts with
    /// the first. Returns a refusal for the page when the queue is full.
    pub fn send(
        &mut self,
        state: &AppState,
        caller: &Caller,
        text: Utf8Bytes,
    ) -> Option<Utf8Bytes> {
        let running = self.running.get_or_insert_with(|| {
            let (inbox, inbox_here) = mpsc::channel(MEDIA_QUEUE);
            let (outbox_here, outbox) = mpsc::unbounded_channel();
            let closing = CancellationToken::new();
            let queued = Arc::new(AtomicUsize::new(0));
            let task = tokio::spawn(signal(
                Links::default(),
                state.clone(),
                caller.clone(),
                Queue {
                    inbox: inbox_here,
                    outbox: outbox_here,
                    queued: Arc::clone(&queued),
                },
                closing.clone(),
            ));
            Running {
                inbox,
                outbox,
                closing,
                queued,
                task,
            }
        });
        let len = text.len();
        // Counted before the send, so the task's count down never passes it.
        let before = running.queued.fetch_add(len, Ordering::AcqRel);
        let refusal = if before > 0 && before + len > MEDIA_QUEUE_BYTES {
            Some(queue_full(&text))
        } else {
            match running.inbox.try_send(text) {
                Ok(()) => return None,
                Err(mpsc::error::TrySendError::Full(text)) => Some(queue_full(&text)),
                // The task ended, which only a bug does while the connection
                // lives: say so rather than leave the page waiting.
                Err(mpsc::error::TrySendError::Closed(text)) => {
                    Some(encode(&ServerMessage::Error {
                        session_id: session_id_in(&text),
                        error: unavailable("this connection's media signalling stopped; reconnect"),
                    }))
                }
            }
        };
        running.queued.fetch_sub(len, Ordering::AcqRel);
        refusal
    }

    /// The next message for the page: an answer, a signal or a state.
    /// Pending forever while nothing was sent.
    pub async fn next(&mut self) -> Utf8Bytes {
        match &mut self.running {
            Some(running) => match running.outbox.recv().await {
                Some(message) => message,
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    /// The connection closed: its media leaves every room, here and on the
    /// homes it was relayed to, once the message in hand is done; the
    /// messages queued behind it are dropped.
    pub async fn close(self) {
        if let Some(Running { closing, task, .. }) = self.running {
            closing.cancel();
            let _ = task.await;
        }
    }
}

/// The refusal of a media message that found the connection's queue full.
fn queue_full(text: &str) -> Utf8Bytes {
    encode(&ServerMessage::Error {
        session_id: session_id_in(text),
        error: Refusal::new(
            "rate_limited",
            format!(
                "this connection's media messages waiting for the session's media server \
                 already fill its queue ({MEDIA_QUEUE} messages, {} KiB); send this one \
                 again once they are answered",
                MEDIA_QUEUE_BYTES / 1024
            ),
        ),
    })
}

/// The `session_id` of a message, if it has one (for a refusal).
fn session_id_in(text: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|value| value.get("session_id")?.as_str().map(str::to_owned))
}

/// The task's ends of a connection's media signalling.
struct Queue {
    inbox: mpsc::Receiver<Utf8Bytes>,
    outbox: mpsc::UnboundedSender<Utf8Bytes>,
    /// Counted down as each message is taken ([`Running::queued`]).
    queued: Arc<AtomicUsize>,
}

/// The media signalling task of one connection ([`Signalling`]).
async fn signal(
    mut links: Links,
    state: AppState,
    caller: Caller,
    mut queue: Queue,
    closing: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            biased;
            () = closing.cancelled() => break,
            text = queue.inbox.recv() => match text {
                Some(text) => {
                    queue.queued.fetch_sub(text.len(), Ordering::AcqRel);
                    links.handle(&state, &caller, &text).await
                }
                None => break,
            },
            outgoing = links.next() => links.outgoing(&state, &caller, outgoing).await,
        };
        if let Some(message) = message
            && queue.outbox.send(message).is_err()
        {
            break;
        }
    }
    links.close(&state, &caller).await;
}

/// One live connection's media: the sessions it holds media in, here or
/// relayed to their home on another node, the SFU's signals for each, and
/// each room's on/off states.
pub struct Links {
    /// This connection among all links: who holds a person's media is
    /// decided by it, not by the person alone.
    id: Uuid,
    /// The sessions whose media this connection joined here and has not left.
    joined: HashSet<Id>,
    signals: StreamMap<Id, UnboundedReceiverStream<SignalOut>>,
    states: StreamMap<Id, WatchStream<Members>>,
    /// The sessions whose media this connection holds on another node: that
    /// node, and the join's id there.
    relayed: HashMap<Id, (String, Uuid)>,
    /// The homes' messages for the relayed joins, in the order each sent them.
    told: mpsc::UnboundedSender<Told>,
    told_here: mpsc::UnboundedReceiver<Told>,
}

/// Something for the connection's select loop to pass on: a signal from
/// the SFU, a room's new states, or a home's message. Opaque:
/// [`Links::outgoing`] reads it.
pub struct Outgoing(Pending);

enum Pending {
    Signal(Id, SignalOut),
    States(Id, Members),
    Told(Told),
}

impl Default for Links {
    fn default() -> Self {
        let (told, told_here) = mpsc::unbounded_channel();
        Self {
            id: Uuid::new_v4(),
            joined: HashSet::new(),
            signals: StreamMap::new(),
            states: StreamMap::new(),
            relayed: HashMap::new(),
            told,
            told_here,
        }
    }
}

impl Links {
    /// The next signal, state change or home's message to pass on. Pending
    /// forever while the connection holds no media, so it can sit in a
    /// `select!`.
    pub async fn next(&mut self) -> Outgoing {
        use futures::StreamExt;
        tokio::select! {
            Some((session_id, signal)) = self.signals.next() => Outgoing(Pending::Signal(session_id, signal)),
            Some((session_id, members)) = self.states.next() => Outgoing(Pending::States(session_id, members)),
            Some(told) = self.told_here.recv() => Outgoing(Pending::Told(told)),
        }
    }

    /// Turns what [`Links::next`] gave into a message for the page, if it
    /// still is one.
    pub async fn outgoing(
        &mut self,
        state: &AppState,
        caller: &Caller,
        outgoing: Outgoing,
    ) -> Option<Utf8Bytes> {
        match outgoing.0 {
            Pending::Signal(session_id, signal) => {
                if matches!(signal, SignalOut::Closed { .. }) {
                    // Nothing more comes on this channel; the room is no longer ours.
                    self.joined.remove(&session_id);
                    self.states.remove(&session_id);
                    state
                        .media
                        .forget(&session_id, &caller.user().id, self.id)
                        .await;
                }
                Some(encode(&signal_message(session_id, signal)))
            }
            Pending::States(session_id, members) => {
                Some(encode(&states_message(session_id, members)))
            }
            Pending::Told((join, message)) => {
                // Only the current join of a session speaks to the page.
                let session_id = self
                    .relayed
                    .iter()
                    .find(|(_, (_, current))| *current == join)
                    .map(|(session_id, _)| session_id.clone())?;
                if matches!(message, ServerMessage::Closed { .. }) {
                    self.relayed.remove(&session_id);
                    state.media.relay.forget(join);
                }
                Some(encode(&message))
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
                return Some(encode(&ServerMessage::Error {
                    session_id: session_id_in(text),
                    error: Refusal::new("invalid", format!("malformed message: {message}")),
                }));
            }
        };
        let raw_session_id = message.session_id().to_owned();
        match self.apply(state, &Person::of(caller), message).await {
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
        person: &Person,
        message: ClientMessage,
    ) -> Result<Option<Utf8Bytes>, Refusal> {
        let session_id = Id::parse("session_id", message.session_id()).map_err(ApiError::from)?;
        match message {
            ClientMessage::Config { .. } => {
                seat(state, &person.id, &session_id).await?;
                return Ok(Some(encode(&ServerMessage::Config {
                    ice_servers: state
                        .media
                        .ice_servers
                        .for_person(&person.id, SystemTime::now()),
                    session_id,
                })));
            }
            ClientMessage::Join { offer, sources, .. } => {
                return self
                    .join(state, person, &session_id, offer, sources)
                    .await
                    .map(Some);
            }
            _ => {}
        }
        let leaving = matches!(message, ClientMessage::Leave { .. });
        if let Some((home, join)) = self.relayed.get(&session_id).cloned() {
            // The home answers `closed` (left) to a leave, which ends the join.
            let answer = relay(state, &home, join, person, message).await;
            return match answer {
                Ok(answer) => Ok(answer?.map(|message| encode(&message))),
                // Nobody takes the home's letters: its node is gone, and the
                // page's media with it. The page joins again, elsewhere.
                Err(Unreachable::NoSuchNode) => {
                    self.relayed.remove(&session_id);
                    state.media.relay.forget(join);
                    Ok(Some(encode(&ServerMessage::Closed {
                        session_id,
                        reason: CloseReason::Moved,
                    })))
                }
                Err(error) => {
                    if leaving {
                        self.relayed.remove(&session_id);
                        state.media.relay.forget(join);
                    }
                    Err(unavailable(error))
                }
            };
        }
        if !self.joined.contains(&session_id) {
            // Leaving media one does not hold changes nothing.
            return if leaving {
                Ok(None)
            } else {
                Err(Refusal::not_in_media())
            };
        }
        if leaving {
            self.joined.remove(&session_id);
        }
        at_home(state, person, self.id, &session_id, message).await?;
        Ok(None)
    }

    async fn join(
        &mut self,
        state: &AppState,
        person: &Person,
        session_id: &Id,
        offer: String,
        sources: Sources,
    ) -> Result<Utf8Bytes, Refusal> {
        let (session, elsewhere) = home_of(state, person, session_id).await?;
        let Some(home) = elsewhere else {
            return self
                .join_here(state, &session, person, offer, sources)
                .await;
        };
        let join = Uuid::new_v4();
        state.media.relay.joins.lock().expect("joins lock").insert(
            join,
            RelayedJoin {
                link: self.told.clone(),
                session_id: session_id.clone(),
                home: home.node_id.clone(),
            },
        );
        let message = ClientMessage::Join {
            session_id: session_id.to_string(),
            offer: offer.clone(),
            sources: sources.clone(),
        };
        let answer = match relay(state, &home.node_id, join, person, message).await {
            Ok(answer) => answer,
            Err(Unreachable::NoSuchNode) => {
                // Nobody takes the home's letters: its node is gone. The
                // session's media moves here, unless another node took it
                // first.
                state.media.relay.forget(join);
                let relay = &state.media.relay;
                let now = state
                    .app
                    .take_over_media_home(&person.id, session_id, &home.node_id, &relay.here)
                    .await
                    .map_err(ApiError::from)?;
                if now.node_id != relay.here.node_id {
                    return Err(unavailable("the session's media moved to another node"));
                }
                return self
                    .join_here(state, &session, person, offer, sources)
                    .await;
            }
            Err(error) => {
                state.media.relay.forget(join);
                return Err(unavailable(error));
            }
        };
        let answer = match answer {
            Ok(Some(answer)) => answer,
            Ok(None) => {
                state.media.relay.forget(join);
                return Err(unavailable("the home gave no answer"));
            }
            Err(refusal) => {
                state.media.relay.forget(join);
                return Err(refusal);
            }
        };
        // A join here before (another home then) gives way to this one.
        self.leave_here(state, person, session_id).await;
        if let Some((_, earlier)) = self
            .relayed
            .insert(session_id.clone(), (home.node_id, join))
        {
            state.media.relay.forget(earlier);
        }
        Ok(encode(&answer))
    }

    async fn join_here(
        &mut self,
        state: &AppState,
        session: &Session,
        person: &Person,
        offer: String,
        sources: Sources,
    ) -> Result<Utf8Bytes, Refusal> {
        let (joined, members) = join_here(state, session, person, self.id, offer, sources).await?;
        let session_id = &session.id;
        // A join relayed to another home before gives way to this one.
        if let Some((home, join)) = self.relayed.remove(session_id) {
            state.media.relay.forget(join);
            let leave = ClientMessage::Leave {
                session_id: session_id.to_string(),
            };
            let _ = relay(state, &home, join, person, leave).await;
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

    /// Lets go of this connection's media of the session on this node, if
    /// it holds any.
    async fn leave_here(&mut self, state: &AppState, person: &Person, session_id: &Id) {
        if self.joined.remove(session_id) {
            self.signals.remove(session_id);
            self.states.remove(session_id);
            state
                .media
                .leave(session_id, &person.id, Some(self.id))
                .await;
        }
    }

    /// The connection closed: its media leaves every room, here and on
    /// the homes it was relayed to.
    pub async fn close(&mut self, state: &AppState, caller: &Caller) {
        let person = Person::of(caller);
        for session_id in std::mem::take(&mut self.joined) {
            state
                .media
                .leave(&session_id, &person.id, Some(self.id))
                .await;
        }
        self.signals.clear();
        self.states.clear();
        for (session_id, (home, join)) in std::mem::take(&mut self.relayed) {
            state.media.relay.forget(join);
            let leave = ClientMessage::Leave {
                session_id: session_id.to_string(),
            };
            if let Err(error) = relay(state, &home, join, &person, leave).await {
                tracing::debug!(%error, session = %session_id, "the media home did not hear a page close");
            }
        }
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

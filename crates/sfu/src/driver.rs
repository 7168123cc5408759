//! The media thread: one OS thread that owns the single UDP socket and every
//! [`Room`], and the [`SfuHandle`] the rest of the server reaches it through.
//!
//! ```text
//!  live WebSocket ──SfuHandle (mpsc + wake)──▶ ┌──── "lockin-media" thread ────┐
//!  handlers       ◀──SignalOut (mpsc)───────── │ rooms: RoomId → Room           │ ◀──UDP──▶ browsers
//!                                              │ routes: addr → (room, peer)    │
//!                                              └────────────────────────────────┘
//! ```
//!
//! The thread waits in `poll(2)` for whichever comes first — a datagram, a
//! command (an `eventfd` the handle writes after queueing it), or the
//! earliest room timeout — feeds it to the room concerned, and drains that
//! room's outputs: datagrams are sent, signals go to the peer's channel.
//!
//! **Why a thread of its own and not a task.** str0m paces each subscriber's
//! video: it names the instant the next packet may leave, often less than a
//! millisecond ahead. tokio's timer rounds every wait up to a whole
//! millisecond, and a blocking wait on a shared runtime stalls the web work
//! beside it. `poll(2)` (as `ppoll`) waits to the microsecond and still wakes
//! at once for a datagram, and the thread's CPU time is the media's alone.
//!
//! **Rooms are only ever touched from this thread**, so they need no locks;
//! everything else talks to them through commands. The one exception is
//! borrowed, not shared: on a machine with more than one core, a frame for
//! [`FANOUT_SPLIT`](crate::room::FANOUT_SPLIT) or more subscribers is
//! written to half of them on a second thread ([`FANOUT_THREAD`], a rayon
//! pool of one) while this thread writes to the other half, each half's
//! peers lent to one thread for that step only.
//!
//! Only due rooms are woken: every room's next timeout is kept in time order
//! ([`RoomTimers`]), so the thread finds the earliest deadline and the rooms
//! due at it without looking at the others.
//!
//! Datagrams come in and go out in batches, through `quinn-udp`: one
//! system call reads up to [`RECEIVE_BATCH`] datagrams (each may hold several
//! the kernel coalesced, GRO). Each is fed to its room, and what the room
//! outputs for it is sent before the next is looked at, grouped by
//! destination into GSO batches ([`Outbox`]) — one system call per batch,
//! not per datagram. Only a read that fills every buffer (a backlog) is
//! handled whole before anything is sent, in bigger batches: sending after
//! every read made each frame in it wait for the others (docs/PERFORMANCE.md).
//!
//! A datagram's room and peer are found from its source address
//! ([`Routes`]); an address not seen before is offered to each room's
//! [`Room::accepts`] (which asks each peer's `Rtc`, by ICE credentials for
//! STUN) and remembered once claimed. An unknown address may ask only so
//! often ([`UnknownSourceLimit`]); over that its datagrams are dropped
//! before the fan-out.

use std::collections::HashMap;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::candidates::HostCandidates;
use crate::error::SfuError;
use crate::outbox::Outbox;
use crate::room::{Room, RoomConfig, RoomInput, RoomOutput};
use crate::routes::{Route, Routes, UnknownSourceLimit};
use crate::signal::{CloseReason, MediaSource, PeerId, RoomId, SignalIn, SignalOut, Sources};
use crate::timers::RoomTimers;

/// The media thread's name (what `top -H` and `/proc/<pid>/task/*/comm`
/// show).
pub const MEDIA_THREAD: &str = "lockin-media";

/// The thread that takes half of a big fan-out ([`RoomConfig::fanout`]).
pub const FANOUT_THREAD: &str = "lockin-media-2";

/// How long the thread waits at most when nothing is due, so a clock that
/// jumps cannot stall it and a handle dropped without a word is noticed.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// How long a send waits for room in the socket's buffer before the
/// datagram is dropped (as the network would).
const SEND_WAIT: Duration = Duration::from_millis(100);

/// Commands waiting for the thread; senders wait when it is this far behind.
const COMMAND_QUEUE: usize = 1024;

/// A datagram larger than this is not WebRTC (str0m keeps below 1200 bytes).
const MAX_DATAGRAM: usize = 2048;

/// Receive buffers read by one system call. Each holds one datagram, or
/// (with GRO) several from one source.
pub const RECEIVE_BATCH: usize = 8;

/// How the SFU is set up: `--rtc-udp`, `--public-ip` and the caps on a
/// peer's media lines.
#[derive(Debug, Clone, PartialEq)]
pub struct SfuConfig {
    /// The one UDP socket all media goes through.
    pub udp_listen: SocketAddr,
    /// The address browsers reach the socket at, when that is not the
    /// machine's own (behind a 1:1 NAT).
    pub public_ip: Option<IpAddr>,
    /// Every room's [`RoomConfig::max_send_lines`].
    pub max_send_lines: usize,
    /// Every room's [`RoomConfig::max_media_lines`].
    pub max_media_lines: usize,
    /// Big fan-outs split with a second thread ([`FANOUT_THREAD`]) on a
    /// machine with more than one core. Off: everything on the media
    /// thread (what `lockin-bench sfu --capacity` measures: one core).
    pub fanout_thread: bool,
}

impl Default for SfuConfig {
    fn default() -> Self {
        let room = RoomConfig::new(Vec::new());
        Self {
            udp_listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 50000),
            public_ip: None,
            max_send_lines: room.max_send_lines,
            max_media_lines: room.max_media_lines,
            fanout_thread: true,
        }
    }
}

/// A join: who, with which browser offer.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinRequest {
    /// The person's id. Joining again with the same id replaces the earlier
    /// connection, whose channel gets [`SignalOut::Closed`] with
    /// [`CloseReason::Replaced`].
    pub peer_id: PeerId,
    /// Shown to the others next to this person's tracks.
    pub name: String,
    /// The browser's offer (`RTCSessionDescription.sdp`).
    pub offer_sdp: String,
    /// The browser's names for its own media lines.
    pub sources: Sources,
    /// The session's seat limit, checked again here so media can never hold
    /// more people than the session.
    pub seat_limit: Option<usize>,
    /// What the host holds of this person's media from an earlier
    /// connection ([`RoomInput::AddPeer`]'s `held`).
    pub held: Vec<MediaSource>,
}

/// A join that was accepted.
#[derive(Debug)]
pub struct Joined {
    /// The answer for the browser (`setRemoteDescription({type:"answer"})`).
    pub answer_sdp: String,
    /// Everything else the room has to say to this browser, in order, after
    /// the answer. It ends after [`SignalOut::Closed`], or when the SFU stops.
    ///
    /// Unbounded on purpose: signals are few and small, none may be dropped,
    /// and the media task must never wait on a slow WebSocket.
    pub signals: mpsc::UnboundedReceiver<SignalOut>,
}

/// What a room's drain left for the media thread's caller.
#[derive(Default)]
struct Drained {
    /// The answer to the joining peer's offer.
    answer: Option<String>,
    /// Holds let go, by whose.
    released: Vec<(PeerId, Vec<MediaSource>)>,
}

/// The server's way to the media thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SfuHandle {
    commands: mpsc::Sender<Command>,
    wake: Wake,
}

/// An `eventfd` the media thread waits on beside its socket: written after
/// a command is queued, or to make it look at its stop flag.
#[derive(Debug, Clone)]
struct Wake(Arc<OwnedFd>);

impl Wake {
    fn new() -> io::Result<Self> {
        let fd = rustix::event::eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?;
        Ok(Self(Arc::new(fd)))
    }

    fn wake(&self) {
        // Only fails when the counter would overflow, and then the thread is
        // woken already.
        let _ = rustix::io::write(&*self.0, &1u64.to_ne_bytes());
    }

    /// Resets the counter once the thread is awake.
    fn clear(&self) {
        let mut count = [0u8; 8];
        let _ = rustix::io::read(&*self.0, &mut count);
    }
}

#[derive(Debug)]
enum Command {
    Join {
        room: RoomId,
        request: JoinRequest,
        reply: oneshot::Sender<Result<Joined, SfuError>>,
    },
    Signal {
        room: RoomId,
        peer: PeerId,
        signal: SignalIn,
        reply: oneshot::Sender<Result<Vec<MediaSource>, SfuError>>,
    },
    Leave {
        room: RoomId,
        peer: PeerId,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    CloseRoom {
        room: RoomId,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    Expel {
        room: RoomId,
        peer: PeerId,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    Hold {
        room: RoomId,
        peer: PeerId,
        sources: Vec<MediaSource>,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
}

impl SfuHandle {
    /// Joins a person's browser to a room (made on first use), answering its
    /// offer.
    pub async fn join(&self, room: RoomId, request: JoinRequest) -> Result<Joined, SfuError> {
        self.ask(|reply| Command::Join {
            room,
            request,
            reply,
        })
        .await
    }

    /// Passes on a signal from a joined browser. Answers the sources whose
    /// holds it let go (a [`SignalIn::Sending`] saying them on after off),
    /// for the caller to forget: most often none.
    pub async fn signal(
        &self,
        room: RoomId,
        peer: PeerId,
        signal: SignalIn,
    ) -> Result<Vec<MediaSource>, SfuError> {
        self.ask(|reply| Command::Signal {
            room,
            peer,
            signal,
            reply,
        })
        .await
    }

    /// Takes a person's media out of a room: their tracks stop for everyone
    /// at once, and their channel gets [`SignalOut::Closed`] with
    /// [`CloseReason::Left`]. Leaving a room one is not in is fine.
    pub async fn leave(&self, room: RoomId, peer: PeerId) -> Result<(), SfuError> {
        self.ask(|reply| Command::Leave { room, peer, reply }).await
    }

    /// Takes out the media of someone the host removed: as [`SfuHandle::leave`],
    /// with [`CloseReason::Removed`] on their channel.
    pub async fn expel(&self, room: RoomId, peer: PeerId) -> Result<(), SfuError> {
        self.ask(|reply| Command::Expel { room, peer, reply }).await
    }

    /// Stops forwarding `sources` of a person's until their browser turns
    /// them off and on again ([`RoomInput::Hold`]); their channel gets
    /// [`SignalOut::Held`]. `UnknownPeer` when they hold no media there.
    pub async fn hold(
        &self,
        room: RoomId,
        peer: PeerId,
        sources: Vec<MediaSource>,
    ) -> Result<(), SfuError> {
        self.ask(|reply| Command::Hold {
            room,
            peer,
            sources,
            reply,
        })
        .await
    }

    /// Ends a room (the session ended): everyone's channel gets
    /// [`SignalOut::Closed`] with [`CloseReason::RoomClosed`].
    pub async fn close_room(&self, room: RoomId) -> Result<(), SfuError> {
        self.ask(|reply| Command::CloseRoom { room, reply }).await
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, SfuError>>) -> Command,
    ) -> Result<T, SfuError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| SfuError::Stopped)?;
        self.wake.wake();
        answer.await.map_err(|_| SfuError::Stopped)?
    }
}

/// The SFU: bound, not yet running. [`Sfu::spawn`] starts its thread.
pub struct Sfu {
    socket: UdpSocket,
    /// `quinn-udp`'s view of the socket: batched receive (GRO) and send
    /// (GSO), and what the kernel supports of them.
    udp: UdpSocketState,
    local_addr: SocketAddr,
    candidates: HostCandidates,
    /// What every room starts from; a join sets its seat limit.
    room_config: RoomConfig,
    /// [`SfuConfig::fanout_thread`].
    fanout_thread: bool,
    commands: mpsc::Receiver<Command>,
    handle: SfuHandle,
}

impl Sfu {
    /// Binds the UDP socket and works out the host candidates.
    pub fn bind(config: SfuConfig) -> io::Result<Self> {
        let socket = UdpSocket::bind(config.udp_listen)?;
        socket.set_nonblocking(true)?;
        let udp = UdpSocketState::new((&socket).into())?;
        let local_addr = socket.local_addr()?;
        let candidates = HostCandidates::discover(local_addr, config.public_ip)?;
        info!(%local_addr, candidates = ?candidates.addrs(), "media UDP socket bound");
        let (sender, commands) = mpsc::channel(COMMAND_QUEUE);
        Ok(Self {
            socket,
            udp,
            local_addr,
            room_config: RoomConfig {
                max_send_lines: config.max_send_lines,
                max_media_lines: config.max_media_lines,
                ..RoomConfig::new(candidates.addrs().to_vec())
            },
            fanout_thread: config.fanout_thread,
            candidates,
            commands,
            handle: SfuHandle {
                commands: sender,
                wake: Wake::new()?,
            },
        })
    }

    /// The bound socket's address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The addresses put in ICE candidates.
    pub fn candidates(&self) -> &HostCandidates {
        &self.candidates
    }

    pub fn handle(&self) -> SfuHandle {
        self.handle.clone()
    }

    /// Starts the media thread ([`MEDIA_THREAD`]) and returns once it runs.
    /// It runs until
    /// [`SfuThread::stop`] (or the [`SfuThread`] is dropped) or every
    /// [`SfuHandle`] is gone, then lets everyone go
    /// ([`CloseReason::RoomClosed`]).
    pub fn spawn(self) -> io::Result<SfuThread> {
        let Sfu {
            socket,
            udp,
            candidates,
            mut room_config,
            fanout_thread,
            commands,
            handle,
            ..
        } = self;
        if fanout_thread && std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(|_| FANOUT_THREAD.into())
                .build()
                .map_err(io::Error::other)?;
            // Runs once, so the thread is there under its name on return.
            pool.install(|| ());
            room_config.fanout = Some(Arc::new(pool));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let task = Task {
            socket,
            udp,
            candidates,
            room_config,
            commands,
            // The thread keeps no handle, or it would never see the last one
            // go; only the wake.
            wake: handle.wake.clone(),
            stop: Arc::clone(&stop),
            rooms: HashMap::new(),
            timers: RoomTimers::new(),
            routes: Routes::new(UnknownSourceLimit::default()),
            signals: HashMap::new(),
            outbox: Outbox::new(),
        };
        // Returns once the thread runs (under its name, which the thread
        // itself sets as it starts).
        let (started, running) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name(MEDIA_THREAD.into())
            .spawn(move || {
                let _ = started.send(());
                task.run();
            })?;
        let _ = running.recv();
        Ok(SfuThread {
            wake: handle.wake,
            stop,
            thread: Some(thread),
        })
    }
}

/// The running media thread.
#[derive(Debug)]
pub struct SfuThread {
    wake: Wake,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SfuThread {
    /// Stops the thread (every room is closed, everyone told
    /// [`CloseReason::RoomClosed`]) and waits for it to end.
    pub async fn stop(mut self) {
        self.ask_to_stop();
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    fn ask_to_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.wake();
    }
}

impl Drop for SfuThread {
    fn drop(&mut self) {
        self.ask_to_stop();
    }
}

/// The running SFU: everything the thread owns.
struct Task {
    socket: UdpSocket,
    udp: UdpSocketState,
    candidates: HostCandidates,
    /// What every room starts from; a join sets its seat limit.
    room_config: RoomConfig,
    commands: mpsc::Receiver<Command>,
    wake: Wake,
    stop: Arc<AtomicBool>,
    rooms: HashMap<RoomId, Room>,
    /// When each room next wants [`RoomInput::Timeout`]: set after every
    /// drain of it, forgotten with it.
    timers: RoomTimers,
    /// Whose datagrams come from which address, learned as rooms claim them,
    /// and the limit on addresses nobody has.
    routes: Routes,
    /// Each joined peer's signal channel.
    signals: HashMap<(RoomId, PeerId), mpsc::UnboundedSender<SignalOut>>,
    /// Datagrams to send once everything that came in at once is handled.
    outbox: Outbox,
}

impl Task {
    fn run(mut self) {
        // Room for as many datagrams as GRO puts in one buffer.
        let buffer_size = MAX_DATAGRAM * self.udp.gro_segments().max(1);
        let mut buffers = vec![vec![0u8; buffer_size]; RECEIVE_BATCH];
        let mut meta = [RecvMeta::default(); RECEIVE_BATCH];
        loop {
            let deadline = self.next_deadline(Instant::now());
            let ready = match self.wait(deadline) {
                Ok(ready) => ready,
                Err(e) => {
                    warn!(error = %e, "waiting on the media socket failed");
                    Ready::default()
                }
            };
            if ready.woken {
                self.wake.clear();
            }
            if self.stop.load(Ordering::Acquire) || !self.take_commands() {
                break;
            }
            if ready.datagrams {
                let mut slices: Vec<IoSliceMut<'_>> =
                    buffers.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                match self.udp.recv((&self.socket).into(), &mut slices, &mut meta) {
                    Ok(count) => {
                        let now = Instant::now();
                        for (buffer, meta) in buffers.iter().zip(&meta).take(count) {
                            let stride = if meta.stride == 0 {
                                meta.len
                            } else {
                                meta.stride
                            };
                            for datagram in buffer[..meta.len].chunks(stride.max(1)) {
                                self.on_datagram(now, meta.addr, datagram);
                                // What it made leaves before the next is
                                // looked at, so a frame waits for no
                                // other; but a full read means a backlog,
                                // which bigger batches drain sooner.
                                if count < RECEIVE_BATCH {
                                    self.flush();
                                }
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // Linux reports ICMP errors for earlier sends here; the
                    // socket itself is fine.
                    Err(e) => debug!(error = %e, "media socket receive error"),
                }
            }
            self.fire_timeouts(Instant::now());
            self.flush();
        }

        let now = Instant::now();
        let rooms: Vec<RoomId> = self.rooms.keys().cloned().collect();
        for room in rooms {
            self.feed(now, &room, RoomInput::Close).ok();
        }
        self.flush();
        info!("media server stopped");
    }

    /// Waits until a datagram or a wake comes, or `deadline` passes, to
    /// the microsecond (`ppoll`).
    fn wait(&self, deadline: Instant) -> io::Result<Ready> {
        let timeout = timespec(deadline.saturating_duration_since(Instant::now()));
        let mut fds = [
            PollFd::new(&self.socket, PollFlags::IN),
            PollFd::new(&*self.wake.0, PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(Ready::default()),
            Err(e) => return Err(e.into()),
        }
        // An error on the socket (an ICMP report) is read like a datagram.
        let ready = |fd: &PollFd<'_>| !fd.revents().is_empty();
        Ok(Ready {
            datagrams: ready(&fds[0]),
            woken: ready(&fds[1]),
        })
    }

    /// Handles every queued command. False once every handle is gone.
    fn take_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(command) => self.on_command(Instant::now(), command),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn next_deadline(&self, now: Instant) -> Instant {
        let idle = now + IDLE_WAKE;
        self.timers.next().map_or(idle, |at| at.min(idle))
    }

    fn on_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Join {
                room,
                request,
                reply,
            } => {
                let joined = self.join(now, room, request);
                let _ = reply.send(joined);
            }
            Command::Signal {
                room,
                peer,
                signal,
                reply,
            } => {
                let result = self.signal(now, &room, peer, signal);
                let _ = reply.send(result);
            }
            Command::Leave { room, peer, reply } => {
                let result = match self.feed(now, &room, RoomInput::RemovePeer { peer_id: peer }) {
                    Err(SfuError::UnknownPeer) => Ok(()),
                    other => other,
                };
                let _ = reply.send(result);
            }
            Command::Expel { room, peer, reply } => {
                let result = match self.feed(now, &room, RoomInput::Expel { peer_id: peer }) {
                    Err(SfuError::UnknownPeer) => Ok(()),
                    other => other,
                };
                let _ = reply.send(result);
            }
            Command::Hold {
                room,
                peer,
                sources,
                reply,
            } => {
                let result = self.feed(
                    now,
                    &room,
                    RoomInput::Hold {
                        peer_id: peer,
                        sources,
                    },
                );
                let _ = reply.send(result);
            }
            Command::CloseRoom { room, reply } => {
                let result = match self.feed(now, &room, RoomInput::Close) {
                    Err(SfuError::UnknownPeer) => Ok(()),
                    other => other,
                };
                let _ = reply.send(result);
            }
        }
    }

    fn join(
        &mut self,
        now: Instant,
        room_id: RoomId,
        request: JoinRequest,
    ) -> Result<Joined, SfuError> {
        let JoinRequest {
            peer_id,
            name,
            offer_sdp,
            sources,
            seat_limit,
            held,
        } = request;
        let room = self.rooms.entry(room_id.clone()).or_insert_with(|| {
            let config = RoomConfig {
                seat_limit,
                ..self.room_config.clone()
            };
            Room::new(config, now)
        });
        room.set_seat_limit(seat_limit);
        let result = room.handle_input(
            now,
            RoomInput::AddPeer {
                peer_id: peer_id.clone(),
                name,
                offer_sdp,
                sources,
                held,
            },
        );

        let key = (room_id.clone(), peer_id.clone());
        let replaced = match &result {
            Ok(()) => true,
            // A join refused before the old connection was touched keeps it.
            Err(_) => !room.contains(&peer_id),
        };
        if replaced {
            if let Some(old) = self.signals.remove(&key) {
                let _ = old.send(SignalOut::Closed {
                    reason: CloseReason::Replaced,
                });
            }
            self.routes.forget_peer(&room_id, &peer_id);
        }
        let receiver = result.is_ok().then(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            self.signals.insert(key, sender);
            receiver
        });

        let answer = self.drain(&room_id, Some(&peer_id)).answer;
        result?;
        let answer_sdp = answer.ok_or_else(|| SfuError::bad("offer", "the room gave no answer"))?;
        Ok(Joined {
            answer_sdp,
            signals: receiver.expect("made for an accepted join"),
        })
    }

    fn on_datagram(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) {
        let destination = self.candidates.destination_for(source);
        let mut route = self.routes.route(now, source);
        if let Route::Peer(room, peer) = route {
            let input = RoomInput::Receive {
                peer_id: Some(peer),
                source,
                destination,
                datagram,
            };
            if self.feed(now, &room, input).is_ok() {
                return;
            }
            // A wrong guess: the address is unknown again, and the lookup
            // below is limited like any other.
            self.routes.forget(source);
            route = self.routes.route(now, source);
        }
        if route == Route::Drop {
            return;
        }
        let claimed = self.rooms.iter().find_map(|(room_id, room)| {
            let peer = room.accepts(source, destination, datagram)?;
            Some((room_id.clone(), peer.clone()))
        });
        let Some((room, peer)) = claimed else {
            // Often a browser's first check arriving before its join is
            // processed; it will try again.
            debug!(%source, "datagram nobody claims");
            return;
        };
        self.routes.claim(source, room.clone(), peer.clone());
        let input = RoomInput::Receive {
            peer_id: Some(peer),
            source,
            destination,
            datagram,
        };
        if let Err(e) = self.feed(now, &room, input) {
            debug!(%source, error = %e, "claimed datagram refused");
        }
    }

    /// Feeds [`RoomInput::Timeout`] to the rooms due by `now`, and to no
    /// other.
    fn fire_timeouts(&mut self, now: Instant) {
        for room in self.timers.due(now) {
            if let Err(e) = self.feed(now, &room, RoomInput::Timeout) {
                warn!(%room, error = %e, "room timeout failed");
            }
        }
    }

    /// One input to a room, and the drain of its outputs. A room that does
    /// not exist has nobody in it.
    fn feed(
        &mut self,
        now: Instant,
        room_id: &RoomId,
        input: RoomInput<'_>,
    ) -> Result<(), SfuError> {
        self.feed_drained(now, room_id, input).map(drop)
    }

    /// As [`Task::feed`], with what the drain left.
    fn feed_drained(
        &mut self,
        now: Instant,
        room_id: &RoomId,
        input: RoomInput<'_>,
    ) -> Result<Drained, SfuError> {
        let Some(room) = self.rooms.get_mut(room_id) else {
            return Err(SfuError::UnknownPeer);
        };
        let result = room.handle_input(now, input);
        let drained = self.drain(room_id, None);
        result.map(|()| drained)
    }

    /// A peer's signal, fed to its room: the holds it let go, if any.
    fn signal(
        &mut self,
        now: Instant,
        room_id: &RoomId,
        peer_id: PeerId,
        signal: SignalIn,
    ) -> Result<Vec<MediaSource>, SfuError> {
        let input = RoomInput::Signal {
            peer_id: peer_id.clone(),
            signal,
        };
        Ok(self
            .feed_drained(now, room_id, input)?
            .released
            .into_iter()
            .filter(|(whose, _)| *whose == peer_id)
            .flat_map(|(_, sources)| sources)
            .collect())
    }

    /// Takes a room's outputs: datagrams are queued for sending, signals go
    /// to their peers, gone peers' channels are closed, the room's timeout
    /// is set. An empty room is dropped. Returns the answer to `joining`'s
    /// offer, if there is one, and the holds let go.
    fn drain(&mut self, room_id: &RoomId, joining: Option<&PeerId>) -> Drained {
        let mut drained = Drained::default();
        let Some(room) = self.rooms.get_mut(room_id) else {
            return drained;
        };

        loop {
            match room.poll_output() {
                RoomOutput::Timeout(at) => {
                    self.timers.set(room_id, at);
                    break;
                }
                RoomOutput::Transmit {
                    destination, bytes, ..
                } => self.outbox.push(destination, bytes),
                RoomOutput::Signal { peer_id, signal } => {
                    if drained.answer.is_none()
                        && joining == Some(&peer_id)
                        && let SignalOut::Answer { sdp } = signal
                    {
                        drained.answer = Some(sdp);
                        continue;
                    }
                    if let Some(channel) = self.signals.get(&(room_id.clone(), peer_id)) {
                        // A closed channel means the page is gone; the server
                        // will say so with a leave.
                        let _ = channel.send(signal);
                    }
                }
                RoomOutput::Released { peer_id, sources } => {
                    drained.released.push((peer_id, sources));
                }
                // Not passed on to browsers yet: the live protocol has no
                // message for it.
                RoomOutput::ActiveSpeakers { speakers } => {
                    debug!(room = %room_id, ?speakers, "active speakers");
                }
                RoomOutput::PeerGone { peer_id, reason } => {
                    let key = (room_id.clone(), peer_id);
                    if let Some(channel) = self.signals.remove(&key) {
                        let _ = channel.send(SignalOut::Closed { reason });
                    }
                    self.routes.forget_peer(room_id, &key.1);
                }
            }
        }
        if room.is_empty() {
            self.rooms.remove(room_id);
            self.timers.forget(room_id);
        }
        drained
    }

    fn flush(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        for batch in self.outbox.take_batches(self.udp.max_gso_segments()) {
            let segments = batch.segments();
            let segment_size = (segments > 1).then_some(batch.segment_size);
            let sent = self.send(batch.destination, &batch.contents, segment_size);
            let Err(e) = sent else {
                continue;
            };
            if segments == 1 {
                debug!(destination = %batch.destination, error = %e, "media send failed");
                continue;
            }
            // The kernel or the interface would not take the batch whole
            // (quinn-udp then stops batching): one by one instead.
            debug!(destination = %batch.destination, error = %e, "batched send failed; sending singly");
            for datagram in batch.datagrams() {
                if let Err(e) = self.send(batch.destination, datagram, None) {
                    debug!(destination = %batch.destination, error = %e, "media send failed");
                }
            }
        }
    }

    /// Sends `contents` to `destination`: one datagram, or with
    /// `segment_size` several of that size end to end (GSO). Waits up to
    /// [`SEND_WAIT`] for room in the socket's buffer.
    fn send(
        &self,
        destination: SocketAddr,
        contents: &[u8],
        segment_size: Option<usize>,
    ) -> io::Result<()> {
        let transmit = Transmit {
            destination,
            ecn: None,
            contents,
            segment_size,
            src_ip: None,
        };
        let give_up = Instant::now() + SEND_WAIT;
        loop {
            match self.udp.try_send((&self.socket).into(), &transmit) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let left = timespec(left);
            let mut fds = [PollFd::new(&self.socket, PollFlags::OUT)];
            match rustix::event::poll(&mut fds, Some(&left)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A wait for `poll(2)`.
fn timespec(wait: Duration) -> Timespec {
    Timespec {
        tv_sec: wait.as_secs() as _,
        tv_nsec: wait.subsec_nanos() as _,
    }
}

/// What woke the media thread.
#[derive(Debug, Default, Clone, Copy)]
struct Ready {
    /// The socket has something to read.
    datagrams: bool,
    /// A command was queued, or the thread is asked to stop.
    woken: bool,
}

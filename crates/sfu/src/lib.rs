//! The media server of Lock In: an SFU (selective forwarding unit) built on
//! [str0m](https://docs.rs/str0m), embedded in `lockin serve`.
//!
//! Each browser in a session sends its camera, microphone and screen once,
//! to the server; the server forwards each track to everyone else in the
//! session without decoding it.
//!
//! # Layout
//!
//! - [`room`]: a sans-IO [`Room`] per session: its peers (one str0m `Rtc`
//!   each, found by id or key through maps), routing of media between them
//!   through each published track's subscriber list, renegotiation as
//!   people arrive and leave, keyframe relay, per-subscriber bandwidth
//!   estimation, simulcast layer choice and who is speaking. Input in,
//!   output out, time passed in.
//! - `peer` (private): the state of one peer — what it publishes, what it is
//!   forwarded, where its negotiation stands.
//! - `layers` (private): simulcast layer rates and the choice of layer.
//! - `speakers` (private): who is speaking, from the audio level on the
//!   microphones' packets, with hysteresis.
//! - [`signal`]: the signalling values exchanged with browsers
//!   ([`SignalIn`], [`SignalOut`], [`TrackInfo`]) and the ids.
//! - [`routes`]: whose a datagram is, by source address, and the limit on
//!   addresses nobody has, checked before a datagram is offered to every
//!   room.
//! - [`timers`]: each room's next timeout in time order ([`RoomTimers`]), so
//!   the task wakes only the rooms that are due.
//! - [`outbox`]: the datagrams one step of the task sends, grouped by
//!   destination into batches of equal-sized datagrams, each sent with one
//!   system call (GSO, through `quinn-udp`).
//! - [`candidates`]: the ICE host candidates of the one UDP socket, and which
//!   one a datagram arrived on.
//! - [`driver`]: the media thread that owns the UDP socket and every room,
//!   and the [`SfuHandle`] the server talks to it through.
//! - [`error`]: the one error type, [`SfuError`].
//! - [`client`]: the other end — a sans-IO [`ClientPeer`] (one str0m `Rtc`
//!   acting as a participant, as a browser does) and the one tokio
//!   [`ClientDriver`] that runs it on a UDP socket of its own. The
//!   assistant's worker joins rooms with it; the server's tests and
//!   `lockin-bench sfu` stand in for browsers with it.
//!
//! The synthetic participants that load this SFU (and Janus, to compare)
//! live in the `bench` crate (`lockin-bench sfu`), outside the product; they
//! only decide what to send and tally what arrives, through [`client`].
//!
//! docs/MEDIA.md describes the design and the signalling messages on the
//! live WebSocket.

pub mod candidates;
pub mod client;
pub mod driver;
pub mod error;
mod layers;
pub mod outbox;
mod peer;
pub mod room;
pub mod routes;
pub mod signal;
mod speakers;
pub mod timers;

pub use candidates::HostCandidates;
pub use client::{ClientDriver, ClientEvent, ClientPeer};

pub use driver::{
    FANOUT_THREAD, JoinRequest, Joined, MEDIA_THREAD, Sfu, SfuConfig, SfuHandle, SfuThread,
};
pub use error::SfuError;
pub use outbox::{Batch, Outbox};
pub use room::{Room, RoomConfig, RoomInput, RoomOutput};
pub use routes::{Route, Routes, UnknownSourceLimit};
pub use signal::{
    CloseReason, IceServer, MediaSource, PeerId, RoomId, SignalIn, SignalOut, Sources, TrackInfo,
    TrackKind,
};
pub use timers::RoomTimers;

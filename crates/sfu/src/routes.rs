//! Whose a datagram is, from its source address, and how often an address
//! nobody has may ask.
//!
//! Sans-IO: time is passed in. The driver asks [`Routes::route`] for every
//! datagram. A known address goes straight to its peer. An unknown one must
//! be offered to every room, whose peers' `Rtc::accepts` each look at it —
//! the one costly step any outsider can cause — so each unknown address gets
//! a small token bucket, checked **before** that fan-out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::signal::{PeerId, RoomId};

/// How much an address no peer has may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownSourceLimit {
    /// Lookups an unknown address gets at once. A browser's first checks
    /// (one per candidate pair, retried) can arrive before its join is
    /// processed; they must not use the bucket up.
    pub burst: u32,
    /// One more lookup per this much time, up to `burst`.
    pub refill_every: Duration,
    /// Addresses remembered at most; the one heard from longest ago goes
    /// first, so a flood from many addresses cannot grow the map.
    pub max_addresses: usize,
}

impl Default for UnknownSourceLimit {
    fn default() -> Self {
        Self {
            burst: 20,
            refill_every: Duration::from_millis(100),
            max_addresses: 1024,
        }
    }
}

/// Where a datagram goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Its address is a peer's (a guess: the room checks it).
    Peer(RoomId, PeerId),
    /// Nobody's yet: offer it to every room.
    Lookup,
    /// An unknown address over its limit: drop it unlooked-at.
    Drop,
}

struct Bucket {
    tokens: u32,
    /// When the last token was added (or the bucket made).
    refilled: Instant,
    last_seen: Instant,
}

/// The address → peer map, and the limit on unknown addresses.
pub struct Routes {
    limit: UnknownSourceLimit,
    /// Whose datagrams come from which address, learned as rooms claim them.
    owners: HashMap<SocketAddr, (RoomId, PeerId)>,
    unknown: HashMap<SocketAddr, Bucket>,
    lookups: u64,
    dropped: u64,
}

impl Routes {
    pub fn new(limit: UnknownSourceLimit) -> Self {
        Self {
            limit,
            owners: HashMap::new(),
            unknown: HashMap::new(),
            lookups: 0,
            dropped: 0,
        }
    }

    /// Where a datagram from `source` goes. Every [`Route::Lookup`] counts
    /// as one fan-out ([`Routes::lookups`]).
    pub fn route(&mut self, now: Instant, source: SocketAddr) -> Route {
        if let Some((room, peer)) = self.owners.get(&source) {
            return Route::Peer(room.clone(), peer.clone());
        }
        if self.take_token(now, source) {
            self.lookups += 1;
            Route::Lookup
        } else {
            self.dropped += 1;
            Route::Drop
        }
    }

    /// A room claimed `source` for a peer: its datagrams go straight there.
    pub fn claim(&mut self, source: SocketAddr, room: RoomId, peer: PeerId) {
        self.unknown.remove(&source);
        self.owners.insert(source, (room, peer));
    }

    /// The guess for `source` was wrong: it is unknown again.
    pub fn forget(&mut self, source: SocketAddr) {
        self.owners.remove(&source);
    }

    /// A peer is gone (or replaced): none of its addresses is known any more.
    pub fn forget_peer(&mut self, room: &RoomId, peer: &PeerId) {
        self.owners.retain(|_, (r, p)| r != room || p != peer);
    }

    /// How many datagrams were offered to every room.
    pub fn lookups(&self) -> u64 {
        self.lookups
    }

    /// How many datagrams from unknown addresses were dropped over the limit.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn take_token(&mut self, now: Instant, source: SocketAddr) -> bool {
        let limit = self.limit;
        if !self.unknown.contains_key(&source) && self.unknown.len() >= limit.max_addresses {
            let oldest = self
                .unknown
                .iter()
                .min_by_key(|(_, bucket)| bucket.last_seen)
                .map(|(addr, _)| *addr);
            if let Some(oldest) = oldest {
                self.unknown.remove(&oldest);
            }
        }
        let bucket = self.unknown.entry(source).or_insert(Bucket {
            tokens: limit.burst,
            refilled: now,
            last_seen: now,
        });
        bucket.last_seen = bucket.last_seen.max(now);
        if !limit.refill_every.is_zero() {
            let elapsed = now.saturating_duration_since(bucket.refilled);
            let earned = elapsed.as_nanos() / limit.refill_every.as_nanos();
            if earned >= u128::from(limit.burst) {
                bucket.tokens = limit.burst;
                bucket.refilled = now;
            } else if earned > 0 {
                // Below `burst`, so it fits.
                let earned = earned as u32;
                bucket.tokens = (bucket.tokens + earned).min(limit.burst);
                // Keeps the part of a period not yet earned.
                bucket.refilled += limit.refill_every * earned;
            }
        }
        if bucket.tokens == 0 {
            return false;
        }
        bucket.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests;

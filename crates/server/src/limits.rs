//! What one client may do how often, and how much password hashing runs at
//! once. Every limit here refuses (429, or 503 when the server is busy); none
//! queues without bound, so no client can grow the server's memory.
//!
//! - [`ClientKey`]: who a limit counts: a client address, IPv6 by its /64
//!   (one subscriber's whole network), so rotating addresses inside a block
//!   does not reset a count.
//! - [`SignInFailures`]: failed sign-ins, counted per client and per
//!   (account, client). A correct password is refused only when *its own*
//!   client has been failing: guesses elsewhere never lock an account out.
//! - [`PasswordGate`]: Argon2id is ~19 MiB and tens of milliseconds of CPU per
//!   hash; at most one per core runs, and a request that cannot get a turn
//!   within a few seconds is turned away instead of piling up.
//! - [`Holdings`]: how many of something each key holds open at once (a
//!   client address its connections, a person their live sockets), each
//!   counted by a [`Held`] for as long as it lives.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use crate::app::Error;

/// The unit a per-client limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(std::net::Ipv4Addr),
    /// The first 64 bits: the network, not the interface.
    V6Net(u64),
    /// No address known (not served over TCP, e.g. in-process).
    Unknown,
}

impl ClientKey {
    pub fn of(address: Option<IpAddr>) -> Self {
        match address.map(canonical) {
            Some(IpAddr::V4(v4)) => Self::V4(v4),
            Some(IpAddr::V6(v6)) => Self::V6Net((u128::from(v6) >> 64) as u64),
            None => Self::Unknown,
        }
    }
}

/// An IPv4 address carried in IPv6 (`::ffff:a.b.c.d`) is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// A count in a one-minute window that starts at the first event.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

const WINDOW: Duration = Duration::from_secs(60);

impl Window {
    fn count_at(&self, now: Instant) -> u32 {
        if now.duration_since(self.started) < WINDOW {
            self.count
        } else {
            0
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FailureKey {
    Client(ClientKey),
    AccountFrom(String, ClientKey),
}

/// Failed sign-ins in the last minute, per client and per (account, client).
pub struct SignInFailures {
    /// Failures one client may make on one account.
    per_account: u32,
    /// Failures one client may make in all (several accounts tried).
    per_client: u32,
    windows: Mutex<HashMap<FailureKey, Window>>,
}

impl SignInFailures {
    /// `per_minute` failures per (account, client); five times as many per client.
    pub fn new(per_minute: u32) -> Self {
        let per_account = per_minute.max(1);
        Self {
            per_account,
            per_client: per_account.saturating_mul(5),
            windows: Mutex::default(),
        }
    }

    /// Refuses a sign-in from a client that has been failing: on this account,
    /// or on many.
    pub fn check(&self, email: &str, client: ClientKey) -> Result<(), Error> {
        self.check_at(email, client, Instant::now())
    }

    fn check_at(&self, email: &str, client: ClientKey, now: Instant) -> Result<(), Error> {
        let windows = self.windows.lock().expect("failure counts");
        let count = |key: &FailureKey| windows.get(key).map_or(0, |window| window.count_at(now));
        let on_account = count(&FailureKey::AccountFrom(email.to_owned(), client));
        let overall = count(&FailureKey::Client(client));
        if on_account >= self.per_account || overall >= self.per_client {
            Err(Error::RateLimited)
        } else {
            Ok(())
        }
    }

    /// Counts one failed sign-in.
    pub fn failed(&self, email: &str, client: ClientKey) {
        self.failed_at(email, client, Instant::now());
    }

    fn failed_at(&self, email: &str, client: ClientKey, now: Instant) {
        let mut windows = self.windows.lock().expect("failure counts");
        for key in [
            FailureKey::AccountFrom(email.to_owned(), client),
            FailureKey::Client(client),
        ] {
            let window = windows.entry(key).or_insert(Window {
                started: now,
                count: 0,
            });
            if window.count_at(now) == 0 {
                *window = Window {
                    started: now,
                    count: 0,
                };
            }
            window.count += 1;
        }
    }

    /// Forgets windows that have run out. Called on a timer, never per request.
    pub fn prune(&self) {
        let now = Instant::now();
        self.windows
            .lock()
            .expect("failure counts")
            .retain(|_, window| window.count_at(now) > 0);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.windows.lock().expect("failure counts").len()
    }
}

/// Sign-ups per client and overall: each costs a password hash and an account.
pub struct SignUps {
    per_client: DefaultKeyedRateLimiter<ClientKey>,
    overall: DefaultDirectRateLimiter,
}

impl SignUps {
    pub fn new(per_client_per_minute: u32, overall_per_minute: u32) -> Self {
        let quota = |per_minute: u32| {
            Quota::per_minute(NonZeroU32::new(per_minute.max(1)).expect("at least one"))
        };
        Self {
            per_client: RateLimiter::keyed(quota(per_client_per_minute)),
            overall: RateLimiter::direct(quota(overall_per_minute)),
        }
    }

    pub fn check(&self, client: ClientKey) -> Result<(), Error> {
        if self.per_client.check_key(&client).is_ok() && self.overall.check().is_ok() {
            Ok(())
        } else {
            Err(Error::RateLimited)
        }
    }

    /// Forgets clients with their whole quota back. Called on a timer.
    pub fn prune(&self) {
        self.per_client.retain_recent();
    }
}

/// At most one password hash per core at a time.
pub struct PasswordGate {
    turns: Semaphore,
    /// How long a request may wait for a turn before it is turned away.
    patience: Duration,
}

impl PasswordGate {
    pub fn new(at_once: usize, patience: Duration) -> Self {
        Self {
            turns: Semaphore::new(at_once.max(1)),
            patience,
        }
    }

    /// One turn per core of this machine, and a few seconds of patience.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self::new(cores, Duration::from_secs(5))
    }

    /// Runs `work` (a password hash or check) when a turn is free; `Busy`
    /// when none comes free in time.
    pub async fn run<T>(&self, work: impl Future<Output = T>) -> Result<T, Error> {
        let turn = tokio::time::timeout(self.patience, self.turns.acquire())
            .await
            .map_err(|_| Error::Busy)?
            .expect("the gate is never closed");
        let done = work.await;
        drop(turn);
        Ok(done)
    }
}

/// The client address of a request: the peer's, or — only when the peer is
/// one of `trusted_proxies` — the address the proxy says it forwarded for
/// (the rightmost `X-Forwarded-For` entry that is not itself a trusted proxy).
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted_proxies: &[IpAddr],
) -> Option<IpAddr> {
    let trusted = |address: &IpAddr| trusted_proxies.contains(&canonical(*address));
    let peer = peer.map(canonical)?;
    if !trusted(&peer) {
        return Some(peer);
    }
    let forwarded = forwarded_for
        .into_iter()
        .flat_map(|header| header.split(','))
        .rev()
        .filter_map(|entry| entry.trim().parse::<IpAddr>().ok().map(canonical))
        .find(|address| !trusted(address));
    Some(forwarded.unwrap_or(peer))
}

/// How many of something each key holds open at once.
pub struct Holdings<K: Eq + Hash + Clone>(Mutex<HashMap<K, usize>>);

impl<K: Eq + Hash + Clone> Default for Holdings<K> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

/// One thing counted in [`Holdings`]; dropping it gives its place back.
pub struct Held<K: Eq + Hash + Clone> {
    holdings: Arc<Holdings<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Holdings<K> {
    /// Counts one more for `key`, or `None` when it holds `limit` already.
    pub fn hold(self: &Arc<Self>, key: &K, limit: usize) -> Option<Held<K>> {
        let mut counts = self.0.lock().expect("holdings lock");
        let count = counts.entry(key.clone()).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Held {
            holdings: self.clone(),
            key: key.clone(),
        })
    }
}

impl<K: Eq + Hash + Clone> Drop for Held<K> {
    fn drop(&mut self) {
        let mut counts = self.holdings.0.lock().expect("holdings lock");
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_ipv6_client_is_its_64_block_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            ClientKey::of(Some(ip("2001:db8:1:2::1"))),
            ClientKey::of(Some(ip("2001:db8:1:2:ffff::9")))
        );
        assert_ne!(
            ClientKey::of(Some(ip("2001:db8:1:2::1"))),
            ClientKey::of(Some(ip("2001:db8:1:3::1")))
        );
        assert_eq!(
            ClientKey::of(Some(ip("::ffff:203.0.113.7"))),
            ClientKey::of(Some(ip("203.0.113.7")))
        );
    }

    impl SignInFailures {
        /// Whether `client` may try `email`'s password at `now`.
        fn allows(&self, email: &str, client: ClientKey, now: Instant) -> bool {
            self.check_at(email, client, now).is_ok()
        }
    }

    #[test]
    fn failures_not_attempts_are_counted_and_only_against_their_client() {
        let failures = SignInFailures::new(3);
        let attacker = ClientKey::of(Some(ip("203.0.113.7")));
        let owner = ClientKey::of(Some(ip("198.51.100.2")));
        let now = Instant::now();
        // Checking is free: any number of sign-ins that do not fail.
        for _ in 0..10 {
            assert!(failures.allows("ada@example.com", owner, now));
        }
        for _ in 0..3 {
            assert!(failures.allows("ada@example.com", attacker, now));
            failures.failed_at("ada@example.com", attacker, now);
        }
        assert!(!failures.allows("ada@example.com", attacker, now));
        // The account's owner, elsewhere, is not locked out.
        assert!(failures.allows("ada@example.com", owner, now));
        // The attacker may still try other accounts, up to five times as many failures.
        assert!(failures.allows("bob@example.com", attacker, now));
        // A minute later the slate is clean.
        let later = now + WINDOW;
        assert!(failures.allows("ada@example.com", attacker, later));
    }

    #[test]
    fn a_client_failing_on_many_accounts_is_stopped() {
        let failures = SignInFailures::new(2);
        let attacker = ClientKey::of(Some(ip("2001:db8::1")));
        let now = Instant::now();
        for account in 0..10 {
            failures.failed_at(&format!("user{account}@example.com"), attacker, now);
        }
        // Another address of the same /64 is the same client.
        let sibling = ClientKey::of(Some(ip("2001:db8::2")));
        assert!(!failures.allows("fresh@example.com", sibling, now));
    }

    #[test]
    fn pruning_forgets_what_ran_out() {
        let failures = SignInFailures::new(3);
        let client = ClientKey::of(Some(ip("203.0.113.7")));
        failures.failed_at("ada@example.com", client, Instant::now() - WINDOW);
        assert_eq!(failures.len(), 2);
        failures.prune();
        assert_eq!(failures.len(), 0);
    }

    #[test]
    fn sign_ups_are_limited_per_client_and_overall() {
        let sign_ups = SignUps::new(2, 3);
        let one = ClientKey::of(Some(ip("203.0.113.7")));
        let two = ClientKey::of(Some(ip("198.51.100.2")));
        assert!(sign_ups.check(one).is_ok());
        assert!(sign_ups.check(one).is_ok());
        assert!(sign_ups.check(one).is_err(), "per client");
        assert!(sign_ups.check(two).is_ok());
        assert!(sign_ups.check(two).is_err(), "overall");
    }

    #[tokio::test]
    async fn a_full_gate_turns_work_away_instead_of_queueing_it() {
        let gate = PasswordGate::new(1, Duration::ZERO);
        let held = gate.turns.acquire().await.unwrap();
        assert!(matches!(gate.run(async {}).await, Err(Error::Busy)));
        drop(held);
        assert!(gate.run(async { 7 }).await.is_ok());
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let proxy = ip("10.0.0.5");
        let header = Some("198.51.100.2, 10.0.0.9");
        // No trusted proxy: the header is anyone's to forge.
        assert_eq!(client_address(Some(proxy), header, &[]), Some(proxy));
        // The proxy's word is taken; the rightmost untrusted entry is the client.
        assert_eq!(
            client_address(Some(proxy), header, &[proxy, ip("10.0.0.9")]),
            Some(ip("198.51.100.2"))
        );
        // A forged leftmost entry does not win over what the proxy appended.
        assert_eq!(
            client_address(Some(proxy), Some("1.2.3.4, 198.51.100.2"), &[proxy]),
            Some(ip("198.51.100.2"))
        );
        // An untrusted peer's header is ignored.
        let stranger = ip("203.0.113.7");
        assert_eq!(
            client_address(Some(stranger), header, &[proxy]),
            Some(stranger)
        );
        assert_eq!(client_address(None, header, &[proxy]), None);
    }
}

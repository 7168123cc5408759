//! One node's live queries, shared by all its connections.
//!
//! However many people watch `participants:X`, the node runs that query once
//! per change and hands the same serialized result to every watcher through a
//! `watch` channel. A query lives while anyone watches it.
//!
//! **A query is re-run at most once per [`COALESCE`], and always after the
//! last event that touched it**: an event marks it dirty; the refresher runs,
//! publishes, then waits out the rest of the window before looking again, so a
//! burst collapses into one run that sees the burst's end.
//!
//! The hub also hears sign-outs: every connection holds a [`SignOut`] for the
//! token it was opened with, cancelled when that token is revoked on any node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::query::{Query, Snapshot};
use crate::AppState;

pub const COALESCE: Duration = Duration::from_millis(50);

pub type SnapshotReceiver = watch::Receiver<Option<Arc<Snapshot>>>;

pub struct Hub {
    queries: Mutex<HashMap<Query, Arc<Shared>>>,
    /// The live connections of each token, by the token's hash: how many hold
    /// it, and what a sign-out cancels.
    tokens: Mutex<HashMap<String, (CancellationToken, usize)>>,
}

/// A connection's hold on its token: cancelled when the token is revoked.
/// Dropping the last hold of a token forgets it.
pub struct SignOut {
    hub: Arc<Hub>,
    token_hash: String,
    signed_out: CancellationToken,
}

impl SignOut {
    /// Completes when the token is revoked, on any node.
    pub async fn signed_out(&self) {
        self.signed_out.cancelled().await;
    }
}

impl Drop for SignOut {
    fn drop(&mut self) {
        // A revoked token's entry is gone already (and its hash may be held anew).
        if self.signed_out.is_cancelled() {
            return;
        }
        let mut tokens = self.hub.tokens.lock().expect("hub lock");
        if let Some((_, holders)) = tokens.get_mut(&self.token_hash) {
            *holders -= 1;
            if *holders == 0 {
                tokens.remove(&self.token_hash);
            }
        }
    }
}

struct Shared {
    /// Holds a permit when an event arrived since the last run.
    dirty: Notify,
    sender: watch::Sender<Option<Arc<Snapshot>>>,
}

impl Hub {
    /// Starts the hub and its listener on the bus.
    pub fn start(events: broadcast::Receiver<domain::event::Event>) -> Arc<Self> {
        let hub = Arc::new(Self {
            queries: Mutex::default(),
            tokens: Mutex::default(),
        });
        tokio::spawn(listen(Arc::downgrade(&hub), events));
        hub
    }

    /// Watches `query`, starting it if nobody watched it yet. The receiver
    /// holds the latest result (`None` until the first run ends).
    pub fn watch(self: &Arc<Self>, state: &AppState, query: Query) -> SnapshotReceiver {
        let mut queries = self.queries.lock().expect("hub lock");
        if let Some(shared) = queries.get(&query) {
            return shared.sender.subscribe();
        }
        let (sender, receiver) = watch::channel(None);
        let shared = Arc::new(Shared {
            dirty: Notify::new(),
            sender,
        });
        queries.insert(query.clone(), shared.clone());
        tokio::spawn(refresh(self.clone(), state.clone(), query, shared));
        receiver
    }

    /// Follows sign-outs of the token with `token_hash`, for one connection.
    pub fn hold_token(self: &Arc<Self>, token_hash: &str) -> SignOut {
        let mut tokens = self.tokens.lock().expect("hub lock");
        let (signed_out, holders) = tokens.entry(token_hash.to_owned()).or_default();
        *holders += 1;
        SignOut {
            hub: self.clone(),
            token_hash: token_hash.to_owned(),
            signed_out: signed_out.clone(),
        }
    }

    /// Marks the queries `event` touches dirty, or closes the connections of a revoked token.
    fn hear(&self, event: &domain::event::Event) {
        if let domain::event::Event::TokenRevoked { token_hash } = event {
            // Its holds keep their (now cancelled) token and forget the entry.
            if let Some((signed_out, _)) = self.tokens.lock().expect("hub lock").remove(token_hash)
            {
                signed_out.cancel();
            }
            return;
        }
        let queries = self.queries.lock().expect("hub lock");
        for (query, shared) in queries.iter() {
            if query.affected_by(event) {
                shared.dirty.notify_one();
            }
        }
    }

    /// Forgets `query` if nobody watches it any more. Under the lock, so a
    /// watcher arriving at the same moment either gets in first or starts anew.
    fn release_if_unwatched(&self, query: &Query) -> bool {
        let mut queries = self.queries.lock().expect("hub lock");
        match queries.get(query) {
            Some(shared) if shared.sender.receiver_count() == 0 => {
                queries.remove(query);
                true
            }
            _ => false,
        }
    }

    pub fn watched_queries(&self) -> usize {
        self.queries.lock().expect("hub lock").len()
    }
}

async fn listen(hub: std::sync::Weak<Hub>, mut events: broadcast::Receiver<domain::event::Event>) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            // Fell behind: some events are lost, so everything may be stale.
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "live hub fell behind the bus; re-reading every query"
                );
                domain::event::Event::Resync
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(hub) = hub.upgrade() else { return };
        hub.hear(&event);
    }
}

async fn refresh(hub: Arc<Hub>, state: AppState, query: Query, shared: Arc<Shared>) {
    loop {
        match query.run(&state.app).await {
            Ok(Some(snapshot)) => {
                shared.sender.send_if_modified(|current| {
                    // Nothing to push when the data did not change (a chat message
                    // raises the session's version but leaves its participants as they were).
                    let unchanged = current
                        .as_ref()
                        .is_some_and(|old| old.data.get() == snapshot.data.get());
                    if !unchanged {
                        *current = Some(Arc::new(snapshot));
                    }
                    !unchanged
                });
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%query, ?error, "live query failed; keeping its last result")
            }
        }
        let finished = Instant::now();
        tokio::select! {
            () = shared.dirty.notified() => {}
            () = shared.sender.closed() => {
                if hub.release_if_unwatched(&query) {
                    return;
                }
                continue;
            }
        }
        tokio::time::sleep_until(finished + COALESCE).await;
    }
}

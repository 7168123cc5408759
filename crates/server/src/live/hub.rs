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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};
use tokio::time::Instant;

use super::query::{Query, Snapshot};
use crate::AppState;

pub const COALESCE: Duration = Duration::from_millis(50);

pub type SnapshotReceiver = watch::Receiver<Option<Arc<Snapshot>>>;

pub struct Hub {
    queries: Mutex<HashMap<Query, Arc<Shared>>>,
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

    fn mark_dirty(&self, event: &domain::event::Event) {
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
        hub.mark_dirty(&event);
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

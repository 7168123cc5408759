//! Who is in the room: a joined participant is present while they hold a live
//! connection subscribed to one of the session's queries.
//!
//! This node counts its own connections per (session, person) and tells the
//! store only when a count leaves or reaches zero; the store keeps presence
//! across nodes, and the sweeper marks people left once their departure
//! timeout has passed with no connection anywhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::Id;
use store::Store;

type Key = (Id, Id);

pub struct Presence {
    node_id: String,
    store: Arc<dyn Store>,
    /// One counter per (session, person), each behind its own async lock so that
    /// the store hears of a person's arrivals and departures in the order they
    /// happened, while different people never wait for each other.
    connections: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<usize>>>>,
}

impl Presence {
    pub fn new(node_id: String, store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            node_id,
            store,
            connections: Mutex::default(),
        })
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    fn counter(&self, key: &Key) -> Arc<tokio::sync::Mutex<usize>> {
        self.connections
            .lock()
            .expect("presence lock")
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// A connection of `user_id` now watches `session_id`.
    pub async fn arrive(&self, session_id: &Id, user_id: &Id) {
        let key = (session_id.clone(), user_id.clone());
        let counter = self.counter(&key);
        let mut count = counter.lock().await;
        *count += 1;
        if *count == 1
            && let Err(error) = self
                .store
                .mark_present(&self.node_id, session_id, user_id)
                .await
        {
            tracing::warn!(?error, session = %session_id, "recording presence");
        }
    }

    /// Tells the store again of every (session, person) this node holds a
    /// connection for: after other nodes took this one for dead and closed
    /// its connections, those people are still here.
    pub async fn assert_all(&self) {
        let counters: Vec<(Key, Arc<tokio::sync::Mutex<usize>>)> = self
            .connections
            .lock()
            .expect("presence lock")
            .iter()
            .map(|(key, counter)| (key.clone(), counter.clone()))
            .collect();
        for ((session_id, user_id), counter) in counters {
            let count = counter.lock().await;
            if *count > 0
                && let Err(error) = self
                    .store
                    .mark_present(&self.node_id, &session_id, &user_id)
                    .await
            {
                tracing::warn!(?error, session = %session_id, "asserting presence again");
            }
        }
    }

    /// That connection stopped watching (or closed).
    pub async fn depart(&self, session_id: &Id, user_id: &Id) {
        let key = (session_id.clone(), user_id.clone());
        let counter = self.counter(&key);
        let mut count = counter.lock().await;
        *count = count.saturating_sub(1);
        if *count > 0 {
            return;
        }
        if let Err(error) = self
            .store
            .mark_absent(&self.node_id, session_id, user_id)
            .await
        {
            tracing::warn!(?error, session = %session_id, "recording a departure");
        }
        drop(count);
        // Forget the counter if nobody else holds it, so the map does not grow forever.
        let mut connections = self.connections.lock().expect("presence lock");
        if Arc::strong_count(&counter) == 2 && counter.try_lock().is_ok_and(|count| *count == 0) {
            connections.remove(&key);
        }
    }
}

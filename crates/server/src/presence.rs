//! Who is in the room: a joined participant is present while they hold a live
//! connection subscribed to one of the session's queries.
//!
//! This node counts its own connections per (session, person) and tells the
//! store only when a count leaves or reaches zero; the store keeps presence
//! across nodes, and the sweeper marks people left once their departure
//! timeout has passed with no connection anywhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::Id;
use store::Store;
use tokio::time::Instant;

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

/// How long a connection stays present in a session after unsubscribing from
/// its last query of it: subscribing again within it costs no store write, so
/// subscription churn never becomes presence churn.
pub const LINGER: Duration = Duration::from_secs(2);

/// One connection's part in presence, sans-IO: the sessions it watches, in
/// which of them the person is joined, and what the node's [`Presence`] must
/// hear. **Only a joined participant's connection counts**, so anyone else
/// watching a session writes nothing; and a session stays watched for
/// [`LINGER`] after its last subscription ends.
#[derive(Debug, Default)]
pub struct Watching {
    sessions: HashMap<Id, Watched>,
}

#[derive(Debug, Default)]
struct Watched {
    /// The connection's subscriptions about the session.
    subscriptions: usize,
    /// Whether [`Presence::arrive`] was told (and [`Presence::depart`] not yet).
    present: bool,
    /// When the last subscription ended, while none has begun since.
    idle_since: Option<Instant>,
}

/// What the node's [`Presence`] must hear about one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Arrive(Id),
    Depart(Id),
}

impl Watching {
    /// A subscription about `session_id` began. True when the connection did
    /// not watch the session yet: its roster must be followed from now.
    pub fn watch(&mut self, session_id: &Id) -> bool {
        let fresh = !self.sessions.contains_key(session_id);
        let watched = self.sessions.entry(session_id.clone()).or_default();
        watched.subscriptions += 1;
        watched.idle_since = None;
        fresh
    }

    /// A subscription about `session_id` ended.
    pub fn unwatch(&mut self, session_id: &Id, now: Instant) {
        if let Some(watched) = self.sessions.get_mut(session_id) {
            watched.subscriptions = watched.subscriptions.saturating_sub(1);
            if watched.subscriptions == 0 {
                watched.idle_since = Some(now);
            }
        }
    }

    /// The session's roster says whether the person is joined now.
    pub fn roster(&mut self, session_id: &Id, joined: bool) -> Option<Change> {
        let watched = self.sessions.get_mut(session_id)?;
        match (joined, watched.present) {
            (true, false) => {
                watched.present = true;
                Some(Change::Arrive(session_id.clone()))
            }
            (false, true) => {
                watched.present = false;
                Some(Change::Depart(session_id.clone()))
            }
            _ => None,
        }
    }

    /// When the next idle session is due to be let go.
    pub fn next_due(&self) -> Option<Instant> {
        self.sessions
            .values()
            .filter_map(|watched| watched.idle_since)
            .min()
            .map(|since| since + LINGER)
    }

    /// Lets go of the sessions idle for [`LINGER`] by `now`: each is forgotten
    /// (stop following its roster), with the departure it implies.
    pub fn let_go(&mut self, now: Instant) -> Vec<(Id, Option<Change>)> {
        let due: Vec<Id> = self
            .sessions
            .iter()
            .filter(|(_, watched)| {
                watched
                    .idle_since
                    .is_some_and(|since| since + LINGER <= now)
            })
            .map(|(session_id, _)| session_id.clone())
            .collect();
        due.into_iter()
            .map(|session_id| {
                let watched = self.sessions.remove(&session_id).expect("a due session");
                let change = watched.present.then(|| Change::Depart(session_id.clone()));
                (session_id, change)
            })
            .collect()
    }

    /// The connection closed: the sessions it was present in.
    pub fn close(&mut self) -> Vec<Id> {
        self.sessions
            .drain()
            .filter(|(_, watched)| watched.present)
            .map(|(session_id, _)| session_id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_joined_participant_is_present() {
        let session = Id::generate();
        let mut watching = Watching::default();
        assert!(watching.watch(&session));
        assert_eq!(watching.roster(&session, false), None);
        assert!(watching.close().is_empty());
    }

    #[test]
    fn joining_while_watching_arrives_and_leaving_departs() {
        let session = Id::generate();
        let mut watching = Watching::default();
        watching.watch(&session);
        assert_eq!(
            watching.roster(&session, true),
            Some(Change::Arrive(session.clone()))
        );
        assert_eq!(watching.roster(&session, true), None);
        assert_eq!(
            watching.roster(&session, false),
            Some(Change::Depart(session.clone()))
        );
    }

    #[test]
    fn subscription_churn_costs_no_presence_change() {
        let session = Id::generate();
        let mut watching = Watching::default();
        let start = Instant::now();
        assert!(watching.watch(&session));
        let mut changes = vec![watching.roster(&session, true)];
        for step in 0..100 {
            let now = start + Duration::from_millis(step);
            watching.unwatch(&session, now);
            changes.extend(watching.let_go(now).into_iter().map(|(_, change)| change));
            assert!(!watching.watch(&session), "still followed");
        }
        assert_eq!(changes, vec![Some(Change::Arrive(session.clone()))]);
        // Unwatched for good: one departure, once the linger is over.
        let unwatched_at = start + Duration::from_secs(1);
        watching.unwatch(&session, unwatched_at);
        assert!(watching.let_go(unwatched_at).is_empty());
        assert_eq!(watching.next_due(), Some(unwatched_at + LINGER));
        assert_eq!(
            watching.let_go(unwatched_at + LINGER),
            vec![(session.clone(), Some(Change::Depart(session)))]
        );
        assert!(watching.close().is_empty());
    }
}

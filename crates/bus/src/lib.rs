//! Publish and subscribe of domain events, so every node learns what changed.
//!
//! The bus holds no state: an event says *what* changed ([`Event`]) and a
//! listener re-reads the store. A slow listener that falls behind is told it
//! lagged and re-reads everything, rather than silently missing a change.
//!
//! # Layout
//!
//! - [`Bus`]: the one interface the server uses, whichever bus it runs on.
//! - [`LocalBus`]: one process, one tokio broadcast channel. The embedded
//!   default, and also the local half of every other bus: listeners always
//!   receive from a `LocalBus`, so backlog and lag behave the same everywhere.
//! - [`NatsBus`]: many nodes. Delivers to its own `LocalBus` at once and carries
//!   the event to the other nodes over NATS.

mod nats;

pub use nats::NatsBus;

use async_trait::async_trait;
use domain::event::Event;
use tokio::sync::broadcast;

/// How many events a listener may fall behind before it is told it lagged.
const BACKLOG: usize = 4096;

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sends `event` to every listener on every node. Best effort: the store is
    /// the truth, and the event only says when to look at it again.
    async fn publish(&self, event: Event);
    fn subscribe(&self) -> broadcast::Receiver<Event>;
}

/// The embedded default: one process, one broadcast channel.
///
/// Clones share the one channel, so a background task can hold a clone and
/// deliver into the same listeners.
#[derive(Clone)]
pub struct LocalBus {
    sender: broadcast::Sender<Event>,
}

impl Default for LocalBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BACKLOG).0,
        }
    }
}

impl LocalBus {
    /// Hands `event` to every listener in this process. Never waits: a full
    /// backlog makes the slowest listener lag, not the sender block.
    fn deliver(&self, event: Event) {
        // An error only means nobody is listening right now, which is fine.
        let _ = self.sender.send(event);
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, event: Event) {
        self.deliver(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use domain::Id;

    use super::*;

    #[tokio::test]
    async fn every_listener_gets_every_event() {
        let bus = LocalBus::default();
        let mut first = bus.subscribe();
        let mut second = bus.subscribe();
        let event = Event::SessionChanged {
            session_id: Id::generate(),
        };
        bus.publish(event.clone()).await;
        assert_eq!(first.recv().await.unwrap(), event);
        assert_eq!(second.recv().await.unwrap(), event);
    }

    #[tokio::test]
    async fn publishing_with_nobody_listening_is_fine() {
        LocalBus::default()
            .publish(Event::AiLogsChanged {
                session_id: Id::generate(),
            })
            .await;
    }
}

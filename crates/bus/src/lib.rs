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
//! - [`Letter`]: besides events for everyone, a bus carries messages
//!   addressed to one node: a request that waits for the node's answer
//!   ([`Bus::request`]), or a message sent on without one ([`Bus::send`]).
//!   The server relays a session's media signalling to the node holding its
//!   media this way. They carry bytes; what they mean is the caller's.

mod nats;

pub use nats::NatsBus;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use domain::event::Event;
use tokio::sync::{broadcast, mpsc, oneshot};

/// How many events a listener may fall behind before it is told it lagged.
const BACKLOG: usize = 4096;

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sends `event` to every listener on every node. Best effort: the store is
    /// the truth, and the event only says when to look at it again.
    async fn publish(&self, event: Event);
    fn subscribe(&self) -> broadcast::Receiver<Event>;

    /// Whether other processes may be on this bus: without them, every
    /// letter stays in this process and no node ever needs to relay.
    fn spans_nodes(&self) -> bool;
    /// Starts taking the letters addressed to `node_id` (this node's own id),
    /// in the order they arrive. Returns once letters sent from now on will
    /// reach the receiver.
    async fn letters(&self, node_id: &str) -> anyhow::Result<mpsc::Receiver<Letter>>;
    /// Sends `payload` to the node `node_id` and waits for its answer.
    async fn request(&self, node_id: &str, payload: Vec<u8>) -> Result<Vec<u8>, Unreachable>;
    /// Sends `payload` to the node `node_id`, answer unwanted. The letters
    /// one caller sends one node, each awaited before the next, arrive in
    /// the order they were sent. At most once, like events: the caller
    /// learns of no loss.
    async fn send(&self, node_id: &str, payload: Vec<u8>) -> anyhow::Result<()>;
}

/// A message addressed to one node: the bytes, and where its answer goes
/// when the sender waits for one.
#[derive(Debug)]
pub struct Letter {
    pub payload: Vec<u8>,
    reply: Option<oneshot::Sender<Vec<u8>>>,
}

impl Letter {
    /// Whether the sender waits for an answer ([`Letter::answer`]).
    pub fn is_request(&self) -> bool {
        self.reply.is_some()
    }

    /// Answers a request; nothing for a letter sent without one. An answer
    /// is never empty: no bytes, like a request dropped unanswered, tell
    /// the asker the node is gone ([`Unreachable::NoSuchNode`]).
    pub fn answer(self, payload: Vec<u8>) {
        if let Some(reply) = self.reply {
            // The sender may have stopped waiting; nothing to do then.
            let _ = reply.send(payload);
        }
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// Nobody takes letters for that node: it stopped (or dropped the
    /// request unanswered as it stops), or never was.
    NoSuchNode,
    /// The node did not answer (in time, or at all), or the bus failed.
    NoAnswer(String),
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoSuchNode => write!(f, "no such node on the bus"),
            Self::NoAnswer(why) => write!(f, "the node did not answer: {why}"),
        }
    }
}

impl std::error::Error for Unreachable {}

/// The embedded default: one process, one broadcast channel.
///
/// Clones share the one channel, so a background task can hold a clone and
/// deliver into the same listeners.
#[derive(Clone)]
pub struct LocalBus {
    sender: broadcast::Sender<Event>,
    /// Who takes the letters addressed to each node of this process.
    mailboxes: Arc<Mutex<HashMap<String, mpsc::Sender<Letter>>>>,
}

impl Default for LocalBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BACKLOG).0,
            mailboxes: Arc::default(),
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

    fn spans_nodes(&self) -> bool {
        false
    }

    async fn letters(&self, node_id: &str) -> anyhow::Result<mpsc::Receiver<Letter>> {
        let (mailbox, letters) = mpsc::channel(BACKLOG);
        self.mailboxes
            .lock()
            .expect("mailboxes lock")
            .insert(node_id.to_owned(), mailbox);
        Ok(letters)
    }

    async fn request(&self, node_id: &str, payload: Vec<u8>) -> Result<Vec<u8>, Unreachable> {
        let (reply, answer) = oneshot::channel();
        self.post(
            node_id,
            Letter {
                payload,
                reply: Some(reply),
            },
        )
        .await?;
        match answer.await {
            Ok(answer) if !answer.is_empty() => Ok(answer),
            // Dropped unanswered: the node is stopping.
            _ => Err(Unreachable::NoSuchNode),
        }
    }

    async fn send(&self, node_id: &str, payload: Vec<u8>) -> anyhow::Result<()> {
        let letter = Letter {
            payload,
            reply: None,
        };
        Ok(self.post(node_id, letter).await?)
    }
}

impl LocalBus {
    async fn post(&self, node_id: &str, letter: Letter) -> Result<(), Unreachable> {
        let mailbox = self
            .mailboxes
            .lock()
            .expect("mailboxes lock")
            .get(node_id)
            .cloned()
            .ok_or(Unreachable::NoSuchNode)?;
        mailbox
            .send(letter)
            .await
            .map_err(|_| Unreachable::NoSuchNode)
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
    async fn a_request_reaches_its_node_and_comes_back_answered() {
        let bus = LocalBus::default();
        let mut letters = bus.letters("a").await.unwrap();
        tokio::spawn(async move {
            while let Some(letter) = letters.recv().await {
                let mut answer = letter.payload.clone();
                answer.reverse();
                letter.answer(answer);
            }
        });
        assert_eq!(bus.request("a", vec![1, 2]).await, Ok(vec![2, 1]));
        assert_eq!(
            bus.request("b", vec![1]).await,
            Err(Unreachable::NoSuchNode)
        );
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

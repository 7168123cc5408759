//! The bus across nodes: NATS carries every event to every other node.
//!
//! Every node publishes on one subject, `<prefix>.events`, and subscribes to
//! it. What travels is an [`Envelope`]: the event plus the id of the node that
//! published it. A node hands its own events to its own listeners at once,
//! without a round trip through NATS, and drops the copy NATS echoes back (it
//! carries the node's own id), so each listener sees each event exactly once.
//!
//! NATS core publish/subscribe delivers at most once, and that is enough: an
//! event only says "re-read", and the store is the truth. What must never
//! happen is a listener missing events *without knowing it*. So wherever
//! events may have been lost, the listeners get [`Event::Resync`]:
//!
//! - **The connection came back after a disconnect.** This node's
//!   subscription missed whatever the others published meanwhile, and what
//!   this node published meanwhile may never have reached them: resync here,
//!   and tell the other nodes to resync too.
//! - **The NATS client dropped messages for our subscription** because this
//!   node read them too slowly (a slow consumer): resync here.
//!
//! Publishing never waits on the network: events queue in an outbox that one
//! task drains into NATS in order, so a NATS outage slows no request down.
//!
//! Letters for one node go on `<prefix>.node.<node id>`: a request is a NATS
//! request (its answer comes back on the asker's inbox subject; with nobody
//! subscribed the server says so at once, which is how a stopped node
//! shows), a letter sent without one a plain publish. NATS keeps the order
//! of what one connection publishes to one subscriber.

use std::time::Duration;

use anyhow::{Context, ensure};
use async_nats::{Client, ConnectOptions, Subject, Subscriber};
use async_trait::async_trait;
use domain::event::Event;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{BACKLOG, Bus, Letter, LocalBus, Unreachable};

/// How long we wait on the NATS server: to confirm it has our subscription,
/// or to take the last events when the bus is dropped.
const NATS_DEADLINE: Duration = Duration::from_secs(5);

/// What goes over the wire: `{"origin": "<node id>", "event": {…}}`.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    /// The node that published the event; it already delivered it locally.
    origin: Uuid,
    event: Event,
}

/// One node's end of a bus shared through a NATS server.
pub struct NatsBus {
    /// This node's listeners. Events published here and events from the other
    /// nodes all end up in it, so [`Bus::subscribe`] behaves as on [`LocalBus`].
    local: LocalBus,
    /// The way out to the other nodes.
    outbox: Outbox,
    /// Reading from NATS and watching the connection. Both would run forever
    /// (they hold the subscription), so they are aborted when the bus is dropped.
    readers: [JoinHandle<()>; 2],
    /// For letters to one node, which skip the outbox: their senders wait.
    client: Client,
    /// The bus's subject prefix, for the nodes' letter subjects.
    prefix: String,
    /// Reading this node's letters, once [`Bus::letters`] started it.
    letter_reader: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl NatsBus {
    /// Connects to the NATS server at `url` and joins the bus on the subject
    /// `<subject_prefix>.events`. Nodes with the same prefix share one bus.
    ///
    /// Returns only once the server has confirmed the subscription, so an
    /// event another node publishes after this returns is not missed. Fails
    /// if the server cannot be reached now; after that, the client reconnects
    /// on its own for as long as the bus lives.
    ///
    /// The URL may carry credentials, so it is never logged nor put in the error.
    pub async fn connect(url: &str, subject_prefix: &str) -> anyhow::Result<NatsBus> {
        let subject = events_subject(subject_prefix)?;
        let node_id = Uuid::new_v4();
        let local = LocalBus::default();

        // The client reports connection changes through this callback; an
        // unbounded channel so the client never waits on us to report one.
        let (connection_events, connection_events_received) = mpsc::unbounded_channel();
        let (servers, credentials) = without_credentials(url)?;
        let options = match credentials {
            Credentials::None => ConnectOptions::new(),
            Credentials::UserAndPassword(user, password) => {
                ConnectOptions::with_user_and_password(user, password)
            }
            Credentials::Token(token) => ConnectOptions::with_token(token),
        };
        let client = options
            .name(format!("lockin-{node_id}"))
            .event_callback(move |event| {
                let connection_events = connection_events.clone();
                async move {
                    // Fails only once the bus is dropped, when nobody cares.
                    let _ = connection_events.send(event);
                }
            })
            .connect(servers.as_str())
            .await
            .context("connecting to the NATS server")?;

        let subscriber = client
            .subscribe(subject.clone())
            .await
            .context("subscribing to the NATS bus subject")?;
        confirm_server_caught_up(&client)
            .await
            .context("confirming the NATS subscription")?;

        let outbox = Outbox::start(client.clone(), subject, node_id);
        let bus_client = client.clone();
        let readers = [
            tokio::spawn(forward_from_other_nodes(subscriber, node_id, local.clone())),
            tokio::spawn(watch_connection(
                connection_events_received,
                client,
                local.clone(),
                outbox.clone(),
            )),
        ];
        tracing::info!(%node_id, "joined the NATS event bus");
        Ok(NatsBus {
            local,
            outbox,
            readers,
            client: bus_client,
            prefix: subject_prefix.to_owned(),
            letter_reader: std::sync::Mutex::default(),
        })
    }
}

impl Drop for NatsBus {
    fn drop(&mut self) {
        for reader in &self.readers {
            reader.abort();
        }
        if let Some(reader) = self.letter_reader.lock().expect("reader lock").take() {
            reader.abort();
        }
        // The outbox task is left alone: it ends by itself once the last
        // `Outbox` is gone, after sending what is still queued.
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(&self, event: Event) {
        self.local.deliver(event.clone());
        self.outbox.post(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }

    fn spans_nodes(&self) -> bool {
        true
    }

    async fn letters(&self, node_id: &str) -> anyhow::Result<mpsc::Receiver<Letter>> {
        let subject = node_subject(&self.prefix, node_id)?;
        let subscriber = self
            .client
            .subscribe(subject)
            .await
            .context("subscribing to this node's letters")?;
        confirm_server_caught_up(&self.client)
            .await
            .context("confirming the NATS subscription")?;
        let (mailbox, letters) = mpsc::channel(BACKLOG);
        let reader = tokio::spawn(read_letters(subscriber, self.client.clone(), mailbox));
        if let Some(earlier) = self
            .letter_reader
            .lock()
            .expect("reader lock")
            .replace(reader)
        {
            earlier.abort();
        }
        Ok(letters)
    }

    async fn request(&self, node_id: &str, payload: Vec<u8>) -> Result<Vec<u8>, Unreachable> {
        let subject = node_subject(&self.prefix, node_id)
            .map_err(|error| Unreachable::NoAnswer(error.to_string()))?;
        match self.client.request(subject, payload.into()).await {
            Ok(answer) if answer.payload.is_empty() => Err(Unreachable::NoSuchNode),
            Ok(answer) => Ok(answer.payload.to_vec()),
            Err(error) if error.kind() == async_nats::RequestErrorKind::NoResponders => {
                Err(Unreachable::NoSuchNode)
            }
            Err(error) => Err(Unreachable::NoAnswer(error.to_string())),
        }
    }

    async fn send(&self, node_id: &str, payload: Vec<u8>) -> anyhow::Result<()> {
        let subject = node_subject(&self.prefix, node_id)?;
        self.client
            .publish(subject, payload.into())
            .await
            .context("sending a letter to a node")
    }
}

/// Hands this node's letters to the receiver, in order; a request's answer
/// goes back to the asker's reply subject when the receiver gives it.
async fn read_letters(mut subscriber: Subscriber, client: Client, mailbox: mpsc::Sender<Letter>) {
    while let Some(message) = subscriber.next().await {
        let payload = message.payload.to_vec();
        let letter = match message.reply {
            None => Letter {
                payload,
                reply: None,
            },
            Some(reply_subject) => {
                let (reply, answer) = tokio::sync::oneshot::channel::<Vec<u8>>();
                let client = client.clone();
                tokio::spawn(async move {
                    // Dropped unanswered (this node is stopping): no bytes,
                    // which the asker takes for "no such node", at once.
                    let answer = answer.await.unwrap_or_default();
                    if let Err(error) = client.publish(reply_subject, answer.into()).await {
                        tracing::warn!(%error, "could not answer a letter");
                    }
                });
                Letter {
                    payload,
                    reply: Some(reply),
                }
            }
        };
        if mailbox.send(letter).await.is_err() {
            return;
        }
    }
    tracing::warn!("the NATS subscription for this node's letters ended");
}

/// `<prefix>.events`, refusing a prefix that is not a plain NATS subject: a
/// wildcard (`*`, `>`) or an empty token would make nodes listen to, or
/// publish on, subjects other than their bus's.
fn events_subject(prefix: &str) -> anyhow::Result<Subject> {
    ensure!(
        prefix.split('.').all(is_plain_token),
        "the NATS subject prefix {prefix:?} must be dot-separated names without spaces or wildcards"
    );
    Ok(Subject::from(format!("{prefix}.events")))
}

/// `<prefix>.node.<node id>`, where the letters for one node go. The node id
/// is one plain token, so no node can listen to another's letters.
fn node_subject(prefix: &str, node_id: &str) -> anyhow::Result<Subject> {
    let events = events_subject(prefix)?;
    ensure!(
        is_plain_token(node_id) && !node_id.contains('.'),
        "the node id {node_id:?} must be one name without dots, spaces or wildcards"
    );
    let prefix = events.as_str().trim_end_matches(".events");
    Ok(Subject::from(format!("{prefix}.node.{node_id}")))
}

fn is_plain_token(token: &str) -> bool {
    !token.is_empty() && !token.contains(|c: char| c.is_whitespace() || c == '*' || c == '>')
}

/// Events on their way to NATS, sent in the order they were posted by one
/// task that owns the sending side.
#[derive(Clone)]
struct Outbox {
    queue: mpsc::Sender<Vec<u8>>,
    /// Stamped on every envelope, so this node can recognise its own echoes.
    node_id: Uuid,
}

impl Outbox {
    fn start(client: Client, subject: Subject, node_id: Uuid) -> Outbox {
        let (queue, queued) = mpsc::channel(BACKLOG);
        tokio::spawn(send_to_nats(queued, client, subject));
        Outbox { queue, node_id }
    }

    /// Queues `event` for the other nodes. Never waits: when the queue is full
    /// (NATS has been unreachable for a while) the event is dropped with a
    /// warning, and the other nodes resync once this node reconnects.
    fn post(&self, event: Event) {
        let envelope = Envelope {
            origin: self.node_id,
            event,
        };
        let payload = match serde_json::to_vec(&envelope) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::warn!(%error, event = ?envelope.event, "could not encode an event for NATS");
                return;
            }
        };
        if let Err(error) = self.queue.try_send(payload) {
            tracing::warn!(%error, event = ?envelope.event, "dropping an event for the other nodes");
        }
    }
}

/// Drains the outbox into NATS. Ends when every [`Outbox`] is gone, once
/// the server has read what was published, so that events published just
/// before shutdown still go out.
async fn send_to_nats(mut queued: mpsc::Receiver<Vec<u8>>, client: Client, subject: Subject) {
    while let Some(payload) = queued.recv().await {
        if let Err(error) = client.publish(subject.clone(), payload.into()).await {
            tracing::warn!(%error, "could not publish an event to NATS");
        }
    }
    // The client stops when its last handle is gone. Bytes in the socket are
    // not enough: the server still echoes our own events to this connection,
    // and a write of its that meets the closed socket makes it close the
    // connection, unread commands and all. So wait until it has read them.
    if let Err(error) = confirm_server_caught_up(&client).await {
        let error = format!("{error:#}");
        tracing::warn!(%error, "NATS did not take the last events in time");
    }
}

/// Hands events published by other nodes to this node's listeners.
async fn forward_from_other_nodes(mut subscriber: Subscriber, node_id: Uuid, local: LocalBus) {
    while let Some(message) = subscriber.next().await {
        match serde_json::from_slice::<Envelope>(&message.payload) {
            // Our own event, echoed back: `publish` delivered it already.
            Ok(envelope) if envelope.origin == node_id => {}
            Ok(envelope) => local.deliver(envelope.event),
            Err(error) => tracing::warn!(
                %error,
                subject = %message.subject,
                "skipping a message on the bus subject that is not an event envelope"
            ),
        }
    }
    tracing::warn!("the NATS subscription ended: events from other nodes no longer arrive");
}

/// Returns once the NATS server has processed everything this client sent
/// before, subscriptions included.
///
/// `Client::flush` cannot tell: it returns once the bytes are in the socket.
/// The server handles one connection's commands in order, so a message this
/// client sends to itself and gets back proves everything before it arrived.
async fn confirm_server_caught_up(client: &Client) -> anyhow::Result<()> {
    let round_trip = async {
        // An inbox subject is unique to this client and seen by no other node.
        let probe_subject = client.new_inbox();
        let mut probe = client.subscribe(probe_subject.clone()).await?;
        client.publish(probe_subject, Default::default()).await?;
        probe.next().await.context("the NATS connection closed")?;
        anyhow::Ok(())
    };
    // Bounded as a whole: with the connection down, even handing the
    // client a command can wait for as long as the outage lasts.
    tokio::time::timeout(NATS_DEADLINE, round_trip)
        .await
        .context("the NATS server did not answer in time")?
}

/// What a NATS URL's user part says: `nats://user:password@host` or
/// `nats://token@host`.
#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    None,
    UserAndPassword(String, String),
    Token(String),
}

/// The servers of `urls` (one, or several separated by commas) with their
/// credentials taken out, and those credentials (the first found). The
/// client logs the addresses it connects to, at debug level, whole; given
/// the credentials as options instead, it never writes them.
fn without_credentials(urls: &str) -> anyhow::Result<(String, Credentials)> {
    let mut credentials = Credentials::None;
    let mut servers = Vec::new();
    for server in urls.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let with_scheme = if server.contains("://") {
            server.to_owned()
        } else {
            format!("nats://{server}")
        };
        // The error names no part of the URL, which may hold a password.
        let mut parsed = url::Url::parse(&with_scheme)
            .map_err(|error| anyhow::anyhow!("a bus URL is not a URL ({error})"))?;
        let user = parsed.username().to_owned();
        let password = parsed.password().map(str::to_owned);
        if credentials == Credentials::None && !user.is_empty() {
            credentials = match password {
                Some(password) => Credentials::UserAndPassword(user, password),
                None => Credentials::Token(user),
            };
        }
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        servers.push(parsed.to_string());
    }
    anyhow::ensure!(!servers.is_empty(), "the bus URL names no server");
    Ok((servers.join(","), credentials))
}

/// Turns connection trouble into [`Event::Resync`], as the module docs explain.
async fn watch_connection(
    mut connection_events: mpsc::UnboundedReceiver<async_nats::Event>,
    client: Client,
    local: LocalBus,
    outbox: Outbox,
) {
    // The client reports `Connected` for the first connection too; only one
    // that follows a `Disconnected` means events may have been missed.
    let mut disconnected = false;
    while let Some(connection_event) = connection_events.recv().await {
        match connection_event {
            async_nats::Event::Disconnected => {
                tracing::warn!("lost the NATS connection; will resync once it is back");
                disconnected = true;
            }
            async_nats::Event::Connected if disconnected => {
                disconnected = false;
                // The client renews our subscription as it reconnects. Wait
                // for the server to confirm it before telling listeners to
                // re-read, or an event published between their re-read and
                // the renewal would be missed.
                if let Err(error) = confirm_server_caught_up(&client).await {
                    let error = format!("{error:#}");
                    tracing::warn!(%error, "could not confirm the renewed NATS subscription");
                }
                tracing::info!("NATS connection is back; resyncing this node and the others");
                local.deliver(Event::Resync);
                outbox.post(Event::Resync);
            }
            async_nats::Event::SlowConsumer(_) => {
                tracing::warn!("NATS dropped events this node read too slowly; resyncing");
                local.deliver(Event::Resync);
            }
            async_nats::Event::ServerError(_) | async_nats::Event::ClientError(_) => {
                tracing::warn!(%connection_event, "NATS connection trouble");
            }
            _ => tracing::debug!(%connection_event, "NATS connection event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use domain::Id;

    use super::*;

    #[test]
    fn credentials_leave_the_url_for_the_options() {
        assert_eq!(
            without_credentials("nats://lockin:s3cret@10.0.0.1:4222").unwrap(),
            (
                "nats://10.0.0.1:4222".to_owned(),
                Credentials::UserAndPassword("lockin".into(), "s3cret".into())
            )
        );
        assert_eq!(
            without_credentials("nats://t0ken@a:4222, nats://b:4222").unwrap(),
            (
                "nats://a:4222,nats://b:4222".to_owned(),
                Credentials::Token("t0ken".into())
            )
        );
        assert_eq!(
            without_credentials("127.0.0.1:4222").unwrap(),
            ("nats://127.0.0.1:4222".to_owned(), Credentials::None)
        );
        let refused = without_credentials("nats://user:s3cret@[bad").unwrap_err();
        assert!(!refused.to_string().contains("s3cret"), "{refused}");
        assert!(without_credentials(" , ").is_err());
    }

    #[test]
    fn the_subject_is_the_prefix_and_events() {
        assert_eq!(events_subject("lockin").unwrap().as_str(), "lockin.events");
        assert_eq!(
            events_subject("lockin.staging").unwrap().as_str(),
            "lockin.staging.events"
        );
    }

    #[test]
    fn a_nodes_letters_have_a_subject_of_their_own() {
        assert_eq!(
            node_subject("lockin", "n1").unwrap().as_str(),
            "lockin.node.n1"
        );
        for node_id in ["", "a.b", "*", ">", "a b"] {
            assert!(node_subject("lockin", node_id).is_err(), "{node_id:?}");
        }
    }

    #[test]
    fn a_prefix_that_is_not_a_plain_subject_is_refused() {
        for prefix in [
            "",
            "lock in",
            "lockin.*",
            ">",
            "lockin..x",
            ".lockin",
            "lockin.",
        ] {
            assert!(events_subject(prefix).is_err(), "{prefix:?} was accepted");
        }
    }

    #[test]
    fn the_envelope_has_a_stable_wire_form() {
        let node_id = Uuid::new_v4();
        let session_id = Id::generate();
        let json = serde_json::to_value(Envelope {
            origin: node_id,
            event: Event::ChatChanged {
                session_id: session_id.clone(),
            },
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "origin": node_id.to_string(),
                "event": {"kind": "chat_changed", "session_id": session_id.as_str()},
            })
        );
    }
}

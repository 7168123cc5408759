//! `NatsBus` against a real NATS server: several buses in one process stand in
//! for several nodes.
//!
//! The server is `LOCKIN_TEST_NATS_URL` (default `nats://127.0.0.1:4222`). If
//! it cannot be reached the tests fail, never skip. Each test uses its own
//! random subject prefix, so tests running side by side never see each other.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bus::{Bus, NatsBus};
use domain::Id;
use domain::event::Event;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How long any one expected event may take. Generous: CI machines are small
/// and busy, and a passing test never waits this long.
const EVENT_DEADLINE: Duration = Duration::from_secs(10);

fn nats_url() -> String {
    std::env::var("LOCKIN_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A subject prefix no other test uses.
fn unique_prefix() -> String {
    format!("lockin-test-{}", Uuid::new_v4().simple())
}

/// A node on the bus `prefix` of the NATS server at `url`.
async fn join(url: &str, prefix: &str) -> NatsBus {
    NatsBus::connect(url, prefix).await.unwrap_or_else(|error| {
        panic!(
            "cannot reach NATS at {url} ({error:#}). These tests need a running NATS server: \
             start one, or point LOCKIN_TEST_NATS_URL at one"
        )
    })
}

/// A node on the bus `prefix` of the NATS server at `url`, and a listener to
/// it (the node must live as long as the listener is to hear anything).
async fn listening(url: &str, prefix: &str) -> (NatsBus, broadcast::Receiver<Event>) {
    let node = join(url, prefix).await;
    let listener = node.subscribe();
    (node, listener)
}

/// Two nodes on a bus of their own: one publishes, the other listens.
struct PublisherAndListener {
    url: String,
    prefix: String,
    publisher: NatsBus,
    /// Keeps the listener's node alive.
    _receiver: NatsBus,
    listener: broadcast::Receiver<Event>,
}

impl PublisherAndListener {
    async fn join() -> Self {
        let (url, prefix) = (nats_url(), unique_prefix());
        let publisher = join(&url, &prefix).await;
        let (_receiver, listener) = listening(&url, &prefix).await;
        Self {
            url,
            prefix,
            publisher,
            _receiver,
            listener,
        }
    }
}

/// A plain NATS client, for sending what a `NatsBus` would not.
async fn raw_client(url: &str) -> async_nats::Client {
    async_nats::connect(url)
        .await
        .unwrap_or_else(|error| panic!("cannot reach NATS at {url}: {error}"))
}

async fn next_event(listener: &mut broadcast::Receiver<Event>) -> Event {
    tokio::time::timeout(EVENT_DEADLINE, listener.recv())
        .await
        .unwrap_or_else(|_| panic!("no event arrived within {EVENT_DEADLINE:?}"))
        .expect("the listener lagged or the bus closed")
}

fn session_changed() -> Event {
    Event::SessionChanged {
        session_id: Id::generate(),
    }
}

/// Publishes 200 events through `publisher`, in order; returns them.
async fn publish_many(publisher: &NatsBus) -> Vec<Event> {
    let events: Vec<Event> = (0..200).map(|_| session_changed()).collect();
    for event in &events {
        publisher.publish(event.clone()).await;
    }
    events
}

/// Asserts that `listener` hears `events` next, in order; a failure names the
/// first event that did not come as `what` (lost, out of order).
async fn hears_in_order(listener: &mut broadcast::Receiver<Event>, events: &[Event], what: &str) {
    for (position, expected) in events.iter().enumerate() {
        assert_eq!(
            &next_event(listener).await,
            expected,
            "event {position} {what}"
        );
    }
}

#[tokio::test]
async fn an_event_reaches_every_node_exactly_once() {
    let (url, prefix) = (nats_url(), unique_prefix());
    let (node_a, mut listener_a) = listening(&url, &prefix).await;
    let (node_b, mut listener_b) = listening(&url, &prefix).await;

    let (first, second) = (session_changed(), session_changed());
    node_a.publish(first.clone()).await;
    node_a.publish(second.clone()).await;
    assert_eq!(next_event(&mut listener_a).await, first);
    assert_eq!(next_event(&mut listener_a).await, second);
    assert_eq!(next_event(&mut listener_b).await, first);
    assert_eq!(next_event(&mut listener_b).await, second);

    // NATS delivers in the order the server received, so once an event
    // published after them comes back through NATS, any duplicates of the
    // first two would already have shown up before it.
    let reply_from_b = session_changed();
    node_b.publish(reply_from_b.clone()).await;
    assert_eq!(
        next_event(&mut listener_a).await,
        reply_from_b,
        "node A got its own event back from NATS"
    );
    let reply_from_a = session_changed();
    node_a.publish(reply_from_a.clone()).await;
    assert_eq!(next_event(&mut listener_b).await, reply_from_b);
    assert_eq!(
        next_event(&mut listener_b).await,
        reply_from_a,
        "node B got an event from node A twice"
    );
}

// Several threads, so the other node's client really races the new node's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_hears_events_published_right_after_it_joined() {
    let (url, prefix) = (nats_url(), unique_prefix());
    // Another node's client, connected and ready to publish the moment the
    // new node has joined: the tightest race there is against its subscription.
    let other_node = raw_client(&url).await;
    let subject = format!("{prefix}.events");
    for attempt in 0..20 {
        let (_node, mut listener) = listening(&url, &prefix).await;
        let event = session_changed();
        let envelope = serde_json::json!({"origin": Uuid::new_v4(), "event": event});
        other_node
            .publish(subject.clone(), envelope.to_string().into())
            .await
            .unwrap();
        assert_eq!(
            next_event(&mut listener).await,
            event,
            "join {attempt} missed an event"
        );
    }
}

#[tokio::test]
async fn events_from_one_publisher_arrive_in_order() {
    let mut nodes = PublisherAndListener::join().await;
    let events = publish_many(&nodes.publisher).await;
    hears_in_order(&mut nodes.listener, &events, "out of order").await;
}

#[tokio::test]
async fn a_malformed_message_is_skipped_and_later_events_still_arrive() {
    let mut nodes = PublisherAndListener::join().await;
    let raw = raw_client(&nodes.url).await;
    let subject = format!("{}.events", nodes.prefix);
    let malformed = [
        "not json at all".to_owned(),
        r#"{"event": {"kind": "session_changed"}}"#.to_owned(),
        format!(
            r#"{{"origin": "{}", "event": {{"kind": "no_such_event"}}}}"#,
            Uuid::new_v4()
        ),
        r#"{"origin": "not a node id", "event": {"kind": "resync"}}"#.to_owned(),
    ];
    for payload in malformed {
        raw.publish(subject.clone(), payload.into()).await.unwrap();
    }
    // Once flushed, the server has the malformed messages before the event below.
    raw.flush().await.unwrap();

    let event = session_changed();
    nodes.publisher.publish(event.clone()).await;
    assert_eq!(next_event(&mut nodes.listener).await, event);
}

#[tokio::test]
async fn events_published_just_before_a_bus_is_dropped_still_go_out() {
    let (url, prefix) = (nats_url(), unique_prefix());
    let (_receiver, mut listener) = listening(&url, &prefix).await;

    let publisher = join(&url, &prefix).await;
    // Enough that some are still queued when the bus is dropped.
    let events = publish_many(&publisher).await;
    drop(publisher);
    hears_in_order(&mut listener, &events, "lost").await;
}

#[tokio::test]
async fn a_reconnect_tells_this_node_and_the_others_to_resync() {
    let (url, prefix) = (nats_url(), unique_prefix());
    let proxy = SeverableProxy::start(&url).await;
    let (behind_proxy, mut listener_behind_proxy) = listening(&proxy.url, &prefix).await;
    let (other, mut listener_other) = listening(&url, &prefix).await;

    proxy.sever_connections();

    assert_eq!(next_event(&mut listener_behind_proxy).await, Event::Resync);
    assert_eq!(
        next_event(&mut listener_other).await,
        Event::Resync,
        "the other node was not told to resync"
    );

    // The subscription was renewed: events flow both ways again.
    let from_other = session_changed();
    other.publish(from_other.clone()).await;
    assert_eq!(next_event(&mut listener_behind_proxy).await, from_other);
    let from_behind_proxy = session_changed();
    behind_proxy.publish(from_behind_proxy.clone()).await;
    assert_eq!(next_event(&mut listener_other).await, from_other);
    assert_eq!(next_event(&mut listener_other).await, from_behind_proxy);
}

#[tokio::test]
async fn connecting_to_a_server_that_is_not_there_fails() {
    // A port that was free a moment ago, and nobody listens on now.
    let free_port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = format!("nats://127.0.0.1:{free_port}");
    let outcome =
        tokio::time::timeout(EVENT_DEADLINE, NatsBus::connect(&nowhere, &unique_prefix()))
            .await
            .expect("connecting to nothing did not give up");
    assert!(outcome.is_err());
}

/// A TCP proxy in front of the NATS server whose open connections the test can
/// cut, to make a client see its server go away and come back, without
/// touching the server other tests share.
struct SeverableProxy {
    /// The NATS URL that leads through the proxy.
    url: String,
    /// One task per client connection, owning both of its sockets: aborting
    /// the task closes them.
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: JoinHandle<()>,
}

impl SeverableProxy {
    async fn start(nats_url: &str) -> SeverableProxy {
        let (scheme, rest) = nats_url.split_once("://").unwrap_or(("nats", nats_url));
        let (credentials, upstream) = match rest.rsplit_once('@') {
            Some((credentials, upstream)) => (format!("{credentials}@"), upstream.to_owned()),
            None => (String::new(), rest.to_owned()),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accepting = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move {
                while let Ok((mut client_side, _)) = listener.accept().await {
                    let upstream = upstream.clone();
                    let connection = tokio::spawn(async move {
                        let Ok(mut server_side) = TcpStream::connect(upstream.as_str()).await
                        else {
                            return;
                        };
                        let _ =
                            tokio::io::copy_bidirectional(&mut client_side, &mut server_side).await;
                    });
                    connections.lock().unwrap().push(connection);
                }
            }
        });
        SeverableProxy {
            url: format!("{scheme}://{credentials}{address}"),
            connections,
            accepting,
        }
    }

    /// Closes every connection open now; new ones are still accepted.
    fn sever_connections(&self) {
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

impl Drop for SeverableProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.sever_connections();
    }
}

/// A request to one node is answered by that node alone; letters sent on
/// without an answer arrive in the order sent; a node nobody serves is
/// reported as such, at once.
#[tokio::test]
async fn letters_reach_one_node_in_order_and_requests_come_back() {
    let (url, prefix) = (nats_url(), unique_prefix());
    let asker = join(&url, &prefix).await;
    let home = join(&url, &prefix).await;
    let other = join(&url, &prefix).await;
    let mut homes = home.letters("home").await.expect("home's letters");
    let mut others = other.letters("other").await.expect("other's letters");

    let answered = tokio::spawn(async move {
        let letter = homes.recv().await.expect("a letter");
        assert!(letter.is_request());
        let mut answer = letter.payload.clone();
        answer.extend_from_slice(b" answered");
        letter.answer(answer);
        homes
    });
    let answer = tokio::time::timeout(EVENT_DEADLINE, asker.request("home", b"join".to_vec()))
        .await
        .expect("an answer in time")
        .expect("an answer");
    assert_eq!(answer, b"join answered");
    let mut homes = answered.await.expect("home answered");

    for number in 0..50u8 {
        asker.send("home", vec![number]).await.expect("sent");
    }
    for number in 0..50u8 {
        let letter = tokio::time::timeout(EVENT_DEADLINE, homes.recv())
            .await
            .expect("the letter in time")
            .expect("a letter");
        assert!(!letter.is_request());
        assert_eq!(letter.payload, vec![number]);
    }
    assert!(
        others.try_recv().is_err(),
        "another node read home's letters"
    );

    // A request dropped unanswered (its node stopping) is "no such node",
    // at once rather than after the request's timeout.
    let dropped = tokio::spawn(async move {
        drop(homes.recv().await.expect("a letter"));
        homes
    });
    assert_eq!(
        asker.request("home", b"late".to_vec()).await,
        Err(bus::Unreachable::NoSuchNode)
    );
    dropped.await.expect("home dropped it");

    assert_eq!(
        asker.request("gone", b"anyone?".to_vec()).await,
        Err(bus::Unreachable::NoSuchNode)
    );
}

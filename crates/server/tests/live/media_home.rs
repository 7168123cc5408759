//! One media home per session (docs/MEDIA.md, "One media home per
//! session"): the session's media is pinned to one node in the database, in
//! one statement, so nodes racing for it meet on one home; a home whose node
//! is dead is taken over by a living one. With two nodes, people whose live
//! sockets are on different nodes meet in the home's one room: their media
//! signalling is relayed there over NATS, and they hear each other (client
//! peers stand in for browsers, and send audio frames).

use std::time::Duration;

use domain::Id;
use serde_json::{Value, json};
use sfu::TrackKind;
use sfu::client::{ClientDriver, ClientEvent, Direction};
use store::{MediaHome, SqlStore, Store};
use tokio::sync::mpsc;

use server::live::media::{MEDIA_QUEUE, MEDIA_QUEUE_BYTES};

use crate::client::{LiveClient, PATIENCE};
use crate::harness::{Backend, TestApp, User, own_bus, spawn_app, spawn_app_with};

both_backends!(a_sessions_media_home_is_pinned_once_and_taken_over_only_from_a_dead_node);

/// Longer than any test runs: a node that heartbeat in the test is alive.
const ALIVE: Duration = Duration::from_secs(3600);

fn home(node: usize) -> MediaHome {
    MediaHome {
        node_id: format!("node{node}"),
        media_address: format!("127.0.0.1:{}", 50_000 + node),
    }
}

/// Every node of `nodes` pins the session's home at once; all must get the
/// same, and it must be one of them.
async fn race(store: &SqlStore, session_id: &Id, nodes: &[usize]) -> MediaHome {
    for &node in nodes {
        store
            .heartbeat(&home(node).node_id)
            .await
            .expect("heartbeat");
    }
    let homes = futures::future::join_all(nodes.iter().map(|&node| async move {
        store
            .pin_media_home(session_id, &home(node), ALIVE)
            .await
            .expect("pinning")
    }))
    .await;
    let first = homes[0].clone();
    assert!(homes.iter().all(|pinned| *pinned == first), "{homes:?}");
    assert!(
        nodes.iter().any(|&node| home(node) == first),
        "{first:?} is none of {nodes:?}"
    );
    first
}

async fn a_sessions_media_home_is_pinned_once_and_taken_over_only_from_a_dead_node(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (_ada, _bob, id) = app.ada_and_bob_in_session().await;
    let session_id = Id::from_trusted(id);
    let store = SqlStore::connect(app.database_url())
        .await
        .expect("the test database");

    let nodes: Vec<usize> = (1..=8).collect();
    let first = race(&store, &session_id, &nodes).await;
    // Asked again, the living home stays.
    assert_eq!(race(&store, &session_id, &nodes).await, first);

    // Its node stops: a living node takes the home over, and all agree.
    store.forget_node(&first.node_id).await.expect("forgetting");
    let living: Vec<usize> = nodes
        .iter()
        .copied()
        .filter(|&node| home(node) != first)
        .collect();
    let second = race(&store, &session_id, &living).await;
    assert_ne!(second, first);

    // Taking over from a node that is not the home changes nothing.
    let unchanged = store
        .take_over_media_home(&session_id, &first.node_id, &home(99))
        .await
        .expect("taking over");
    assert_eq!(unchanged, second);
    // From the home itself, it moves.
    let moved = store
        .take_over_media_home(&session_id, &second.node_id, &home(99))
        .await
        .expect("taking over");
    assert_eq!(moved, home(99));
    store.close().await;
    app.stop().await;
}

/// What a [`Page`] saw: a message on its live socket, or a frame of
/// someone's microphone.
enum Seen {
    Message(Value),
    Heard(String),
}

/// A page in a session's media with its live socket on one node, as a
/// browser is: it sends its microphone (an audio frame naming its person
/// every 20 ms, once connected), answers the server's offers, and reports
/// what it hears and every message it gets.
struct Page {
    /// Messages for the page to send on its socket.
    outbox: mpsc::UnboundedSender<Value>,
    seen: mpsc::UnboundedReceiver<Seen>,
    /// The address of the SFU in the join's answer (its ICE candidate).
    candidate: String,
}

impl Page {
    async fn join(node: &TestApp, who: &User, session_id: &str) -> Page {
        let mut client = LiveClient::connect(node, who).await;
        let mut driver = ClientDriver::bind([127, 0, 0, 1].into())
            .await
            .expect("a UDP socket");
        let (offer, mids) = driver
            .peer()
            .offer(&[(TrackKind::Audio, Direction::SendOnly)])
            .expect("an offer");
        client
            .send(json!({
                "type": "media.join",
                "session_id": session_id,
                "offer": offer,
                "sources": {mids[0].to_string(): "microphone"},
            }))
            .await;
        let sdp = client.join_answer(session_id).await;
        let sdp = sdp.as_str();
        driver
            .peer()
            .accept_answer(sdp)
            .expect("the answer fits the offer");
        let (outbox, to_send) = mpsc::unbounded_channel();
        let (saw, seen) = mpsc::unbounded_channel();
        tokio::spawn(run_page(
            client,
            driver,
            mids[0],
            who.name.clone(),
            session_id.to_owned(),
            to_send,
            saw,
        ));
        Page {
            outbox,
            seen,
            candidate: candidate_address(sdp),
        }
    }

    fn send(&self, message: Value) {
        self.outbox.send(message).expect("the page runs");
    }

    async fn next(&mut self, what: &str) -> Seen {
        tokio::time::timeout(PATIENCE, self.seen.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {PATIENCE:?}"))
            .expect("the page runs")
    }

    /// Waits until this page has heard a few frames of `whose` microphone.
    async fn hears(&mut self, whose: &User) {
        let mut frames = 0;
        while frames < 5 {
            if let Seen::Heard(name) = self.next(&format!("audio from {}", whose.name)).await
                && name == whose.name
            {
                frames += 1;
            }
        }
    }

    /// The next `media.<kind>` message that `wanted` picks, skipping others.
    async fn message(&mut self, kind: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let what = format!("media.{kind}");
        loop {
            if let Seen::Message(message) = self.next(&what).await
                && message["type"] == what.as_str()
                && wanted(&message)
            {
                return message;
            }
        }
    }

    /// Waits for a track list with `count` tracks of `whose`.
    async fn tracks_until(&mut self, whose: &User, count: usize) {
        self.message("tracks", |message| {
            let tracks = message["tracks"].as_array().cloned().unwrap_or_default();
            tracks
                .iter()
                .filter(|track| track["user_id"] == whose.id.as_str())
                .count()
                == count
        })
        .await;
    }
}

/// The `ip:port` of the first ICE candidate in `sdp`.
fn candidate_address(sdp: &str) -> String {
    let candidate = sdp
        .lines()
        .find_map(|line| line.strip_prefix("a=candidate:"))
        .unwrap_or_else(|| panic!("no candidate in {sdp}"));
    let fields: Vec<&str> = candidate.split_whitespace().collect();
    format!("{}:{}", fields[4], fields[5])
}

/// Runs a page until its [`Page`] is dropped.
async fn run_page(
    mut client: LiveClient,
    mut driver: ClientDriver,
    microphone: sfu::client::Mid,
    name: String,
    session_id: String,
    mut to_send: mpsc::UnboundedReceiver<Value>,
    saw: mpsc::UnboundedSender<Seen>,
) {
    // A media clock, not a wait: one audio frame every 20 ms, as a microphone.
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    let mut frame = 0u64;
    let mut peer_alive = true;
    loop {
        tokio::select! {
            message = client.next_message(Duration::from_secs(3600)) => {
                if message["type"] == "media.offer" {
                    let sdp = message["sdp"].as_str().expect("an sdp");
                    let answer = driver.peer().accept_offer(sdp).expect("an acceptable offer");
                    client
                        .send(json!({"type": "media.answer", "session_id": session_id, "sdp": answer}))
                        .await;
                }
                let _ = saw.send(Seen::Message(message));
            }
            event = driver.next_event(), if peer_alive => match event {
                Ok(ClientEvent::Media(received)) => {
                    let payload = String::from_utf8_lossy(&received.payload).into_owned();
                    let whose = payload.split('|').next().unwrap_or_default().to_owned();
                    let _ = saw.send(Seen::Heard(whose));
                }
                Ok(_) => {}
                Err(_) => peer_alive = false,
            },
            _ = pace.tick() => {
                let peer = driver.peer();
                if peer_alive && peer.is_connected() {
                    frame += 1;
                    let payload = format!("{name}|{frame}|").into_bytes();
                    let _ = peer.write(tokio::time::Instant::now().into_std(), microphone, frame * 960, payload);
                }
            }
            message = to_send.recv() => match message {
                Some(message) => client.send(message).await,
                None => {
                    client.close().await;
                    return;
                }
            },
        }
    }
}

/// The media homes recorded for the session.
async fn homes_of(node: &TestApp, session_id: &str) -> Vec<(String, String)> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(node.database_url())
        .await
        .expect("the test database");
    let homes = sqlx::query_as::<_, (String, String)>(
        "SELECT node_id, media_address FROM media_homes WHERE session_id = $1",
    )
    .bind(session_id)
    .fetch_all(&pool)
    .await
    .expect("reading the media homes");
    pool.close().await;
    homes
}

/// Two nodes sharing PostgreSQL and NATS. Ada's live socket is on node A,
/// Bob's and Cyd's on node B: all three meet in the session's one media
/// room on node A, whose SFU every page's ICE candidate names, and each
/// hears the others. Leaving through node B, and a removal by the host,
/// take media out at the home.
#[tokio::test]
async fn people_on_two_nodes_meet_in_the_sessions_one_media_home() {
    let node_a = spawn_app_with(Backend::Postgres, own_bus).await;
    let node_b = node_a.another_node().await;
    let (ada, bob, id) = node_a.ada_and_bob_in_session().await;
    let cyd = node_b.register("Cyd").await;
    node_b.join(&cyd, &id).await.expect(200);

    let mut adas = Page::join(&node_a, &ada, &id).await;
    let mut bobs = Page::join(&node_b, &bob, &id).await;
    assert_eq!(
        bobs.candidate, adas.candidate,
        "Bob's media is not on the home"
    );
    adas.hears(&bob).await;
    bobs.hears(&ada).await;
    let homes = homes_of(&node_a, &id).await;
    assert_eq!(homes.len(), 1, "{homes:?}");
    assert_eq!(homes[0].1, adas.candidate, "{homes:?}");

    // A third, also on node B, joins the same home and hears both.
    let mut cyds = Page::join(&node_b, &cyd, &id).await;
    assert_eq!(cyds.candidate, adas.candidate);
    cyds.hears(&ada).await;
    cyds.hears(&bob).await;
    adas.hears(&cyd).await;
    bobs.hears(&cyd).await;
    assert_eq!(homes_of(&node_a, &id).await, homes);

    // Bob leaves media through node B: the home takes his tracks out for
    // everyone, and his page hears why.
    bobs.send(json!({"type": "media.leave", "session_id": id}));
    let closed = bobs.message("closed", |_| true).await;
    assert_eq!(closed["reason"], "left", "{closed}");
    adas.tracks_until(&bob, 0).await;
    cyds.tracks_until(&bob, 0).await;

    // The host removes Cyd through node B: the event reaches the home,
    // which expels her; her page on node B hears it.
    let path = format!("/api/sessions/{id}/participants/{}/moderate", cyd.id);
    node_b
        .post_as(&ada, &path, &json!({"action": "remove"}))
        .await
        .expect(200);
    let closed = cyds.message("closed", |_| true).await;
    assert_eq!(closed["reason"], "removed", "{closed}");
    adas.tracks_until(&cyd, 0).await;

    // Bob joins again through node B, then his page closes: the home lets
    // his media go.
    let bobs = Page::join(&node_b, &bob, &id).await;
    adas.tracks_until(&bob, 1).await;
    drop(bobs);
    adas.tracks_until(&bob, 0).await;
    node_b.stop().await;
    node_a.stop().await;
}

/// A session's home that takes its letters and never answers (a stalled
/// node, alive to the store) holds up only its pages' media: a page relayed
/// there keeps its live socket answering everything else at once, and
/// media messages past the queue (in number or in bytes) are refused at
/// once, not held.
#[tokio::test]
async fn a_home_that_never_answers_holds_up_nothing_but_media() {
    let node = spawn_app_with(Backend::Postgres, own_bus).await;
    let (ada, _bob, id) = node.ada_and_bob_in_session().await;
    let (url, subject) = node.bus_address().expect("a NATS bus");
    let stalled = bus::NatsBus::connect(&url, &subject)
        .await
        .expect("the bus");
    let letters = bus::Bus::letters(&stalled, "stalled")
        .await
        .expect("the stalled node's letters");
    let store = SqlStore::connect(node.database_url())
        .await
        .expect("the test database");
    store.heartbeat("stalled").await.expect("heartbeat");
    let home = MediaHome {
        node_id: "stalled".into(),
        media_address: "127.0.0.1:9".into(),
    };
    let session_id = Id::from_trusted(id.clone());
    let pinned = store
        .pin_media_home(&session_id, &home, ALIVE)
        .await
        .expect("pinning");
    assert_eq!(pinned, home);

    let mut client = LiveClient::connect(&node, &ada).await;
    client
        .send(json!({"type": "media.join", "session_id": id, "offer": "v=0\r\n"}))
        .await;
    // The join waits for the stalled home; the socket does not.
    client.send(json!({"type": "ping"})).await;
    let first = client.next_message(PATIENCE).await;
    assert_eq!(first["type"], "pong", "{first}");

    // Messages past the queue's bytes are refused at once: two answers of
    // 400 KiB wait, a third does not.
    let big = "a".repeat(400 * 1024);
    for _ in 0..3 {
        client
            .send(json!({"type": "media.answer", "session_id": id, "sdp": big}))
            .await;
    }
    client.send(json!({"type": "ping"})).await;
    assert_eq!(refusals_before_pong(&mut client, &id).await, 1);
    assert!(2 * big.len() <= MEDIA_QUEUE_BYTES && 3 * big.len() > MEDIA_QUEUE_BYTES);

    // More media messages than wait in line: the rest are refused at once.
    let extra = 5;
    for _ in 0..MEDIA_QUEUE - 2 + extra {
        client
            .send(json!({"type": "media.state", "session_id": id, "microphone": true, "camera": false}))
            .await;
    }
    client.send(json!({"type": "ping"})).await;
    assert_eq!(refusals_before_pong(&mut client, &id).await, extra);

    // The stalled node goes (its letters dropped unanswered): the join takes
    // the session's media home over for this node, which answers it.
    drop(letters);
    drop(stalled);
    let answer = client
        .next_message_matching("the join's answer", |m| m["type"] != "pong", PATIENCE)
        .await;
    assert_eq!(answer["type"], "media.error", "{answer}");
    assert_ne!(answer["error"]["code"], "unavailable", "{answer}");
    let homes = homes_of(&node, &id).await;
    assert_ne!(homes[0].0, "stalled", "{homes:?}");
    client.close().await;
    node.stop().await;
}

/// Reads up to the next `pong`, every message before it a `rate_limited`
/// refusal naming the session; answers how many.
async fn refusals_before_pong(client: &mut LiveClient, session_id: &str) -> usize {
    let mut refused = 0;
    loop {
        let message = client.next_message(PATIENCE).await;
        if message["type"] == "pong" {
            return refused;
        }
        assert_eq!(message["type"], "media.error", "{message}");
        assert_eq!(message["error"]["code"], "rate_limited", "{message}");
        assert_eq!(message["session_id"], session_id, "{message}");
        refused += 1;
    }
}

/// The home's node stops: it gives its homes up first, and a page relayed
/// to it from node B hears `moved`. Joining again through node B pins the
/// session there, and people meet in the new home. What the host held
/// moves with it: Bob, muted at the old home, is held at the new one until
/// he turns his microphone off and on.
#[tokio::test]
async fn a_stopping_home_hands_its_sessions_over_and_relayed_pages_move() {
    let node_a = spawn_app_with(Backend::Postgres, own_bus).await;
    let node_b = node_a.another_node().await;
    let (ada, bob, id) = node_a.ada_and_bob_in_session().await;
    let adas = Page::join(&node_a, &ada, &id).await;
    let mut bobs = Page::join(&node_b, &bob, &id).await;
    bobs.tracks_until(&ada, 1).await;
    let old_home = adas.candidate.clone();
    let mute = json!({"action": "mute_microphone"});
    node_b
        .post_as(
            &ada,
            &format!("/api/sessions/{id}/participants/{}/moderate", bob.id),
            &mute,
        )
        .await
        .expect(200);
    let held = bobs.message("held", |_| true).await;
    assert_eq!(held["renewed"], false, "{held}");
    // Ada's socket is on the node that stops; her page goes first.
    drop(adas);
    bobs.tracks_until(&ada, 0).await;

    node_a.stop().await;
    let closed = bobs.message("closed", |_| true).await;
    assert_eq!(closed["reason"], "moved", "{closed}");

    let mut bobs = Page::join(&node_b, &bob, &id).await;
    let mut adas = Page::join(&node_b, &ada, &id).await;
    assert_ne!(
        bobs.candidate, old_home,
        "Bob's media is still on the stopped node"
    );
    assert_eq!(adas.candidate, bobs.candidate);
    let held = bobs.message("held", |_| true).await;
    assert_eq!(held["sources"], json!(["microphone"]), "{held}");
    assert_eq!(held["renewed"], true, "{held}");
    for microphone in [false, true] {
        bobs.send(json!({"type": "media.state", "session_id": id, "microphone": microphone, "camera": false}));
    }
    adas.hears(&bob).await;
    bobs.hears(&ada).await;
    let homes = homes_of(&node_b, &id).await;
    assert_eq!(homes.len(), 1, "{homes:?}");
    assert_eq!(homes[0].1, bobs.candidate, "{homes:?}");
    node_b.stop().await;
}

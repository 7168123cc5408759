//! Many nodes: two servers on one PostgreSQL database, sharing events over
//! NATS. A change made through one reaches live clients of the other; a client
//! whose node stops carries on on the other; timed work happens once.
//! PostgreSQL only: SQLite is one node's file.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use server::Config;

use crate::client::{LiveClient, PATIENCE, status_of};
use crate::harness::{Backend, TestApp, id_of, own_bus, spawn_app_with};
use crate::queries::assert_versions_agree;
use crate::reminders::{ask_reminder, await_reminder, reminders_of};

/// Two nodes on a fresh PostgreSQL database, sharing a bus of their own.
async fn two_nodes(adjust: impl FnOnce(&mut Config)) -> (TestApp, TestApp) {
    let first = spawn_app_with(Backend::Postgres, |config| {
        own_bus(config);
        adjust(config);
    })
    .await;
    let second = first.another_node().await;
    (first, second)
}

/// A change through node B reaches a client of node A. Node A stops: Ada's
/// client moves to node B in time and stays; Bob's does not come back, and
/// node B's sweeper marks him left.
#[tokio::test]
async fn a_client_sees_changes_made_through_another_node_and_survives_its_node_stopping() {
    let departure = Duration::from_secs(3);
    let (node_a, node_b) = two_nodes(|config| config.departure_timeout = departure).await;
    let ada = node_a.register("Ada").await;
    let bob = node_b.register("Bob").await;
    let carol = node_b.register("Carol").await;
    let session = node_a.instant_session(&ada, 4).await;
    let id = id_of(&session);

    let mut adas = LiveClient::connect(&node_a, &ada).await;
    let first = adas.subscribed("p", &format!("participants:{id}")).await;
    let mut carols = LiveClient::connect(&node_b, &carol).await;
    let first_session = carols.subscribed("s", &format!("session:{id}")).await;

    node_b.join(&bob, &id).await.expect(200);
    let joined = adas.until_status("p", &bob, "joined", PATIENCE).await;
    let counted = carols
        .next_result_matching("s", |data| data["participant_count"] == 2, PATIENCE)
        .await;
    // Equal versions describe one moment, whichever node read them.
    assert_eq!(joined["version"], counted["version"]);
    assert_versions_agree(&[first, joined], &[first_session, counted]);
    let mut bobs = LiveClient::connect(&node_a, &bob).await;
    bobs.subscribed("s", &format!("session:{id}")).await;

    // Node A stops: its live connections close, and Ada moves to node B.
    // The departure clock starts while the node stops, so measure from before.
    let stopped_at = Instant::now();
    node_a.stop().await;
    adas.closed_by_server(PATIENCE).await;
    bobs.closed_by_server(PATIENCE).await;
    let mut adas = LiveClient::connect(&node_b, &ada).await;
    let resumed = adas.subscribed("p", &format!("participants:{id}")).await;
    assert!(
        stopped_at.elapsed() < departure,
        "moving took {:?}, longer than the departure timeout: the test proves nothing",
        stopped_at.elapsed()
    );
    assert_eq!(resumed["data"], json!(node_b.participants(&ada, &id).await));
    assert_eq!(status_of(&resumed["data"], &bob), Some("joined"));
    assert_eq!(status_of(&resumed["data"], &ada), Some("joined"));

    node_b.join(&carol, &id).await.expect(200);
    adas.until_status("p", &carol, "joined", PATIENCE).await;
    // Both departures started when node A stopped; only Bob's runs out.
    let gone = adas
        .until_status("p", &bob, "left", departure + PATIENCE)
        .await;
    assert!(stopped_at.elapsed() >= departure);
    assert_eq!(status_of(&gone["data"], &ada), Some("joined"), "{gone}");
    assert_eq!(status_of(&gone["data"], &carol), Some("joined"), "{gone}");
    node_b.stop().await;
}

#[tokio::test]
async fn reminders_fire_once_with_two_nodes() {
    let (node_a, node_b) = two_nodes(|_| {}).await;
    let ada = node_a.register("Ada").await;
    let bob = node_b.register("Bob").await;
    // Each watches on the node they did not act through.
    let mut adas = LiveClient::connect(&node_b, &ada).await;
    let mut bobs = LiveClient::connect(&node_a, &bob).await;
    adas.subscribed("n", "notifications").await;
    bobs.subscribed("n", "notifications").await;

    let planned = node_a
        .scheduled_session(&ada, "Algorithms review", chrono::Duration::minutes(5))
        .await;
    let planned_id = id_of(&planned);
    ask_reminder(&node_b, &bob, &planned_id).await;
    await_reminder(&mut adas, &node_b, &ada, &planned).await;
    await_reminder(&mut bobs, &node_a, &bob, &planned).await;

    // Later sweeps on both nodes, proven by a later reminder, do not repeat the first.
    let later = node_b
        .scheduled_session(&ada, "Graphs", chrono::Duration::minutes(5))
        .await;
    ask_reminder(&node_a, &bob, &id_of(&later)).await;
    for (live, user) in [(&mut adas, &ada), (&mut bobs, &bob)] {
        let pushed = live
            .next_result_matching(
                "n",
                |data| reminders_of(data, later["id"].as_str().unwrap_or_default()) > 0,
                PATIENCE,
            )
            .await;
        assert_eq!(reminders_of(&pushed["data"], &planned_id), 1, "{pushed}");
        for node in [&node_a, &node_b] {
            let list = node.notifications(user).await;
            assert_eq!(reminders_of(&list, &planned_id), 1, "{list}");
            assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
        }
    }
    node_a.stop().await;
    node_b.stop().await;
}

/// The host runs the timer through node B; a guest watching the session on
/// node A sees it start. When its block's end passes, a node's own sweep
/// moves it on and the guest sees the next block, without anyone asking.
#[tokio::test]
async fn the_shared_timer_reaches_every_node_and_moves_on_by_itself() {
    let (node_a, node_b) = two_nodes(|_| {}).await;
    let ada = node_b.register("Ada").await;
    let bob = node_a.register("Bob").await;
    let session = node_b
        .create_session(
            &ada,
            json!({"planned_minutes": 50, "rhythm": {"kind": "pomodoro", "work_minutes": 25,
                   "break_minutes": 5, "long_break_minutes": 15, "long_break_every": 4}}),
        )
        .await;
    let id = id_of(&session);
    node_a.join(&bob, &id).await.expect(200);
    let mut bobs = LiveClient::connect(&node_a, &bob).await;
    let first = bobs.subscribed("s", &format!("session:{id}")).await;
    assert_eq!(first["data"]["timer"]["state"], "not_started");

    node_b
        .post_as(
            &ada,
            &format!("/api/sessions/{id}/timer"),
            &json!({"action": "start"}),
        )
        .await
        .expect(200);
    let running = bobs
        .next_result_matching("s", |data| data["timer"]["state"] == "running", PATIENCE)
        .await;
    assert_eq!(running["data"]["timer"]["block_kind"], "work");

    // The work block ends now, as if 25 minutes had passed: its end is moved
    // into the past in the store, and the nodes' sweeps do the rest.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(node_a.database_url())
        .await
        .expect("connecting to the test database");
    let a_second_ago = (chrono::Utc::now() - chrono::Duration::seconds(1)).timestamp_micros();
    sqlx::query("UPDATE sessions SET timer_ends_at = $2 WHERE id = $1")
        .bind(&id)
        .bind(a_second_ago)
        .execute(&pool)
        .await
        .expect("ending the work block");
    pool.close().await;
    let on_break = bobs
        .next_result_matching("s", |data| data["timer"]["block_index"] == 1, PATIENCE)
        .await;
    assert_eq!(on_break["data"]["timer"]["block_kind"], "break");
    assert_eq!(on_break["data"]["timer"]["state"], "running");
    node_b.stop().await;
    node_a.stop().await;
}

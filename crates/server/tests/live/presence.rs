//! Presence: a joined participant whose last live connection closes is marked
//! left after the departure timeout, unless they come back in time; a session
//! nobody is in ends after the empty timeout.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::client::{LiveClient, PATIENCE, status_of};
use crate::harness::{Backend, TestApp, User, id_of, spawn_app_with};
use crate::queries::assert_versions_agree;

both_backends!(
    a_closed_connection_departs_after_the_timeout,
    reconnecting_in_time_is_not_a_departure,
    an_empty_session_ends_by_itself,
    only_participants_connections_write_presence,
    joining_while_watching_is_presence,
    subscription_churn_is_refused_past_the_limit,
);

async fn a_closed_connection_departs_after_the_timeout(backend: Backend) {
    let departure = Duration::from_secs(1);
    let app = spawn_app_with(backend, |config| config.departure_timeout = departure).await;
    let (ada, bob, id) = app.ada_and_bob_in_session().await;

    let mut watcher = LiveClient::connect(&app, &ada).await;
    let first = watcher.subscribed("p", &format!("participants:{id}")).await;
    assert_eq!(status_of(&first["data"], &bob), Some("joined"));
    let first_session = watcher.subscribed("s", &format!("session:{id}")).await;
    let mut bobs = LiveClient::connect(&app, &bob).await;
    bobs.subscribed("s", &format!("session:{id}")).await;

    // Dropped, not closed: no close frame, as when a laptop lid shuts.
    let closed_at = Instant::now();
    drop(bobs);
    let left = watcher.until_status("p", &bob, "left", PATIENCE).await;
    assert!(
        closed_at.elapsed() >= departure,
        "Bob was marked left {:?} after his connection closed, before the departure timeout of {departure:?}",
        closed_at.elapsed()
    );
    // Ada holds a connection: she stays.
    assert_eq!(status_of(&left["data"], &ada), Some("joined"), "{left}");
    assert_eq!(left["data"], json!(app.participants(&ada, &id).await));
    let count_dropped = watcher
        .next_result_matching("s", |data| data["participant_count"] == 1, PATIENCE)
        .await;
    assert_versions_agree(&[first, left], &[first_session, count_dropped]);
    app.stop().await;
}

/// Presence counts connections and queries: Bob's connection closes and comes
/// straight back, his other connection closes, and he drops one of two queries
/// of the session; for twice the departure timeout after that, Ada's live list
/// never shows him left. Then he unsubscribes from the session's last query,
/// connection still open, and is marked left: the sweeps were running all along.
async fn reconnecting_in_time_is_not_a_departure(backend: Backend) {
    let departure = Duration::from_secs(3);
    let app = spawn_app_with(backend, |config| config.departure_timeout = departure).await;
    let (ada, bob, id) = app.ada_and_bob_in_session().await;

    let mut watcher = LiveClient::connect(&app, &ada).await;
    watcher.subscribed("p", &format!("participants:{id}")).await;
    let mut bobs_chat = LiveClient::connect(&app, &bob).await;
    bobs_chat.subscribed("chat", &format!("chat:{id}")).await;
    let mut bobs_room = LiveClient::connect(&app, &bob).await;
    bobs_room
        .subscribed("p", &format!("participants:{id}"))
        .await;

    let closed_at = Instant::now();
    bobs_room.close().await;
    let mut bobs_room = LiveClient::connect(&app, &bob).await;
    bobs_room
        .subscribed("p", &format!("participants:{id}"))
        .await;
    bobs_room.subscribed("s", &format!("session:{id}")).await;
    bobs_room.subscribed("lists", "sessions:active").await;
    assert!(
        closed_at.elapsed() < departure,
        "reconnecting took {:?}, longer than the departure timeout: the test proves nothing",
        closed_at.elapsed()
    );
    bobs_chat.close().await;
    bobs_room.unsubscribe("s").await;

    // Nothing announces that a departure did *not* happen: watch for the
    // wrong push for twice the timeout (the sweeper runs every 100 ms meanwhile).
    watcher
        .no_result_matching(
            "p",
            |data| status_of(data, &bob) != Some("joined"),
            departure * 2,
        )
        .await;
    assert_eq!(
        status_of(&json!(app.participants(&ada, &id).await), &bob),
        Some("joined")
    );

    let departed_at = Instant::now();
    bobs_room.unsubscribe("p").await;
    watcher
        .until_status("p", &bob, "left", departure + PATIENCE)
        .await;
    assert!(departed_at.elapsed() >= departure);
    // The connection itself is still there, with its other query.
    bobs_room.round_trip().await;
    app.stop().await;
}

async fn an_empty_session_ends_by_itself(backend: Backend) {
    let empty = Duration::from_secs(1);
    let app = spawn_app_with(backend, |config| config.empty_timeout = empty).await;
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let emptied = app.instant_session(&ada, 4).await;
    let id = id_of(&emptied);
    // Bob's session always has Bob in it: it must outlive the empty one.
    let occupied = app.instant_session(&bob, 4).await;
    let occupied_id = id_of(&occupied);

    let mut watcher = LiveClient::connect(&app, &ada).await;
    watcher.subscribed("s", &format!("session:{id}")).await;
    let left_at = Instant::now();
    app.leave(&ada, &id).await.expect(200);
    let ended = watcher
        .next_result_matching("s", |data| data["status"] == "ended", PATIENCE)
        .await;
    assert!(
        left_at.elapsed() >= empty,
        "the session ended {:?} after it emptied, before the empty timeout of {empty:?}",
        left_at.elapsed()
    );
    assert!(ended["data"]["ended_at"].is_string(), "{ended}");
    assert_eq!(ended["data"], app.session(&ada, &id).await);
    assert_eq!(app.session(&bob, &occupied_id).await["status"], "active");
    app.stop().await;
}

/// The presence rows of `user` in session `id`, on every node, read from the store.
async fn presence_rows(app: &TestApp, id: &str, user: &User) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(app.database_url())
        .await
        .expect("connecting to the test database");
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM presence WHERE session_id = $1 AND user_id = $2")
            .bind(id)
            .bind(&user.id)
            .fetch_one(&pool)
            .await
            .expect("counting presence rows");
    pool.close().await;
    rows
}

/// Someone who is not in a session may watch it, but writes no presence for
/// it; the participant watching beside them does.
async fn only_participants_connections_write_presence(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    let carol = app.register("Carol").await;

    let mut carols = LiveClient::connect(&app, &carol).await;
    carols.subscribed("s", &format!("session:{id}")).await;
    carols.subscribed("p", &format!("participants:{id}")).await;
    let mut bobs = LiveClient::connect(&app, &bob).await;
    bobs.subscribed("s", &format!("session:{id}")).await;
    carols.round_trip().await;

    assert_eq!(presence_rows(&app, &id, &bob).await, 1);
    assert_eq!(presence_rows(&app, &id, &carol).await, 0);
    assert_eq!(presence_rows(&app, &id, &ada).await, 0);
    app.stop().await;
}

/// Carol watches the session first and joins after: from then on her
/// connection holds her in, for longer than the departure timeout.
async fn joining_while_watching_is_presence(backend: Backend) {
    let departure = Duration::from_secs(1);
    let app = spawn_app_with(backend, |config| config.departure_timeout = departure).await;
    let [ada, carol] = app.register_all(["Ada", "Carol"]).await;
    let session = app.instant_session(&ada, 4).await;
    let id = id_of(&session);
    let mut adas = LiveClient::connect(&app, &ada).await;
    adas.subscribed("p", &format!("participants:{id}")).await;

    let mut carols = LiveClient::connect(&app, &carol).await;
    carols.subscribed("s", &format!("session:{id}")).await;
    app.join(&carol, &id).await.expect(200);
    adas.until_status("p", &carol, "joined", PATIENCE).await;
    adas.no_result_matching(
        "p",
        |data| status_of(data, &carol) == Some("left"),
        departure * 3,
    )
    .await;
    // Her connection goes, and so does she.
    carols.close().await;
    adas.until_status("p", &carol, "left", PATIENCE).await;
    app.stop().await;
}

/// Subscribing and unsubscribing is limited per connection: past the limit
/// each is refused with `rate_limited`, and the connection stays open.
async fn subscription_churn_is_refused_past_the_limit(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.live_subscriptions_per_second = 3;
    })
    .await;
    let ada = app.register("Ada").await;
    let mut adas = LiveClient::connect(&app, &ada).await;
    let ids: Vec<String> = (0..30).map(|n| format!("q{n}")).collect();
    for id in &ids {
        adas.subscribe(id, "sessions:active").await;
    }
    let (mut answered, mut refused) = (0, 0);
    for id in &ids {
        let message = adas
            .next_message_matching(
                &format!("an answer for {id}"),
                |message| message["id"] == *id,
                PATIENCE,
            )
            .await;
        match message["type"].as_str() {
            Some("result") => answered += 1,
            _ => {
                assert_eq!(message["error"]["code"], "rate_limited", "{message}");
                refused += 1;
            }
        }
    }
    assert!(answered >= 3, "{answered} answered");
    assert!(refused > 0, "none of {} refused", ids.len());
    // Refused, not disconnected.
    adas.round_trip().await;
    app.stop().await;
}

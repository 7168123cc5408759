//! Node liveness: a node that cannot write for a while (a stalled store) is
//! never taken for dead by itself, and one that others took for dead puts its
//! people back as soon as it can write again. The scenarios play nodes of
//! their own against the test server's database, through the store.

use std::time::Duration;

use domain::Id;
use domain::session::{MaxParticipants, Schedule, SessionTitle, SessionType};
use store::{NewSession, SqlStore, Store, Timeouts};

use crate::harness::TestApp;

both_backends!(
    a_node_never_takes_itself_for_dead,
    a_node_taken_for_dead_learns_it_on_its_next_heartbeat,
    a_seat_nobody_connects_to_is_given_up,
);

/// Timeouts under which anything silent at all is overdue: a sweep decides
/// on the rows alone, with no clock to wait for.
const OVERDUE: Timeouts = Timeouts {
    departure: Duration::ZERO,
    empty: Duration::from_secs(3600),
    node_dead_after: Duration::ZERO,
    remind_before: Duration::ZERO,
};

/// Timeouts under which departures are overdue but no node has been silent
/// for long enough to be taken for dead.
const NODE_ALIVE: Timeouts = Timeouts {
    node_dead_after: Duration::from_secs(3600),
    ..OVERDUE
};

/// The test server's store, as another node sees it.
async fn store_of(app: &TestApp) -> SqlStore {
    SqlStore::connect(app.database_url())
        .await
        .expect("the store")
}

/// One sweep by `node`, as it would run it.
async fn sweep(store: &SqlStore, node: &str, timeouts: &Timeouts) {
    store.sweep(node, timeouts).await.expect("sweeping");
}

/// A session with a person in it, connected through `node`.
async fn someone_connected_through(app: &TestApp, store: &SqlStore, node: &str) -> (Id, Id) {
    let ada = app.register("Ada").await;
    let user_id = Id::parse("id", &ada.id).expect("a user id");
    let session = store
        .create_session(NewSession {
            creator_id: user_id.clone(),
            title: SessionTitle::parse("Deep work")
                .expect("a title")
                .into_inner(),
            description: None,
            session_type: SessionType::Coding,
            schedule: Schedule::Instant,
            project_id: None,
            max_participants: MaxParticipants::parse(4).expect("seats").get(),
            ai_agent_enabled: false,
            shape: Default::default(),
            quiet_work: false,
        })
        .await
        .expect("creating a session")
        .session;
    store.heartbeat(node).await.expect("a heartbeat");
    store
        .mark_present(node, &session.id, &user_id)
        .await
        .expect("marking present");
    (session.id, user_id)
}

async fn is_joined(store: &SqlStore, session_id: &Id, user_id: &Id) -> bool {
    let (_, participants) = store
        .participants_snapshot(session_id)
        .await
        .expect("reading participants")
        .expect("the session");
    participants
        .iter()
        .any(|p| &p.user_id == user_id && p.status == domain::session::ParticipantStatus::Joined)
}

/// However long ago its last heartbeat landed (its writes stalled), a node's
/// own sweep never closes its own connections.
async fn a_node_never_takes_itself_for_dead(app: &TestApp) {
    let store = store_of(app).await;
    let (session_id, user_id) = someone_connected_through(app, &store, "stalled-node").await;
    sweep(&store, "stalled-node", &OVERDUE).await;
    assert!(
        is_joined(&store, &session_id, &user_id).await,
        "a node marked its own connected participant left"
    );
    // Another node, seeing the same silence, does close them.
    sweep(&store, "other-node", &OVERDUE).await;
    assert!(!is_joined(&store, &session_id, &user_id).await);
    store.close().await;
}

/// A heartbeat says whether the node was still on record; after another node
/// took it for dead, asserting presence again keeps its people in.
async fn a_node_taken_for_dead_learns_it_on_its_next_heartbeat(app: &TestApp) {
    let store = store_of(app).await;
    assert!(
        !store.heartbeat("slow-node").await.expect("a heartbeat"),
        "a new node is not on record"
    );
    assert!(store.heartbeat("slow-node").await.expect("a heartbeat"));
    let (session_id, user_id) = someone_connected_through(app, &store, "slow-node").await;
    let lenient = Timeouts {
        departure: Duration::from_secs(3600),
        ..OVERDUE
    };
    sweep(&store, "other-node", &lenient).await;
    assert!(
        !store.heartbeat("slow-node").await.expect("a heartbeat"),
        "the node was taken for dead and must be told"
    );
    store
        .mark_present("slow-node", &session_id, &user_id)
        .await
        .expect("asserting presence again");
    // The node is alive again: departures are due at once, but not theirs.
    sweep(&store, "other-node", &NODE_ALIVE).await;
    assert!(
        is_joined(&store, &session_id, &user_id).await,
        "a participant whose node asserted them again was marked left"
    );
    store.close().await;
}

/// Someone who joins and never opens a live connection departs after the
/// departure timeout, as if they had disconnected; someone watching the
/// session when they join does not.
async fn a_seat_nobody_connects_to_is_given_up(app: &TestApp) {
    let store = store_of(app).await;
    let (session_id, watching) = someone_connected_through(app, &store, "a-node").await;
    let bob = app.register("Bob").await;
    let absent = Id::parse("id", &bob.id).expect("a user id");
    store
        .join_session(&session_id, &absent, false)
        .await
        .expect("joining");
    sweep(&store, "a-node", &NODE_ALIVE).await;
    assert!(
        !is_joined(&store, &session_id, &absent).await,
        "a seat held without a connection was kept"
    );
    assert!(is_joined(&store, &session_id, &watching).await);
    store.close().await;
}

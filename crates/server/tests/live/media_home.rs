//! One media home per session (docs/MEDIA.md, "One media home per
//! session"): the session's media is pinned to one node in the database, in
//! one statement, so nodes racing for it meet on one home; a home whose node
//! is dead is taken over by a living one.

use std::time::Duration;

use domain::Id;
use store::{MediaHome, SqlStore, Store};

use crate::harness::{Backend, spawn_app};

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

//! The host's controls reach the media server (docs/MEDIA.md, "The host's
//! controls"): a mute makes the SFU hold the person's microphone, tells
//! their page (`media.held`) and shows it off to the others before their
//! page says anything; a removal closes their media (`media.closed`
//! `removed`) and takes their tracks from everyone at once. A hold outlives
//! the connection it was made on.

use serde_json::{Value, json};

use crate::client::{LiveClient, PATIENCE};
use crate::harness::{Backend, User, own_bus, spawn_app, spawn_app_with};
use crate::media::{closed_for, in_media, next_media, tracks_until};

both_backends!(
    the_host_holds_someones_microphone_and_removing_them_closes_their_media,
    a_hold_outlives_the_connection_it_was_made_on,
);

/// The next `media.states` in which `whose` microphone is `on`.
async fn microphone_until(client: &mut LiveClient, session_id: &str, whose: &User, on: bool) {
    loop {
        let states: Value = next_media(client, "states", session_id).await;
        if states["states"][whose.id.as_str()]["microphone"] == on {
            return;
        }
    }
}

async fn the_host_holds_someones_microphone_and_removing_them_closes_their_media(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    let (mut adas, _adas_browser) = in_media(&app, &ada, &id).await;
    let (mut bobs, _bobs_browser) = in_media(&app, &bob, &id).await;
    bobs.send(json!({"type": "media.state", "session_id": id, "microphone": true, "camera": true}))
        .await;
    tracks_until(&mut adas, &id, &bob, 2).await;
    microphone_until(&mut adas, &id, &bob, true).await;

    let path = format!("/api/sessions/{id}/participants/{}/moderate", bob.id);
    app.post_as(&ada, &path, &json!({"action": "mute_microphone"}))
        .await
        .expect(200);
    let held = next_media(&mut bobs, "held", &id).await;
    assert_eq!(held["sources"], json!(["microphone"]), "{held}");
    // Ada sees it off at once: Bob's page has not said a word.
    microphone_until(&mut adas, &id, &bob, false).await;

    app.post_as(&ada, &path, &json!({"action": "remove"}))
        .await
        .expect(200);
    closed_for(&mut bobs, &id, "removed").await;
    tracks_until(&mut adas, &id, &bob, 0).await;
    app.stop().await;
}

/// "Mute everyone" holds Bob's microphone. His page reloads (a new
/// connection, a new media join): he is held again, and told so
/// (`renewed`). Once that page turns the microphone off and on, the hold is
/// gone for good: his next join is held no more.
async fn a_hold_outlives_the_connection_it_was_made_on(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    let (mut adas, _adas_browser) = in_media(&app, &ada, &id).await;
    let (mut bobs, bobs_browser) = in_media(&app, &bob, &id).await;
    app.post_as(&ada, &format!("/api/sessions/{id}/mute-all"), &json!({}))
        .await
        .expect(200);
    let held = next_media(&mut bobs, "held", &id).await;
    assert_eq!(held["renewed"], false, "{held}");
    bobs.close().await;
    drop(bobs_browser);

    let (mut bobs, _bobs_browser) = in_media(&app, &bob, &id).await;
    let held = next_media(&mut bobs, "held", &id).await;
    assert_eq!(held["sources"], json!(["microphone"]), "{held}");
    assert_eq!(held["renewed"], true, "{held}");

    // Off, then on: his own choice, made after hearing of the hold. Ada sees
    // it on once the hold is let go (and forgotten).
    for microphone in [false, true] {
        bobs.send(json!({"type": "media.state", "session_id": id, "microphone": microphone, "camera": false}))
            .await;
    }
    microphone_until(&mut adas, &id, &bob, true).await;
    bobs.close().await;

    // A new page of his joins unheld: its first word after the answer is
    // the track list, where a hold would have come first.
    let (mut bobs, _bobs_browser) = in_media(&app, &bob, &id).await;
    let first = bobs
        .next_message_matching(
            "media.held or media.tracks",
            |message| message["type"] == "media.held" || message["type"] == "media.tracks",
            PATIENCE,
        )
        .await;
    assert_eq!(first["type"], "media.tracks", "{first}");
    app.stop().await;
}

/// Two nodes sharing PostgreSQL and NATS: the host mutes and removes through
/// node B, while Bob's media is on node A. The event crosses the bus, and
/// node A's SFU holds and then expels him.
#[tokio::test]
async fn a_mute_and_a_removal_through_another_node_reach_the_node_with_the_media() {
    let node_a = spawn_app_with(Backend::Postgres, own_bus).await;
    let node_b = node_a.another_node().await;
    let (ada, bob, id) = node_a.ada_and_bob_in_session().await;
    let (mut adas, _adas_browser) = in_media(&node_a, &ada, &id).await;
    let (mut bobs, _bobs_browser) = in_media(&node_a, &bob, &id).await;
    tracks_until(&mut adas, &id, &bob, 2).await;

    let path = format!("/api/sessions/{id}/participants/{}/moderate", bob.id);
    node_b
        .post_as(&ada, &path, &json!({"action": "turn_off_camera"}))
        .await
        .expect(200);
    let held = next_media(&mut bobs, "held", &id).await;
    assert_eq!(held["sources"], json!(["camera"]), "{held}");

    node_b
        .post_as(&ada, &path, &json!({"action": "remove"}))
        .await
        .expect(200);
    closed_for(&mut bobs, &id, "removed").await;
    tracks_until(&mut adas, &id, &bob, 0).await;
    node_b.stop().await;
    node_a.stop().await;
}

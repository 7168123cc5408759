//! Signing out: the live connections opened with that token close, with a
//! close frame the page tells from a lost connection, on every node; the
//! person's other sign-ins keep theirs.

use crate::client::{LiveClient, PATIENCE};
use crate::harness::{Backend, PASSWORD, TestApp, User, id_of, own_bus, spawn_app_with};

both_backends!(signing_out_closes_that_tokens_live_connections);

/// Signs `user` in again: a second token of their own.
async fn sign_in_again(app: &TestApp, user: &User) -> User {
    let body = app.login(&user.email, PASSWORD).await.expect(200);
    User::from_auth_answer(&body)
}

/// Asserts `live` is closed as signed out (code 4401).
async fn assert_signed_out(live: LiveClient) {
    let frame = live.close_frame(PATIENCE).await;
    assert_eq!(
        frame.as_ref().map(|(code, _)| *code),
        Some(protocol::live::SIGNED_OUT_CLOSE_CODE),
        "{frame:?}"
    );
}

/// The scenario on `signing_out` (where Ada signs out) with Ada's sockets on
/// `watching` (the same node, or another).
async fn sign_out_closes_connections(signing_out: &TestApp, watching: &TestApp) {
    let ada = signing_out.register("Ada").await;
    let ada_elsewhere = sign_in_again(signing_out, &ada).await;
    let session = signing_out.instant_session(&ada, 4).await;
    let id = id_of(&session);

    let mut signed_out = LiveClient::connect(watching, &ada).await;
    signed_out.subscribed("c", &format!("chat:{id}")).await;
    let mut second = LiveClient::connect(watching, &ada).await;
    second.subscribed("s", &format!("session:{id}")).await;
    let mut other_sign_in = LiveClient::connect(watching, &ada_elsewhere).await;
    other_sign_in.subscribed("c", &format!("chat:{id}")).await;

    signing_out
        .post("/api/auth/logout")
        .auth(&ada)
        .send()
        .await
        .expect(204);
    assert_signed_out(signed_out).await;
    assert_signed_out(second).await;
    // The token opens no new connection either.
    let refused = LiveClient::handshake(&watching.live_url(Some(&ada.token)), &[])
        .await
        .err()
        .expect("a signed-out token is refused");
    assert_eq!(refused.status, 401);

    // Ada's other sign-in still hears the room.
    signing_out
        .post_message(&ada_elsewhere, &id, "still here")
        .await
        .expect(201);
    other_sign_in
        .next_result_matching(
            "c",
            |page| page.to_string().contains("still here"),
            PATIENCE,
        )
        .await;
    other_sign_in.round_trip().await;
}

async fn signing_out_closes_that_tokens_live_connections(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    sign_out_closes_connections(&app, &app).await;
    app.stop().await;
}

/// Two nodes on PostgreSQL sharing NATS: signing out on one closes the
/// connections held on the other.
#[tokio::test]
async fn signing_out_on_one_node_closes_the_connections_on_another() {
    let node_a = spawn_app_with(Backend::Postgres, own_bus).await;
    let node_b = node_a.another_node().await;
    sign_out_closes_connections(&node_a, &node_b).await;
    node_a.stop().await;
    node_b.stop().await;
}

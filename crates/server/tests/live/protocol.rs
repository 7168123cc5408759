//! The protocol's edges: refused handshakes and subscriptions, malformed
//! messages, ping, and what unsubscribing stops.

use serde_json::json;

use crate::client::{LiveClient, PATIENCE, status_of};
use crate::harness::{Backend, id_of, spawn_app, spawn_app_with};

both_backends!(
    handshakes_need_a_valid_token,
    refused_subscriptions_name_their_id_and_reason,
    unsubscribing_stops_pushes,
);

async fn handshakes_need_a_valid_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register("Ada").await;
    let bare = app.live_url(None);
    let bad_token = app.live_url(Some("not-a-token"));
    for (url, headers, case) in [
        (&bare, vec![], "no token"),
        (&bad_token, vec![], "a bad ?token="),
        (
            &bare,
            vec![("authorization", "Bearer not-a-token")],
            "a bad bearer header",
        ),
        (
            &bare,
            vec![("cookie", "lockin_session=not-a-token")],
            "a bad cookie",
        ),
    ] {
        let Err(refused) = LiveClient::handshake(url, &headers).await else {
            panic!("{case}: the handshake was accepted");
        };
        assert_eq!(refused.status, 401, "{case}: {refused:?}");
        if let Some(body) = &refused.body {
            assert_eq!(body["error"]["code"], "unauthenticated", "{case}: {body}");
        }
    }

    // A bearer header is as good as ?token=, and so is the cookie, from our own origin.
    let bearer = format!("Bearer {}", ada.token);
    let cookie = format!("lockin_session={}", ada.token);
    let own_origin = app.address.clone();
    for (headers, case) in [
        (vec![("authorization", bearer.as_str())], "a bearer header"),
        (
            vec![("cookie", cookie.as_str())],
            "a cookie without an Origin",
        ),
        (
            vec![("cookie", cookie.as_str()), ("origin", own_origin.as_str())],
            "a cookie from our origin",
        ),
    ] {
        let Ok(mut accepted) = LiveClient::handshake(&bare, &headers).await else {
            panic!("{case}: the handshake was refused");
        };
        accepted.subscribed("active", "sessions:active").await;
    }
    // Another site cannot ride a visitor's cookie.
    let refused = LiveClient::handshake(
        &bare,
        &[("cookie", &cookie), ("origin", "http://elsewhere.example")],
    )
    .await
    .err()
    .expect("a cookie from a foreign origin is refused");
    assert_eq!(refused.status, 403, "{refused:?}");

    // A token that no longer works (signed out) is refused too.
    app.post_as(&ada, "/api/auth/logout", None)
        .await
        .expect(204);
    let refused = LiveClient::handshake(&app.live_url(Some(&ada.token)), &[])
        .await
        .err()
        .expect("a signed-out token is refused");
    assert_eq!(refused.status, 401, "{refused:?}");
    app.stop().await;
}

async fn refused_subscriptions_name_their_id_and_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let [ada, carol] = app.register_all(["Ada", "Carol"]).await;
    let session = app.instant_session(&ada, 4).await;
    let id = id_of(&session);
    let nowhere = uuid::Uuid::now_v7().to_string();
    let mut live = LiveClient::connect(&app, &carol).await;

    live.send(json!({"type": "ping"})).await;
    assert_eq!(live.next_message(PATIENCE).await, json!({"type": "pong"}));

    for (sub_id, query, code) in [
        ("unknown", "users:all".to_owned(), "invalid"),
        ("ended list", "sessions:ended".to_owned(), "invalid"),
        ("bad id", "session:not-an-id".to_owned(), "invalid"),
        ("ai logs", format!("ai_logs:{id}"), "forbidden"),
        ("chat", format!("chat:{id}"), "forbidden"),
        ("no session", format!("session:{nowhere}"), "not_found"),
        (
            "no participants",
            format!("participants:{nowhere}"),
            "not_found",
        ),
        ("no chat", format!("chat:{nowhere}"), "not_found"),
    ] {
        live.subscribe(sub_id, &query).await;
        let error = live.next_error(Some(sub_id), PATIENCE).await;
        assert_eq!(error["code"], code, "{query}: {error}");
        assert!(error["message"].is_string(), "{query}: {error}");
    }
    let too_long = "x".repeat(65);
    for bad_id in ["", too_long.as_str()] {
        live.subscribe(bad_id, "sessions:active").await;
        let error = live.next_error(Some(bad_id), PATIENCE).await;
        assert_eq!(error["code"], "invalid", "id {bad_id:?}: {error}");
    }

    for malformed in [
        "{not json",
        r#"{"type":"dance"}"#,
        r#"{"type":"subscribe","query":"sessions:active"}"#,
        "[]",
    ] {
        live.send_text(malformed).await;
        let error = live.next_error(None, PATIENCE).await;
        assert_eq!(error["code"], "invalid", "{malformed}: {error}");
    }

    // Anyone signed in may watch the session and its people.
    live.subscribed("s", &format!("session:{id}")).await;
    live.subscribed("dup", &format!("participants:{id}")).await;
    live.subscribe("dup", "sessions:active").await;
    let error = live.next_error(Some("dup"), PATIENCE).await;
    assert_eq!(error["code"], "invalid", "{error}");
    // The refused duplicate left the first subscription as it was.
    let bob = app.register("Bob").await;
    app.join(&bob, &id).await.expect(200);
    live.until_status("dup", &bob, "joined", PATIENCE).await;
    // None of the refusals made a subscription: nothing ever came for them.
    for message in live.round_trip().await {
        assert!(
            ["s", "dup"].contains(&message["id"].as_str().unwrap_or_default()),
            "a message for a refused subscription: {message}"
        );
    }

    // Once Carol has been in the session, its history is hers to see.
    app.join(&carol, &id).await.expect(200);
    live.subscribed("ai logs", &format!("ai_logs:{id}")).await;
    live.subscribed("chat", &format!("chat:{id}")).await;
    app.stop().await;
}

/// A connection holds at most 100 subscriptions, and an unsubscribed id gets nothing more.
async fn unsubscribing_stops_pushes(backend: Backend) {
    // About the cap, not the churn limit: the 103 messages may come within a second.
    let app = spawn_app_with(backend, |config| {
        config.live_subscriptions_per_second = 1000;
    })
    .await;
    let (ada, bob, id) = app.ada_hosts_bob().await;
    let query = format!("participants:{id}");
    let mut live = LiveClient::connect(&app, &ada).await;

    live.subscribed("gone", &query).await;
    live.subscribed("kept", &query).await;
    live.unsubscribe("gone").await;
    app.join(&bob, &id).await.expect(200);
    // Both ids watched the same query, so the server had the push for "gone"
    // in hand when it sent "kept"'s; the client fails the test on any result
    // for "gone" from here on, including those the round trip drains.
    live.until_status("kept", &bob, "joined", PATIENCE).await;
    live.round_trip().await;

    // The id is free again, and works as new.
    let again = live.subscribed("gone", &query).await;
    assert_eq!(status_of(&again["data"], &bob), Some("joined"));

    // 2 subscriptions held; 98 more fit, the 101st is refused.
    for n in 0..98 {
        live.subscribe(&format!("extra {n}"), "sessions:active")
            .await;
    }
    live.subscribe("one too many", "sessions:active").await;
    let error = live.next_error(Some("one too many"), PATIENCE).await;
    assert_eq!(error["code"], "invalid", "{error}");
    for n in 0..98 {
        live.next_result(&format!("extra {n}"), PATIENCE).await;
    }
    app.stop().await;
}

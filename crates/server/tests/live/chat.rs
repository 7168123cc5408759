//! The room's chat: posting, who may, the live `chat:` query and paging back.

use serde_json::Value;

use crate::client::{LiveClient, listed_ids};
use crate::harness::{Backend, encode_query, id_of, spawn_app};

both_backends!(chat_messages_are_live_and_page_back_in_time);

async fn chat_messages_are_live_and_page_back_in_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    let carol = app.register("Carol").await;
    let messages_path = format!("/api/sessions/{id}/messages");

    let mut live = LiveClient::connect(&app, &ada).await;
    let first = live.subscribed("chat", &format!("chat:{id}")).await;
    assert_eq!(first["data"], app.get_ok(&ada, &messages_path).await);
    assert_eq!(listed_ids(&first["data"], "messages"), Vec::<String>::new());

    let hello = app.post_message(&bob, &id, "hello, room").await.expect(201);
    assert_eq!(hello["session_id"], id.as_str(), "{hello}");
    assert_eq!(hello["user_id"], bob.id.as_str(), "{hello}");
    assert_eq!(hello["name"], "Bob", "{hello}");
    assert_eq!(hello["body"], "hello, room", "{hello}");
    let hello_id = id_of(&hello);
    let pushed = live
        .until_listed("chat", "messages", |ids| ids.contains(&hello_id))
        .await;
    assert_eq!(pushed["data"]["messages"][0], hello);
    assert_eq!(pushed["data"], app.get_ok(&ada, &messages_path).await);
    let mut posted = vec![hello_id];

    // Only people in the session now may post; only people who were in it may read.
    app.post_message(&carol, &id, "let me in")
        .await
        .expect_error(403, "forbidden");
    app.get_as(&carol, &messages_path)
        .await
        .expect_error(403, "forbidden");
    let too_long = "x".repeat(2001);
    for bad in ["", "   ", too_long.as_str()] {
        app.post_message(&bob, &id, bad)
            .await
            .expect_field_error(400, "invalid", "body");
    }
    // The bound counts characters, not bytes.
    for longest in ["x".repeat(2000), "é".repeat(2000)] {
        let message = app.post_message(&bob, &id, &longest).await.expect(201);
        posted.push(id_of(&message));
    }

    for n in 1..=7 {
        let sender = if n % 2 == 0 { &ada } else { &bob };
        let message = app
            .post_message(sender, &id, &format!("message {n}"))
            .await
            .expect(201);
        posted.push(id_of(&message));
    }
    let everything = live
        .until_listed("chat", "messages", |ids| ids == posted)
        .await;
    assert_eq!(everything["data"]["next_cursor"], Value::Null);
    assert_eq!(everything["data"], app.get_ok(&ada, &messages_path).await);

    // Pages of 3 go back in time, oldest first within each, every message exactly once.
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..=posted.len() {
        let path = match &cursor {
            None => format!("{messages_path}?limit=3"),
            Some(cursor) => format!("{messages_path}?limit=3&cursor={}", encode_query(cursor)),
        };
        let page = app.get_ok(&bob, &path).await;
        let ids = listed_ids(&page, "messages");
        assert!(ids.len() <= 3, "{path}: {page}");
        if !ids.is_empty() {
            pages.push(ids);
        }
        match &page["next_cursor"] {
            Value::String(next) => cursor = Some(next.clone()),
            Value::Null => break,
            other => panic!("{path}: next_cursor is {other}"),
        }
    }
    let expected: Vec<Vec<String>> = posted.rchunks(3).map(<[String]>::to_vec).collect();
    assert_eq!(pages, expected, "pages of 3, newest page first");

    // The live query holds the latest 50; the one before is behind its cursor.
    while posted.len() < 51 {
        let message = app
            .post_message(&ada, &id, &format!("message {}", posted.len()))
            .await
            .expect(201);
        posted.push(id_of(&message));
    }
    let latest = live
        .until_listed("chat", "messages", |ids| ids == &posted[1..])
        .await;
    assert_eq!(latest["data"], app.get_ok(&ada, &messages_path).await);
    let cursor = latest["data"]["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("older messages, yet no next_cursor: {}", latest["data"]));
    let oldest = app
        .get_ok(
            &ada,
            &format!("{messages_path}?cursor={}", encode_query(cursor)),
        )
        .await;
    assert_eq!(listed_ids(&oldest, "messages"), posted[..1]);

    // Having left, Bob may read but no longer post.
    app.leave(&bob, &id).await.expect(200);
    app.post_message(&bob, &id, "one more thing")
        .await
        .expect_error(403, "forbidden");
    app.get_ok(&bob, &messages_path).await;
    app.stop().await;
}

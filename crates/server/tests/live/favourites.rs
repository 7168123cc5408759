//! A favourite's newly scheduled session reaches the people who keep them
//! live, on their `notifications` subscription, the moment it is created
//! (docs/RITUAL.md, "Favourites").

use chrono::Duration;
use serde_json::Value;

use crate::client::{LiveClient, PATIENCE};
use crate::harness::{Backend, id_of, spawn_app};

both_backends!(a_favourites_new_plan_is_pushed_to_whoever_keeps_them);

/// The `favourite_scheduled` notifications in a notifications list.
fn favourite_notices(list: &Value) -> Vec<&Value> {
    list.as_array()
        .unwrap_or_else(|| panic!("notifications is not a list: {list}"))
        .iter()
        .filter(|notification| notification["kind"] == "favourite_scheduled")
        .collect()
}

async fn a_favourites_new_plan_is_pushed_to_whoever_keeps_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    app.put(&format!("/api/me/favourites/{}", ada.id))
        .auth(&bob)
        .send()
        .await
        .expect(200);
    let mut bobs = LiveClient::connect(&app, &bob).await;
    let first = bobs.subscribed("n", "notifications").await;
    assert!(favourite_notices(&first["data"]).is_empty(), "{first}");

    // Hours ahead: no reminder is due, so only the creation can push.
    let planned = app
        .scheduled_session(&ada, "Pair on the parser", Duration::hours(3))
        .await;
    let pushed = bobs
        .next_result_matching("n", |data| !favourite_notices(data).is_empty(), PATIENCE)
        .await;
    let notices = favourite_notices(&pushed["data"]);
    assert_eq!(notices.len(), 1, "{pushed}");
    assert_eq!(notices[0]["session_id"], id_of(&planned).as_str());
    assert!(
        notices[0]["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("Ada scheduled “Pair on the parser” for ")),
        "{pushed}"
    );
    app.stop().await;
}

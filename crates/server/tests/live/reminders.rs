//! Reminders before a scheduled session: each person asked (and the creator)
//! is notified once, live and by REST, even across a restart; and the
//! calendar feed, whose secret URL can be replaced and revoked.

use std::time::Duration;

use chrono::Duration as Minutes;
use serde_json::Value;

use crate::client::{LiveClient, PATIENCE};
use crate::harness::{Backend, Reply, TestApp, User, id_of, spawn_app, spawn_app_with};

both_backends!(
    reminders_arrive_once_live_and_by_rest,
    the_calendar_feed_lists_sessions_behind_a_secret_url,
    reminders_survive_a_restart,
);

/// How soon the scheduled sessions start: inside the 10-minute reminder window.
const STARTS_IN: Minutes = Minutes::minutes(5);

/// How many notifications in `list` are reminders of `session_id`.
pub fn reminders_of(list: &Value, session_id: &str) -> usize {
    list.as_array()
        .unwrap_or_else(|| panic!("notifications is not a list: {list}"))
        .iter()
        .filter(|notification| {
            notification["kind"] == "reminder" && notification["session_id"] == session_id
        })
        .count()
}

/// `user` asks (on `app`) to be reminded of the session `session_id`.
pub async fn ask_reminder(app: &TestApp, user: &User, session_id: &str) {
    app.session_action(user, session_id, "remind-me")
        .await
        .expect(204);
}

/// Waits on `live`'s `notifications` subscription `"n"` for the reminder of
/// `session_id`, checks it, and checks that REST (on `app`) says the same.
pub async fn await_reminder(
    live: &mut LiveClient,
    app: &TestApp,
    user: &User,
    session: &Value,
) -> Value {
    let session_id = session["id"].as_str().expect("an id");
    let pushed = live
        .next_result_matching("n", |data| reminders_of(data, session_id) > 0, PATIENCE)
        .await;
    let list = &pushed["data"];
    assert_eq!(reminders_of(list, session_id), 1, "{list}");
    let reminder = list
        .as_array()
        .and_then(|list| list.iter().find(|n| n["session_id"] == session_id))
        .expect("the reminder");
    assert_eq!(reminder["user_id"], user.id.as_str(), "{reminder}");
    let title = session["title"].as_str().expect("a title");
    assert!(
        reminder["message"]
            .as_str()
            .is_some_and(|message| message.contains(title)),
        "the reminder should name the session {title:?}: {reminder}"
    );
    assert_eq!(*list, app.notifications(user).await);
    pushed
}

async fn reminders_arrive_once_live_and_by_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let mut adas = LiveClient::connect(&app, &ada).await;
    let mut bobs = LiveClient::connect(&app, &bob).await;
    let first = adas.subscribed("n", "notifications").await;
    assert_eq!(first["version"], 1);
    assert_eq!(first["data"], app.notifications(&ada).await);
    bobs.subscribed("n", "notifications").await;

    let planned = app
        .scheduled_session(&ada, "Algorithms review", STARTS_IN)
        .await;
    let planned_id = id_of(&planned);
    ask_reminder(&app, &bob, &planned_id).await;
    await_reminder(&mut adas, &app, &ada, &planned).await;
    await_reminder(&mut bobs, &app, &bob, &planned).await;
    // Asking again, once reminded, is harmless and sends nothing new.
    ask_reminder(&app, &bob, &planned_id).await;

    // Later sweeps, proven by a later reminder, do not repeat the first.
    let later = app.scheduled_session(&ada, "Graphs", STARTS_IN).await;
    let later_id = id_of(&later);
    ask_reminder(&app, &bob, &later_id).await;
    for (live, user) in [(&mut adas, &ada), (&mut bobs, &bob)] {
        let pushed = await_reminder(live, &app, user, &later).await;
        assert_eq!(reminders_of(&pushed["data"], &planned_id), 1, "{pushed}");
        assert_eq!(pushed["data"].as_array().map(Vec::len), Some(2), "{pushed}");
    }

    // Only a session that has not started can be asked about.
    let running = app.instant_session(&ada, 4).await;
    let running_id = running["id"].as_str().expect("an id");
    app.session_action(&bob, running_id, "remind-me")
        .await
        .expect_error(409, "conflict");
    let nowhere = uuid::Uuid::now_v7().to_string();
    app.session_action(&bob, &nowhere, "remind-me")
        .await
        .expect_error(404, "not_found");
    app.stop().await;
}

/// Whether `user` has a calendar feed (`GET /api/me/calendar`).
async fn calendar_enabled(app: &TestApp, user: &User) -> Value {
    app.get_ok(user, "/api/me/calendar").await["enabled"].clone()
}

/// A new secret URL for `user`'s calendar feed, replacing any earlier one.
async fn new_calendar_url(app: &TestApp, user: &User) -> String {
    app.post_as(user, "/api/me/calendar", None)
        .await
        .expect(201)["url"]
        .as_str()
        .expect("a feed url")
        .to_owned()
}

async fn the_calendar_feed_lists_sessions_behind_a_secret_url(backend: Backend) {
    let app = spawn_app(backend).await;
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let planned = app
        .scheduled_session(&ada, "Algorithms review", STARTS_IN)
        .await;
    let uid = format!("UID:{}@lockin", planned["id"].as_str().expect("an id"));
    let feed = |url: String| {
        let app = &app;
        async move { app.get(&url).send().await }
    };
    let check_feed = |reply: Reply| {
        assert_eq!(reply.status, 200, "{reply:?}");
        let content_type = reply
            .headers
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        assert!(content_type.starts_with("text/calendar"), "{content_type}");
        assert!(reply.body.starts_with("BEGIN:VCALENDAR"), "{}", reply.body);
        reply.body
    };

    assert_eq!(calendar_enabled(&app, &ada).await, false);
    let url = new_calendar_url(&app, &ada).await;
    assert_eq!(calendar_enabled(&app, &ada).await, true);
    assert!(check_feed(feed(url.clone()).await).contains(&uid));

    // Asking for a reminder puts the session in Bob's calendar too.
    let bobs_url = new_calendar_url(&app, &bob).await;
    assert!(!check_feed(feed(bobs_url.clone()).await).contains(&uid));
    ask_reminder(&app, &bob, &id_of(&planned)).await;
    assert!(check_feed(feed(bobs_url).await).contains(&uid));

    // A new URL replaces the old one; revoking ends the new one.
    let replaced = new_calendar_url(&app, &ada).await;
    assert_ne!(replaced, url);
    feed(url).await.expect_error(401, "unauthenticated");
    assert!(check_feed(feed(replaced.clone()).await).contains(&uid));
    app.delete_as(&ada, "/api/me/calendar").await.expect(204);
    feed(replaced).await.expect_error(401, "unauthenticated");
    assert_eq!(calendar_enabled(&app, &ada).await, false);
    app.stop().await;
}

/// A reminder asked for on one run of the server is sent by the next, once.
async fn reminders_survive_a_restart(backend: Backend) {
    // The first run sweeps once, when it starts, before the session exists.
    let first_run = spawn_app_with(backend, |config| {
        config.sweep_interval = Duration::from_secs(3600);
    })
    .await;
    let ada = first_run.register("Ada").await;
    let bob = first_run.register("Bob").await;
    let planned = first_run
        .scheduled_session(&ada, "Algorithms review", STARTS_IN)
        .await;
    let planned_id = id_of(&planned);
    ask_reminder(&first_run, &bob, &planned_id).await;
    for user in [&ada, &bob] {
        assert_eq!(
            first_run.notifications(user).await,
            serde_json::json!([]),
            "the first run reminded {} already (its only sweep came late): the test proves nothing",
            user.name
        );
    }
    let second_run = first_run.restart().await;
    let mut adas = LiveClient::connect(&second_run, &ada).await;
    let mut bobs = LiveClient::connect(&second_run, &bob).await;
    adas.subscribe("n", "notifications").await;
    bobs.subscribe("n", "notifications").await;
    await_reminder(&mut adas, &second_run, &ada, &planned).await;
    await_reminder(&mut bobs, &second_run, &bob, &planned).await;

    let later = second_run
        .scheduled_session(&ada, "Graphs", STARTS_IN)
        .await;
    ask_reminder(&second_run, &bob, &id_of(&later)).await;
    for (live, user) in [(&mut adas, &ada), (&mut bobs, &bob)] {
        let pushed = await_reminder(live, &second_run, user, &later).await;
        assert_eq!(reminders_of(&pushed["data"], &planned_id), 1, "{pushed}");
    }
    second_run.stop().await;
}

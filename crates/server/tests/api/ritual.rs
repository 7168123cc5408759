//! The focus ritual over HTTP (docs/RITUAL.md): a session's shape (planned
//! length, rhythm) on create, read and in the calendar, and the shared timer
//! its host runs, which moves on to the next block by itself.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use store::{SqlStore, Store};

use crate::harness::{TestApp, User, id_of, refuses_each, timestamp};

both_backends!(
    a_shape_is_kept_shown_and_put_in_the_calendar,
    a_session_without_a_shape_has_none,
    nonsense_shapes_are_refused_and_nothing_is_written,
    the_host_runs_the_timer,
    only_the_host_runs_the_timer,
    an_ended_session_refuses_the_timer,
    a_block_moves_on_by_itself_when_it_ends,
);

const POMODORO: fn() -> Value = || {
    json!({"kind": "pomodoro", "work_minutes": 25, "break_minutes": 5,
           "long_break_minutes": 15, "long_break_every": 4})
};

fn timer_path(session_id: &str) -> String {
    format!("/api/sessions/{session_id}/timer")
}

async fn timer_action(
    app: &TestApp,
    who: &User,
    session_id: &str,
    body: Value,
) -> crate::harness::Reply {
    app.post_as(who, &timer_path(session_id), &body).await
}

/// The timer after `action` by the host, which must be accepted.
async fn host_does(app: &TestApp, host: &User, session_id: &str, action: &str) -> Value {
    let reading = timer_action(app, host, session_id, json!({"action": action}))
        .await
        .expect(200);
    assert_eq!(reading["session_id"], session_id);
    timestamp(&reading["server_now"]);
    reading["timer"].clone()
}

fn ends_at(timer: &Value) -> DateTime<Utc> {
    timestamp(&timer["ends_at"])
}

/// A shaped session: 50 minutes of pomodoro 25/5 (work 25, break 5, work 20).
async fn shaped_session(app: &TestApp, host: &User) -> String {
    let session = app
        .create_session(
            host,
            json!({"planned_minutes": 50, "rhythm": POMODORO(), "quiet_work": true}),
        )
        .await;
    id_of(&session)
}

async fn a_shape_is_kept_shown_and_put_in_the_calendar(app: &TestApp) {
    let ada = app.register("Ada").await;
    let start = (Utc::now() + Duration::days(1))
        .with_timezone(&Utc)
        .date_naive()
        .and_hms_opt(9, 30, 0)
        .expect("a time")
        .and_utc();
    let session = app
        .create_session(
            &ada,
            json!({"planned_minutes": 50, "rhythm": POMODORO(), "quiet_work": true,
                   "scheduled_start": crate::harness::rfc3339(start)}),
        )
        .await;
    assert_eq!(session["planned_minutes"], 50, "{session}");
    assert_eq!(session["rhythm"], POMODORO());
    assert_eq!(session["quiet_work"], true);
    assert_eq!(session["timer"]["state"], "not_started");
    assert_eq!(
        session["timer"]["block_count"], 3,
        "25 work, 5 break, 20 work"
    );
    assert_eq!(app.session(&ada, &id_of(&session)).await, session);

    let custom = app
        .create_session(
            &ada,
            json!({"planned_minutes": 37, "rhythm": {"kind": "single"}}),
        )
        .await;
    assert_eq!(custom["planned_minutes"], 37);
    assert_eq!(custom["rhythm"], json!({"kind": "single"}));
    assert_eq!(custom["quiet_work"], false);

    // The calendar feed: the event lasts the planned length; the rhythm is described.
    let url = app
        .post_as(&ada, "/api/me/calendar", None)
        .await
        .expect(201)["url"]
        .as_str()
        .expect("a feed url")
        .to_owned();
    let feed = app.get(&url).send().await;
    assert_eq!(feed.status, 200);
    let ics = feed.body.replace("\r\n ", "");
    let event = ics
        .split("BEGIN:VEVENT")
        .find(|event| event.contains(&format!("UID:{}@lockin", id_of(&session))))
        .unwrap_or_else(|| panic!("the session's event in {ics}"));
    let date = start.format("%Y%m%d");
    assert!(
        event.contains(&format!("DTSTART:{date}T093000Z")),
        "{event}"
    );
    assert!(event.contains(&format!("DTEND:{date}T102000Z")), "{event}");
    assert!(
        event.contains("DESCRIPTION:50 min · Pomodoro 25/5\\, 15 min break every 4"),
        "{event}"
    );
}

async fn a_session_without_a_shape_has_none(app: &TestApp) {
    let ada = app.register("Ada").await;
    let session = app.instant_session(&ada, 4).await;
    assert_eq!(session["planned_minutes"], Value::Null);
    assert_eq!(session["rhythm"], Value::Null);
    assert_eq!(session["quiet_work"], false);
    assert_eq!(session["timer"]["state"], "not_started");
    // Its host can still run an ad-hoc timer: 25 minutes unless told otherwise.
    let id = id_of(&session);
    let timer = timer_action(app, &ada, &id, json!({"action": "start", "minutes": 10}))
        .await
        .expect(200)["timer"]
        .clone();
    assert_eq!(timer["state"], "running");
    assert_eq!(timer["minutes"], 10);
    assert_eq!(timer["block_count"], 1);
    let left = ends_at(&timer) - Utc::now();
    assert!(
        left <= Duration::minutes(10) && left > Duration::minutes(9),
        "{left}"
    );
}

async fn nonsense_shapes_are_refused_and_nothing_is_written(app: &TestApp) {
    let ada = app.register("Ada").await;
    let body = |overrides: Value| crate::harness::session_body(overrides);
    refuses_each(
        || app.post("/api/sessions").auth(&ada),
        [
            (body(json!({"planned_minutes": 0})), "planned_minutes"),
            (body(json!({"planned_minutes": 600})), "planned_minutes"),
            (
                body(
                    json!({"rhythm": {"kind": "pomodoro", "work_minutes": 25, "break_minutes": 0,
                                       "long_break_minutes": 15, "long_break_every": 4}}),
                ),
                "rhythm.break_minutes",
            ),
            (
                body(
                    json!({"rhythm": {"kind": "pomodoro", "work_minutes": 0, "break_minutes": 5,
                                       "long_break_minutes": 15, "long_break_every": 4}}),
                ),
                "rhythm.work_minutes",
            ),
            (
                body(
                    json!({"rhythm": {"kind": "pomodoro", "work_minutes": 25, "break_minutes": 5,
                                       "long_break_minutes": 15, "long_break_every": 0}}),
                ),
                "rhythm.long_break_every",
            ),
        ],
    )
    .await;
    // Malformed rhythms are refused as malformed bodies.
    for rhythm in [
        json!({"kind": "waltz"}),
        json!({"kind": "pomodoro", "work_minutes": 25}),
        json!("pomodoro"),
    ] {
        let reply = app
            .post("/api/sessions")
            .auth(&ada)
            .json(&body(json!({"rhythm": rhythm})))
            .send()
            .await;
        assert_eq!(reply.status, 400, "{rhythm}: {reply:?}");
        assert_eq!(reply.json()["error"]["code"], "invalid");
    }
    let active = app.get_ok(&ada, "/api/sessions?status=active").await;
    assert_eq!(active["sessions"], json!([]), "nothing was written");
}

async fn the_host_runs_the_timer(app: &TestApp) {
    let ada = app.register("Ada").await;
    let id = shaped_session(app, &ada).await;
    let before = app.get_ok(&ada, &timer_path(&id)).await;
    assert_eq!(before["timer"]["state"], "not_started");
    assert_eq!(before["quiet_work"], true);

    let started = host_does(app, &ada, &id, "start").await;
    assert_eq!(started["state"], "running");
    assert_eq!(started["block_index"], 0);
    assert_eq!(started["block_kind"], "work");
    assert_eq!(started["block_count"], 3);
    let left = ends_at(&started) - Utc::now();
    assert!(
        left <= Duration::minutes(25) && left > Duration::minutes(24),
        "{left}"
    );
    // The session carries the same timer, for the live `session:` query.
    assert_eq!(app.session(&ada, &id).await["timer"], started);
    timer_action(app, &ada, &id, json!({"action": "start"}))
        .await
        .expect_error(409, "conflict");
    // A shaped session's blocks come from its shape, not from minutes.
    timer_action(app, &ada, &id, json!({"action": "pause", "minutes": 5}))
        .await
        .expect_field_error(400, "invalid", "minutes");

    let paused = host_does(app, &ada, &id, "pause").await;
    assert_eq!(paused["state"], "paused");
    assert_eq!(paused["ends_at"], Value::Null);
    let remaining = paused["remaining_ms"].as_i64().expect("remaining_ms");
    assert!(
        remaining <= 25 * 60_000 && remaining > 24 * 60_000,
        "{remaining}"
    );
    timer_action(app, &ada, &id, json!({"action": "pause"}))
        .await
        .expect_error(409, "conflict");

    let longer = host_does(app, &ada, &id, "add_five").await;
    assert_eq!(
        longer["remaining_ms"].as_i64(),
        Some(remaining + 5 * 60_000),
        "paused, +5 adds to what is left"
    );
    let resumed = host_does(app, &ada, &id, "resume").await;
    assert_eq!(resumed["state"], "running");
    assert_eq!(resumed["block_index"], 0);
    let left = ends_at(&resumed) - Utc::now();
    assert!(
        left > Duration::minutes(29) && left <= Duration::minutes(30),
        "{left}"
    );

    let on_break = host_does(app, &ada, &id, "skip").await;
    assert_eq!(on_break["block_index"], 1);
    assert_eq!(on_break["block_kind"], "break");
    let left = ends_at(&on_break) - Utc::now();
    assert!(
        left > Duration::minutes(4) && left <= Duration::minutes(5),
        "{left}"
    );
    let last = host_does(app, &ada, &id, "skip").await;
    assert_eq!(last["block_kind"], "work");
    assert_eq!(last["block_index"], 2);
    let finished = host_does(app, &ada, &id, "skip").await;
    assert_eq!(finished["state"], "finished");
    assert_eq!(finished["block_index"], Value::Null);
    timer_action(app, &ada, &id, json!({"action": "skip"}))
        .await
        .expect_error(409, "conflict");
    // A finished timer starts again from the first block.
    assert_eq!(host_does(app, &ada, &id, "start").await["block_index"], 0);

    // Unknown actions and fields are malformed.
    for body in [
        json!({"action": "rewind"}),
        json!({"action": "start", "speed": 2}),
        json!({}),
    ] {
        timer_action(app, &ada, &id, body)
            .await
            .expect_error(400, "invalid");
    }
}

async fn only_the_host_runs_the_timer(app: &TestApp) {
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    let started = host_does(app, &ada, &id, "start").await;
    for action in ["start", "pause", "resume", "skip", "add_five"] {
        timer_action(app, &bob, &id, json!({"action": action}))
            .await
            .expect_error(403, "forbidden");
    }
    // Anyone signed in may read it; it did not change.
    let seen = app.get_ok(&bob, &timer_path(&id)).await;
    assert_eq!(seen["timer"], started);
    assert_eq!(app.session(&bob, &id).await["timer"], started);
}

async fn an_ended_session_refuses_the_timer(app: &TestApp) {
    let ada = app.register("Ada").await;
    let id = shaped_session(app, &ada).await;
    host_does(app, &ada, &id, "start").await;
    app.session_action(&ada, &id, "end").await.expect(200);
    let ended = app.session(&ada, &id).await;
    assert_eq!(
        ended["timer"]["state"], "finished",
        "the timer stops with the session"
    );
    let refusal = timer_action(app, &ada, &id, json!({"action": "start"}))
        .await
        .expect_error(409, "conflict");
    assert_eq!(refusal["error"]["message"], "the session has ended");
    assert_eq!(app.session(&ada, &id).await["timer"], ended["timer"]);
    // Nor can a scheduled one run it before it starts.
    let planned = app
        .scheduled_session(&ada, "Later", Duration::hours(2))
        .await;
    timer_action(app, &ada, &id_of(&planned), json!({"action": "start"}))
        .await
        .expect_error(409, "conflict");
}

async fn a_block_moves_on_by_itself_when_it_ends(app: &TestApp) {
    let ada = app.register("Ada").await;
    let id = shaped_session(app, &ada).await;
    let started = host_does(app, &ada, &id, "start").await;
    let work_ends = ends_at(&started);
    // The store's timed work, run for a moment just after the work block
    // ended, as any node's sweep would when that moment comes; the server's
    // own sweep runs on the real clock and has nothing to do yet.
    let store = SqlStore::connect(app.database_url())
        .await
        .expect("the store");
    let moment = work_ends + Duration::seconds(1);
    let changed = store.advance_timers(moment).await.expect("advancing");
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].as_str(), id);
    let timer = app.session(&ada, &id).await["timer"].clone();
    assert_eq!(timer["state"], "running");
    assert_eq!(timer["block_index"], 1);
    assert_eq!(timer["block_kind"], "break");
    assert_eq!(
        ends_at(&timer),
        work_ends + Duration::minutes(5),
        "the break runs from when the work ended"
    );
    // Run again at the same moment, nothing more is due.
    assert!(
        store
            .advance_timers(moment)
            .await
            .expect("advancing")
            .is_empty()
    );
    // Long after, it runs through the last block to finished.
    store
        .advance_timers(work_ends + Duration::hours(2))
        .await
        .expect("advancing");
    assert_eq!(app.session(&ada, &id).await["timer"]["state"], "finished");
    store.close().await;
}

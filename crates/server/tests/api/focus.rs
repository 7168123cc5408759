//! A person's focus over HTTP (`GET /api/me/focus`): focused minutes,
//! completed blocks and streaks, worked out from the sessions' timer runs
//! and who was in the room, in the reader's days.

use chrono::{DateTime, Duration, Timelike, Utc};
use serde_json::{Value, json};
use store::{SqlStore, Store};

use crate::harness::{TestApp, User, id_of, timestamp};

both_backends!(
    focus_is_time_in_the_room_while_work_ran_and_blocks_count_for_who_saw_them_end,
    a_paused_block_still_counts_once_it_runs_out,
    offsets_no_clock_shows_are_refused,
);

/// An offset from UTC that puts the reader near noon, so a block that
/// starts now and runs for under an hour falls on one of their days
/// whenever the test runs.
fn noon_offset_minutes() -> i64 {
    let now = Utc::now();
    12 * 60 - i64::from(now.hour() * 60 + now.minute())
}

async fn focus_of(app: &TestApp, who: &User) -> Value {
    let path = format!("/api/me/focus?utc_offset_minutes={}", noon_offset_minutes());
    app.get_ok(who, &path).await
}

async fn host_does(app: &TestApp, host: &User, session_id: &str, action: &str) -> Value {
    let path = format!("/api/sessions/{session_id}/timer");
    app.post_as(host, &path, &json!({"action": action}))
        .await
        .expect(200)["timer"]
        .clone()
}

fn ends_at(timer: &Value) -> DateTime<Utc> {
    timestamp(&timer["ends_at"])
}

/// Ada's 50-minute pomodoro session (work 25, break 5, work 20).
async fn pomodoro_session(app: &TestApp, ada: &User) -> String {
    let session = app
        .create_session(
            ada,
            json!({"planned_minutes": 50, "rhythm": {"kind": "pomodoro", "work_minutes": 25,
                   "break_minutes": 5, "long_break_minutes": 15, "long_break_every": 4}}),
        )
        .await;
    id_of(&session)
}

async fn focus_is_time_in_the_room_while_work_ran_and_blocks_count_for_who_saw_them_end(
    app: &TestApp,
) {
    let [ada, bob, cleo, dan] = app.register_all(["Ada", "Bob", "Cleo", "Dan"]).await;
    let id = pomodoro_session(app, &ada).await;
    app.join(&bob, &id).await.expect(200);
    let started = host_does(app, &ada, &id, "start").await;
    // Cleo drops in after the start and is gone long before the block ends.
    app.join(&cleo, &id).await.expect(200);
    app.leave(&cleo, &id).await.expect(200);
    // The first work block runs out: the sweep moves the timer on, as any
    // node's would at that moment.
    let store = SqlStore::connect(app.database_url())
        .await
        .expect("the store");
    let work_ends = ends_at(&started);
    store
        .advance_timers(work_ends + Duration::seconds(1))
        .await
        .expect("advancing");
    // Into the second work block: the break between is not focus, and the
    // block still running is not counted until it stops.
    store
        .advance_timers(work_ends + Duration::minutes(6))
        .await
        .expect("advancing");
    store.close().await;

    for who in [&ada, &bob] {
        let focus = focus_of(app, who).await;
        assert_eq!(focus["total_minutes"], 25, "{focus}");
        assert_eq!(focus["today_minutes"], 25, "{focus}");
        assert_eq!(focus["week_minutes"], 25, "{focus}");
        assert_eq!(focus["total_blocks"], 1, "{focus}");
        assert_eq!(focus["streak_days"], 1, "{focus}");
        assert_eq!(focus["longest_streak_days"], 1, "{focus}");
        let days = focus["days"].as_array().expect("days");
        assert_eq!(days.len(), 1, "{focus}");
        assert_eq!(days[0]["date"], focus["today"]);
        assert_eq!(
            (days[0]["minutes"].clone(), days[0]["blocks"].clone()),
            (json!(25), json!(1))
        );
        let weeks = focus["weeks"].as_array().expect("weeks");
        assert_eq!(weeks.len(), 8);
        assert_eq!(weeks[7]["minutes"], 25);
        assert_eq!(focus["utc_offset_minutes"], noon_offset_minutes());
    }
    // Cleo was there for a moment of the work and not at its end.
    let cleo_focus = focus_of(app, &cleo).await;
    assert_eq!(cleo_focus["total_minutes"], 0, "{cleo_focus}");
    assert_eq!(cleo_focus["total_blocks"], 0, "{cleo_focus}");
    assert_eq!(cleo_focus["streak_days"], 0, "{cleo_focus}");
    // Dan was never in it.
    let dan_focus = focus_of(app, &dan).await;
    assert_eq!(dan_focus["days"], json!([]), "{dan_focus}");
    assert_eq!(dan_focus["total_blocks"], 0);
    // Once it ends, its recap counts the blocks the same way: one of the
    // plan's two work blocks ran out.
    app.session_action(&ada, &id, "end").await.expect(200);
    let recap = app.get_ok(&bob, &format!("/api/sessions/{id}/recap")).await;
    assert_eq!(recap["time"]["blocks_completed"], 1, "{recap}");
    assert_eq!(recap["time"]["blocks_planned"], 2, "{recap}");
}

async fn a_paused_block_still_counts_once_it_runs_out(app: &TestApp) {
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    // An ad-hoc timer of 30 minutes, paused and resumed on the way, then
    // five minutes more: a pause splits the block's runs, and only the run
    // that reaches its end completes it.
    let path = format!("/api/sessions/{id}/timer");
    app.post_as(&ada, &path, &json!({"action": "start", "minutes": 30}))
        .await
        .expect(200);
    host_does(app, &ada, &id, "pause").await;
    host_does(app, &ada, &id, "resume").await;
    let longer = host_does(app, &ada, &id, "add_five").await;
    // Bob leaves and comes back: two stays, both in the room at the end.
    app.leave(&bob, &id).await.expect(200);
    app.join(&bob, &id).await.expect(200);
    let store = SqlStore::connect(app.database_url())
        .await
        .expect("the store");
    store
        .advance_timers(ends_at(&longer) + Duration::seconds(1))
        .await
        .expect("advancing");
    let runs = store
        .session_runs(&domain::Id::from_trusted(id.clone()))
        .await
        .expect("the runs");
    store.close().await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(!runs[0].completed && runs[1].completed, "{runs:?}");
    assert_eq!(runs[1].ended_at, ends_at(&longer));
    for who in [&ada, &bob] {
        let focus = focus_of(app, who).await;
        assert_eq!(focus["total_minutes"], 35, "{focus}");
        assert_eq!(focus["total_blocks"], 1, "{focus}");
    }
}

async fn offsets_no_clock_shows_are_refused(app: &TestApp) {
    let ada = app.register("Ada").await;
    for bad in ["841", "-900", "1.5", "east", ""] {
        app.get_as(&ada, &format!("/api/me/focus?utc_offset_minutes={bad}"))
            .await
            .expect_field_error(400, "invalid", "utc_offset_minutes");
    }
    app.get_as(&ada, "/api/me/focus?tz=Europe/Paris")
        .await
        .expect_error(400, "invalid");
    app.get("/api/me/focus")
        .send()
        .await
        .expect_error(401, "unauthenticated");
    let utc = app.get_ok(&ada, "/api/me/focus").await;
    assert_eq!(utc["utc_offset_minutes"], 0);
}

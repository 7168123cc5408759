//! The session state machine over HTTP: scheduled → active → ended, who may
//! move it, and the seats that joining and leaving take and free.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::harness::{TestApp, User, id_of, refuses_each, rfc3339, timestamp};

both_backends!(
    instant_session_starts_with_the_creator_as_host,
    scheduled_session_waits_for_its_creator_to_start_it,
    joining_and_leaving_take_and_free_a_seat,
    a_full_session_refuses_joins,
    only_the_creator_ends_and_ending_empties_the_room,
    a_scheduled_session_can_be_cancelled,
    only_the_creator_switches_the_assistant,
    participants_list_joined_people_first,
    a_session_says_whether_a_seat_is_open,
);

async fn instant_session_starts_with_the_creator_as_host(app: &TestApp) {
    let ada = app.register("Ada").await;
    let before = Utc::now() - Duration::seconds(5);
    let session = app
        .create_session(
            &ada,
            json!({
                "title": "  Rust deep work  ",
                "description": "Finishing the parser",
                "session_type": "study",
                "max_participants": 6,
                "ai_agent_enabled": false,
            }),
        )
        .await;
    let after = Utc::now() + Duration::seconds(5);
    assert!(uuid::Uuid::parse_str(session["id"].as_str().unwrap()).is_ok());
    assert_eq!(session["creator_id"], ada.id.as_str());
    assert_eq!(session["title"], "Rust deep work", "the title is trimmed");
    assert_eq!(session["description"], "Finishing the parser");
    assert_eq!(session["session_type"], "study");
    assert_eq!(session["status"], "active");
    assert_eq!(session["max_participants"], 6);
    assert_eq!(session["ai_agent_enabled"], false);
    assert_eq!(session["participant_count"], 1);
    assert_eq!(session["project_id"], Value::Null);
    assert_eq!(session["ended_at"], Value::Null);
    let started = timestamp(&session["started_at"]);
    assert!(
        before <= started && started <= after,
        "started_at {started} is not now"
    );
    timestamp(&session["created_at"]);

    let participants = app.participants(&ada, &id_of(&session)).await;
    assert_eq!(participants.len(), 1, "{participants:?}");
    assert_joined(&participants[0], &id_of(&session), &ada, "host");

    assert_eq!(app.session(&ada, &id_of(&session)).await, session);
    // Any signed-in person may look at a session.
    let bob = app.register("Bob").await;
    assert_eq!(app.session(&bob, &id_of(&session)).await, session);

    // A start time that has passed means "now" too.
    let late = app
        .create_session(
            &ada,
            json!({"scheduled_start": rfc3339(Utc::now() - Duration::minutes(10)), "session_type": "general"}),
        )
        .await;
    assert_eq!(late["status"], "active");
    assert_eq!(late["participant_count"], 1);
    assert_eq!(late["session_type"], "general");
    let late_people = app.participants(&ada, &id_of(&late)).await;
    assert_eq!(late_people.len(), 1);
    assert_eq!(late_people[0]["role"], "host");
}

async fn scheduled_session_waits_for_its_creator_to_start_it(app: &TestApp) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let starts_at = Utc::now() + Duration::hours(2);
    let session = app
        .create_session(&ada, json!({"scheduled_start": rfc3339(starts_at)}))
        .await;
    let id = id_of(&session);
    assert_eq!(session["status"], "scheduled");
    assert_eq!(session["participant_count"], 0);
    assert_eq!(session["started_at"], Value::Null);
    assert_eq!(session["ended_at"], Value::Null);
    assert_eq!(
        timestamp(&session["scheduled_start"]).timestamp(),
        starts_at.timestamp()
    );
    assert_eq!(app.participants(&ada, &id).await, Vec::<Value>::new());

    app.refused_action(&ada, &bob, &id, "join", 409, "conflict")
        .await;
    app.refused_action(&ada, &bob, &id, "start", 403, "forbidden")
        .await;
    app.refused_action(&ada, &bob, &id, "leave", 409, "conflict")
        .await;

    let started = app.session_action(&ada, &id, "start").await.expect(200);
    assert_eq!(started["id"], session["id"]);
    assert_eq!(started["status"], "active");
    assert_eq!(started["participant_count"], 1);
    timestamp(&started["started_at"]);
    let people = app.participants(&ada, &id).await;
    assert_eq!(people.len(), 1);
    assert_eq!(people[0]["user_id"], ada.id.as_str());
    assert_eq!(people[0]["role"], "host");
    assert_eq!(people[0]["status"], "joined");

    app.session_action(&ada, &id, "start")
        .await
        .expect_error(409, "conflict");
    assert_eq!(app.session(&ada, &id).await, started);

    app.join(&bob, &id).await.expect(200);
    assert_eq!(app.session(&ada, &id).await["participant_count"], 2);
}

async fn joining_and_leaving_take_and_free_a_seat(app: &TestApp) {
    let (ada, bob, id) = app.ada_hosts_bob().await;
    let carol = app.register("Carol").await;

    let joined = app.join(&bob, &id).await.expect(200);
    assert_joined(&joined, &id, &bob, "participant");
    assert_eq!(app.session(&ada, &id).await["participant_count"], 2);

    // Joining twice changes nothing.
    let again = app.join(&bob, &id).await.expect(200);
    assert_eq!(again["status"], "joined");
    assert_eq!(again["user_id"], bob.id.as_str());
    assert_eq!(app.session(&ada, &id).await["participant_count"], 2);
    assert_eq!(app.participants(&ada, &id).await.len(), 2);

    // Leaving a session one never joined is refused and changes nothing.
    app.refused_action(&ada, &carol, &id, "leave", 409, "conflict")
        .await;

    let left = app.session_action(&bob, &id, "leave").await.expect(200);
    assert_eq!(left["user_id"], bob.id.as_str());
    assert_eq!(left["status"], "left");
    assert!(timestamp(&left["left_at"]) >= timestamp(&joined["joined_at"]));
    assert_eq!(app.session(&ada, &id).await["participant_count"], 1);

    // Leaving twice is harmless: the seat is not freed twice.
    let left_again = app.session_action(&bob, &id, "leave").await.expect(200);
    assert_eq!(left_again["status"], "left");
    assert_eq!(app.session(&ada, &id).await["participant_count"], 1);

    // Coming back takes a seat again.
    let back = app.join(&bob, &id).await.expect(200);
    assert_eq!(back["status"], "joined");
    assert_eq!(back["left_at"], Value::Null);
    assert_eq!(app.session(&ada, &id).await["participant_count"], 2);
    let people = app.participants(&ada, &id).await;
    assert_eq!(
        people.len(),
        2,
        "one row per person, however often they came: {people:?}"
    );
    assert!(people.iter().all(|p| p["status"] == "joined"));
}

async fn a_full_session_refuses_joins(app: &TestApp) {
    let [ada, bob, carol] = app.register_all(["Ada", "Bob", "Carol"]).await;
    let id = app.hosted_session(&ada, 2, [&bob]).await;
    let full = app.session_snapshot(&ada, &id).await;
    assert_eq!(full["session"]["participant_count"], 2);

    app.join(&carol, &id).await.expect_error(409, "conflict");
    assert_eq!(app.session_snapshot(&ada, &id).await, full);
    // Someone already in still "joins" harmlessly when it is full.
    app.join(&bob, &id).await.expect(200);
    assert_eq!(
        unversioned(app.session_snapshot(&ada, &id).await),
        unversioned(full)
    );

    app.session_action(&bob, &id, "leave").await.expect(200);
    app.join(&carol, &id).await.expect(200);
    let session = app.session(&ada, &id).await;
    assert_eq!(session["participant_count"], 2);
    app.join(&bob, &id).await.expect_error(409, "conflict");
}

async fn only_the_creator_ends_and_ending_empties_the_room(app: &TestApp) {
    let [ada, bob, carol] = app.register_all(["Ada", "Bob", "Carol"]).await;
    let id = app.hosted_session(&ada, 5, [&bob, &carol]).await;

    app.refused_action(&ada, &bob, &id, "end", 403, "forbidden")
        .await;

    let ended = app.session_action(&ada, &id, "end").await.expect(200);
    assert_eq!(ended["status"], "ended");
    assert_eq!(ended["participant_count"], 0);
    let ended_at = timestamp(&ended["ended_at"]);
    assert!(ended_at >= timestamp(&ended["started_at"]));
    let people = app.participants(&ada, &id).await;
    assert_eq!(people.len(), 3);
    for person in &people {
        assert_eq!(person["status"], "left", "{person}");
        timestamp(&person["left_at"]);
    }

    let after_end = app.session_snapshot(&ada, &id).await;
    for (who, action) in [
        (&ada, "end"),
        (&ada, "start"),
        (&bob, "join"),
        (&ada, "join"),
    ] {
        app.refused_action(&ada, who, &id, action, 409, "conflict")
            .await;
    }
    app.switch_assistant(&ada, &id, false)
        .await
        .expect_error(409, "conflict");
    assert_eq!(app.session_snapshot(&ada, &id).await, after_end);
    // Leaving an ended session one had left is harmless.
    app.session_action(&bob, &id, "leave").await.expect(200);
    assert_eq!(
        unversioned(app.session_snapshot(&ada, &id).await),
        unversioned(after_end)
    );
    let active = app.all_sessions(&ada, "active", 100).await;
    assert!(
        active.iter().all(|s| s["id"] != id.as_str()),
        "an ended session is not active"
    );
}

async fn a_scheduled_session_can_be_cancelled(app: &TestApp) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let session = app
        .scheduled_session(&ada, "Deep work", Duration::days(2))
        .await;
    let id = id_of(&session);
    app.session_action(&bob, &id, "end")
        .await
        .expect_error(403, "forbidden");
    assert_eq!(app.session(&ada, &id).await, session);

    let cancelled = app.session_action(&ada, &id, "end").await.expect(200);
    assert_eq!(cancelled["status"], "ended");
    assert_eq!(cancelled["participant_count"], 0);
    assert_eq!(cancelled["started_at"], Value::Null, "it never started");
    timestamp(&cancelled["ended_at"]);
    assert_eq!(app.participants(&ada, &id).await, Vec::<Value>::new());
    assert_eq!(
        app.all_sessions(&ada, "scheduled", 100).await,
        Vec::<Value>::new()
    );
    app.session_action(&ada, &id, "start")
        .await
        .expect_error(409, "conflict");
}

async fn only_the_creator_switches_the_assistant(app: &TestApp) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let session = app.instant_session(&ada, 4).await;
    let id = id_of(&session);
    app.join(&bob, &id).await.expect(200);
    let path = format!("/api/sessions/{id}/ai-agent");
    assert_eq!(session["ai_agent_enabled"], true);

    let off = app
        .post_as(&ada, &path, &json!({"enabled": false}))
        .await
        .expect(200);
    assert_eq!(off["id"], id.as_str());
    assert_eq!(off["ai_agent_enabled"], false);
    assert_eq!(
        off["participant_count"], 2,
        "switching changes nothing else"
    );
    assert_eq!(app.session(&bob, &id).await["ai_agent_enabled"], false);

    let before = app.session_snapshot(&ada, &id).await;
    app.post_as(&bob, &path, &json!({"enabled": true}))
        .await
        .expect_error(403, "forbidden");
    refuses_each(
        || app.post(&path).auth(&ada),
        [
            (json!({"enabled": "yes"}), "enabled"),
            (json!({"enabled": 1}), "enabled"),
            (json!({}), "enabled"),
            (json!({"enabled": true, "volume": 11}), "volume"),
        ],
    )
    .await;
    assert_eq!(app.session_snapshot(&ada, &id).await, before);

    let on = app
        .post_as(&ada, &path, &json!({"enabled": true}))
        .await
        .expect(200);
    assert_eq!(on["ai_agent_enabled"], true);
}

async fn participants_list_joined_people_first(app: &TestApp) {
    let ada = app.register("Ada").await;
    let people: Vec<User> = app.register_many("Guest", 4).await;
    let id = app.hosted_session(&ada, 10, &people).await;
    // Guests 0 and 2 leave; 1 and 3 stay with the host.
    app.session_action(&people[0], &id, "leave")
        .await
        .expect(200);
    app.session_action(&people[2], &id, "leave")
        .await
        .expect(200);

    let listed = app.participants(&ada, &id).await;
    let statuses: Vec<&str> = listed
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["joined", "joined", "joined", "left", "left"],
        "joined people first, then those who left: {listed:?}"
    );
    let user_ids = |range: std::ops::Range<usize>| {
        let mut found: Vec<String> = listed[range]
            .iter()
            .map(|p| p["user_id"].as_str().unwrap().to_owned())
            .collect();
        found.sort();
        found
    };
    let mut present = vec![ada.id.clone(), people[1].id.clone(), people[3].id.clone()];
    present.sort();
    let mut gone = vec![people[0].id.clone(), people[2].id.clone()];
    gone.sort();
    assert_eq!(user_ids(0..3), present);
    assert_eq!(user_ids(3..5), gone);
    assert_eq!(app.session(&ada, &id).await["participant_count"], 3);
    // Anyone signed in may see who is there.
    let stranger = app.register("Stranger").await;
    assert_eq!(app.participants(&stranger, &id).await, listed);
}

/// Asserts that `record` is `who`'s row in the session's participants, joined as `role`.
#[track_caller]
fn assert_joined(record: &Value, session_id: &str, who: &User, role: &str) {
    assert_eq!(record["session_id"], session_id);
    assert_eq!(record["user_id"], who.id.as_str());
    assert_eq!(record["name"], who.name.as_str());
    assert_eq!(record["role"], role);
    assert_eq!(record["status"], "joined");
    assert_eq!(record["left_at"], Value::Null);
    timestamp(&record["joined_at"]);
}

/// A session snapshot without the session's live-update `version`: a harmless
/// repeat (joining or leaving twice) may or may not count as a change for live
/// clients, but must change nothing a person sees.
fn unversioned(mut snapshot: Value) -> Value {
    if let Some(session) = snapshot["session"].as_object_mut() {
        session.remove("version");
    }
    snapshot
}

/// `open_for_joining` follows the join rule: only an active session with a
/// free seat takes someone new.
async fn a_session_says_whether_a_seat_is_open(app: &TestApp) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let later = app
        .scheduled_session(&ada, "Deep work", Duration::hours(2))
        .await;
    assert_eq!(later["open_for_joining"], false, "{later}");
    let session = app.instant_session(&ada, 2).await;
    let id = id_of(&session);
    assert_eq!(session["open_for_joining"], true, "{session}");
    app.join(&bob, &id).await.expect(200);
    assert_eq!(app.session(&ada, &id).await["open_for_joining"], false);
    app.session_action(&bob, &id, "leave").await.expect(200);
    assert_eq!(app.session(&ada, &id).await["open_for_joining"], true);
    app.session_action(&ada, &id, "end").await.expect(200);
    assert_eq!(app.session(&ada, &id).await["open_for_joining"], false);
}

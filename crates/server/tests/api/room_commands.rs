//! The assistant as the room's helper over HTTP (docs/RITUAL.md, The
//! assistant and the room): the worker passes a room question on with the
//! asker's id, and the server answers from the session's data and acts as
//! the asker — the timer only for the host, a goal only for its owner.

use serde_json::{Value, json};

use crate::harness::{TestApp, User};

both_backends!(
    the_host_starts_the_timer_by_asking_and_a_guest_is_told_no,
    time_left_goals_and_people_are_read_from_the_session,
    marking_a_goal_done_ticks_its_tasks_and_checks_out,
    the_project_is_described_from_its_record,
    room_questions_come_only_from_the_agent_for_people_in_the_room,
);

/// Asks the room question `command` as `asker`, through the agent.
async fn ask(app: &TestApp, session_id: &str, asker: &User, command: Value) -> Value {
    app.agent_action(
        session_id,
        "room",
        &json!({"user_id": asker.id, "command": command}),
    )
    .await
    .expect(200)
}

async fn the_host_starts_the_timer_by_asking_and_a_guest_is_told_no(app: &TestApp) {
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    // Bob is not the host: he is told who is, and nothing changes.
    let refused = ask(app, &id, &bob, json!({"kind": "start_timer", "minutes": 10})).await;
    assert_eq!(refused["acted"], false);
    assert_eq!(refused["answer"], "Only the host, Ada, can change the timer.");
    assert_eq!(app.session(&ada, &id).await["timer"]["state"], "not_started");

    let started = ask(app, &id, &ada, json!({"kind": "start_timer", "minutes": 10})).await;
    assert_eq!(started["acted"], true, "{started}");
    assert_eq!(started["answer"], "Started a 10 minute timer.");
    let timer = &app.session(&bob, &id).await["timer"];
    assert_eq!(timer["state"], "running");
    assert_eq!(timer["minutes"], 10);

    // Again: the rules' refusal is said.
    let again = ask(app, &id, &ada, json!({"kind": "start_timer", "minutes": null})).await;
    assert_eq!(again["acted"], false);
    assert_eq!(again["answer"], "The timer is already running.");

    let added = ask(app, &id, &ada, json!({"kind": "add_five"})).await;
    assert_eq!(added["acted"], true);
    let answer = added["answer"].as_str().unwrap();
    assert!(answer.starts_with("Added five minutes: 14 minutes"), "{answer}");
    let paused = ask(app, &id, &ada, json!({"kind": "pause_timer"})).await;
    assert!(paused["answer"].as_str().unwrap().starts_with("Paused the timer with 14 minutes"), "{paused}");
    assert_eq!(app.session(&bob, &id).await["timer"]["state"], "paused");
    // Bob cannot resume it either.
    let resume = ask(app, &id, &bob, json!({"kind": "resume_timer"})).await;
    assert_eq!(resume["acted"], false);
    assert_eq!(app.session(&bob, &id).await["timer"]["state"], "paused");
}

async fn time_left_goals_and_people_are_read_from_the_session(app: &TestApp) {
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    app.agent_action(&id, "join", None).await.expect(200);
    let before = ask(app, &id, &bob, json!({"kind": "time_left"})).await;
    assert_eq!(before["answer"], "The timer has not started yet.");
    assert_eq!(before["acted"], false);
    app.post_as(&ada, &format!("/api/sessions/{id}/timer"), &json!({"action": "start", "minutes": 30}))
        .await
        .expect(200);
    let left = ask(app, &id, &bob, json!({"kind": "time_left"})).await;
    let left = left["answer"].as_str().unwrap();
    assert!(
        left.starts_with("29 minutes") && left.ends_with("left in work block 1 of 1."),
        "{left}"
    );

    let people = ask(app, &id, &bob, json!({"kind": "who_is_here"})).await;
    assert_eq!(
        people["answer"],
        "2 people are here: Ada, the host and you, Bob. And me, the assistant."
    );

    let none = ask(app, &id, &bob, json!({"kind": "everyones_goals"})).await;
    assert_eq!(none["answer"], "No one here has set a goal yet.");
    app.put_as(
        &ada,
        &format!("/api/sessions/{id}/goal"),
        &json!({"goal": "Ship the parser errors", "tasks": [{"text": "spans", "done": true}, {"text": "hints"}]}),
    )
    .await
    .expect(200);
    let goals = ask(app, &id, &bob, json!({"kind": "everyones_goals"})).await;
    assert_eq!(
        goals["answer"],
        "Ada: Ship the parser errors, 1 of 2 tasks done. You have not set one yet."
    );
    let mine = ask(app, &id, &ada, json!({"kind": "my_goal"})).await;
    assert_eq!(mine["answer"], "Your goal is: Ship the parser errors, 1 of 2 tasks done.");
    let his = ask(app, &id, &bob, json!({"kind": "my_goal"})).await;
    assert!(his["answer"].as_str().unwrap().starts_with("You have not set a goal yet."));
}

async fn marking_a_goal_done_ticks_its_tasks_and_checks_out(app: &TestApp) {
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    let nothing = ask(app, &id, &bob, json!({"kind": "mark_goal_done"})).await;
    assert_eq!(nothing["acted"], false);
    app.put_as(
        &bob,
        &format!("/api/sessions/{id}/goal"),
        &json!({"goal": "Read chapter 4", "tasks": [{"text": "ownership"}, {"text": "borrowing"}]}),
    )
    .await
    .expect(200);
    let done = ask(app, &id, &bob, json!({"kind": "mark_goal_done"})).await;
    assert_eq!(done["acted"], true);
    assert_eq!(done["answer"], "Marked your goal done: Read chapter 4. Well done.");
    let seat = app
        .participants(&ada, &id)
        .await
        .into_iter()
        .find(|p| p["user_id"] == bob.id)
        .unwrap();
    assert_eq!(seat["check_out"]["outcome"], "done");
    assert_eq!(
        seat["goal"]["tasks"],
        json!([{"text": "ownership", "done": true}, {"text": "borrowing", "done": true}])
    );
    // Ada's goal is hers: Bob's command changed only his.
    assert_eq!(
        app.participants(&ada, &id)
            .await
            .into_iter()
            .find(|p| p["user_id"] == ada.id)
            .unwrap()["check_out"],
        Value::Null
    );
}

async fn the_project_is_described_from_its_record(app: &TestApp) {
    let (ada, bob, _) = app.ada_hosts_bob().await;
    let project = app
        .create_project(
            &ada,
            json!({"name": "Lock In", "description": "Focus rooms for developers",
                   "tech_stack": ["rust", "axum"], "repo_url": "https://github.com/example/lockin"}),
        )
        .await;
    let session = app
        .create_session(&ada, json!({"project_id": project["id"]}))
        .await;
    let id = crate::harness::id_of(&session);
    app.join(&bob, &id).await.expect(200);
    let about = ask(app, &id, &bob, json!({"kind": "about_project"})).await;
    assert_eq!(
        about["answer"],
        "This session works on Lock In: Focus rooms for developers. Its stack: rust and axum. The code is at https://github.com/example/lockin."
    );
    let plain = app.hosted_session(&ada, 4, [&bob]).await;
    let none = ask(app, &plain, &bob, json!({"kind": "about_project"})).await;
    assert_eq!(none["answer"], "This session has no linked project.");
}

async fn room_questions_come_only_from_the_agent_for_people_in_the_room(app: &TestApp) {
    let (ada, bob, id) = app.ada_hosts_bob().await;
    let path = format!("/internal/sessions/{id}/room");
    let body = json!({"user_id": ada.id, "command": {"kind": "start_timer", "minutes": 5}});
    // A person cannot call it, not even the host.
    app.post_as(&ada, &path, &body).await.expect_error(403, "forbidden");
    // Bob is not in the room: the agent cannot act for him.
    app.agent_action(&id, "room", &json!({"user_id": bob.id, "command": {"kind": "who_is_here"}}))
        .await
        .expect_error(403, "forbidden");
    // Bad bodies.
    for bad in [
        json!({"user_id": "nope", "command": {"kind": "who_is_here"}}),
        json!({"user_id": ada.id, "command": {"kind": "dance"}}),
        json!({"user_id": ada.id}),
        json!({"user_id": ada.id, "command": {"kind": "who_is_here"}, "extra": 1}),
    ] {
        app.agent_action(&id, "room", &bad).await.expect_error(400, "invalid");
    }
    assert_eq!(app.session(&ada, &id).await["timer"]["state"], "not_started");
}

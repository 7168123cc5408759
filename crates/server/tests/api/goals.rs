//! Goals and check-outs over HTTP (docs/RITUAL.md, Goals): a person in the
//! room states a goal with a checklist, everyone sees it with the session's
//! people, and each checks out when they leave or after the end.

use serde_json::{Value, json};

use crate::harness::{TestApp, User, refuses_each};

both_backends!(
    a_goal_is_set_seen_by_everyone_and_ticked,
    a_check_out_is_kept_with_the_session_after_it_ends,
    only_people_in_the_room_set_goals_and_only_those_who_were_check_out,
    bad_goals_and_check_outs_are_refused_and_nothing_changes,
);

fn goal_path(session_id: &str) -> String {
    format!("/api/sessions/{session_id}/goal")
}

fn check_out_path(session_id: &str) -> String {
    format!("/api/sessions/{session_id}/check-out")
}

/// `who`'s seat as `viewer` sees it in the session's people.
async fn seat_of(app: &TestApp, viewer: &User, session_id: &str, who: &User) -> Value {
    app.participants(viewer, session_id)
        .await
        .into_iter()
        .find(|person| person["user_id"] == who.id)
        .unwrap_or_else(|| panic!("{} is not among the session's people", who.name))
}

async fn a_goal_is_set_seen_by_everyone_and_ticked(app: &TestApp) {
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    assert_eq!(seat_of(app, &ada, &id, &bob).await["goal"], Value::Null);

    let body = json!({"goal": "  Finish the parser's error messages ",
                      "tasks": [{"text": "spans"}, {"text": "hints", "done": true}]});
    let seat = app.put_as(&bob, &goal_path(&id), &body).await.expect(200);
    assert_eq!(seat["user_id"], bob.id);
    let goal = &seat["goal"];
    assert_eq!(goal["text"], "Finish the parser's error messages");
    assert_eq!(
        goal["tasks"],
        json!([{"text": "spans", "done": false}, {"text": "hints", "done": true}])
    );
    crate::harness::timestamp(&goal["set_at"]);

    // Ada, the host, sees it with the session's people.
    assert_eq!(seat_of(app, &ada, &id, &bob).await["goal"], *goal);

    // Ticking a task is sending the list again; the goal is replaced whole.
    let ticked = json!({"goal": "Finish the parser's error messages",
                        "tasks": [{"text": "spans", "done": true}, {"text": "hints", "done": true}]});
    app.put_as(&bob, &goal_path(&id), &ticked).await.expect(200);
    let seen = seat_of(app, &ada, &id, &bob).await;
    assert_eq!(seen["goal"]["tasks"][0]["done"], true, "{seen}");
    assert_eq!(seen["check_out"], Value::Null);

    // A goal without tasks has an empty checklist.
    let plain = app
        .put_as(&ada, &goal_path(&id), &json!({"goal": "Review two PRs"}))
        .await
        .expect(200);
    assert_eq!(plain["goal"]["tasks"], json!([]));
}

async fn a_check_out_is_kept_with_the_session_after_it_ends(app: &TestApp) {
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    app.put_as(&bob, &goal_path(&id), &json!({"goal": "Write the tests"}))
        .await
        .expect(200);
    // Bob checks out as he leaves.
    let seat = app
        .post_as(
            &bob,
            &check_out_path(&id),
            &json!({"outcome": "partly", "note": "  half of them  "}),
        )
        .await
        .expect(200);
    assert_eq!(seat["check_out"]["outcome"], "partly");
    assert_eq!(seat["check_out"]["note"], "half of them");
    app.leave(&bob, &id).await.expect(200);

    // Ada ends the session and checks out after it; a blank note is none.
    app.session_action(&ada, &id, "end").await.expect(200);
    let seat = app
        .post_as(
            &ada,
            &check_out_path(&id),
            &json!({"outcome": "done", "note": " "}),
        )
        .await
        .expect(200);
    assert_eq!(seat["check_out"]["outcome"], "done");
    assert_eq!(seat["check_out"]["note"], Value::Null);

    // Checking out again replaces the earlier one.
    app.post_as(&bob, &check_out_path(&id), &json!({"outcome": "not_yet"}))
        .await
        .expect(200);

    // Both are kept with the session, with Bob's goal.
    let bobs = seat_of(app, &ada, &id, &bob).await;
    assert_eq!(bobs["goal"]["text"], "Write the tests");
    assert_eq!(bobs["check_out"]["outcome"], "not_yet", "{bobs}");
    assert_eq!(bobs["check_out"]["note"], Value::Null);
    crate::harness::timestamp(&bobs["check_out"]["at"]);
    assert_eq!(
        seat_of(app, &bob, &id, &ada).await["check_out"]["outcome"],
        "done"
    );

    // After the end a goal no longer changes.
    for who in [&ada, &bob] {
        app.put_as(who, &goal_path(&id), &json!({"goal": "Something else"}))
            .await
            .expect_error(409, "conflict");
    }
    assert_eq!(
        seat_of(app, &ada, &id, &bob).await["goal"]["text"],
        "Write the tests"
    );
}

async fn only_people_in_the_room_set_goals_and_only_those_who_were_check_out(app: &TestApp) {
    let (ada, bob, id) = app.ada_hosts_bob().await;
    // Bob never joined: no goal, no check-out.
    app.put_as(&bob, &goal_path(&id), &json!({"goal": "Lurk"}))
        .await
        .expect_error(403, "forbidden");
    app.post_as(&bob, &check_out_path(&id), &json!({"outcome": "done"}))
        .await
        .expect_error(403, "forbidden");
    // Having left, he may check out but not set a goal.
    app.join(&bob, &id).await.expect(200);
    app.leave(&bob, &id).await.expect(200);
    app.put_as(&bob, &goal_path(&id), &json!({"goal": "Lurk"}))
        .await
        .expect_error(403, "forbidden");
    app.post_as(&bob, &check_out_path(&id), &json!({"outcome": "not_yet"}))
        .await
        .expect(200);
    // A scheduled session has no one in it yet.
    let later = app
        .scheduled_session(&ada, "Tomorrow", chrono::Duration::days(1))
        .await;
    let later = crate::harness::id_of(&later);
    app.put_as(&ada, &goal_path(&later), &json!({"goal": "Plan"}))
        .await
        .expect_error(409, "conflict");
    app.post_as(&ada, &check_out_path(&later), &json!({"outcome": "done"}))
        .await
        .expect_error(403, "forbidden");
    // No such session.
    let nowhere = "0192f0c5-0000-7000-8000-000000000000";
    app.put_as(&ada, &goal_path(nowhere), &json!({"goal": "Plan"}))
        .await
        .expect_error(404, "not_found");
    // Signed out.
    app.put(&goal_path(&id))
        .json(&json!({"goal": "Plan"}))
        .send()
        .await
        .expect_error(401, "unauthenticated");
    assert_eq!(seat_of(app, &ada, &id, &bob).await["goal"], Value::Null);
}

async fn bad_goals_and_check_outs_are_refused_and_nothing_changes(app: &TestApp) {
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    app.put_as(&bob, &goal_path(&id), &json!({"goal": "Keep this"}))
        .await
        .expect(200);
    let eleven: Vec<Value> = (0..11)
        .map(|n| json!({"text": format!("task {n}")}))
        .collect();
    refuses_each(
        || app.put(&goal_path(&id)).auth(&bob),
        [
            (json!({"goal": "x".repeat(10_000)}), "goal"),
            (json!({"goal": ""}), "goal"),
            (json!({"goal": "   "}), "goal"),
            (json!({"goal": "two\nlines"}), "goal"),
            (json!({"goal": "ok", "tasks": eleven}), "tasks"),
            (
                json!({"goal": "ok", "tasks": [{"text": ""}]}),
                "tasks[0].text",
            ),
            (
                json!({"goal": "ok", "tasks": [{"text": "a"}, {"text": "y".repeat(201)}]}),
                "tasks[1].text",
            ),
        ],
    )
    .await;
    app.put_as(&bob, &goal_path(&id), &json!({"goal": "ok", "extra": 1}))
        .await
        .expect_error(400, "invalid");
    app.put_as(&bob, &goal_path(&id), &json!({"tasks": []}))
        .await
        .expect_error(400, "invalid");
    refuses_each(
        || app.post(&check_out_path(&id)).auth(&bob),
        [(json!({"outcome": "done", "note": "n".repeat(501)}), "note")],
    )
    .await;
    for body in [
        json!({"outcome": "great"}),
        json!({}),
        json!({"outcome": "done", "mood": 3}),
    ] {
        app.post_as(&bob, &check_out_path(&id), &body)
            .await
            .expect_error(400, "invalid");
    }
    let seat = seat_of(app, &ada, &id, &bob).await;
    assert_eq!(seat["goal"]["text"], "Keep this");
    assert_eq!(seat["goal"]["tasks"], json!([]));
    assert_eq!(seat["check_out"], Value::Null);
}

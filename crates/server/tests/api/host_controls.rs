//! The host's controls, reports and blocks over HTTP (docs/RITUAL.md, "Host
//! controls"): only the host acts, on people in the session, and a removed
//! person, a blocked person or a newcomer to a locked room is refused at the
//! join; reports are kept for the operator and listed by `lockin reports`.

use serde_json::{Value, json};

use crate::harness::{TestApp, User};

both_backends!(
    the_host_mutes_and_removes_and_the_removed_cannot_come_back,
    nobody_but_the_host_acts_and_a_refusal_changes_nothing,
    acting_on_someone_not_in_the_session_is_refused,
    nonsense_actions_are_refused_and_change_nothing,
    a_locked_room_takes_nobody_new_but_lets_its_people_back,
    a_blocked_person_cannot_join_the_blockers_sessions,
    a_report_is_kept_and_listed_for_the_operator,
    bad_reports_are_refused_and_nothing_is_kept,
    reports_are_rate_limited,
);

fn moderate_path(session_id: &str, user_id: &str) -> String {
    format!("/api/sessions/{session_id}/participants/{user_id}/moderate")
}

async fn moderate(
    app: &TestApp,
    who: &User,
    session_id: &str,
    target: &User,
    action: &str,
) -> crate::harness::Reply {
    app.post_as(
        who,
        &moderate_path(session_id, &target.id),
        &json!({"action": action}),
    )
    .await
}

fn seat_of<'a>(people: &'a [Value], who: &User) -> &'a Value {
    people
        .iter()
        .find(|person| person["user_id"] == who.id.as_str())
        .unwrap_or_else(|| panic!("{} not among {people:?}", who.name))
}

async fn report(app: &TestApp, who: &User, session_id: &str, body: Value) -> crate::harness::Reply {
    app.post_as(who, &format!("/api/sessions/{session_id}/reports"), &body)
        .await
}

/// `lockin reports` against the app's own database, as the operator runs it.
async fn operator_reports(app: &TestApp) -> String {
    let config = server::Config {
        database_url: Some(app.database_url().to_owned()),
        ..server::Config::default()
    };
    server::reports_text(&config, 50)
        .await
        .expect("lockin reports")
}

async fn the_host_mutes_and_removes_and_the_removed_cannot_come_back(app: &TestApp) {
    let [ada, bob, cyd] = app.register_all(["Ada", "Bob", "Cyd"]).await;
    let id = app.hosted_session(&ada, 4, [&bob, &cyd]).await;

    for action in ["mute_microphone", "turn_off_camera", "stop_screen"] {
        let seat = moderate(app, &ada, &id, &bob, action).await.expect(200);
        assert_eq!(seat["status"], "joined", "{action} leaves the seat: {seat}");
        assert_eq!(seat["removed"], false);
    }
    let muted = app
        .post_as(&ada, &format!("/api/sessions/{id}/mute-all"), None)
        .await
        .expect(200);
    assert_eq!(muted["session_id"], id.as_str());
    let mut everyone: Vec<&str> = muted["muted"]
        .as_array()
        .expect("muted")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    everyone.sort_unstable();
    let mut expected = vec![bob.id.as_str(), cyd.id.as_str()];
    expected.sort_unstable();
    assert_eq!(everyone, expected, "everyone but the host");

    let seat = moderate(app, &ada, &id, &bob, "remove").await.expect(200);
    assert_eq!(seat["status"], "left", "{seat}");
    assert_eq!(seat["removed"], true);
    let session = app.session(&ada, &id).await;
    assert_eq!(session["participant_count"], 2, "the seat is free again");
    let people = app.participants(&cyd, &id).await;
    assert_eq!(seat_of(&people, &bob)["removed"], true);
    assert_eq!(seat_of(&people, &cyd)["removed"], false);

    let refusal = app.join(&bob, &id).await.expect_error(403, "forbidden");
    assert_eq!(
        refusal["error"]["message"],
        "the host removed you from this session"
    );
    assert_eq!(app.session(&ada, &id).await["participant_count"], 2);
    // Acting on them again: they are not in the session any more.
    moderate(app, &ada, &id, &bob, "remove")
        .await
        .expect_error(409, "conflict");
    // Someone else who merely left comes back as before.
    app.leave(&cyd, &id).await.expect(200);
    app.join(&cyd, &id).await.expect(200);
}

async fn nobody_but_the_host_acts_and_a_refusal_changes_nothing(app: &TestApp) {
    let [ada, bob, cyd] = app.register_all(["Ada", "Bob", "Cyd"]).await;
    let id = app.hosted_session(&ada, 4, [&bob, &cyd]).await;
    let before = app.session_snapshot(&ada, &id).await;
    for action in [
        "mute_microphone",
        "turn_off_camera",
        "stop_screen",
        "remove",
    ] {
        let refusal = moderate(app, &bob, &id, &cyd, action)
            .await
            .expect_error(403, "forbidden");
        assert_eq!(
            refusal["error"]["message"],
            "only the session's host can do this"
        );
        // Not on the host either.
        moderate(app, &bob, &id, &ada, action)
            .await
            .expect_error(403, "forbidden");
    }
    app.post_as(&bob, &format!("/api/sessions/{id}/mute-all"), None)
        .await
        .expect_error(403, "forbidden");
    app.post_as(
        &bob,
        &format!("/api/sessions/{id}/lock"),
        &json!({"locked": true}),
    )
    .await
    .expect_error(403, "forbidden");
    assert_eq!(
        app.session_snapshot(&ada, &id).await,
        before,
        "refusals changed the session"
    );
    assert_eq!(app.session(&ada, &id).await["locked"], false);
}

async fn acting_on_someone_not_in_the_session_is_refused(app: &TestApp) {
    let [ada, bob, stranger] = app.register_all(["Ada", "Bob", "Stranger"]).await;
    let id = app.hosted_session(&ada, 4, [&bob]).await;
    for action in ["mute_microphone", "remove"] {
        moderate(app, &ada, &id, &stranger, action)
            .await
            .expect_error(409, "conflict");
    }
    app.leave(&bob, &id).await.expect(200);
    moderate(app, &ada, &id, &bob, "remove")
        .await
        .expect_error(409, "conflict");
    // Bob only left: he may come back.
    app.join(&bob, &id).await.expect(200);
    // No such session.
    let nowhere = "0190a0a0-0000-7000-8000-000000000099";
    moderate(app, &ada, nowhere, &bob, "remove")
        .await
        .expect_error(404, "not_found");
    // An ended session has nobody to act on.
    app.session_action(&ada, &id, "end").await.expect(200);
    moderate(app, &ada, &id, &bob, "mute_microphone")
        .await
        .expect_error(409, "conflict");
}

async fn nonsense_actions_are_refused_and_change_nothing(app: &TestApp) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let id = app.hosted_session(&ada, 4, [&bob]).await;
    let before = app.session_snapshot(&ada, &id).await;
    for body in [
        json!({"action": "ban_forever"}),
        json!({"action": "remove", "reason": "x"}),
        json!({}),
        json!({"action": 3}),
    ] {
        app.post_as(&ada, &moderate_path(&id, &bob.id), &body)
            .await
            .expect_error(400, "invalid");
    }
    app.post_as(
        &ada,
        &format!("/api/sessions/{id}/participants/not-an-id/moderate"),
        &json!({"action": "remove"}),
    )
    .await
    .expect_error(400, "invalid");
    // The host cannot remove or mute themselves through the controls.
    for action in ["remove", "mute_microphone"] {
        moderate(app, &ada, &id, &ada, action)
            .await
            .expect_field_error(400, "invalid", "user_id");
    }
    app.post_as(
        &ada,
        &format!("/api/sessions/{id}/lock"),
        &json!({"locked": "yes"}),
    )
    .await
    .expect_error(400, "invalid");
    assert_eq!(app.session_snapshot(&ada, &id).await, before);
}

async fn a_locked_room_takes_nobody_new_but_lets_its_people_back(app: &TestApp) {
    let [ada, bob, cyd] = app.register_all(["Ada", "Bob", "Cyd"]).await;
    let id = app.hosted_session(&ada, 4, [&bob]).await;
    let path = format!("/api/sessions/{id}/lock");
    let (lock, unlock) = (json!({"locked": true}), json!({"locked": false}));
    let locked = app.post_as(&ada, &path, &lock).await.expect(200);
    assert_eq!(locked["locked"], true, "{locked}");
    assert_eq!(locked["open_for_joining"], false);

    let refusal = app.join(&cyd, &id).await.expect_error(403, "forbidden");
    assert!(
        refusal["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("locked")),
        "{refusal}"
    );
    assert!(
        app.participants(&ada, &id)
            .await
            .iter()
            .all(|person| person["user_id"] != cyd.id.as_str())
    );
    // Bob was in it: he may leave and come back; so may the host.
    app.leave(&bob, &id).await.expect(200);
    app.join(&bob, &id).await.expect(200);
    app.leave(&ada, &id).await.expect(200);
    app.join(&ada, &id).await.expect(200);

    let open = app.post_as(&ada, &path, &unlock).await.expect(200);
    assert_eq!(open["locked"], false);
    assert_eq!(open["open_for_joining"], true);
    app.join(&cyd, &id).await.expect(200);
}

async fn a_blocked_person_cannot_join_the_blockers_sessions(app: &TestApp) {
    let [ada, bob, cyd] = app.register_all(["Ada", "Bob", "Cyd"]).await;
    let blocked = app
        .request(reqwest::Method::PUT, &format!("/api/blocks/{}", bob.id))
        .auth(&ada)
        .send()
        .await
        .expect(200);
    assert_eq!(blocked["user_id"], bob.id.as_str());
    assert_eq!(blocked["name"], "Bob");
    // Blocking twice is harmless.
    app.request(reqwest::Method::PUT, &format!("/api/blocks/{}", bob.id))
        .auth(&ada)
        .send()
        .await
        .expect(200);
    let list = app.get_ok(&ada, "/api/blocks").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(app.get_ok(&bob, "/api/blocks").await, json!([]));

    let id = app.hosted_session(&ada, 4, [&cyd]).await;
    app.join(&bob, &id).await.expect_error(403, "forbidden");
    assert_eq!(app.session(&ada, &id).await["participant_count"], 2);
    // Ada may still join a session Bob hosts: the block is hers.
    let bobs = app.hosted_session(&bob, 4, [&ada]).await;
    assert_eq!(app.session(&bob, &bobs).await["participant_count"], 2);

    // Nobody blocks themselves or a person who does not exist.
    app.request(reqwest::Method::PUT, &format!("/api/blocks/{}", ada.id))
        .auth(&ada)
        .send()
        .await
        .expect_error(409, "conflict");
    app.request(
        reqwest::Method::PUT,
        "/api/blocks/0190a0a0-0000-7000-8000-000000000099",
    )
    .auth(&ada)
    .send()
    .await
    .expect_error(404, "not_found");

    app.delete_as(&ada, &format!("/api/blocks/{}", bob.id))
        .await
        .expect(204);
    assert_eq!(app.get_ok(&ada, "/api/blocks").await, json!([]));
    app.join(&bob, &id).await.expect(200);
}

async fn a_report_is_kept_and_listed_for_the_operator(app: &TestApp) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let id = app.hosted_session(&ada, 4, [&bob]).await;
    assert_eq!(operator_reports(app).await, "no reports\n");
    let kept = report(
        app,
        &bob,
        &id,
        json!({"user_id": ada.id, "reason": "harassment", "note": "Shouted at me\nfor an hour"}),
    )
    .await
    .expect(201);
    assert_eq!(kept["reporter_id"], bob.id.as_str());
    assert_eq!(kept["reported_id"], ada.id.as_str());
    assert_eq!(kept["reason"], "harassment");
    assert_eq!(kept["note"], "Shouted at me\nfor an hour");
    // Someone who left may still report; a note may be left out.
    app.leave(&bob, &id).await.expect(200);
    report(app, &bob, &id, json!({"user_id": ada.id, "reason": "spam"}))
        .await
        .expect(201);

    let printed = operator_reports(app).await;
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 4, "{printed}");
    // Newest first.
    assert!(lines[0].contains("  spam  Bob ("), "{printed}");
    assert!(lines[1].contains("  harassment  Bob ("), "{printed}");
    assert!(
        lines[1].contains(&format!("reported Ada ({}) in session {id}", ada.id)),
        "{printed}"
    );
    assert_eq!(lines[2], "    Shouted at me");
    assert_eq!(lines[3], "    for an hour");
}

async fn bad_reports_are_refused_and_nothing_is_kept(app: &TestApp) {
    let [ada, bob, stranger] = app.register_all(["Ada", "Bob", "Stranger"]).await;
    let id = app.hosted_session(&ada, 4, [&bob]).await;
    let about = |user: &User, extra: Value| {
        let mut body = json!({"user_id": user.id, "reason": "other"});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    report(app, &bob, &id, about(&bob, json!({})))
        .await
        .expect_field_error(400, "invalid", "user_id");
    report(
        app,
        &bob,
        &id,
        about(&ada, json!({"note": "x".repeat(1001)})),
    )
    .await
    .expect_field_error(400, "invalid", "note");
    report(app, &bob, &id, about(&ada, json!({"reason": "boring"})))
        .await
        .expect_error(400, "invalid");
    report(app, &bob, &id, about(&ada, json!({"extra": true})))
        .await
        .expect_error(400, "invalid");
    report(app, &bob, &id, about(&stranger, json!({})))
        .await
        .expect_error(409, "conflict");
    report(app, &stranger, &id, about(&ada, json!({})))
        .await
        .expect_error(403, "forbidden");
    assert_eq!(operator_reports(app).await, "no reports\n");
}

async fn reports_are_rate_limited(app: &TestApp) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let id = app.hosted_session(&ada, 4, [&bob]).await;
    let limit = server::app::moderation::REPORTS_PER_MINUTE as usize;
    for _ in 0..limit {
        report(app, &bob, &id, json!({"user_id": ada.id, "reason": "spam"}))
            .await
            .expect(201);
    }
    report(app, &bob, &id, json!({"user_id": ada.id, "reason": "spam"}))
        .await
        .expect_error(429, "rate_limited");
    // Another person's quota is their own.
    report(app, &ada, &id, json!({"user_id": bob.id, "reason": "spam"}))
        .await
        .expect(201);
    let printed = operator_reports(app).await;
    assert_eq!(printed.lines().count(), limit + 1, "{printed}");
}

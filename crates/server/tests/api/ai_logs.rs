//! The assistant's log: written by people in the session or by the agent on
//! the internal endpoint, read by anyone who is or was in the session, rated
//! one vote a person.

use serde_json::{Value, json};

use crate::harness::{TestApp, User, id_of, ids, overlaid, refuses_each, timestamp};

both_backends!(
    participants_log_and_read_interactions,
    log_input_is_checked,
    the_agent_logs_through_the_internal_endpoint,
    internal_log_input_is_checked,
    feedback_counts_one_vote_per_person,
    the_log_reads_in_pages_of_the_latest_entries,
    logging_by_hand_is_limited_and_marked_as_a_persons,
);

/// Ada hosts an instant session Bob has joined; Carol is signed in but was never in it.
async fn room(app: &TestApp) -> (User, User, User, String) {
    let (ada, bob, id) = app.ada_and_bob_in_session().await;
    let carol = app.register("Carol").await;
    (ada, bob, carol, id)
}

async fn participants_log_and_read_interactions(app: &TestApp) {
    let (ada, bob, carol, id) = room(app).await;
    let path = format!("/api/sessions/{id}/ai-logs");

    let first = app
        .post_ai_log(
            &ada,
            &id,
            "  What is a closure? ",
            "A function with its environment.",
        )
        .await
        .expect(201);
    assert!(uuid::Uuid::parse_str(first["id"].as_str().unwrap()).is_ok());
    assert_eq!(first["session_id"], id.as_str());
    assert_eq!(first["user_id"], ada.id.as_str());
    assert_eq!(first["question"], "What is a closure?");
    assert_eq!(first["answer"], "A function with its environment.");
    assert_eq!(first["trigger"], "text", "trigger defaults to text");
    assert_eq!(first["helpful"], Value::Null);
    assert_eq!(first["helpful_votes"], 0);
    assert_eq!(first["unhelpful_votes"], 0);
    assert_eq!(first["error"], Value::Null);
    assert!(first["latency_ms"].is_object(), "{first}");
    assert!(first["providers"].is_object(), "{first}");
    timestamp(&first["created_at"]);

    let by_voice = json!({"question": "And a trait object?", "answer": "dyn Trait behind a pointer.", "trigger": "voice"});
    let second = app.post_as(&bob, &path, &by_voice).await.expect(201);
    assert_eq!(second["user_id"], bob.id.as_str());
    assert_eq!(second["trigger"], "voice");

    // Carol was never in the session: she can neither write nor read its log.
    app.post_ai_log(&carol, &id, "Sneaky?", "No.")
        .await
        .expect_error(403, "forbidden");
    app.get_as(&carol, &path)
        .await
        .expect_error(403, "forbidden");

    let expected = vec![first.clone(), second.clone()];
    assert_eq!(app.session_logs(&ada, &id).await, expected, "oldest first");
    assert_eq!(app.session_logs(&bob, &id).await, expected);

    // Having left, Bob may still read and rate, but no longer write.
    app.session_action(&bob, &id, "leave").await.expect(200);
    app.post_ai_log(&bob, &id, "Still here?", "No.")
        .await
        .expect_error(403, "forbidden");
    assert_eq!(app.session_logs(&bob, &id).await, expected);

    let mine = |user: &User| {
        let token = user.clone();
        async move { app.my_ai_logs(&token).await }
    };
    assert_eq!(mine(&ada).await, json!([first]));
    assert_eq!(mine(&bob).await, json!([second]));
    assert_eq!(mine(&carol).await, json!([]));

    // My log spans sessions.
    let other = app.instant_session(&bob, 2).await;
    let third = app.log_question(&bob, &id_of(&other), "Lifetimes?").await;
    let bobs = mine(&bob).await;
    let mut bob_ids = ids(bobs.as_array().unwrap());
    bob_ids.sort();
    let mut expected_ids = vec![id_of(&second), id_of(&third)];
    expected_ids.sort();
    assert_eq!(bob_ids, expected_ids);

    // Once the session has ended nobody is in it to write, but everyone who was can read.
    app.session_action(&ada, &id, "end").await.expect(200);
    app.post_ai_log(&ada, &id, "After the end?", "No.")
        .await
        .expect_error(403, "forbidden");
    assert_eq!(app.session_logs(&ada, &id).await, expected);
}

async fn log_input_is_checked(app: &TestApp) {
    let (ada, _bob, _carol, id) = room(app).await;
    let path = format!("/api/sessions/{id}/ai-logs");
    let kept = app.log_question(&ada, &id, "Kept?").await;
    refuses_each(
        || app.post(&path).auth(&ada),
        [
            (json!({"question": "", "answer": "a"}), "question"),
            (json!({"question": "   ", "answer": "a"}), "question"),
            (json!({"answer": "a"}), "question"),
            (
                json!({"question": "q".repeat(4001), "answer": "a"}),
                "question",
            ),
            (json!({"question": 42, "answer": "a"}), "question"),
            (json!({"question": "q"}), "answer"),
            (
                json!({"question": "q", "answer": "a", "trigger": "shout"}),
                "trigger",
            ),
            (
                json!({"question": "q", "answer": "a", "helpful": true}),
                "helpful",
            ),
            (
                json!({"question": "q", "answer": "a", "user_id": ada.id}),
                "user_id",
            ),
        ],
    )
    .await;
    assert_eq!(app.session_logs(&ada, &id).await, vec![kept]);
}

async fn the_agent_logs_through_the_internal_endpoint(app: &TestApp) {
    let (ada, bob, _carol, id) = room(app).await;
    let latency = json!({
        "wake_delay": 120,
        "transcription_delay": 340,
        "llm_ttft": 410,
        "llm_total": 1900,
        "tts_ttfb": 95,
        "voice_to_voice": 780,
        "total": 2400,
    });
    let providers = json!({"stt": "pocketsphinx", "llm": "smollm2", "tts": "flite"});
    let body = json!({
        "session_id": id,
        "user_id": bob.id,
        "question": "hey agent what is a closure",
        "answer": "A function that captures its environment.",
        "trigger": "voice",
        "latency_ms": latency,
        "providers": providers,
    });

    app.post("/internal/ai-logs")
        .json(&body)
        .send()
        .await
        .expect_error(401, "unauthenticated");
    app.post_as(&bob, "/internal/ai-logs", &body)
        .await
        .expect_error(403, "forbidden");
    app.post_as("agent-secret-guess", "/internal/ai-logs", &body)
        .await
        .expect_error(401, "unauthenticated");
    assert_eq!(app.session_logs(&ada, &id).await, Vec::<Value>::new());

    let voiced = app.agent_log(&body).await.expect(201);
    assert_eq!(voiced["session_id"], id.as_str());
    assert_eq!(voiced["user_id"], bob.id.as_str());
    assert_eq!(voiced["trigger"], "voice");
    assert_eq!(voiced["latency_ms"], latency);
    for (provider, name) in providers.as_object().unwrap() {
        assert_eq!(&voiced["providers"][provider], name, "{voiced}");
    }
    assert_eq!(voiced["error"], Value::Null);
    assert_eq!(voiced["helpful"], Value::Null);
    assert!(!voiced.to_string().contains(&app.agent_token));

    // The agent could not tell who asked, and the language model failed: still logged.
    let failed = app
        .agent_log(&json!({
            "session_id": id,
            "question": "hey agent explain borrowing",
            "answer": "",
            "trigger": "voice",
            "error": "llm: connection refused",
            "latency_ms": {"wake_delay": 100, "transcription_delay": 3_600_000},
            "providers": {"stt": "deepgram"},
        }))
        .await
        .expect(201);
    assert_eq!(failed["user_id"], Value::Null);
    assert_eq!(failed["answer"], "");
    assert_eq!(failed["error"], "llm: connection refused");
    assert_eq!(failed["latency_ms"]["wake_delay"], 100);
    assert_eq!(failed["latency_ms"]["transcription_delay"], 3_600_000);
    assert_eq!(failed["providers"]["stt"], "deepgram");

    let typed = app
        .agent_log(&json!({"session_id": id, "user_id": ada.id, "question": "typed", "answer": "ok", "trigger": "text"}))
        .await
        .expect(201);
    assert_eq!(typed["trigger"], "text");

    assert_eq!(
        app.session_logs(&bob, &id).await,
        vec![voiced.clone(), failed, typed],
        "the session's log, oldest first, holds what the agent logged"
    );
    let bobs = app.my_ai_logs(&bob).await;
    assert_eq!(
        bobs,
        json!([voiced]),
        "the agent logged it as Bob's question"
    );
}

async fn internal_log_input_is_checked(app: &TestApp) {
    let (ada, bob, _carol, id) = room(app).await;
    let valid = json!({
        "session_id": id,
        "user_id": bob.id,
        "question": "q",
        "answer": "a",
        "trigger": "voice",
    });
    let with = |changes: Value| overlaid(valid.clone(), changes);
    refuses_each(
        || app.post("/internal/ai-logs").auth(&app.agent_token),
        [
            (
                with(json!({"latency_ms": {"total": 3_600_001}})),
                "latency_ms",
            ),
            (with(json!({"latency_ms": {"llm_ttft": -1}})), "latency_ms"),
            (
                with(json!({"latency_ms": {"llm_ttft": "fast"}})),
                "latency_ms",
            ),
            (with(json!({"latency_ms": [1, 2]})), "latency_ms"),
            (with(json!({"providers": {"llm": ""}})), "providers"),
            (
                with(json!({"providers": {"llm": "x".repeat(61)}})),
                "providers",
            ),
            (with(json!({"session_id": "not-an-id"})), "session_id"),
            (with(json!({"session_id": null})), "session_id"),
            (with(json!({"user_id": "nobody"})), "user_id"),
            (with(json!({"trigger": "shout"})), "trigger"),
            (with(json!({"trigger": null})), "trigger"),
            (with(json!({"question": ""})), "question"),
            (with(json!({"question": null})), "question"),
            (with(json!({"answer": null})), "answer"),
            (with(json!({"error": ""})), "error"),
            (with(json!({"mood": "happy"})), "mood"),
        ],
    )
    .await;
    // Unknown stages and providers are refused too (whatever field the error names).
    for body in [
        with(json!({"latency_ms": {"total": 10, "coffee_break": 5}})),
        with(json!({"providers": {"stt": "x", "vision": "y"}})),
    ] {
        app.agent_log(&body).await.expect_error(400, "invalid");
    }
    // A session that does not exist is refused, as a bad input or a missing thing.
    let missing = with(json!({"session_id": uuid::Uuid::new_v4().to_string()}));
    let reply = app.agent_log(&missing).await;
    assert!(
        matches!(reply.status.as_u16(), 400 | 404),
        "a log for a missing session: {} {}",
        reply.status,
        reply.body
    );
    assert_eq!(app.session_logs(&ada, &id).await, Vec::<Value>::new());
    let mine = app.my_ai_logs(&bob).await;
    assert_eq!(mine, json!([]), "nothing was logged");
}

async fn feedback_counts_one_vote_per_person(app: &TestApp) {
    let (ada, bob, carol, id) = room(app).await;
    let dave = app.register("Dave").await;
    app.join(&dave, &id).await.expect(200);
    let log = app.log_question(&ada, &id, "What is Pin?").await;
    let log_id = id_of(&log);

    let counts = |answer: &Value| {
        (
            answer["helpful"].clone(),
            answer["helpful_votes"].as_i64().unwrap(),
            answer["unhelpful_votes"].as_i64().unwrap(),
        )
    };

    // Someone else's vote leaves the asker's own rating empty.
    let after_bob = app.vote(&bob, &log_id, false).await.expect(200);
    assert_eq!(counts(&after_bob), (Value::Null, 0, 1));
    assert_eq!(after_bob["id"], log_id.as_str());

    let after_ada = app.vote(&ada, &log_id, true).await.expect(200);
    assert_eq!(counts(&after_ada), (json!(true), 1, 1));

    // Voting again replaces the earlier vote.
    let bob_changed = app.vote(&bob, &log_id, true).await.expect(200);
    assert_eq!(counts(&bob_changed), (json!(true), 2, 0));
    let bob_same = app.vote(&bob, &log_id, true).await.expect(200);
    assert_eq!(counts(&bob_same), (json!(true), 2, 0), "one vote a person");
    let ada_changed = app.vote(&ada, &log_id, false).await.expect(200);
    assert_eq!(counts(&ada_changed), (json!(false), 1, 1));

    // Someone who has left may still vote; someone who was never in it may not.
    app.session_action(&dave, &id, "leave").await.expect(200);
    let dave_voted = app.vote(&dave, &log_id, false).await.expect(200);
    assert_eq!(counts(&dave_voted), (json!(false), 1, 2));
    let before = app.session_logs(&ada, &id).await;
    app.vote(&carol, &log_id, true)
        .await
        .expect_error(403, "forbidden");

    let path = format!("/api/ai-logs/{log_id}/feedback");
    refuses_each(
        || app.post(&path).auth(&bob),
        [
            (json!({"helpful": "yes"}), "helpful"),
            (json!({"helpful": null}), "helpful"),
            (json!({}), "helpful"),
            (json!({"helpful": true, "stars": 5}), "stars"),
        ],
    )
    .await;
    assert_eq!(
        app.session_logs(&ada, &id).await,
        before,
        "refused votes changed nothing"
    );
    assert_eq!(counts(&before[0]), (json!(false), 1, 2));

    let mine = app.my_ai_logs(&ada).await;
    assert_eq!(
        counts(&mine[0]),
        (json!(false), 1, 2),
        "my log shows the votes too"
    );

    app.vote(&bob, &uuid::Uuid::new_v4().to_string(), true)
        .await
        .expect_error(404, "not_found");
    app.vote(&bob, "1234", true)
        .await
        .expect_field_error(400, "invalid", "id");
}

/// The assistant logs `count` questions for `asker`, oldest first.
async fn agent_logs(app: &TestApp, session_id: &str, asker: &User, count: usize) -> Vec<Value> {
    let mut logged = Vec::with_capacity(count);
    for n in 0..count {
        logged.push(
            app.agent_log(&json!({
                "session_id": session_id,
                "user_id": asker.id,
                "question": format!("question {n}"),
                "answer": format!("answer {n}"),
                "trigger": "voice",
            }))
            .await
            .expect(201),
        );
    }
    logged
}

/// A long log is read as chat is: the latest 50 by default, then page by
/// page back from the oldest entry seen, each page oldest first.
async fn the_log_reads_in_pages_of_the_latest_entries(app: &TestApp) {
    let (ada, bob, carol, id) = room(app).await;
    let logged = agent_logs(app, &id, &bob, 60).await;
    let path = format!("/api/sessions/{id}/ai-logs");
    let latest = app.session_logs(&ada, &id).await;
    assert_eq!(ids(&latest), ids(&logged[10..]));
    let older = app
        .get_ok(&ada, &format!("{path}?before={}", id_of(&latest[0])))
        .await;
    assert_eq!(ids(older.as_array().expect("a list")), ids(&logged[..10]));
    let few = app
        .get_ok(
            &bob,
            &format!("{path}?limit=3&before={}", id_of(&logged[5])),
        )
        .await;
    assert_eq!(ids(few.as_array().expect("a list")), ids(&logged[2..5]));
    for bad in ["limit=0", "limit=101", "before=nope"] {
        let field = bad.split('=').next().expect("a name");
        app.get_as(&ada, &format!("{path}?{bad}"))
            .await
            .expect_field_error(400, "invalid", field);
    }
    // An entry of another session is not a place in this one.
    let other = app.instant_session(&carol, 2).await;
    let elsewhere = agent_logs(app, &id_of(&other), &carol, 1).await;
    app.get_as(&ada, &format!("{path}?before={}", id_of(&elsewhere[0])))
        .await
        .expect_field_error(400, "invalid", "before");
}

/// A person writes at most 30 entries a minute by hand, and each says it was
/// a person's; the assistant's entries are not limited and say they are its.
async fn logging_by_hand_is_limited_and_marked_as_a_persons(app: &TestApp) {
    let (ada, bob, _carol, id) = room(app).await;
    let path = format!("/api/sessions/{id}/ai-logs");
    let by_hand = |n: usize| json!({"question": format!("q{n}"), "answer": "an answer I typed"});
    for n in 0..30 {
        let logged = app.post_as(&bob, &path, &by_hand(n)).await.expect(201);
        assert_eq!(logged["logged_by"], "person", "{logged}");
    }
    app.post_as(&bob, &path, &by_hand(30))
        .await
        .expect_error(429, "rate_limited");
    assert_eq!(
        app.session_logs(&ada, &id).await.len(),
        30,
        "the refused entry wrote nothing"
    );
    // Ada has her own allowance; the assistant has none to spend.
    app.post_as(&ada, &path, &by_hand(0)).await.expect(201);
    let spoken = agent_logs(app, &id, &bob, 1).await;
    assert_eq!(spoken[0]["logged_by"], "assistant");
}

//! The whole story of one session, as two people and the assistant live it.

use serde_json::{Value, json};

use crate::harness::{PASSWORD, TestApp, User, id_of};

both_backends!(two_people_lock_in_with_the_assistant);

async fn two_people_lock_in_with_the_assistant(app: &TestApp) {
    // Two people sign up; the second signs in again later, as a returning user would.
    let [ada, bob_signup] = app.register_all(["Ada", "Bob"]).await;
    let bob = User::from_auth_answer(&app.login(&bob_signup.email, PASSWORD).await.expect(200));
    assert_eq!(bob.id, bob_signup.id);

    let project = app
        .create_project(
            &ada,
            json!({
                "name": "Lock In",
                "description": "Focus sessions with an AI pair",
                "repo_url": "https://github.com/lockin/lockin",
                "tech_stack": ["Rust", "axum", "sqlx"],
            }),
        )
        .await;

    let session = app
        .create_session(
            &ada,
            json!({
                "title": "Ship the API",
                "session_type": "coding",
                "project_id": id_of(&project),
                "max_participants": 4,
                "ai_agent_enabled": true,
            }),
        )
        .await;
    let id = id_of(&session);
    assert_eq!(session["status"], "active");
    assert_eq!(session["project_id"], project["id"]);
    assert_eq!(session["participant_count"], 1);

    // Bob finds it on the active list and joins.
    let active = app.all_sessions(&bob, "active", 20).await;
    assert_eq!(crate::harness::ids(&active), vec![id.clone()]);
    let joined = app.join(&bob, &id).await.expect(200);
    assert_eq!(joined["role"], "participant");
    assert_eq!(app.session(&bob, &id).await["participant_count"], 2);
    // Being in the session lets Bob read the project the assistant is working from.
    assert_eq!(app.project(&bob, &id_of(&project)).await, project);

    // Bob asks the assistant by voice; the agent logs it. Ada types a question herself.
    let voiced = app
        .agent_log(&json!({
            "session_id": id,
            "user_id": bob.id,
            "question": "hey agent how do I share state between axum handlers",
            "answer": "Put it in an Arc and pass it with State.",
            "trigger": "voice",
            "latency_ms": {"transcription_delay": 300, "llm_ttft": 420, "voice_to_voice": 790, "total": 2100},
            "providers": {"stt": "pocketsphinx", "llm": "smollm2", "tts": "flite"},
        }))
        .await
        .expect(201);
    let typed = app
        .log_question(&ada, &id, "What does sqlx's Any driver cover?")
        .await;

    // Both rate Bob's answer; Bob changes his mind once.
    app.vote(&bob, &id_of(&voiced), false).await.expect(200);
    app.vote(&ada, &id_of(&voiced), true).await.expect(200);
    let rated = app.vote(&bob, &id_of(&voiced), true).await.expect(200);
    assert_eq!(
        rated["helpful"], true,
        "Bob asked, so his vote is the rating"
    );
    assert_eq!(rated["helpful_votes"], 2);
    assert_eq!(rated["unhelpful_votes"], 0);

    let log = app.session_logs(&ada, &id).await;
    assert_eq!(
        crate::harness::ids(&log),
        vec![id_of(&voiced), id_of(&typed)],
        "oldest first"
    );
    assert_eq!(log[0], rated);
    assert_eq!(log[0]["latency_ms"]["voice_to_voice"], 790);
    assert_eq!(log[1]["helpful"], Value::Null);

    let ended = app.session_action(&ada, &id, "end").await.expect(200);
    assert_eq!(ended["status"], "ended");
    assert_eq!(ended["participant_count"], 0);
    let people = app.participants(&bob, &id).await;
    assert_eq!(people.len(), 2);
    for person in &people {
        assert_eq!(person["status"], "left", "{person}");
        assert!(person["left_at"].is_string());
    }
    let mut who: Vec<&str> = people
        .iter()
        .map(|p| p["user_id"].as_str().unwrap())
        .collect();
    who.sort();
    let mut expected = vec![ada.id.as_str(), bob.id.as_str()];
    expected.sort();
    assert_eq!(who, expected);

    // Afterwards the log stays readable to both, and Bob's history holds his question.
    assert_eq!(app.session_logs(&bob, &id).await, log);
    let bobs = app.my_ai_logs(&bob).await;
    assert_eq!(bobs, json!([rated]));
    assert_eq!(
        app.all_sessions(&ada, "active", 20).await,
        Vec::<Value>::new()
    );
}

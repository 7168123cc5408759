//! The recap of an ended session over HTTP (docs/RITUAL.md, "The recap"):
//! planned against actual time, each person's goal and check-out, the links
//! of the chat, the questions with everyone's and your own rating, and the
//! assistant's summary — wanted only when the assistant was on, written
//! once, by the worker holding its claim, held to the session's facts.

use serde_json::{Value, json};

use crate::harness::{TestApp, User, id_of, timestamp};

both_backends!(
    the_recap_shows_the_time_goals_links_and_rated_questions,
    only_people_who_were_in_an_ended_session_read_its_recap,
    a_session_with_the_assistant_off_gets_no_summary,
    the_summary_is_the_agents_to_write_once_under_its_claim,
    a_summary_that_invents_is_replaced_by_one_from_the_facts,
);

fn recap_path(session_id: &str) -> String {
    format!("/api/sessions/{session_id}/recap")
}

async fn recap_of(app: &TestApp, viewer: &User, session_id: &str) -> Value {
    app.get_as(viewer, &recap_path(session_id))
        .await
        .expect(200)
}

async fn set_goal(app: &TestApp, who: &User, session_id: &str, goal: &str) {
    let path = format!("/api/sessions/{session_id}/goal");
    app.put_as(who, &path, &json!({"goal": goal}))
        .await
        .expect(200);
}

/// Ada's instant session planned for 50 minutes, with Bob joined; the
/// assistant `on` or off.
async fn planned_session(app: &TestApp, assistant: bool) -> (User, User, String) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let session = app
        .create_session(
            &ada,
            json!({"title": "Parser day", "planned_minutes": 50, "ai_agent_enabled": assistant}),
        )
        .await;
    let id = id_of(&session);
    app.join(&bob, &id).await.expect(200);
    (ada, bob, id)
}

async fn the_recap_shows_the_time_goals_links_and_rated_questions(app: &TestApp) {
    let (ada, bob, id) = planned_session(app, false).await;
    set_goal(app, &ada, &id, "Ship the parser errors").await;
    set_goal(app, &bob, &id, "Read chapter 4 of the Rust book").await;
    app.post_message(
        &bob,
        &id,
        "Reading https://doc.rust-lang.org/book/ch04-01.html, then javascript:alert(1)",
    )
    .await
    .expect(201);
    app.post_message(&ada, &id, "no links here")
        .await
        .expect(201);
    app.post_message(
        &ada,
        &id,
        "Same: https://doc.rust-lang.org/book/ch04-01.html! And (https://example.org/errors).",
    )
    .await
    .expect(201);
    let asked = app.log_question(&bob, &id, "What is a borrow?").await;
    let log_id = asked["id"].as_str().unwrap();
    app.vote(&ada, log_id, true).await.expect(200);
    app.vote(&bob, log_id, false).await.expect(200);
    app.post_as(
        &bob,
        &format!("/api/sessions/{id}/check-out"),
        &json!({"outcome": "partly", "note": "half of it"}),
    )
    .await
    .expect(200);
    let ended = app.session_action(&ada, &id, "end").await.expect(200);

    let recap = recap_of(app, &bob, &id).await;
    assert_eq!(recap["session"]["id"], id.as_str());
    // Planned against actual.
    let time = &recap["time"];
    assert_eq!(time["planned_minutes"], 50, "{time}");
    let seconds = (timestamp(&ended["ended_at"]) - timestamp(&ended["started_at"])).num_seconds();
    assert_eq!(time["actual_seconds"], seconds, "{time}");
    assert_eq!(time["actual_minutes"], (seconds + 30) / 60, "{time}");
    assert_eq!(time["ended_at"], ended["ended_at"]);

    // Bob's own part, and everyone's (the assistant is no one's goal).
    let you = &recap["you"];
    assert_eq!(you["user_id"], bob.id, "{you}");
    assert_eq!(you["is_you"], true);
    assert_eq!(you["goal"]["text"], "Read chapter 4 of the Rust book");
    assert_eq!(you["check_out"]["outcome"], "partly");
    assert_eq!(you["check_out"]["note"], "half of it");
    let people: Vec<(&str, &str, bool)> = recap["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["goal"]["text"].as_str().unwrap(),
                p["is_you"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        people,
        [
            ("Ada", "Ship the parser errors", false),
            ("Bob", "Read chapter 4 of the Rust book", true)
        ]
    );

    // The chat's links: each once, its first poster kept, punctuation and
    // other schemes left out.
    let links = recap["links"].as_array().unwrap();
    let urls: Vec<&str> = links.iter().map(|l| l["url"].as_str().unwrap()).collect();
    assert_eq!(
        urls,
        [
            "https://doc.rust-lang.org/book/ch04-01.html",
            "https://example.org/errors"
        ]
    );
    assert_eq!(links[0]["posted_by"], bob.id);
    assert_eq!(links[0]["posted_by_name"], "Bob");
    assert_eq!(links[1]["posted_by_name"], "Ada");
    timestamp(&links[0]["posted_at"]);

    // The question, with everyone's votes and the viewer's own rating.
    let question = &recap["questions"][0];
    assert_eq!(question["id"], log_id);
    assert_eq!(question["question"], "What is a borrow?");
    assert_eq!(question["answer"], "An answer to: What is a borrow?");
    assert_eq!(question["asked_by_name"], "Bob");
    assert_eq!(
        (&question["helpful_votes"], &question["unhelpful_votes"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(question["your_rating"], false, "{question}");
    let adas = recap_of(app, &ada, &id).await;
    assert_eq!(adas["questions"][0]["your_rating"], true);
    assert_eq!(adas["you"]["name"], "Ada");
    assert_eq!(adas["you"]["check_out"], Value::Null);
    // The assistant was off: no summary is wanted.
    assert_eq!(recap["summary"], Value::Null);
}

async fn only_people_who_were_in_an_ended_session_read_its_recap(app: &TestApp) {
    let (ada, bob, id) = planned_session(app, true).await;
    let cleo = app.register("Cleo").await;
    let before = app.session(&ada, &id).await;

    app.get_as(&ada, &recap_path(&id))
        .await
        .expect_error(409, "conflict");
    app.get_as(&cleo, &recap_path(&id))
        .await
        .expect_error(403, "forbidden");
    app.get_as(&ada, &recap_path("0190a0a0-0000-7000-8000-000000000999"))
        .await
        .expect_error(404, "not_found");
    // Reading changed nothing: the session runs on as it was.
    assert_eq!(app.session(&ada, &id).await, before);

    // Bob left before the end: he was in it, so the recap is his too.
    app.leave(&bob, &id).await.expect(200);
    app.session_action(&ada, &id, "end").await.expect(200);
    app.get_as(&cleo, &recap_path(&id))
        .await
        .expect_error(403, "forbidden");
    assert_eq!(recap_of(app, &bob, &id).await["you"]["name"], "Bob");
}

async fn a_session_with_the_assistant_off_gets_no_summary(app: &TestApp) {
    let (ada, _bob, id) = planned_session(app, false).await;
    app.session_action(&ada, &id, "end").await.expect(200);
    assert_eq!(recap_of(app, &ada, &id).await["summary"], Value::Null);
    let wanted = app
        .get_as(&app.agent_token, "/internal/summaries")
        .await
        .expect(200);
    assert!(!wanted.as_array().unwrap().contains(&json!(id)), "{wanted}");
    app.agent_action(&id, "summary/claim", &json!({"worker_id": "worker-a"}))
        .await
        .expect_error(409, "conflict");
    let report = json!({"worker_id": "worker-a", "text": "Ada worked."});
    app.agent_action(&id, "summary", &report)
        .await
        .expect_error(409, "conflict");
    assert_eq!(recap_of(app, &ada, &id).await["summary"], Value::Null);
}

async fn the_summary_is_the_agents_to_write_once_under_its_claim(app: &TestApp) {
    let (ada, bob, id) = planned_session(app, true).await;
    set_goal(app, &ada, &id, "Ship the parser errors").await;
    let claim = json!({"worker_id": "worker-a"});
    // Nothing to claim while the session runs.
    app.agent_action(&id, "summary/claim", &claim)
        .await
        .expect_error(409, "conflict");
    app.session_action(&ada, &id, "end").await.expect(200);

    // Ended with the assistant on: wanted, not written yet.
    let summary = &recap_of(app, &bob, &id).await["summary"];
    assert_eq!(summary["status"], "pending", "{summary}");
    assert_eq!(summary["text"], Value::Null);
    let wanted = app
        .get_as(&app.agent_token, "/internal/summaries")
        .await
        .expect(200);
    assert!(wanted.as_array().unwrap().contains(&json!(id)), "{wanted}");

    // People cannot list, claim, read the facts or write.
    let good = json!({"worker_id": "worker-a", "text": "Ada and Bob worked on the parser errors together.",
                      "provider": "local", "latency_ms": 840});
    app.get_as(&ada, "/internal/summaries")
        .await
        .expect_error(403, "forbidden");
    app.post_as(
        &ada,
        &format!("/internal/sessions/{id}/summary/claim"),
        &claim,
    )
    .await
    .expect_error(403, "forbidden");
    app.get_as(&ada, &format!("/internal/sessions/{id}/summary-facts"))
        .await
        .expect_error(403, "forbidden");
    app.post_as(&ada, &format!("/internal/sessions/{id}/summary"), &good)
        .await
        .expect_error(403, "forbidden");
    assert_eq!(
        recap_of(app, &bob, &id).await["summary"]["status"],
        "pending"
    );

    // One worker holds the claim; writing without it is refused.
    let claimed = app
        .agent_action(&id, "summary/claim", &claim)
        .await
        .expect(200);
    assert_eq!(claimed["claimed"], true);
    let other = json!({"worker_id": "worker-b"});
    let taken = app
        .agent_action(&id, "summary/claim", &other)
        .await
        .expect(200);
    assert_eq!(taken["claimed"], false);
    let wanted = app
        .get_as(&app.agent_token, "/internal/summaries")
        .await
        .expect(200);
    assert!(
        !wanted.as_array().unwrap().contains(&json!(id)),
        "claimed: {wanted}"
    );
    let by_b = json!({"worker_id": "worker-b", "text": "Ada worked."});
    app.agent_action(&id, "summary", &by_b)
        .await
        .expect_error(409, "conflict");

    // The facts the summary is held to.
    let facts = app
        .get_as(
            &app.agent_token,
            &format!("/internal/sessions/{id}/summary-facts"),
        )
        .await
        .expect(200);
    assert_eq!(facts["title"], "Parser day");
    assert_eq!(facts["planned_minutes"], 50);
    assert_eq!(facts["people"][0]["name"], "Ada");
    assert_eq!(facts["people"][0]["goal"], "Ship the parser errors");
    assert_eq!(facts["people"][1]["name"], "Bob");

    // The holder writes it, once.
    let kept = app.agent_action(&id, "summary", &good).await.expect(200);
    assert_eq!(kept["status"], "written", "{kept}");
    assert_eq!(kept["written_by"], "assistant");
    assert_eq!(
        kept["text"],
        "Ada and Bob worked on the parser errors together."
    );
    app.agent_action(&id, "summary", &good)
        .await
        .expect_error(409, "conflict");
    app.agent_action(&id, "summary/claim", &claim)
        .await
        .expect_error(409, "conflict");
    let summary = recap_of(app, &ada, &id).await["summary"].clone();
    assert_eq!(summary, kept);
    assert_eq!(summary["provider"], "local");
    assert_eq!(summary["latency_ms"], 840);
    timestamp(&summary["written_at"]);
}

async fn a_summary_that_invents_is_replaced_by_one_from_the_facts(app: &TestApp) {
    let (ada, _bob, id) = planned_session(app, true).await;
    set_goal(app, &ada, &id, "Ship the parser errors").await;
    app.session_action(&ada, &id, "end").await.expect(200);
    let claim = json!({"worker_id": "worker-a"});
    app.agent_action(&id, "summary/claim", &claim)
        .await
        .expect(200);
    // Zed was never there, and nobody worked for 90 minutes.
    let invented = json!({"worker_id": "worker-a", "text": "Ada and Zed worked for 90 minutes.",
                          "provider": "local", "latency_ms": 900});
    let kept = app
        .agent_action(&id, "summary", &invented)
        .await
        .expect(200);
    assert_eq!(kept["written_by"], "facts", "{kept}");
    let text = kept["text"].as_str().unwrap();
    assert!(
        text.starts_with("Ada and Bob worked on \"Parser day\" for "),
        "{text}"
    );
    assert!(
        text.contains("Ada set out to ship the parser errors (not checked out)"),
        "{text}"
    );
    assert!(!text.contains("Zed") && !text.contains("90"), "{text}");
    assert_eq!(recap_of(app, &ada, &id).await["summary"], kept);
}

//! The AI agent's side of the API: with the agent token it joins sessions as
//! its own participant (role `agent`, taking no seat), claims each session for
//! exactly one worker, reports what it is doing, reads its context and speaks
//! in the chat. People's tokens get 403 on all of it.

use serde_json::json;

use crate::harness::{TestApp, id_of};

both_backends!(
    the_agent_joins_as_its_own_participant_without_a_seat,
    one_worker_serves_a_session,
    the_agent_reports_status_and_reads_its_context,
    switching_the_assistant_off_keeps_the_agent_out,
    people_cannot_act_as_the_agent,
    an_empty_live_token_is_no_credential,
    a_release_checks_its_body_as_a_claim_does,
);

async fn the_agent_joins_as_its_own_participant_without_a_seat(app: &TestApp) {
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let id = app.hosted_session(&ada, 2, [&bob]).await;

    let listed = app.agent_sessions().await;
    assert!(listed.iter().any(|s| s["id"] == id.as_str()), "{listed:?}");

    // The session is full (2 of 2), and the agent still gets in.
    let agent = app.agent_action(&id, "join", None).await.expect(200);
    assert_eq!(agent["role"], "agent");
    assert_eq!(agent["name"], "Lock In Assistant");
    let after = app.session(&ada, &id).await;
    assert_eq!(after["participant_count"], 2, "the agent takes no seat");
    assert_eq!(after["agent_status"], "listening");
    let people = app.participants(&ada, &id).await;
    assert_eq!(people.iter().filter(|p| p["role"] == "agent").count(), 1);

    app.agent_action(&id, "leave", None).await.expect(200);
    assert_eq!(app.session(&ada, &id).await["participant_count"], 2);
}

async fn one_worker_serves_a_session(app: &TestApp) {
    let ada = app.register("Ada").await;
    let id = id_of(&app.instant_session(&ada, 4).await);
    let claim = |worker: &'static str| {
        app.post(&format!("/internal/sessions/{id}/claim"))
            .auth(&app.agent_token)
            .json(&json!({"worker_id": worker, "lease_seconds": 60}))
            .send()
    };
    assert_eq!(claim("one").await.expect(200)["claimed"], true);
    assert_eq!(
        claim("two").await.expect(200)["claimed"],
        false,
        "held by another worker"
    );
    assert_eq!(
        claim("one").await.expect(200)["claimed"],
        true,
        "renewing one's own claim"
    );
    app.agent_action(&id, "release", &json!({"worker_id": "one"}))
        .await
        .expect(204);
    assert_eq!(
        claim("two").await.expect(200)["claimed"],
        true,
        "free once released"
    );

    app.agent_action(&id, "claim", &json!({"worker_id": "", "lease_seconds": 60}))
        .await
        .expect_field_error(400, "invalid", "worker_id");
    app.agent_action(
        &id,
        "claim",
        &json!({"worker_id": "one", "lease_seconds": 0}),
    )
    .await
    .expect_field_error(400, "invalid", "lease_seconds");
}

async fn the_agent_reports_status_and_reads_its_context(app: &TestApp) {
    let ada = app.register("Ada").await;
    let project = app
        .create_project(
            &ada,
            json!({"name": "Focus timer", "tech_stack": ["rust", "axum"]}),
        )
        .await;
    let session = app
        .create_session(
            &ada,
            json!({"title": "Timer work", "project_id": id_of(&project)}),
        )
        .await;
    let id = id_of(&session);
    app.agent_action(&id, "join", None).await.expect(200);

    for status in ["thinking", "speaking", "listening"] {
        let session = app
            .agent_action(&id, "agent-status", &json!({"status": status}))
            .await
            .expect(200);
        assert_eq!(session["agent_status"], status);
    }
    app.agent_action(&id, "agent-status", &json!({"status": "off"}))
        .await
        .expect_field_error(400, "invalid", "status");

    app.log_question(&ada, &id, "What is a closure?").await;
    let context = app
        .get_ok(
            &app.agent_token,
            &format!("/internal/sessions/{id}/context"),
        )
        .await;
    assert_eq!(context["session"]["title"], "Timer work");
    assert_eq!(context["project"]["name"], "Focus timer");
    assert_eq!(context["project"]["tech_stack"], json!(["rust", "axum"]));
    assert_eq!(context["recent"][0]["question"], "What is a closure?");

    let said = app
        .agent_action(
            &id,
            "messages",
            &json!({"body": "A closure captures its environment."}),
        )
        .await
        .expect(201);
    assert_eq!(said["name"], "Lock In Assistant");
    let chat = app
        .get_ok(&ada, &format!("/api/sessions/{id}/messages"))
        .await;
    assert_eq!(
        chat["messages"][0]["body"],
        "A closure captures its environment."
    );
}

async fn switching_the_assistant_off_keeps_the_agent_out(app: &TestApp) {
    let ada = app.register("Ada").await;
    let id = id_of(&app.instant_session(&ada, 4).await);
    app.switch_assistant(&ada, &id, false).await.expect(200);
    let listed = app.agent_sessions().await;
    assert!(!listed.iter().any(|s| s["id"] == id.as_str()));
    app.agent_action(&id, "join", None)
        .await
        .expect_error(409, "conflict");
    app.agent_action(&id, "agent-status", &json!({"status": "listening"}))
        .await
        .expect_error(409, "conflict");
}

async fn people_cannot_act_as_the_agent(app: &TestApp) {
    let ada = app.register("Ada").await;
    let id = id_of(&app.instant_session(&ada, 4).await);
    for path in [
        format!("/internal/sessions/{id}/join"),
        format!("/internal/sessions/{id}/leave"),
    ] {
        app.post_as(&ada, &path, None)
            .await
            .expect_error(403, "forbidden");
        app.post(&path)
            .send()
            .await
            .expect_error(401, "unauthenticated");
    }
    app.get_as(&ada, "/internal/sessions")
        .await
        .expect_error(403, "forbidden");
    // The assistant's account cannot be signed into.
    app.login("assistant@lockin.invalid", "anything at all")
        .await
        .expect_error(401, "unauthenticated");
}

/// An empty or short agent token is refused at start: an empty one would
/// match an empty `?token=` and seat anyone as the assistant.
#[tokio::test]
async fn a_guessable_agent_token_is_refused_at_start() {
    for token in ["", "   ", "short-token"] {
        let data_dir = tempfile::tempdir().expect("a data directory");
        let config = server::Config {
            listen: "127.0.0.1:0".parse().expect("an address"),
            rtc_udp: "127.0.0.1:0".parse().expect("an address"),
            data_dir: data_dir.path().to_path_buf(),
            agent_token: Some(secrecy::SecretString::from(token)),
            ..server::Config::default()
        };
        let refused = server::Application::build(config).await.err();
        let refused = refused.unwrap_or_else(|| panic!("the agent token {token:?} was accepted"));
        assert!(
            format!("{refused:#}").contains("agent token"),
            "{refused:#}"
        );
    }
}

/// `?token=` with nothing in it names nobody: the live socket asks for a
/// credential instead of taking it for anyone's.
async fn an_empty_live_token_is_no_credential(app: &TestApp) {
    let refused = app.get("/api/live?token=").send().await;
    refused.expect_error(401, "unauthenticated");
}

/// Release takes the claim's body; a lease out of range is refused there too,
/// as the document says.
async fn a_release_checks_its_body_as_a_claim_does(app: &TestApp) {
    let ada = app.register("Ada").await;
    let id = id_of(&app.instant_session(&ada, 2).await);
    for action in ["claim", "release"] {
        app.agent_action(
            &id,
            action,
            &json!({"worker_id": "worker-a", "lease_seconds": 0}),
        )
        .await
        .expect_field_error(400, "invalid", "lease_seconds");
    }
}

//! Bad requests are refused clearly (a 4xx naming the field at fault) and
//! change nothing: wrong content types, oversized and malformed bodies, wrong
//! types, missing and unknown fields, out-of-range values, malformed ids.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Failures, TestApp, User, id_of, rfc3339, session_body};

both_backends!(
    session_create_refuses_bad_bodies,
    session_create_accepts_the_limits,
    bodies_must_be_json,
    bodies_over_64_kib_are_too_large,
    malformed_and_unknown_ids_in_paths,
);

/// POSTs `body` to `/api/sessions` as Ada and checks the refusal and that nothing changed.
async fn refused_create(
    app: &TestApp,
    ada: &User,
    before: &Value,
    body: Value,
    field: &str,
) -> Result<(), String> {
    app.post_as(ada, "/api/sessions", &body)
        .await
        .check_error(400, "invalid", Some(field))
        .map_err(|failure| format!("{failure} (sent {body})"))?;
    if &app.sessions_snapshot(ada).await != before {
        return Err(format!(
            "a refused create ({body}) changed the session lists"
        ));
    }
    Ok(())
}

async fn session_create_refuses_bad_bodies(app: &TestApp) {
    let ada = app.register("Ada").await;
    app.instant_session(&ada, 3).await;
    app.scheduled_session(&ada, "Deep work", Duration::hours(1))
        .await;
    let before = app.sessions_snapshot(&ada).await;
    let in_days = |days: i64| rfc3339(Utc::now() + Duration::days(days));
    let cases = [
        // Wrong types.
        (json!({"title": 5}), "title"),
        (json!({"max_participants": "four"}), "max_participants"),
        (json!({"max_participants": 4.5}), "max_participants"),
        (json!({"ai_agent_enabled": "yes"}), "ai_agent_enabled"),
        (json!({"session_type": 3}), "session_type"),
        (json!({"scheduled_start": 1_700_000_000}), "scheduled_start"),
        (json!({"description": ["a"]}), "description"),
        // Missing required fields (`null` removes the field from the valid body).
        (json!({"title": null}), "title"),
        (json!({"session_type": null}), "session_type"),
        (json!({"max_participants": null}), "max_participants"),
        (json!({"ai_agent_enabled": null}), "ai_agent_enabled"),
        // Unknown fields, including ones only the server may set.
        (json!({"colour": "red"}), "colour"),
        (json!({"status": "ended"}), "status"),
        (json!({"participant_count": 40}), "participant_count"),
        (json!({"creator_id": ada.id}), "creator_id"),
        // Out of range.
        (json!({"title": ""}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"title": "t".repeat(121)}), "title"),
        (json!({"title": "bell\u{7}"}), "title"),
        (json!({"max_participants": 1}), "max_participants"),
        (json!({"max_participants": 0}), "max_participants"),
        (json!({"max_participants": -3}), "max_participants"),
        (json!({"max_participants": 51}), "max_participants"),
        (
            json!({"max_participants": 9_999_999_999_i64}),
            "max_participants",
        ),
        (json!({"session_type": "party"}), "session_type"),
        (json!({"session_type": "Coding "}), "session_type"),
        (json!({"scheduled_start": "tomorrow"}), "scheduled_start"),
        (
            json!({"scheduled_start": "2030-13-45T00:00:00Z"}),
            "scheduled_start",
        ),
        (json!({"scheduled_start": in_days(400)}), "scheduled_start"),
        (json!({"project_id": "../etc/passwd"}), "project_id"),
    ];
    let mut failures = Failures::default();
    for (overrides, field) in cases {
        failures.check(refused_create(app, &ada, &before, session_body(overrides), field).await);
    }
    // A required number sent as an explicit null.
    let mut explicit_null = session_body(json!({}));
    explicit_null["max_participants"] = Value::Null;
    failures.check(refused_create(app, &ada, &before, explicit_null, "max_participants").await);

    // Bodies that are not an object at all.
    for raw in [
        r#"{"title": "Deep work","#,
        "",
        "[]",
        "null",
        r#""Deep work""#,
        "{}",
    ] {
        let reply = app
            .post("/api/sessions")
            .auth(&ada)
            .raw(Some("application/json"), raw.to_owned())
            .send()
            .await;
        failures.check(reply.check_error(400, "invalid", None));
    }
    failures.assert_none();
    assert_eq!(app.sessions_snapshot(&ada).await, before);
}

async fn session_create_accepts_the_limits(app: &TestApp) {
    let ada = app.register("Ada").await;
    // 120 characters of a two-byte letter: the limit counts characters, not bytes.
    let long_title = "é".repeat(120);
    let session = app
        .create_session(&ada, json!({"title": long_title, "max_participants": 2}))
        .await;
    assert_eq!(session["title"], long_title);
    assert_eq!(session["max_participants"], 2);
    let big = app
        .create_session(
            &ada,
            json!({"max_participants": 50, "session_type": "general"}),
        )
        .await;
    assert_eq!(big["max_participants"], 50);
    let far = app
        .create_session(
            &ada,
            json!({"scheduled_start": rfc3339(Utc::now() + Duration::days(365))}),
        )
        .await;
    assert_eq!(far["status"], "scheduled");
    let with_description = app
        .create_session(&ada, json!({"description": "Pairing on the parser"}))
        .await;
    assert_eq!(with_description["description"], "Pairing on the parser");
    // `application/json` with a charset is still JSON.
    app.post("/api/sessions")
        .auth(&ada)
        .raw(
            Some("application/json; charset=utf-8"),
            session_body(json!({"title": "Charset"})).to_string(),
        )
        .send()
        .await
        .expect(201);
    assert_eq!(app.all_sessions(&ada, "active", 100).await.len(), 4);
    assert_eq!(app.all_sessions(&ada, "scheduled", 100).await.len(), 1);
}

async fn bodies_must_be_json(app: &TestApp) {
    let ada = app.register("Ada").await;
    let session = app.instant_session(&ada, 4).await;
    let id = id_of(&session);
    let before = app.sessions_snapshot(&ada).await;
    let valid = session_body(json!({})).to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/xml"),
    ] {
        app.post("/api/sessions")
            .auth(&ada)
            .raw(content_type, valid.clone())
            .send()
            .await
            .expect_error(415, "unsupported_media_type");
        app.post("/api/projects")
            .auth(&ada)
            .raw(content_type, r#"{"name": "P"}"#)
            .send()
            .await
            .expect_error(415, "unsupported_media_type");
        app.post(&format!("/api/sessions/{id}/ai-agent"))
            .auth(&ada)
            .raw(content_type, r#"{"enabled": false}"#)
            .send()
            .await
            .expect_error(415, "unsupported_media_type");
        app.post("/api/auth/register")
            .raw(
                content_type,
                r#"{"email": "form@example.com", "password": "long enough", "name": "Form"}"#,
            )
            .send()
            .await
            .expect_error(415, "unsupported_media_type");
    }
    assert_eq!(app.sessions_snapshot(&ada).await, before);
    assert_eq!(app.get_ok(&ada, "/api/projects").await, json!([]));
    app.login("form@example.com", "long enough")
        .await
        .expect_error(401, "unauthenticated");
}

/// A `/api/projects` body of exactly `size` bytes whose description is as long as it takes.
fn project_body_of_size(size: usize) -> String {
    let empty = json!({"name": "Big", "description": ""}).to_string();
    let body = json!({"name": "Big", "description": "d".repeat(size - empty.len())}).to_string();
    assert_eq!(body.len(), size);
    body
}

async fn bodies_over_64_kib_are_too_large(app: &TestApp) {
    let ada = app.register("Ada").await;
    // 64 KiB exactly is within the limit: it is read, and refused for its content.
    app.post("/api/projects")
        .auth(&ada)
        .raw(Some("application/json"), project_body_of_size(64 * 1024))
        .send()
        .await
        .expect_field_error(400, "invalid", "description");
    for size in [64 * 1024 + 1, 1024 * 1024] {
        app.post("/api/projects")
            .auth(&ada)
            .raw(Some("application/json"), project_body_of_size(size))
            .send()
            .await
            .expect_error(413, "too_large");
    }
    let huge_title = json!({"title": "t".repeat(70 * 1024)});
    app.post_as(&ada, "/api/sessions", &session_body(huge_title))
        .await
        .expect_error(413, "too_large");
    app.sign_up("big@example.com", &"p".repeat(70 * 1024), "Big")
        .await
        .expect_error(413, "too_large");
    assert_eq!(app.get_ok(&ada, "/api/projects").await, json!([]));
    assert_eq!(
        app.sessions_snapshot(&ada).await,
        json!({"active": [], "scheduled": []})
    );
}

async fn malformed_and_unknown_ids_in_paths(app: &TestApp) {
    let ada = app.register("Ada").await;
    let session = app.instant_session(&ada, 4).await;
    app.log_question(&ada, &id_of(&session), "Anything?").await;
    let before = app.session_snapshot(&ada, &id_of(&session)).await;
    // (method, path with `{id}`, body)
    let routes: [(Method, &str, Option<Value>); 15] = [
        (Method::GET, "/api/projects/{id}", None),
        (
            Method::PATCH,
            "/api/projects/{id}",
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, "/api/projects/{id}", None),
        (Method::GET, "/api/sessions/{id}", None),
        (Method::POST, "/api/sessions/{id}/start", None),
        (Method::POST, "/api/sessions/{id}/join", None),
        (Method::POST, "/api/sessions/{id}/leave", None),
        (Method::POST, "/api/sessions/{id}/end", None),
        (Method::GET, "/api/sessions/{id}/participants", None),
        (
            Method::POST,
            "/api/sessions/{id}/ai-agent",
            Some(json!({"enabled": false})),
        ),
        (
            Method::POST,
            "/api/sessions/{id}/ai-logs",
            Some(json!({"question": "q", "answer": "a"})),
        ),
        (Method::GET, "/api/sessions/{id}/ai-logs", None),
        (
            Method::PUT,
            "/api/sessions/{id}/goal",
            Some(json!({"goal": "g"})),
        ),
        (
            Method::POST,
            "/api/sessions/{id}/check-out",
            Some(json!({"outcome": "done"})),
        ),
        (
            Method::POST,
            "/api/ai-logs/{id}/feedback",
            Some(json!({"helpful": true})),
        ),
    ];
    for (method, template, body) in &routes {
        for bad in ["not-a-uuid", "123", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"] {
            let mut call = app
                .request(method.clone(), &template.replace("{id}", bad))
                .auth(&ada);
            if let Some(body) = body {
                call = call.json(body);
            }
            call.send().await.expect_field_error(400, "invalid", "id");
        }
        let missing = uuid::Uuid::new_v4().to_string();
        let mut call = app
            .request(method.clone(), &template.replace("{id}", &missing))
            .auth(&ada);
        if let Some(body) = body {
            call = call.json(body);
        }
        call.send().await.expect_error(404, "not_found");
    }
    assert_eq!(app.session_snapshot(&ada, &id_of(&session)).await, before);
}

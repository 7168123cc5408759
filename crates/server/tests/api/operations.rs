//! What operators and integrators rely on: the health check, Prometheus
//! metrics, and an OpenAPI document that describes every call and no secret.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Failures, TestApp, id_of};

both_backends!(
    health_check_answers,
    metrics_count_requests_sessions_and_people,
    only_the_metrics_token_opens_metrics,
    openapi_documents_every_call,
    every_documented_call_needs_credentials,
    every_answer_forbids_sniffing_and_framing,
    every_operation_declares_its_credentials_and_refusals,
);

both_backends_with!(
    |config: &mut server::Config| config.metrics_token = None,
    without_a_metrics_token_nobody_scrapes,
);

/// A metrics token that could be guessed, or that is the agent token (which
/// must not open `/metrics`), stops the start-up.
#[tokio::test]
async fn a_short_metrics_token_or_the_agent_token_is_refused() {
    let parent = tempfile::tempdir().expect("a directory");
    let agent_token = "agent-token-long-enough-to-pass";
    for metrics_token in ["too-short", agent_token] {
        let config = server::Config {
            listen: "127.0.0.1:0".parse().expect("an address"),
            rtc_udp: "127.0.0.1:0".parse().expect("an address"),
            data_dir: parent.path().join("data"),
            agent_token: Some(secrecy::SecretString::from(agent_token.to_owned())),
            metrics_token: Some(secrecy::SecretString::from(metrics_token.to_owned())),
            ..server::Config::default()
        };
        let refused = server::Application::build(config).await;
        let error = format!("{:#}", refused.err().expect("refused"));
        assert!(error.contains("metrics token"), "{error}");
    }
}

/// A new data dir and its database are this user's alone.
#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("a directory");
    let data_dir = parent.path().join("data");
    let config = server::Config {
        listen: "127.0.0.1:0".parse().expect("an address"),
        rtc_udp: "127.0.0.1:0".parse().expect("an address"),
        data_dir: data_dir.clone(),
        ..server::Config::default()
    };
    let app = server::Application::build(config).await.expect("starting");
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&data_dir.join("lockin.db")), 0o600);
    assert_eq!(mode(&data_dir.join("agent_token")), 0o600);
    drop(app);
}

/// Every call of the contract (API.md), as `METHOD /path` with `{id}` for a path parameter.
const CONTRACT: [&str; 23] = [
    "POST /api/auth/register",
    "POST /api/auth/login",
    "POST /api/auth/logout",
    "GET /api/me",
    "POST /api/projects",
    "GET /api/projects",
    "GET /api/projects/{id}",
    "PATCH /api/projects/{id}",
    "DELETE /api/projects/{id}",
    "POST /api/sessions",
    "POST /api/sessions/{id}/start",
    "POST /api/sessions/{id}/join",
    "POST /api/sessions/{id}/leave",
    "POST /api/sessions/{id}/end",
    "GET /api/sessions/{id}",
    "GET /api/sessions",
    "GET /api/sessions/{id}/participants",
    "POST /api/sessions/{id}/ai-agent",
    "POST /api/sessions/{id}/ai-logs",
    "POST /internal/ai-logs",
    "GET /api/sessions/{id}/ai-logs",
    "GET /api/me/ai-logs",
    "POST /api/ai-logs/{id}/feedback",
];

/// The calls anyone may make without signing in.
const PUBLIC: [&str; 4] = [
    "POST /api/auth/register",
    "POST /api/auth/login",
    "GET /healthz",
    "GET /api/openapi.json",
];

/// Public too, but in the document: the calendar feed's secret is in its URL.
const PUBLIC_BY_SECRET: &str = "GET /api/me/calendar.ics";

async fn health_check_answers(app: &TestApp) {
    let reply = app.get("/healthz").send().await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.body);
}

/// The sum of every sample of `name` (with any labels) in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    let samples: Vec<f64> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .map(|line| {
            let value = line.rsplit(' ').next().unwrap_or_default();
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("an unreadable sample: {line:?}"))
        })
        .collect();
    (!samples.is_empty()).then(|| samples.iter().sum())
}

async fn metrics_count_requests_sessions_and_people(app: &TestApp) {
    let [ada, bob, carol] = app.register_all(["Ada", "Bob", "Carol"]).await;
    let first = app.hosted_session(&ada, 4, [&bob, &carol]).await;
    app.instant_session(&bob, 4).await;
    app.scheduled_session(&carol, "Deep work", chrono::Duration::hours(2))
        .await;
    let ended = app.instant_session(&carol, 2).await;
    app.session_action(&carol, &id_of(&ended), "end")
        .await
        .expect(200);

    let text = app.get("/metrics").auth(&app.metrics_token).send().await;
    assert_eq!(text.status.as_u16(), 200, "{}", text.body);
    let content_type = text
        .headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain"),
        "Prometheus text is text/plain, got {content_type:?}"
    );
    let body = &text.body;
    for name in [
        "lockin_http_requests_total",
        "lockin_sessions_active",
        "lockin_participants_joined",
    ] {
        assert!(body.contains(name), "/metrics lacks {name}:\n{body}");
    }
    assert!(
        metric(body, "lockin_http_requests_total").is_some_and(|count| count >= 10.0),
        "at least the ten requests above are counted:\n{body}"
    );
    assert_eq!(
        metric(body, "lockin_sessions_active"),
        Some(2.0),
        "two sessions are active:\n{body}"
    );
    assert_eq!(
        metric(body, "lockin_participants_joined"),
        Some(4.0),
        "Ada, Bob and Carol in the first, Bob in the second:\n{body}"
    );

    app.session_action(&ada, &first, "end").await.expect(200);
    let after = app.get("/metrics").auth(&app.metrics_token).send().await;
    assert_eq!(after.status.as_u16(), 200);
    assert_eq!(metric(&after.body, "lockin_sessions_active"), Some(1.0));
    assert_eq!(metric(&after.body, "lockin_participants_joined"), Some(1.0));
}

/// `/metrics` is for the operator's Prometheus: the metrics token opens it;
/// the agent token, a person's token or cookie, or a wrong token do not.
async fn only_the_metrics_token_opens_metrics(app: &TestApp) {
    let ada = app.register("Ada").await;
    let refusals = [
        app.get("/metrics").auth(&app.agent_token),
        app.get("/metrics").auth(&ada),
        app.get("/metrics")
            .header("cookie", &format!("lockin_session={}", ada.token)),
        app.get("/metrics").auth(&format!("{}x", app.metrics_token)),
        app.get("/metrics"),
    ];
    for call in refusals {
        call.send().await.expect_error(401, "unauthenticated");
    }
    let scraped = app.get("/metrics").auth(&app.metrics_token).send().await;
    assert_eq!(scraped.status.as_u16(), 200, "{}", scraped.body);
    assert!(scraped.body.contains("lockin_http_requests_total"));
}

async fn without_a_metrics_token_nobody_scrapes(app: &TestApp) {
    let ada = app.register("Ada").await;
    for call in [
        app.get("/metrics").auth(&app.metrics_token),
        app.get("/metrics").auth(&app.agent_token),
        app.get("/metrics").auth(&ada),
    ] {
        call.send().await.expect_error(401, "unauthenticated");
    }
}

/// `METHOD /path` for each operation of the document, with every path parameter written `{id}`.
fn documented_calls(doc: &Value) -> BTreeSet<String> {
    let paths = doc["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("the document has no paths: {doc}"));
    let mut calls = BTreeSet::new();
    for (path, item) in paths {
        let template = normalise_parameters(path);
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                calls.insert(format!("{} {template}", method.to_uppercase()));
            }
        }
    }
    calls
}

/// `/api/sessions/{session_id}/join` → `/api/sessions/{id}/join`: parameter names are the document's choice.
fn normalise_parameters(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn openapi_document(app: &TestApp) -> (Value, String) {
    let reply = app.get("/api/openapi.json").send().await;
    let text = reply.body.clone();
    let doc = reply.expect(200);
    (doc, text)
}

async fn openapi_documents_every_call(app: &TestApp) {
    let (doc, text) = openapi_document(app).await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "not an OpenAPI 3 document: {}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    let documented = documented_calls(&doc);
    let missing: Vec<&str> = CONTRACT
        .iter()
        .copied()
        .filter(|call| !documented.contains(*call))
        .collect();
    assert!(
        missing.is_empty(),
        "calls of API.md missing from /api/openapi.json: {missing:?}\ndocumented: {documented:?}"
    );
    assert!(
        !text.contains(&app.agent_token),
        "the OpenAPI document holds the agent token"
    );
    assert!(
        !text.contains(&app.metrics_token),
        "the OpenAPI document holds the metrics token"
    );
    assert!(
        !text.contains("password_hash"),
        "the document shows password hashes"
    );
    let mut unresolved = BTreeSet::new();
    references(&doc, &mut |reference| {
        let found = reference.strip_prefix("#/").is_some_and(|path| {
            path.split('/')
                .try_fold(&doc, |at, key| at.get(key))
                .is_some()
        });
        if !found {
            unresolved.insert(reference.to_owned());
        }
    });
    assert!(
        unresolved.is_empty(),
        "references to nothing in the document: {unresolved:?}"
    );
}

/// Calls `each` with every `$ref` in `value`.
fn references(value: &Value, each: &mut impl FnMut(&str)) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                match field {
                    Value::String(reference) if key == "$ref" => each(reference),
                    _ => references(field, each),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, each)),
        _ => {}
    }
}

async fn every_documented_call_needs_credentials(app: &TestApp) {
    let (doc, _) = openapi_document(app).await;
    let calls = documented_calls(&doc);
    assert!(!calls.is_empty());
    let placeholder = uuid::Uuid::new_v4().to_string();
    let mut failures = Failures::default();
    for call in &calls {
        if PUBLIC.contains(&call.as_str()) {
            continue;
        }
        let (method, template) = call.split_once(' ').unwrap();
        let method: Method = method.parse().unwrap();
        let path = template.replace("{id}", &placeholder);
        let mut request = app.request(method.clone(), &path);
        if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
            request = request.json(&json!({}));
        }
        let reply = request.send().await;
        failures.check(reply.check_error(401, "unauthenticated", None));
    }
    failures.assert_none();
    // The public ones answer without credentials (and are not 404/405).
    let health = app.get("/healthz").send().await;
    assert_eq!(health.status.as_u16(), 200);
    app.login("nobody@example.com", "whatever123")
        .await
        .expect_error(401, "unauthenticated");
}

/// Whatever answers — JSON, a page, a static file, an error — says its type
/// is not to be guessed and that no other site may frame it.
async fn every_answer_forbids_sniffing_and_framing(app: &TestApp) {
    for path in ["/healthz", "/login", "/api/nowhere", "/api/openapi.json"] {
        let reply = app.get(path).send().await;
        let header = |name: &str| {
            reply
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert!(
            header("content-security-policy").contains("frame-ancestors 'none'"),
            "{path}"
        );
    }
}

/// What a client generator needs: every operation but the public ones says
/// which credentials it takes, and every operation declares the refusals its
/// extractors can give (credentials → 401, a path id → 400 and 404, query
/// parameters → 400, a body → 400, 413 and 415), each with the error body.
async fn every_operation_declares_its_credentials_and_refusals(app: &TestApp) {
    let (doc, _) = openapi_document(app).await;
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("the document declares security schemes");
    for scheme in ["bearer", "cookie", "agent", "metrics"] {
        assert!(
            schemes.contains_key(scheme),
            "no {scheme} scheme: {schemes:?}"
        );
    }
    let mut failures = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let call = format!("{} {}", method.to_uppercase(), normalise_parameters(path));
            let public = PUBLIC.contains(&call.as_str()) || call == PUBLIC_BY_SECRET;
            let secured = operation["security"]
                .as_array()
                .is_some_and(|requirements| !requirements.is_empty());
            if !public && !secured {
                failures.push(format!("{call}: no security requirement"));
            }
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let has = |place: &str| parameters.iter().any(|p| p["in"] == place);
            let mut needed = Vec::new();
            if secured {
                needed.push("401");
            }
            if has("path") {
                needed.extend(["400", "404"]);
            }
            if has("query") {
                needed.push("400");
            }
            if operation.get("requestBody").is_some() {
                needed.extend(["400", "413", "415"]);
            }
            let responses = &operation["responses"];
            for status in needed {
                if responses.get(status).is_none() {
                    failures.push(format!("{call}: does not declare {status}"));
                }
            }
            for (status, response) in responses.as_object().unwrap() {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                if status.starts_with('4') && schema != "#/components/schemas/ErrorBody" {
                    failures.push(format!("{call}: {status} without the error body"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

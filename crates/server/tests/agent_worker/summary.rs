//! The assistant's written summary of an ended session, through the real
//! worker and server with a scripted language model: a text that holds to
//! the session's facts is kept as the assistant's, one that invents a
//! person or a number is replaced by a summary composed from the facts, and
//! with two workers running the summary is written once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agent::Agent;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{DEADLINE, Live, TestApp, agent_on_model, serve_model, until_assistant};
use crate::harness::{User, id_of};

/// A local OpenAI-compatible endpoint: the summary prompt gets `summary`
/// (and is counted), any other prompt a short answer.
async fn scripted_model(summary: &'static str) -> (String, Arc<AtomicUsize>) {
    let summaries = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&summaries);
    let router = Router::new().route(
        "/v1/chat/completions",
        post(move |Json(request): Json<Value>| {
            let is_summary = request["messages"][0]["content"]
                .as_str()
                .is_some_and(|system| system.contains("summary of a finished focus session"));
            if is_summary {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            async move {
                let text = if is_summary { summary } else { "Sure." };
                let event = json!({"choices": [{"index": 0, "delta": {"content": text}}]});
                let body = format!("data: {event}\n\ndata: [DONE]\n\n");
                ([("content-type", "text/event-stream")], body)
            }
        }),
    );
    (serve_model(router).await, summaries)
}

async fn agent_writing(summary: &'static str) -> (Agent, Arc<AtomicUsize>) {
    let (base_url, calls) = scripted_model(summary).await;
    (agent_on_model(base_url).await, calls)
}

/// Ada's session "Parser day" with the assistant on, her goal set, served
/// by `workers` workers of one agent writing `summary`; she ends it once the
/// assistant joined. Answers Ada, the session, her live connection
/// (following `session:` as `s`), and the count of summary prompts.
async fn ended_with_workers(
    workers: &[&str],
    summary: &'static str,
) -> (
    TestApp,
    User,
    String,
    Live,
    Arc<AtomicUsize>,
    Vec<super::WorkerTask>,
) {
    let app = super::spawn().await;
    let ada = app.register("Ada").await;
    let session = app
        .create_session(
            &ada,
            json!({"title": "Parser day", "planned_minutes": 50, "ai_agent_enabled": true}),
        )
        .await;
    let id = id_of(&session);
    app.put_as(
        &ada,
        &format!("/api/sessions/{id}/goal"),
        &json!({"goal": "Ship the parser errors"}),
    )
    .await
    .expect(200);
    let mut live = Live::connect(&app, &ada).await;
    live.subscribe("p", &format!("participants:{id}")).await;
    live.subscribe("s", &format!("session:{id}")).await;
    let (agent, calls) = agent_writing(summary).await;
    let tasks = workers
        .iter()
        .map(|worker_id| app.worker(worker_id, agent.clone()))
        .collect();
    until_assistant(&mut live, "joined").await;
    app.session_action(&ada, &id, "end").await.expect(200);
    (app, ada, id, live, calls, tasks)
}

/// The recap's summary once written: re-read each time the session's
/// version moves (a written summary moves it), until the deadline.
async fn written_summary(app: &TestApp, ada: &User, id: &str, live: &mut Live) -> Value {
    loop {
        let recap = app
            .get_as(ada, &format!("/api/sessions/{id}/recap"))
            .await
            .expect(200);
        if recap["summary"]["status"] == "written" {
            return recap["summary"].clone();
        }
        assert_eq!(recap["summary"]["status"], "pending", "{recap}");
        let seen = recap["session"]["version"].as_i64().unwrap();
        live.until("s", DEADLINE, |session| {
            session["version"].as_i64().is_some_and(|v| v > seen)
        })
        .await;
    }
}

#[tokio::test]
async fn a_summary_that_holds_to_the_facts_is_kept_as_the_assistants() {
    let text = "Ada worked on the parser errors with the assistant in the room.";
    let (app, ada, id, mut live, calls, _workers) = ended_with_workers(&["worker-a"], text).await;
    let summary = written_summary(&app, &ada, &id, &mut live).await;
    assert_eq!(summary["text"], text, "{summary}");
    assert_eq!(summary["written_by"], "assistant");
    assert_eq!(summary["provider"], "openai");
    assert!(summary["latency_ms"].is_i64(), "{summary}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_summary_that_invents_is_replaced_and_two_workers_write_it_once() {
    let invented = "Ada and Zed worked for 90 minutes and shipped everything.";
    let (app, ada, id, mut live, calls, _workers) =
        ended_with_workers(&["worker-a", "worker-b"], invented).await;
    let summary = written_summary(&app, &ada, &id, &mut live).await;
    assert_eq!(summary["written_by"], "facts", "{summary}");
    let text = summary["text"].as_str().unwrap();
    assert!(
        text.starts_with("Ada worked on \"Parser day\" for "),
        "{text}"
    );
    assert!(text.contains("of the 50 minutes planned"), "{text}");
    assert!(!text.contains("Zed") && !text.contains("90"), "{text}");
    // The model was asked once: the second worker found it claimed or written.
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let wanted = app
        .get_as(&app.agent_token, "/internal/summaries")
        .await
        .expect(200);
    assert_eq!(wanted, json!([]));
}

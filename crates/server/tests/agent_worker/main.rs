//! The agent worker against the real server: it joins sessions whose
//! assistant is on, answers typed questions in the chat and logs them,
//! leaves when the assistant is switched off, and two workers never serve
//! one session twice. The language model is a local OpenAI-compatible stub,
//! so answers are instant; speech engines are the offline ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agent::worker::{Worker, WorkerConfig};
use agent::{Agent, AgentConfig, LlmConfig};
use axum::Router;
use axum::routing::post;
use futures::{SinkExt, StreamExt};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::harness::{Backend, TestApp, User, id_of, spawn_app};

#[path = "../common/mod.rs"]
mod harness;
mod summary;
mod voice;

/// Long enough for a loaded 2-core machine; every wait ends at its event.
const DEADLINE: Duration = Duration::from_secs(20);
const ANSWER: &str = "A closure is a function that captures variables from its scope.";

/// The application on SQLite, with the agent's logs shown on a failure.
async fn spawn() -> TestApp {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "agent=info".into()))
        .with_test_writer()
        .try_init();
    spawn_app(Backend::Sqlite).await
}

impl TestApp {
    /// An instant session with the assistant on.
    async fn session_with_assistant(&self, host: &User) -> String {
        let session = self
            .create_session(
                host,
                json!({"title": "Rust pairing", "ai_agent_enabled": true}),
            )
            .await;
        id_of(&session)
    }

    fn worker(&self, worker_id: &str, agent: Agent) -> WorkerTask {
        let config = WorkerConfig {
            server_url: self.address.clone(),
            agent_token: SecretString::from(self.agent_token.clone()),
            worker_id: worker_id.into(),
            agent: agent.config().clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(Worker::run_with_agent(config, agent, async move {
            let _ = stopped.await;
        }));
        (stop, task)
    }
}

/// Ada's session with the assistant on, served by workers sharing one agent
/// (with the fake model); Ada watches its participants (`p`), chat (`c`) and
/// AI log (`l`), and the assistant has joined.
struct Room {
    app: TestApp,
    ada: User,
    session: String,
    live: Live,
    /// The assistant's user id.
    assistant: String,
    /// How many requests the fake model has had.
    model_calls: Arc<AtomicUsize>,
    _workers: Vec<WorkerTask>,
}

/// A running worker: dropping the sender stops it.
type WorkerTask = (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
);

impl Room {
    /// The room with one worker, `worker-a`.
    async fn with_assistant() -> Self {
        Self::with_workers(&["worker-a"]).await
    }

    async fn with_workers(worker_ids: &[&str]) -> Self {
        let app = spawn().await;
        let ada = app.register("Ada").await;
        let session = app.session_with_assistant(&ada).await;
        let mut live = Live::connect(&app, &ada).await;
        for (id, query) in [("p", "participants"), ("c", "chat"), ("l", "ai_logs")] {
            live.subscribe(id, &format!("{query}:{session}")).await;
        }
        let (agent, model_calls) = agent_with_fake_model().await;
        let _workers = worker_ids
            .iter()
            .map(|worker_id| app.worker(worker_id, agent.clone()))
            .collect();
        let participants = until_assistant(&mut live, "joined").await;
        let assistant = agent_id(&participants);
        Self {
            app,
            ada,
            session,
            live,
            assistant,
            model_calls,
            _workers,
        }
    }

    /// Ada types `text` in the chat.
    async fn type_in_chat(&self, text: &str) {
        self.app
            .post_message(&self.ada, &self.session, text)
            .await
            .expect(201);
    }

    /// Waits until the assistant's messages in the chat satisfy `test`; returns the chat.
    async fn until_answered(&mut self, test: impl Fn(&[String]) -> bool) -> Value {
        let assistant = &self.assistant;
        self.live
            .until("c", DEADLINE, |chat| test(&agent_messages(chat, assistant)))
            .await
    }

    /// Waits until the AI log holds `count` entries; returns it.
    async fn until_logged(&mut self, count: usize) -> Value {
        self.live
            .until("l", DEADLINE, |logs| {
                logs.as_array().is_some_and(|logs| logs.len() == count)
            })
            .await
    }
}

/// A participant's live connection, keeping the latest result of each
/// subscription (a wait for one must not lose another's push).
struct Live(
    WebSocketStream<MaybeTlsStream<TcpStream>>,
    std::collections::HashMap<String, Value>,
);

impl Live {
    async fn connect(app: &TestApp, person: &User) -> Self {
        let url = app.live_url(Some(&person.token));
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("a live connection");
        Self(socket, Default::default())
    }

    async fn subscribe(&mut self, id: &str, query: &str) {
        let message = protocol::live::ClientMessage::subscribe(id, query);
        self.0
            .send(Message::text(serde_json::to_string(&message).unwrap()))
            .await
            .unwrap();
    }

    /// Waits for a result of subscription `id` whose data passes `test`.
    async fn until(&mut self, id: &str, within: Duration, test: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        let mut last = self.1.get(id).cloned().unwrap_or(Value::Null);
        if test(&last) {
            return last;
        }
        loop {
            let frame = tokio::time::timeout_at(deadline, self.0.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("no matching `{id}` result within {within:?}; last: {last}")
                })
                .expect("the live connection closed")
                .expect("reading the live connection");
            let Message::Text(text) = frame else { continue };
            let message: Value = serde_json::from_str(text.as_str()).unwrap();
            if message["type"] == "result" {
                let sub = message["id"].as_str().unwrap_or_default().to_string();
                self.1.insert(sub.clone(), message["data"].clone());
                if sub != id {
                    continue;
                }
                if test(&message["data"]) {
                    return message["data"].clone();
                }
                last = message["data"].clone();
            }
        }
    }
}

/// Waits on `live`'s participants (`p`) for the assistant to be `status` (`joined`, `left`).
async fn until_assistant(live: &mut Live, status: &str) -> Value {
    live.until("p", DEADLINE, |p| {
        agent_status(p).as_deref() == Some(status)
    })
    .await
}

fn agent_status(participants: &Value) -> Option<String> {
    participants
        .as_array()?
        .iter()
        .find(|p| p["role"] == "agent")
        .and_then(|p| p["status"].as_str().map(str::to_string))
}

fn agent_messages(chat: &Value, agent_id: &str) -> Vec<String> {
    chat["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["user_id"] == agent_id)
        .filter_map(|m| m["body"].as_str().map(str::to_string))
        .collect()
}

/// A local OpenAI-compatible endpoint that always streams [`ANSWER`];
/// answers `(base URL, number of requests so far)`.
async fn fake_language_model() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let router = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                let mut body = String::new();
                for piece in ANSWER.split_inclusive(' ') {
                    let event = json!({"choices": [{"index": 0, "delta": {"content": piece}}]});
                    body.push_str(&format!("data: {event}\n\n"));
                }
                body.push_str("data: [DONE]\n\n");
                ([("content-type", "text/event-stream")], body)
            }
        }),
    );
    (serve_model(router).await, calls)
}

/// Serves `router` as a local OpenAI-compatible endpoint; answers its base URL.
async fn serve_model(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/v1")
}

/// An agent whose language model is the OpenAI-compatible endpoint at `base_url`.
async fn agent_on_model(base_url: String) -> Agent {
    let config = AgentConfig {
        llm: LlmConfig::OpenAi {
            api_key: None,
            base_url,
            model: "stub".into(),
        },
        ..AgentConfig::default()
    };
    Agent::new(config).await.expect("the agent's engines")
}

async fn agent_with_fake_model() -> (Agent, Arc<AtomicUsize>) {
    let (base_url, calls) = fake_language_model().await;
    (agent_on_model(base_url).await, calls)
}

/// The assistant's user id, from a participant list it is in.
fn agent_id(participants: &Value) -> String {
    participants
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "agent")
        .and_then(|p| p["user_id"].as_str())
        .expect("the assistant in the list")
        .into()
}

#[tokio::test]
async fn a_typed_question_is_answered_in_the_chat_and_logged() {
    let mut room = Room::with_assistant().await;

    room.type_in_chat("@agent what is a closure?").await;
    room.until_answered(|said| said.iter().any(|m| m.contains("closure")))
        .await;
    let logs = room.until_logged(1).await;
    let log = &logs[0];
    assert_eq!(log["trigger"], "text", "{log}");
    assert_eq!(log["user_id"], room.ada.id.as_str(), "{log}");
    assert_eq!(log["question"], "what is a closure?", "{log}");
    assert_eq!(log["answer"], ANSWER, "{log}");
    assert_eq!(log["providers"]["llm"], "openai", "{log}");
    // The offline default voice, its files in the model directory.
    assert_eq!(log["providers"]["tts"], "piper", "{log}");
    assert!(log["error"].is_null(), "{log}");
    assert!(log["latency_ms"]["total"].is_u64(), "{log}");

    // Talk about the agent asks it nothing.
    room.type_in_chat("the agent said hello to the team").await;
    room.type_in_chat("hey agent, and a borrow?").await;
    let chat = room.until_answered(|said| said.len() == 2).await;
    let logs = room.until_logged(2).await;
    assert_eq!(logs[1]["question"], "and a borrow?", "{logs}");
    assert_eq!(agent_messages(&chat, &room.assistant).len(), 2, "{chat}");
}

#[tokio::test]
async fn switching_the_assistant_off_makes_it_leave_and_on_brings_it_back() {
    let Room {
        app,
        ada,
        session,
        mut live,
        _workers,
        ..
    } = Room::with_assistant().await;

    let switched = Instant::now();
    app.switch_assistant(&ada, &session, false)
        .await
        .expect(200);
    until_assistant(&mut live, "left").await;
    let took = switched.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "the assistant took {took:?} to leave"
    );

    app.switch_assistant(&ada, &session, true).await.expect(200);
    until_assistant(&mut live, "joined").await;
}

#[tokio::test]
async fn two_workers_serve_a_session_once() {
    let mut room = Room::with_workers(&["worker-a", "worker-b"]).await;

    // One of the two holds the claim; a third cannot take it.
    let claim = room
        .app
        .agent_action(&room.session, "claim", &json!({"worker_id": "worker-c"}))
        .await
        .expect(200);
    assert_eq!(claim["claimed"], json!(false), "{claim}");

    // Each question is answered once: a second server would answer twice.
    for (n, question) in ["@agent what is a closure?", "@agent what is a trait?"]
        .iter()
        .enumerate()
    {
        room.type_in_chat(question).await;
        let chat = room.until_answered(|said| said.len() > n).await;
        assert_eq!(
            agent_messages(&chat, &room.assistant).len(),
            n + 1,
            "{chat}"
        );
    }
    assert_eq!(room.model_calls.load(Ordering::SeqCst), 2);
}

//! Contract tests of the cloud clients against local servers that speak the
//! providers' documented protocols (FACTS.md): the happy path, an error
//! status, a server too slow to answer, and a connection dropped midway.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::llm::LanguageModel;
use agent::llm::openai::OpenAiCompatible;
use agent::prompt::{SessionContext, SessionInfo, build_prompt};
use agent::providers::ProviderError;
use agent::stt::SpeechToText;
use agent::stt::deepgram::Deepgram;
use agent::tts::TextToSpeech;
use agent::tts::elevenlabs::ElevenLabs;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use futures::StreamExt;
use futures::stream::BoxStream;
use secrecy::SecretString;

/// Serves the router `route` makes on 127.0.0.1:0, handing it a record of
/// what it sees; returns its address and that record.
async fn serve(route: impl FnOnce(Seen) -> Router) -> (String, Seen) {
    let seen = Seen::default();
    let router = route(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("127.0.0.1:{}", address.port()), seen)
}

/// A body that sends `chunks` and then, if `drop_after`, fails mid-stream
/// (the connection is cut without the end of the chunked body).
fn chunked(chunks: Vec<Vec<u8>>, fail_at_end: bool) -> Body {
    let items = chunks
        .into_iter()
        .map(|c| Ok::<_, std::io::Error>(Bytes::from(c)))
        .chain(fail_at_end.then(|| Err(std::io::Error::other("connection dropped"))));
    Body::from_stream(futures::stream::iter(items).then(|item| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        item
    }))
}

// ---------------------------------------------------------------- OpenAI

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn sse(pieces: &[&str], done: bool) -> Vec<Vec<u8>> {
    let mut events: Vec<Vec<u8>> = vec![b": keep-alive\n\n".to_vec()];
    for piece in pieces {
        let event = serde_json::json!({"choices": [{"index": 0, "delta": {"content": piece}}]});
        // Cut each event in two to prove the client reassembles lines.
        let text = format!("data: {event}\n\n").into_bytes();
        let (a, b) = text.split_at(text.len() / 2);
        events.push(a.to_vec());
        events.push(b.to_vec());
    }
    if done {
        events.push(b"data: [DONE]\n\n".to_vec());
    }
    events
}

/// Serves as `mode` says; answers its URL and what it sees.
async fn openai_server(mode: &'static str) -> (String, Seen) {
    let (address, seen) = serve(|seen| {
        Router::new().route(
            "/v1/chat/completions",
            post(move |headers: HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    seen.push(
                        headers
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default(),
                    );
                    seen.push(body);
                    match mode {
                        "ok" => Response::builder()
                            .header("content-type", "text/event-stream")
                            .body(chunked(
                                sse(&["A closure ", "captures its ", "environment."], true),
                                false,
                            ))
                            .unwrap(),
                        "unauthorized" => (
                            StatusCode::UNAUTHORIZED,
                            r#"{"error":{"message":"Incorrect API key"}}"#,
                        )
                            .into_response(),
                        "slow" => {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            StatusCode::OK.into_response()
                        }
                        "dropped" => Response::builder()
                            .header("content-type", "text/event-stream")
                            .body(chunked(sse(&["A closure "], false), true))
                            .unwrap(),
                        _ => unreachable!(),
                    }
                }
            }),
        )
    })
    .await;
    (format!("http://{address}/v1"), seen)
}

fn prompt() -> agent::prompt::ChatPrompt {
    let context = SessionContext {
        session: SessionInfo {
            title: "Rust study".into(),
            kind: "study".into(),
        },
        project: None,
    };
    build_prompt(&context, &[], 3, "Ada", "what is a closure")
}

/// What a provider's stream yields, piece by piece, until it ends or fails,
/// and the failure if any (a stream that does not open is one with no pieces).
async fn pieces<T>(
    opened: Result<BoxStream<'static, Result<T, ProviderError>>, ProviderError>,
) -> (Vec<T>, Option<ProviderError>) {
    let mut stream = match opened {
        Ok(stream) => stream,
        Err(error) => return (Vec::new(), Some(error)),
    };
    let mut pieces = Vec::new();
    while let Some(piece) = stream.next().await {
        match piece {
            Ok(piece) => pieces.push(piece),
            Err(error) => return (pieces, Some(error)),
        }
    }
    (pieces, None)
}

async fn collect(llm: &OpenAiCompatible) -> (String, Option<ProviderError>) {
    let (text, error) = pieces(llm.stream(&prompt(), 64).await).await;
    (text.concat(), error)
}

/// A client with `key` and `timeout`, of a server answering as `mode` says.
async fn openai_in(mode: &'static str, key: Option<&str>, timeout: Duration) -> OpenAiCompatible {
    let (url, _) = openai_server(mode).await;
    OpenAiCompatible::new(&url, key.map(SecretString::from), "m", timeout)
}

#[tokio::test]
async fn openai_streams_the_answer_with_the_bearer_key() {
    let (url, seen) = openai_server("ok").await;
    let llm = OpenAiCompatible::new(
        &url,
        Some(SecretString::from("sk-test")),
        "llama-3.1-8b",
        Duration::from_secs(5),
    );
    let (text, error) = collect(&llm).await;
    assert_eq!(error, None);
    assert_eq!(text, "A closure captures its environment.");
    let seen = seen.all();
    assert_eq!(seen[0], "Bearer sk-test");
    let body: serde_json::Value = serde_json::from_str(&seen[1]).unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["model"], "llama-3.1-8b");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(
        body["messages"][1]["content"],
        "Ada asks: what is a closure"
    );
    // The key never shows in the client's debug output.
    assert!(!format!("{llm:?}").contains("sk-test"));
}

#[tokio::test]
async fn openai_error_status_is_reported_with_its_body() {
    let llm = openai_in("unauthorized", Some("bad"), Duration::from_secs(5)).await;
    let (_, error) = collect(&llm).await;
    match error {
        Some(ProviderError::Status { status: 401, body }) => {
            assert!(body.contains("Incorrect API key"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn openai_too_slow_times_out() {
    let llm = openai_in("slow", None, Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let (_, error) = collect(&llm).await;
    assert_eq!(
        error,
        Some(ProviderError::Timeout(Duration::from_millis(300)))
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn openai_stream_cut_before_done_is_an_error_after_the_text_so_far() {
    let llm = openai_in("dropped", None, Duration::from_secs(5)).await;
    let (text, error) = collect(&llm).await;
    assert_eq!(text, "A closure ");
    assert!(
        matches!(
            error,
            Some(ProviderError::Connection(_) | ProviderError::Protocol(_))
        ),
        "{error:?}"
    );
}

// ------------------------------------------------------------ ElevenLabs

/// Serves as `mode` says; answers its URL and what it sees.
async fn elevenlabs_server(mode: &'static str) -> (String, Seen) {
    let (address, seen) = serve(|seen| {
        Router::new().route(
            "/v1/text-to-speech/{voice}/stream",
            post(
                move |Path(voice): Path<String>,
                      RawQuery(query): RawQuery,
                      headers: HeaderMap,
                      body: String| {
                    let seen = seen.clone();
                    async move {
                        seen.push(voice);
                        seen.push(query.unwrap_or_default());
                        seen.push(
                            headers
                                .get("xi-api-key")
                                .map(|v| v.to_str().unwrap().to_string())
                                .unwrap_or_default(),
                        );
                        seen.push(body);
                        // 1000 samples of a ramp, as s16le, in odd-sized chunks.
                        let pcm: Vec<u8> =
                            (0..1000i16).flat_map(|s| (s * 7).to_le_bytes()).collect();
                        let chunks: Vec<Vec<u8>> = pcm.chunks(333).map(<[u8]>::to_vec).collect();
                        match mode {
                            "ok" => Response::builder()
                                .header("content-type", "audio/pcm")
                                .body(chunked(chunks, false))
                                .unwrap(),
                            "unauthorized" => (
                                StatusCode::UNAUTHORIZED,
                                r#"{"detail":{"status":"invalid_api_key"}}"#,
                            )
                                .into_response(),
                            "slow" => {
                                tokio::time::sleep(Duration::from_secs(5)).await;
                                StatusCode::OK.into_response()
                            }
                            "dropped" => Response::builder()
                                .body(chunked(chunks[..2].to_vec(), true))
                                .unwrap(),
                            _ => unreachable!(),
                        }
                    }
                },
            ),
        )
    })
    .await;
    (format!("http://{address}"), seen)
}

async fn speak(tts: &ElevenLabs) -> (Vec<i16>, Option<ProviderError>) {
    let text = "A closure captures its environment.";
    let (pcm, error) = pieces(tts.synthesize(text).await).await;
    (pcm.concat(), error)
}

/// A client with key `key` and `timeout`, of a server answering as `mode` says.
async fn elevenlabs_in(mode: &'static str, key: &str, timeout: Duration) -> ElevenLabs {
    let (url, _) = elevenlabs_server(mode).await;
    ElevenLabs::new(&url, SecretString::from(key), "v", "m", timeout)
}

#[tokio::test]
async fn elevenlabs_streams_16_khz_pcm() {
    let (url, seen) = elevenlabs_server("ok").await;
    let tts = ElevenLabs::new(
        &url,
        SecretString::from("xi-test"),
        "voice123",
        "eleven_flash_v2_5",
        Duration::from_secs(5),
    );
    let (pcm, error) = speak(&tts).await;
    assert_eq!(error, None);
    assert_eq!(pcm, (0..1000i16).map(|s| s * 7).collect::<Vec<_>>());
    let seen = seen.all();
    assert_eq!(seen[0], "voice123");
    assert_eq!(seen[1], "output_format=pcm_16000");
    assert_eq!(seen[2], "xi-test");
    let body: serde_json::Value = serde_json::from_str(&seen[3]).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"text": "A closure captures its environment.", "model_id": "eleven_flash_v2_5"})
    );
    assert!(!format!("{tts:?}").contains("xi-test"));
}

#[tokio::test]
async fn elevenlabs_error_status_slow_server_and_dropped_stream() {
    let tts = elevenlabs_in("unauthorized", "bad", Duration::from_secs(5)).await;
    assert!(matches!(
        speak(&tts).await.1,
        Some(ProviderError::Status { status: 401, .. })
    ));

    let tts = elevenlabs_in("slow", "k", Duration::from_millis(300)).await;
    assert_eq!(
        speak(&tts).await.1,
        Some(ProviderError::Timeout(Duration::from_millis(300)))
    );

    let tts = elevenlabs_in("dropped", "k", Duration::from_secs(5)).await;
    let (pcm, error) = speak(&tts).await;
    assert_eq!(pcm.len(), 333);
    assert!(error.is_some());
}

// -------------------------------------------------------------- Deepgram

#[derive(serde::Deserialize)]
struct ListenQuery {
    model: String,
    encoding: String,
    sample_rate: u32,
    channels: u32,
}

/// Serves as `mode` says; answers its URL and what it sees.
async fn deepgram_server(mode: &'static str) -> (String, Seen) {
    let (address, seen) = serve(|seen| {
        Router::new().route(
            "/v1/listen",
            any(
                move |headers: HeaderMap,
                      Query(query): Query<ListenQuery>,
                      upgrade: WebSocketUpgrade| {
                    let seen = seen.clone();
                    async move {
                        let auth = headers
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default();
                        if auth != "Token dg-test" {
                            return (StatusCode::UNAUTHORIZED, "invalid credentials")
                                .into_response();
                        }
                        seen.push(format!(
                            "{} {} {} {}",
                            query.model, query.encoding, query.sample_rate, query.channels
                        ));
                        upgrade
                            .on_upgrade(move |socket| deepgram_session(socket, mode, seen))
                            .into_response()
                    }
                },
            ),
        )
    })
    .await;
    (format!("ws://{address}/v1/listen"), seen)
}

async fn deepgram_session(mut socket: WebSocket, mode: &'static str, seen: Seen) {
    let mut audio_bytes = 0;
    while let Some(Ok(message)) = socket.recv().await {
        match message {
            Message::Binary(bytes) => {
                audio_bytes += bytes.len();
                if mode == "dropped" && audio_bytes > 6400 {
                    return; // the connection goes away without a close frame
                }
            }
            Message::Text(text) if text.contains("CloseStream") => break,
            _ => {}
        }
    }
    seen.push(format!("{audio_bytes} bytes"));
    if mode == "slow" {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let result = |transcript: &str, is_final: bool| {
        serde_json::json!({
            "type": "Results", "is_final": is_final, "speech_final": is_final,
            "channel": {"alternatives": [{"transcript": transcript, "confidence": 0.9}]}
        })
        .to_string()
    };
    for message in [
        result("hey agent what", false),
        result("hey agent what is a closure", true),
        result("in rust", true),
        serde_json::json!({"type": "Metadata", "request_id": "r1"}).to_string(),
    ] {
        let _ = socket.send(Message::Text(message.into())).await;
    }
    let _ = socket.send(Message::Close(None)).await;
}

#[tokio::test]
async fn deepgram_streams_the_utterance_and_joins_the_final_results() {
    let (url, seen) = deepgram_server("ok").await;
    let stt = Deepgram::new(&url, SecretString::from("dg-test"), "nova-3");
    let pcm = vec![100i16; 16000];
    let transcript = stt.transcribe(&pcm).await.unwrap();
    assert_eq!(transcript.text, "hey agent what is a closure in rust");
    assert_eq!(transcript.confidence, Some(0.9));
    assert_eq!(seen.all(), ["nova-3 linear16 16000 1", "32000 bytes"]);
    assert!(!format!("{stt:?}").contains("dg-test"));
}

#[tokio::test]
async fn deepgram_refused_key_slow_server_and_dropped_connection() {
    let (url, _) = deepgram_server("ok").await;
    let stt = Deepgram::new(&url, SecretString::from("wrong"), "nova-3");
    match stt.transcribe(&[0; 3200]).await {
        Err(ProviderError::Status { status: 401, body }) => {
            assert!(body.contains("invalid credentials"), "{body}")
        }
        other => panic!("{other:?}"),
    }

    let (url, _) = deepgram_server("slow").await;
    let stt = Deepgram::new(&url, SecretString::from("dg-test"), "nova-3");
    let limit = Duration::from_millis(400);
    let result = agent::providers::with_timeout(limit, stt.transcribe(&[0; 3200])).await;
    assert_eq!(result.unwrap_err(), ProviderError::Timeout(limit));

    let (url, _) = deepgram_server("dropped").await;
    let stt = Deepgram::new(&url, SecretString::from("dg-test"), "nova-3");
    match stt.transcribe(&[0; 16000]).await {
        Err(ProviderError::Connection(_)) => {}
        other => panic!("{other:?}"),
    }
}

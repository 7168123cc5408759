//! No secret reaches a log line, at any level: the real `lockin` binary runs
//! with `RUST_LOG=trace` on PostgreSQL and NATS, both reached through URLs
//! with credentials, and a TURN password; a person signs up, signs in, calls
//! with a bearer token, a cookie with its CSRF echo and `?token=` on the live
//! socket; the calendar feed is fetched by its secret URL, the assistant's
//! calls are made with the agent token and `/metrics` is scraped with the
//! metrics token. Then every line the server wrote is
//! searched for each of those secrets.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::harness::TestDatabase;

#[tokio::test]
async fn no_secret_reaches_a_log_line_at_any_level() {
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let database = TestDatabase::create().await;
    // A password in the database URL: the test server may trust every local
    // connection, in which case it is ignored, but it is in the URL all the same.
    let mut database_url = url::Url::parse(&database.url).expect("a database URL");
    if database_url.password().is_none() {
        database_url
            .set_password(Some(&format!("db-{marker}")))
            .expect("a password fits the URL");
    }
    let database_password = database_url.password().expect("set above").to_owned();
    let mut bus_url = url::Url::parse(
        &std::env::var("LOCKIN_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
    )
    .expect("a NATS URL");
    let bus_password = format!("bus-{marker}");
    bus_url.set_username("lockin").expect("a user fits the URL");
    bus_url
        .set_password(Some(&bus_password))
        .expect("a password fits the URL");
    let turn_credential = format!("turn-{marker}");
    let metrics_token = format!("metrics-{marker}");
    let data_dir = tempfile::tempdir().expect("a data dir");

    let mut server = Command::new(env!("CARGO_BIN_EXE_lockin"))
        .args(["serve", "--no-agent", "--listen", "127.0.0.1:0"])
        .args(["--rtc-udp", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir.path())
        .args(["--database-url", database_url.as_str()])
        .args(["--bus-url", bus_url.as_str()])
        .args(["--log-format", "json"])
        .env("LOCKIN_BUS_SUBJECT", format!("lockin_t_{marker}"))
        .env("RUST_LOG", "trace")
        .env("LOCKIN_TURN_URL", "turn:127.0.0.1:3478?transport=udp")
        .env("LOCKIN_TURN_USERNAME", "lockin")
        .env("LOCKIN_TURN_CREDENTIAL", &turn_credential)
        .env("LOCKIN_METRICS_TOKEN", &metrics_token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting lockin");
    let logs = Arc::new(Mutex::new(String::new()));
    let (address_tx, address_rx) = tokio::sync::oneshot::channel();
    let readers = [
        read_lines(server.stdout.take().expect("piped"), logs.clone(), None),
        read_lines(
            server.stderr.take().expect("piped"),
            logs.clone(),
            Some(address_tx),
        ),
    ];
    let base = format!(
        "http://{}",
        address_rx.await.expect("the server says where it serves")
    );
    let http = reqwest::Client::new();

    // A person: sign-up, sign-in, bearer calls, a cookie call with its CSRF echo.
    let password = format!("pw-{marker}");
    let email = format!("logs.{marker}@example.com");
    let signed_up = http
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"email": email, "password": password, "name": "Lena"}))
        .send()
        .await
        .expect("register");
    assert_eq!(signed_up.status(), 201);
    let cookies: Vec<String> = signed_up
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(|cookie| cookie.split(';').next().unwrap_or_default().to_owned())
        .collect();
    let csrf = cookies
        .iter()
        .find_map(|cookie| cookie.strip_prefix("lockin_csrf="))
        .expect("a CSRF cookie")
        .to_owned();
    let signed_in = json_of(
        http.post(format!("{base}/api/auth/login"))
            .json(&json!({"email": email, "password": password})),
    )
    .await;
    let token = signed_in["token"].as_str().expect("a token").to_owned();
    let session = json_of(http.post(format!("{base}/api/sessions")).bearer_auth(&token).json(
        &json!({"title": "Logs", "session_type": "coding", "max_participants": 4, "ai_agent_enabled": false}),
    ))
    .await;
    let session_id = session["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a session: {session}"))
        .to_owned();
    let by_cookie = http
        .post(format!("{base}/api/sessions/{session_id}/messages"))
        .header("cookie", cookies.join("; "))
        .header("x-csrf-token", &csrf)
        .json(&json!({"body": "hello from a cookie"}));
    assert_eq!(status_of(by_cookie).await, 201);

    // The live socket, signed in by `?token=`, joined to the room's chat.
    let live_url = format!("{}/api/live?token={token}", base.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(&live_url)
        .await
        .expect("the live socket opens");
    futures::SinkExt::send(
        &mut socket,
        tokio_tungstenite::tungstenite::Message::text(
            json!({"type": "subscribe", "id": "chat", "query": format!("chat:{session_id}")})
                .to_string(),
        ),
    )
    .await
    .expect("subscribe");
    let answer = socket.next().await.expect("an answer").expect("a message");
    assert!(
        answer.to_string().contains("hello from a cookie"),
        "{answer}"
    );
    drop(socket);

    // The calendar feed, by its secret URL.
    let feed = json_of(
        http.post(format!("{base}/api/me/calendar"))
            .bearer_auth(&token),
    )
    .await;
    let feed_url = feed["url"].as_str().expect("a feed URL");
    let feed_secret = feed_url
        .rsplit("secret=")
        .next()
        .expect("a secret")
        .to_owned();
    let calendar = http.get(format!("{base}/api/me/calendar.ics?secret={feed_secret}"));
    assert_eq!(status_of(calendar).await, 200);

    // The assistant's calls: the agent token in a header, and in the query
    // of its live socket.
    let agent_token = std::fs::read_to_string(data_dir.path().join("agent_token"))
        .expect("the generated agent token")
        .trim()
        .to_owned();
    let context = http
        .get(format!("{base}/internal/sessions/{session_id}/context"))
        .bearer_auth(&agent_token);
    assert_eq!(status_of(context).await, 200);
    let agent_live_url = format!(
        "{}/api/live?token={agent_token}",
        base.replacen("http", "ws", 1)
    );
    let (agent_socket, _) = tokio_tungstenite::connect_async(&agent_live_url)
        .await
        .expect("the assistant's live socket opens");
    drop(agent_socket);

    // A scrape, with the metrics token.
    let scrape = http
        .get(format!("{base}/metrics"))
        .bearer_auth(&metrics_token);
    assert_eq!(status_of(scrape).await, 200);

    // Sign out, stop, and read everything the server wrote.
    let signed_out = http
        .post(format!("{base}/api/auth/logout"))
        .bearer_auth(&token);
    assert_eq!(status_of(signed_out).await, 204);
    server.start_kill().expect("stopping lockin");
    server.wait().await.expect("lockin stops");
    for reader in readers {
        reader.await.expect("reading the server's output");
    }
    database.drop_database().await;

    let logs = logs.lock().expect("not poisoned").clone();
    assert!(
        logs.contains(r#""level":"TRACE""#),
        "the server logged at trace level: {}",
        &logs[..logs.len().min(2000)]
    );
    let secrets = [
        ("the password", password.as_str()),
        ("the person's token", token.as_str()),
        ("the CSRF token", csrf.as_str()),
        ("the agent token", agent_token.as_str()),
        ("the calendar feed's secret", feed_secret.as_str()),
        ("the database password", database_password.as_str()),
        ("the bus password", bus_password.as_str()),
        ("the TURN credential", turn_credential.as_str()),
        ("the metrics token", metrics_token.as_str()),
    ];
    for (what, secret) in secrets {
        if let Some(at) = logs.find(secret) {
            let line_start = logs[..at].rfind('\n').map_or(0, |n| n + 1);
            let line_end = logs[at..].find('\n').map_or(logs.len(), |n| at + n);
            panic!("{what} is in a log line: {}", &logs[line_start..line_end]);
        }
    }
}

/// The status of `request`'s answer.
async fn status_of(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.expect("an answer").status().as_u16()
}

/// `request`'s answer, read as JSON.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    let answer = request.send().await.expect("an answer");
    answer.json().await.expect("a JSON answer")
}

/// Copies every line of `output` into `logs`; the first that says where the
/// server listens sends that address on `address`.
fn read_lines(
    output: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    logs: Arc<Mutex<String>>,
    mut address: Option<tokio::sync::oneshot::Sender<String>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(output).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(entry) = serde_json::from_str::<Value>(&line)
                && entry["fields"]["message"] == "serving"
                && let (Some(address), Some(at)) =
                    (address.take(), entry["fields"]["address"].as_str())
            {
                let _ = address.send(at.to_owned());
            }
            let mut logs = logs.lock().expect("not poisoned");
            logs.push_str(&line);
            logs.push('\n');
        }
    })
}

//! TURN credentials (docs/MEDIA.md, docs/SECURITY.md): with `--turn-secret`,
//! the `media.config` a joined person gets carries a username and password of
//! their own, which a real coturn — Debian's `turnserver`, started here on a
//! free loopback port with `use-auth-secret` — accepts for an Allocate. The
//! same password with the expiry moved, or with another person's id, is
//! refused, and so is a credential whose expiry has passed.
//!
//! The TURN side is [`turn_client_proto`], a sans-IO TURN client, driven
//! here over one UDP socket. `turnserver` missing is a failure, not a skip:
//! `scripts/services.sh` installs it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domain::Id;
use serde_json::json;
use server::live::turn::TimeLimited;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UdpSocket;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use turn_client_proto::api::{TurnConfig, TurnEvent, TurnPollRet};
use turn_client_proto::prelude::*;
use turn_client_proto::stun::Instant;
use turn_client_proto::stun::agent::Transmit;
use turn_client_proto::types::TransportType;
use turn_client_proto::types::TurnCredentials;
use turn_client_proto::types::stun::attribute::{AttributeStaticType, ErrorCode, Username};
use turn_client_proto::types::stun::message::{Message, MessageClass};
use turn_client_proto::udp::TurnClientUdp;

use crate::client::{LiveClient, PATIENCE};
use crate::harness::{Backend, spawn_app_with};
use crate::media::next_media;

both_backends!(a_joined_person_gets_turn_credentials_coturn_accepts_and_nobody_can_stretch);

/// Shared by the server (`--turn-secret`) and coturn (`static-auth-secret`).
const SECRET: &str = "test-secret-shared-with-coturn";
const TTL: Duration = Duration::from_secs(10 * 60);

async fn a_joined_person_gets_turn_credentials_coturn_accepts_and_nobody_can_stretch(
    backend: Backend,
) {
    let coturn = Coturn::start(SECRET).await;
    let app = spawn_app_with(backend, |config| {
        config.turn_url = vec![coturn.url()];
        config.turn_secret = Some(SECRET.into());
        config.turn_credential_ttl = TTL;
    })
    .await;
    let (ada, bob, id) = app.ada_hosts_bob().await;
    app.join(&bob, &id).await.expect(200);
    let mut bobs = LiveClient::connect(&app, &bob).await;
    let asked_at = unix_now();
    bobs.send(json!({"type": "media.config", "session_id": id}))
        .await;
    let config = next_media(&mut bobs, "config", &id).await;
    let answered_at = unix_now();
    let server = &config["ice_servers"][0];
    assert_eq!(server["urls"], json!([coturn.url()]), "{config}");
    let username = server["username"].as_str().expect("a username");
    let credential = server["credential"].as_str().expect("a credential");
    assert!(!config.to_string().contains(SECRET), "{config}");

    // `<unix expiry>:<user id>`, the expiry one TTL after the asking.
    let (expiry, user_id) = username.split_once(':').expect("<expiry>:<user id>");
    assert_eq!(user_id, bob.id, "{config}");
    let expiry: u64 = expiry.parse().expect("a unix time");
    assert!(
        (asked_at + TTL.as_secs()..=answered_at + TTL.as_secs()).contains(&expiry),
        "expiry {expiry}, asked at {asked_at}, answered at {answered_at}"
    );

    // coturn relays for them.
    let relayed = coturn.allocate(username, credential).await;
    assert!(
        relayed.is_ok(),
        "{relayed:?}; coturn logged:\n{}",
        coturn.log()
    );

    // Altered, they are refused: the same password with a later expiry, or
    // with Ada's id in Bob's place...
    let stretched = format!("{}:{}", expiry + 24 * 3600, bob.id);
    assert_eq!(coturn.allocate(&stretched, credential).await, Err(401));
    let lent = format!("{expiry}:{}", ada.id);
    assert_eq!(coturn.allocate(&lent, credential).await, Err(401));
    // ...and a password of Bob's own whose expiry has passed is too.
    let bob_id = Id::parse("user_id", &bob.id).expect("an id");
    let expired = TimeLimited::new(
        &SECRET.into(),
        &bob_id,
        SystemTime::now() - Duration::from_secs(60),
    );
    assert_eq!(
        coturn
            .allocate(&expired.username, &expired.credential)
            .await,
        Err(401)
    );
    app.stop().await;
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Debian's coturn, run for one test on a free loopback UDP port and
/// checking credentials made from `secret`. It stops when this is dropped.
struct Coturn {
    address: SocketAddr,
    _process: Child,
    /// Its database and pid file.
    _files: tempfile::TempDir,
    /// Its log so far, for failure messages.
    log: Arc<Mutex<Vec<String>>>,
}

impl Coturn {
    async fn start(secret: &str) -> Self {
        let files = tempfile::tempdir().expect("a temporary directory");
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|socket| socket.local_addr())
            .expect("a free UDP port")
            .port();
        // Line-buffered, so its log reads as it happens.
        let mut process = Command::new("stdbuf")
            .args(["-oL", "turnserver"])
            .arg("-n") // no configuration file: only these options
            .arg("-v") // says when its listener is open
            .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
            .arg(format!("--listening-port={port}"))
            .args([
                "--use-auth-secret",
                &format!("--static-auth-secret={secret}"),
            ])
            .arg("--realm=lockin.test")
            .args(["--no-tls", "--no-dtls", "--no-tcp", "--no-tcp-relay"])
            .args(["--no-cli", "--no-rfc5780"])
            .arg(format!("--db={}", files.path().join("turndb").display()))
            .arg(format!(
                "--pidfile={}",
                files.path().join("turnserver.pid").display()
            ))
            .args(["--log-file=stdout", "--simple-log"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("starting turnserver: {error}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (opened, listening) = oneshot::channel();
        let opened_line = format!("UDP listener opened on: 127.0.0.1:{port}");
        let mut stdout = BufReader::new(process.stdout.take().expect("piped")).lines();
        let kept = log.clone();
        tokio::spawn(async move {
            let mut opened = Some(opened);
            while let Ok(Some(line)) = stdout.next_line().await {
                if line.contains(&opened_line) {
                    opened.take().map(|opened| opened.send(()));
                }
                kept.lock().expect("log lock").push(line);
            }
        });
        // Where a missing `turnserver` is said.
        let mut stderr = BufReader::new(process.stderr.take().expect("piped")).lines();
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                kept.lock().expect("log lock").push(line);
            }
        });
        let coturn = Self {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            _process: process,
            _files: files,
            log,
        };
        match tokio::time::timeout(PATIENCE, listening).await {
            Ok(Ok(())) => coturn,
            _ => panic!(
                "turnserver (Debian's coturn, which scripts/services.sh installs) did not open \
                 127.0.0.1:{port} within {PATIENCE:?}; it logged:\n{}",
                coturn.log()
            ),
        }
    }

    /// The URL browsers are handed.
    fn url(&self) -> String {
        format!("turn:{}?transport=udp", self.address)
    }

    fn log(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// Asks for a UDP relay with these credentials, as a browser's ICE agent
    /// does. Answers the relayed address, or the error code coturn answered
    /// the request carrying the credentials with. (The first answer is a 401
    /// too, whatever the credentials: the challenge that carries the nonce.)
    async fn allocate(&self, username: &str, password: &str) -> Result<SocketAddr, u16> {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("a UDP socket");
        let local = socket.local_addr().expect("a bound socket");
        let mut client = TurnClientUdp::allocate(
            local,
            self.address,
            TurnConfig::new(TurnCredentials::new(username, password)),
        );
        // The client's clock: time since `start`.
        let start = std::time::Instant::now();
        let now = || Instant::from_std(start);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        // The requests that carried the credentials. The client does not
        // take an error answer without MESSAGE-INTEGRITY (as a refusal is)
        // for the last word, and would retransmit until its own timeout.
        let mut signed = HashSet::new();
        let mut datagram = vec![0; 2048];
        loop {
            let wake = match client.poll(now()) {
                TurnPollRet::WaitUntil(at) => at.to_std(start),
                other => panic!(
                    "a UDP allocation came to {other:?}; coturn logged:\n{}",
                    self.log()
                ),
            };
            while let Some(transmit) = client.poll_transmit(now()) {
                if let Ok(request) = Message::from_bytes(&transmit.data)
                    && request.has_attribute(Username::TYPE)
                {
                    signed.insert(request.transaction_id());
                }
                socket
                    .send_to(&transmit.data, transmit.to)
                    .await
                    .expect("sending to coturn");
            }
            while let Some(event) = client.poll_event() {
                match event {
                    TurnEvent::AllocationCreated(_, relayed) => return Ok(relayed),
                    TurnEvent::AllocationCreateFailed(_) => panic!(
                        "the allocation failed with no refusal; coturn logged:\n{}",
                        self.log()
                    ),
                    _ => {}
                }
            }
            tokio::select! {
                received = socket.recv_from(&mut datagram) => {
                    let (length, from) = received.expect("receiving from coturn");
                    let data = &datagram[..length];
                    if let Ok(answer) = Message::from_bytes(data)
                        && answer.has_class(MessageClass::Error)
                        && signed.contains(&answer.transaction_id())
                    {
                        return Err(answer.attribute::<ErrorCode>().map_or(0, |error| error.code()));
                    }
                    client.recv(Transmit::new(data, TransportType::Udp, from, local), now());
                }
                () = tokio::time::sleep_until(wake.into()) => {}
                () = tokio::time::sleep_until(deadline) => panic!(
                    "no answer from coturn within {PATIENCE:?}; it logged:\n{}",
                    self.log()
                ),
            }
        }
    }
}

//! Holding connections: a client that never finishes its request header is
//! disconnected, and one person or one address cannot hold connections
//! without end.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{LiveClient, PATIENCE};
use crate::harness::{Backend, TestApp, spawn_app_with};

both_backends!(
    a_half_sent_request_header_is_disconnected,
    one_person_holds_at_most_so_many_live_connections,
    a_body_sent_too_slowly_gets_408,
);

/// A TCP connection to `app`, as a client that speaks HTTP by hand.
async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address)
        .await
        .expect("connecting to the server")
}

/// Sends a whole `GET /healthz` on `stream`, asking the server to close after answering.
async fn ask_health(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("sending a request");
}

/// Asserts that the server answers `stream` with `status_line` and closes it.
async fn assert_answered(stream: &mut TcpStream, status_line: &str) {
    let answer = closed_by_server(stream, PATIENCE).await;
    assert!(
        answer.starts_with(status_line.as_bytes()),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

/// Waits for the server to close `stream` (end of stream or reset), reading
/// whatever it sends first; fails the test if it is still open after `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0; 1024];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buffer)).await {
            Err(_) => panic!("the connection is still open after {within:?}"),
            Ok(Ok(0) | Err(_)) => return received,
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

async fn a_half_sent_request_header_is_disconnected(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Never: ")
        .await
        .expect("sending half a header");
    closed_by_server(&mut slow, PATIENCE).await;

    // A whole request on a connection of its own is answered as ever.
    let mut whole = connect(&app).await;
    ask_health(&mut whole).await;
    assert_answered(&mut whole, "HTTP/1.1 200").await;
    app.stop().await;
}

async fn one_person_holds_at_most_so_many_live_connections(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.live_connections_per_person = 2).await;
    let [ada, bob] = app.register_all(["Ada", "Bob"]).await;
    let first = LiveClient::connect(&app, &ada).await;
    let mut second = LiveClient::connect(&app, &ada).await;
    let refused = LiveClient::handshake(&app.live_url(Some(&ada.token)), &[])
        .await
        .err()
        .expect("the third connection is refused");
    assert_eq!(refused.status, 429);
    let body = refused.body.expect("a JSON error");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // The second still works; others are not limited by Ada's.
    second.round_trip().await;
    LiveClient::connect(&app, &bob).await.round_trip().await;
    // A closed one frees its place.
    first.close().await;
    LiveClient::connect(&app, &ada).await.round_trip().await;
    app.stop().await;
}

/// One address holds at most so many connections: the next is closed at once.
#[tokio::test]
async fn one_address_holds_at_most_so_many_connections() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.connections_per_address = 2).await;
    let mut held = vec![connect(&app).await, connect(&app).await];
    let mut refused = connect(&app).await;
    closed_by_server(&mut refused, PATIENCE).await;
    // The two held are served.
    ask_health(&mut held[0]).await;
    assert_answered(&mut held[0], "HTTP/1.1 200").await;
    drop(held);
    app.stop().await;
}

/// A whole header and then a body that trickles in: past the request
/// deadline the client is answered 408, and the task serving it is free.
async fn a_body_sent_too_slowly_gets_408(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.request_timeout = Duration::from_secs(1);
    })
    .await;
    let mut slow = connect(&app).await;
    slow.write_all(
        b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\nConnection: close\r\n\r\n{",
    )
    .await
    .expect("sending a header and a byte of the body");
    assert_answered(&mut slow, "HTTP/1.1 408").await;
    app.stop().await;
}

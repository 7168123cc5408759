//! Accepting HTTP connections: hyper's HTTP/1 server with a deadline for a
//! request's header, and at most so many open connections per client address.
//!
//! `axum::serve` has neither, so this is its loop with both: hyper's own
//! `header_read_timeout` (on tokio's timer) and a count per address taken at
//! accept. **The count is held by the connection's socket itself**, so a
//! connection upgraded to a live WebSocket keeps counting for as long as the
//! WebSocket lives.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::limits::{Held, Holdings};

/// How connections are held to account.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a client may take to send a request's header.
    pub header_read_timeout: Duration,
    /// Open connections (live WebSockets included) one client address may hold.
    pub per_address: usize,
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Holdings::<IpAddr>::default());
    let stopping = CancellationToken::new();
    let connections = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: the next accept may work.
                Err(error) => {
                    tracing::warn!(?error, "accepting a connection");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(held) = open.hold(&remote.ip(), limits.per_address) else {
            tracing::debug!(address = %remote.ip(), "refused a connection over the per-address limit");
            continue;
        };
        let counted = Counted {
            stream,
            _held: held,
        };
        let service = router
            .clone()
            .map_request(move |request: axum::http::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(remote));
                request
            });
        let stopping = stopping.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let connection = builder
                .serve_connection(TokioIo::new(counted), TowerToHyperService::new(service))
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                () = stopping.cancelled() => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
    }
    stopping.cancel();
    connections.close();
    connections.wait().await;
}

/// A client's socket, counted against its address while it is open.
struct Counted {
    stream: TcpStream,
    _held: Held<IpAddr>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// How long a request may take, by kind.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub request: Duration,
    pub upload: Duration,
}

/// Answers 408 when a request (its body read, its answer made) takes longer
/// than its deadline: a client that sends its body a byte at a time cannot
/// hold a task for ever. The live socket's handshake answers at once, and the
/// socket is not a request.
pub async fn request_deadline(
    axum::extract::State(deadlines): axum::extract::State<Deadlines>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let is_upload = request.method() == axum::http::Method::POST
        && request.uri().path().starts_with("/api/projects/")
        && request.uri().path().ends_with("/timelapses");
    let deadline = if is_upload {
        deadlines.upload
    } else {
        deadlines.request
    };
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => crate::error::ApiError::Timeout.into_response(),
    }
}

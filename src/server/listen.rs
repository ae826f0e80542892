//! Accepting connections and serving HTTP/1.1 on them with the time limits of DESIGN §4.
//! `axum::serve` has no header timeout, so connections are served with hyper directly.

use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{AppState, router};

/// How long unauthenticated clients may take (DESIGN §4). The defaults are the contract;
/// tests shorten them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// For a request's headers to arrive, counted from when the connection opened or its
    /// previous response was sent: a connection idle that long is closed.
    pub header_timeout: Duration,
    /// For a webhook's body to arrive, counted from the end of its headers.
    pub body_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
        }
    }
}

/// A request head (request line and headers) larger than this is refused (431). GitHub's are
/// a few KiB; the limit bounds what a connection that has not finished its headers holds.
const MAX_HEAD: usize = 64 * 1024;

/// Serves `router(state)` on `listener` until `shutdown` completes, then stops accepting,
/// lets every open connection finish its request in flight, and returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits;
    let app = router(state);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD);
    let (stopping, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        let conn =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let mut stop = stop.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let stopped = async move {
                let _ = stop.wait_for(|&s| s).await;
            };
            tokio::select! {
                result = conn.as_mut() => finished(result),
                () = stopped => {
                    // Idle connections close now; one mid-request closes after its response.
                    conn.as_mut().graceful_shutdown();
                    finished(conn.await);
                }
            }
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

fn finished(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        // Timeouts and clients that hang up are routine: not worth more than a debug line.
        tracing::debug!(error = %e, "connection ended");
    }
}

/// A failed accept: one client's trouble, or the process is out of file descriptors, in
/// which case waiting a moment beats spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept connections; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

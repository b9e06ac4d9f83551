//! Serving an HTTP listener (admin, inbound) with limits on its connections: a header
//! read timeout, an idle timeout between requests, and a cap on open connections.
//!
//! Without them every connection is held until its client leaves: thousands that sent
//! half a header would each keep a file descriptor for good. Past the cap a new
//! connection is closed at once; those already open, and everything else the process
//! does, carry on. On shutdown, connections with no request in progress are closed at
//! once; requests in progress are answered first.

mod timer;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::{info, warn};

use timer::{Counted, HeadTimer, Reads};

/// How long a client may take to send a request head, once it has started one.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a keep-alive connection may sit between requests: longer than any polling
/// interval of a browser (a console refreshing every few seconds keeps its connection).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections open at once per listener.
pub const MAX_CONNECTIONS: usize = 1024;

/// The limits of one listener's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Serves `app` on `listener` (named `name` in logs) until `shutdown`; then closes the
/// connections with no request in progress, and returns once the others are answered.
/// Handlers can extract `ConnectInfo<SocketAddr>`.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let stop = CancellationToken::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let refusing = AtomicBool::new(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, most likely: wait for some to free rather than spin.
                warn!(listener = name, error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // Dropped: closed at once, before a byte is read.
            if !refusing.swap(true, Ordering::Relaxed) {
                warn!(
                    listener = name,
                    max = limits.max_connections,
                    "too many open connections; refusing new ones"
                );
            }
            continue;
        };
        if refusing.swap(false, Ordering::Relaxed) {
            info!(listener = name, "accepting connections again");
        }
        let (app, stop) = (app.clone(), stop.clone());
        connections.spawn(async move {
            connection(stream, remote, app, limits, stop).await;
            drop(slot);
        });
    }
    stop.cancel();
    connections.close();
    connections.wait().await;
}

/// Serves one connection until it ends, its client's time is up, or `stop`.
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let reads = Reads::default();
    let busy = Arc::new(AtomicUsize::new(0));
    let service = {
        let busy = Arc::clone(&busy);
        service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            let (app, busy) = (app.clone(), Busy::enter(&busy));
            async move {
                let response = app.oneshot(request.map(axum::body::Body::new)).await;
                drop(busy);
                Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
            }
        })
    };
    let timer = HeadTimer {
        reads: reads.clone(),
        header: limits.header_read_timeout,
        idle: limits.idle_timeout,
    };
    let io = TokioIo::new(Counted::new(stream, reads));
    let serving = http1::Builder::new()
        .timer(timer)
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(io, service);
    tokio::pin!(serving);
    tokio::select! {
        // Errors are the client's: a timeout, a reset, a malformed request.
        _ = serving.as_mut() => return,
        _ = stop.cancelled() => {}
    }
    // Idle, or half a header: nothing to answer. Close now.
    if busy.load(Ordering::Acquire) == 0 {
        return;
    }
    serving.as_mut().graceful_shutdown();
    let _ = serving.await;
}

/// A request in progress on a connection, counted while it lives.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(count))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

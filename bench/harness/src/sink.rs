//! The HTTP sink brands are played by: answers at once, fails, or hangs, by path, and
//! records when each notification arrived.
//!
//! Paths: `/ok/…` answers `200 SUCCESS` at once; `/fail/…` answers `500`; `/hang/…` answers
//! only after [`HANG`], long after any channel timeout. The `X-Notify-Id` of every request
//! is the id the load generator gave the message: `<tag>-<index>-<publish epoch µs>` (see
//! `load.rs`), so the sink learns which message arrived and how long it took without
//! parsing bodies.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;

/// How long a `/hang/…` request is held before it is answered.
pub const HANG: Duration = Duration::from_secs(60);

/// One request as the sink saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The message's index in its load.
    pub index: u32,
    /// `X-Notify-Attempt` (1 when absent).
    pub attempt: u32,
    /// Epoch µs when the load generator published it.
    pub sent_us: u64,
    /// Epoch µs when the sink received it.
    pub at_us: u64,
}

#[derive(Default)]
struct Log {
    arrivals: Vec<Arrival>,
    /// Per index of the current load: requests seen.
    seen: Vec<u32>,
    /// Indices seen at least once.
    distinct: usize,
    /// Requests whose id was not one of ours.
    foreign: usize,
}

/// A running sink; cheap to clone.
#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    log: Arc<Mutex<Log>>,
}

impl Sink {
    /// Binds 127.0.0.1 on an ephemeral port and serves until the runtime stops.
    pub async fn start() -> std::io::Result<Self> {
        let log = Arc::new(Mutex::new(Log::default()));
        let state = Arc::clone(&log);
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let log = Arc::clone(&state);
            async move { answer(&log, &uri, &headers).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("sink stopped: {e}");
            }
        });
        Ok(Self { addr, log })
    }

    /// The URL of `path` on this sink, e.g. `/ok/md5`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Forgets every arrival; the next load has indices `0..len`.
    pub fn reset(&self, len: usize) {
        let mut log = lock(&self.log);
        *log = Log {
            arrivals: Vec::with_capacity(len + len / 4),
            seen: vec![0; len],
            distinct: 0,
            foreign: 0,
        };
    }

    /// How many distinct indices have arrived (at least once).
    pub fn distinct(&self) -> usize {
        lock(&self.log).distinct
    }

    /// Whether every index for which `wanted` holds has arrived.
    pub fn all_arrived(&self, wanted: impl Fn(usize) -> bool) -> bool {
        self.all_arrived_times(wanted, 1)
    }

    /// Whether every index for which `wanted` holds has arrived at least `times` times.
    pub fn all_arrived_times(&self, wanted: impl Fn(usize) -> bool, times: u32) -> bool {
        let log = lock(&self.log);
        log.seen
            .iter()
            .enumerate()
            .all(|(i, &n)| n >= times || !wanted(i))
    }

    /// A copy of every arrival so far, in arrival order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.log).arrivals.clone()
    }

    /// Requests that carried no id of ours.
    pub fn foreign(&self) -> usize {
        lock(&self.log).foreign
    }
}

async fn answer(log: &Mutex<Log>, uri: &Uri, headers: &HeaderMap) -> (StatusCode, &'static str) {
    record(log, headers);
    let path = uri.path();
    if path.starts_with("/fail/") {
        (StatusCode::INTERNAL_SERVER_ERROR, "FAIL")
    } else if path.starts_with("/hang/") {
        tokio::time::sleep(HANG).await;
        (StatusCode::OK, "SUCCESS")
    } else {
        (StatusCode::OK, "SUCCESS")
    }
}

fn record(log: &Mutex<Log>, headers: &HeaderMap) {
    let at_us = now_us();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let attempt = header("x-notify-attempt")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut log = lock(log);
    let parsed = header("x-notify-id").and_then(parse_id);
    let Some((index, sent_us)) = parsed.filter(|(i, _)| (*i as usize) < log.seen.len()) else {
        log.foreign += 1;
        return;
    };
    let seen = &mut log.seen[index as usize];
    *seen += 1;
    if *seen == 1 {
        log.distinct += 1;
    }
    log.arrivals.push(Arrival {
        index,
        attempt,
        sent_us,
        at_us,
    });
}

/// `<tag>-<index>-<sent µs>` → (index, sent µs).
pub fn parse_id(id: &str) -> Option<(u32, u64)> {
    let mut parts = id.rsplitn(3, '-');
    let sent_us = parts.next()?.parse().ok()?;
    let index = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((index, sent_us))
}

/// Microseconds since the Unix epoch, the clock both the publisher and the sink read.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// The log stays usable even if a handler panicked while holding it.
fn lock(log: &Mutex<Log>) -> std::sync::MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

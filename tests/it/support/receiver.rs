//! A real HTTP receiver on 127.0.0.1 (ephemeral port) that records every request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    /// When the request arrived, before any answer delay.
    pub at: std::time::Instant,
}

type Answer = dyn Fn(&Received) -> (u16, String) + Send + Sync;

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<AtomicUsize>,
    answer: Arc<Answer>,
    delay: std::time::Duration,
}

pub struct Receiver {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<AtomicUsize>,
}

impl Receiver {
    /// Starts a receiver answering each request with `answer(request)`.
    pub async fn start(
        answer: impl Fn(&Received) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        Self::start_slow(std::time::Duration::ZERO, answer).await
    }

    /// Like `start`, but each answer takes `delay` (a brand that is busy, not down).
    pub async fn start_slow(
        delay: std::time::Duration,
        answer: impl Fn(&Received) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        let shared = Shared {
            seen: Arc::default(),
            arrived: Arc::default(),
            answer: Arc::new(answer),
            delay,
        };
        let (seen, arrived) = (Arc::clone(&shared.seen), Arc::clone(&shared.arrived));
        let app = Router::new().fallback(record).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            seen,
            arrived,
        }
    }

    /// A receiver that answers 200 `ok` to everything.
    pub async fn ok() -> Self {
        Self::start(|_| (200, "ok".into())).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests that arrived, answered or still waiting for their answer.
    pub fn arrived(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn record(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let received = Received {
        at: std::time::Instant::now(),
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    shared.arrived.fetch_add(1, Ordering::SeqCst);
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let (status, text) = (shared.answer)(&received);
    shared.seen.lock().unwrap().push(received);
    (StatusCode::from_u16(status).unwrap(), text)
}

//! The demo's brand side: an HTTP receiver on 127.0.0.1 that checks each callback with
//! [`brand::verify`](super::brand::verify) and answers as that brand's page says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::brand::{self, Callback};

/// Publish times by message id.
pub type Published = Arc<Mutex<HashMap<String, Instant>>>;

/// One callback that arrived, and what the brand made of it.
pub struct Arrival {
    pub preset: String,
    pub notify_type: String,
    pub status: StatusCode,
    pub verified: Result<(), String>,
    /// From publish to arrival; `None` when the id is not one the demo published.
    pub latency: Option<Duration>,
}

impl Arrival {
    /// One line: preset, notifyType, HTTP status answered, signature, latency.
    pub fn line(&self) -> String {
        let signature = match &self.verified {
            Ok(()) => "signature verified".to_string(),
            Err(why) => format!("signature NOT verified: {why}"),
        };
        let latency = self
            .latency
            .map(|l| format!("{:.1} ms", l.as_secs_f64() * 1000.0))
            .unwrap_or_else(|| "-".into());
        format!(
            "{:<11} {:<17} HTTP {} {signature:<26} {latency:>7}",
            self.preset,
            self.notify_type,
            self.status.as_u16()
        )
    }
}

#[derive(Clone)]
struct Shared {
    arrivals: mpsc::UnboundedSender<Arrival>,
    published: Published,
}

/// A running receiver.
pub struct Receiver {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

/// Binds an ephemeral port on 127.0.0.1 and serves until the process ends.
pub async fn start(
    arrivals: mpsc::UnboundedSender<Arrival>,
    published: Published,
) -> std::io::Result<Receiver> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = Router::new()
        .route("/{preset}/{notify_type}", post(callback))
        .with_state(Shared {
            arrivals,
            published,
        });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Receiver { base })
}

async fn callback(
    State(shared): State<Shared>,
    Path((preset, notify_type)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let verified = brand::verify(
        &preset,
        &Callback {
            body: &body,
            header: &header,
        },
    );
    let latency = header("X-Notify-Id")
        .and_then(|id| shared.published.lock().unwrap().get(&id).copied())
        .map(|at| at.elapsed());
    let answer = match verified {
        Ok(()) => (StatusCode::OK, brand::success_answer(&preset)),
        Err(_) => (StatusCode::BAD_REQUEST, "bad signature"),
    };
    let _ = shared.arrivals.send(Arrival {
        preset,
        notify_type,
        status: answer.0,
        verified,
        latency,
    });
    answer
}

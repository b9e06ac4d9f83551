//! Admin HTTP: `/healthz`, `/readyz`, `/metrics`, `POST /admin/reload`, the delivery
//! journal under `/deliveries`, pausing channels under `/channels`, and the operator
//! console under `/ui` (`console/`).
//!
//! Loopback by default; when a token is configured every endpoint but the two probes
//! requires `Authorization: Bearer <token>`. Without one, the API answers loopback `Host`
//! names only and refuses state-changing requests a browser marks as cross-site
//! (`origin`), so a web page the operator visits cannot act through it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::future::BoxFuture;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::broker::BrokerConfig;
use crate::channel_pause::Pauses;
use crate::consume::Consuming;
use crate::inbound::Stats;
use crate::journal::{Journal, KeySpec, Mask};
use crate::listener::{self, Limits};
use crate::metrics::Metrics;
use crate::pipeline::Running;
use crate::secret::Secret;

mod channels;
mod console;
mod deliveries;
mod origin;

pub use deliveries::Reader;

/// The admin endpoints' configuration (the `[admin]` table, validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// Required as a bearer token, when set; always set when `listen` is not loopback.
    pub token: Option<Secret>,
    /// Header read and idle timeouts, and the cap on open connections.
    pub limits: Limits,
}

/// Reloads the configuration when an operator asks. The wiring above implements it: it
/// owns the settings, which the admin endpoints never see.
pub trait Reload: Send + Sync {
    /// Swaps the new configuration in, or says why not (the running one stays).
    fn reload(&self) -> BoxFuture<'_, Result<(), Box<dyn std::error::Error + Send + Sync>>>;
}

/// What the admin endpoints read.
#[derive(Clone)]
pub struct AdminState {
    /// The pipeline in use, for each channel's health.
    pub pipeline: Arc<Running>,
    /// Reloads the configuration on `POST /admin/reload`.
    pub reload: Arc<dyn Reload>,
    /// The node consumed from, for `/readyz`.
    pub consuming: Arc<Consuming>,
    /// Where a replayed message is published.
    pub broker: BrokerConfig,
    /// Paused channels: set at once on a pause or resume here, re-read from the journal by
    /// the wiring's watcher.
    pub pauses: Arc<Pauses>,
    /// The business keys the journal indexes, offered by the console's search.
    pub keys: KeySpec,
    /// The secret fields hidden wherever the console or the API shows a message.
    pub mask: Mask,
    pub metrics: Arc<Metrics>,
    pub token: Option<Secret>,
    /// The writer's counters, for the journal metrics.
    pub journal_writer: Journal,
    pub journal: Arc<Reader>,
    /// Each inbound receiver's counters, by name.
    pub callbacks: Vec<(String, Arc<Stats>)>,
}

/// Serves the admin endpoints on `listener`, its connections within `limits`, until
/// `shutdown`.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    limits: Limits,
    shutdown: CancellationToken,
) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "admin HTTP listening");
    }
    let protected = Router::new()
        .route("/metrics", get(metrics))
        .route("/admin/reload", post(reload))
        .route("/deliveries", get(deliveries::list))
        .route("/deliveries/{id}", get(deliveries::one))
        .route("/deliveries/{id}/replay", post(deliveries::replay))
        .route("/channels/paused", get(channels::paused))
        .route("/channels/{id}/pause", post(channels::pause))
        .route("/channels/{id}/resume", post(channels::resume))
        .route_layer(middleware::from_fn_with_state(state.clone(), bearer));
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .merge(protected)
        .merge(console::routes(&state))
        .with_state(state);
    let stopped = async move { shutdown.cancelled().await };
    listener::serve("admin", listener, app, limits, stopped).await;
}

async fn ready(State(state): State<AdminState>) -> impl IntoResponse {
    match state.consuming.node() {
        Some(node) => (StatusCode::OK, format!("consuming from {node}")),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not connected to the broker".to_owned(),
        ),
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    for health in state.pipeline.current().health() {
        state.metrics.set_channel(&health);
    }
    for (receiver, stats) in &state.callbacks {
        state.metrics.set_callbacks(receiver, &stats.snapshot());
    }
    let journal = &state.journal_writer;
    state
        .metrics
        .set_journal(journal.lag(), journal.dropped(), journal.errors());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn reload(State(state): State<AdminState>) -> impl IntoResponse {
    match state.reload.reload().await {
        Ok(()) => (StatusCode::OK, "reloaded".to_owned()),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("reload refused: {e}"),
        ),
    }
}

async fn bearer(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return match origin::tokenless_check(request.method(), request.headers()) {
            Ok(()) => next.run(request).await,
            Err(refusal) => {
                warn!(
                    method = %request.method(),
                    path = %request.uri().path(),
                    host = %origin::host_of(request.headers()),
                    reason = %refusal,
                    "admin API request refused"
                );
                (
                    StatusCode::FORBIDDEN,
                    Json(json!({ "error": refusal.to_string() })),
                )
                    .into_response()
            }
        };
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if token_matches(given, token) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token",
        )
            .into_response()
    }
}

/// Whether `given` is the admin token, in time that tells nothing of the token: digests of
/// equal length are compared, so not even its length shows (API bearer and console login).
fn token_matches(given: &str, token: &Secret) -> bool {
    let (given, token) = (Sha256::digest(given), Sha256::digest(token.expose()));
    bool::from(given.ct_eq(&token))
}

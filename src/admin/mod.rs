//! Admin HTTP: `/healthz`, `/readyz`, `/metrics`, `POST /admin/reload`, the delivery
//! journal under `/deliveries`, pausing channels under `/channels`, and the operator console under `/ui` (`console/`).
//!
//! Loopback by default; when a token is configured every endpoint but the two probes
//! requires `Authorization: Bearer <token>`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::inbound::Stats;
use crate::journal::Journal;
use crate::listener::{self, Limits};
use crate::live::Live;
use crate::metrics::Metrics;
use crate::settings::Secret;

mod channels;
mod console;
mod deliveries;

pub use deliveries::Reader;

/// What the admin endpoints read.
#[derive(Clone)]
pub struct AdminState {
    pub live: Arc<Live>,
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
    match state.live.consuming_from() {
        Some(node) => (StatusCode::OK, format!("consuming from {node}")),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not connected to the broker".to_owned(),
        ),
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    for health in state.live.current().pipeline.health() {
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
    match state.live.reload(&state.metrics).await {
        Ok(()) => (StatusCode::OK, "reloaded".to_owned()),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("reload refused: {e}"),
        ),
    }
}

async fn bearer(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
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

//! The HTTP side: one POST route per receiver, a body limit, one span per callback, and
//! the answer in the provider's words.

use crate::clock::now_ms;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{error, field, info, warn, Instrument};

use super::callback::{self, Accepted, Incoming, Route, Shared};
use super::error::Kind;
use super::publish::{Outlet, Publisher};
use super::store::{Store, StoreError};
use super::{CallbackError, InboundConfig, Stats};
use crate::listener::{self, Limits};
use crate::secret::Secret;

/// Why the inbound server cannot start or run.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// The cause is printed by the caller's chain, so the message holds it once.
    #[error("cannot listen on `inbound.listen` = {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("inbound.store: {0}")]
    Store(#[from] StoreError),
}

/// The bound inbound server, ready to serve.
pub struct Server {
    listener: TcpListener,
    limits: Limits,
    router: Router,
    routes: BTreeMap<String, Arc<Route>>,
    publisher: Arc<Publisher>,
}

#[derive(Clone)]
struct RouteState {
    route: Arc<Route>,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds `inbound.listen` and builds one route per receiver, publishing to the broker
    /// at `broker_urls`. The broker and the store are reached on the first callback, so
    /// neither being down stops the start.
    pub async fn bind(
        inbound: &InboundConfig,
        broker_urls: Vec<Secret>,
    ) -> Result<Self, InboundError> {
        let listener =
            TcpListener::bind(inbound.listen)
                .await
                .map_err(|source| InboundError::Bind {
                    addr: inbound.listen,
                    source,
                })?;
        let shared = Arc::new(Shared {
            store: Store::new(&inbound.store)?,
            key_prefix: inbound.key_prefix.clone(),
            permits: Semaphore::new(inbound.max_in_flight),
        });
        let local = listener.local_addr().unwrap_or(inbound.listen);
        let publisher = Publisher::new(broker_urls, local);
        let mut router = Router::new();
        let mut routes = BTreeMap::new();
        for (name, receiver) in &inbound.receivers {
            let outlet = Outlet::new(
                Arc::clone(&publisher),
                receiver.exchange.clone(),
                receiver.declare_exchange,
            );
            let route = Arc::new(Route {
                receiver: receiver.clone(),
                outlet,
                stats: Arc::default(),
            });
            routes.insert(name.clone(), Arc::clone(&route));
            let state = RouteState {
                route,
                shared: Arc::clone(&shared),
            };
            router = router.merge(
                Router::new()
                    .route(&receiver.path, post(receive))
                    .with_state(state),
            );
        }
        let router = router.layer(DefaultBodyLimit::max(inbound.max_body_bytes));
        Ok(Self {
            listener,
            limits: inbound.limits,
            router,
            routes,
            publisher,
        })
    }

    /// The bound address (the port, when `inbound.listen` asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The counters of receiver `name`.
    pub fn stats(&self, name: &str) -> Option<Arc<Stats>> {
        self.routes.get(name).map(|r| Arc::clone(&r.stats))
    }

    /// Serves until `shutdown` completes, then lets in-flight callbacks finish.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), InboundError> {
        if let Ok(addr) = self.listener.local_addr() {
            info!(%addr, receivers = self.routes.len(), "receiving provider callbacks");
        }
        listener::serve("inbound", self.listener, self.router, self.limits, shutdown).await;
        for route in self.routes.values() {
            route.outlet.close().await;
        }
        self.publisher.close().await;
        Ok(())
    }
}

async fn receive(
    State(state): State<RouteState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let receiver = &state.route.receiver;
    let span = tracing::info_span!(
        "callback",
        receiver = %receiver.name,
        provider = %receiver.provider,
        %remote,
        message_id = field::Empty,
    );
    answer(state, remote, headers, body).instrument(span).await
}

async fn answer(
    state: RouteState,
    remote: SocketAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let RouteState { route, shared } = state;
    let stats = &route.stats;
    let provider = route.receiver.provider;
    stats.received();
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                stats.too_large();
            } else {
                stats.failed(Kind::Malformed);
            }
            warn!(%status, error = %rejection.body_text(), "callback body refused");
            let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "body too large"
            } else {
                "unreadable body"
            };
            return failure(status, provider.failure_word(), reason);
        }
    };
    let Ok(_permit) = shared.permits.try_acquire() else {
        return refuse(&route, CallbackError::Busy);
    };
    let incoming = Incoming {
        body,
        headers,
        remote,
        received_at_ms: now_ms(),
    };
    match callback::handle(&route, &shared, incoming).await {
        Ok(Accepted::Published { message_id }) => {
            tracing::Span::current().record("message_id", message_id.as_str());
            stats.published();
            info!("callback published");
            success(provider.success_word())
        }
        Ok(Accepted::Duplicate { message_id }) => {
            tracing::Span::current().record("message_id", message_id.as_str());
            stats.duplicate();
            info!("callback already published; not published again");
            success(provider.success_word())
        }
        Err(e) => refuse(&route, e),
    }
}

fn refuse(route: &Route, e: CallbackError) -> Response {
    let kind = e.kind();
    route.stats.failed(kind);
    match kind {
        Kind::Unavailable => error!(error = %e, "callback not accepted; the provider will retry"),
        _ => warn!(error = %e, "callback refused"),
    }
    failure(
        e.status(),
        route.receiver.provider.failure_word(),
        e.reason(),
    )
}

fn success(word: &'static str) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], word).into_response()
}

fn failure(status: StatusCode, word: &str, reason: &str) -> Response {
    let text = format!("{word}: {reason}");
    (status, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
}

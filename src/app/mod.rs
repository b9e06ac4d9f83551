//! Wiring: settings → live pipeline → consumer, admin HTTP and, when receivers are
//! configured, the inbound callback server; reconnect on broker loss, reload on SIGHUP,
//! drain on shutdown.

pub mod live;
pub mod removed_channels;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::admin::{self, AdminState};
use crate::consume::{reconnect, Consumer, Consuming};
use crate::deliver::HttpClient;
use crate::inbound::{InboundError, Server};
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::settings::Settings;
use live::Live;

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The cause is printed by the caller's chain, so the message holds it once.
    #[error("cannot listen on `admin.listen` = {addr}")]
    AdminBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Inbound(#[from] InboundError),
}

/// Runs the bridge until `shutdown` completes, then drains in-flight work and returns.
///
/// A lost broker connection is not fatal: unacked messages return to the queue, and the
/// consumer reconnects at once, then with capped, jittered backoff. The inbound server runs in its own
/// task on its own broker connection, so callbacks and deliveries never wait on each other.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    // Listeners are bound first, so a taken port fails the start, not the first request.
    let addr = settings.admin.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::AdminBind { addr, source })?;
    let stop = CancellationToken::new();
    let mut callbacks = Vec::new();
    let inbound = match settings.inbound.receivers.is_empty() {
        true => None,
        false => {
            let server = Server::bind(&settings.inbound, settings.broker.urls.clone()).await?;
            for name in settings.inbound.receivers.keys() {
                if let Some(stats) = server.stats(name) {
                    callbacks.push((name.clone(), stats));
                }
            }
            Some(tokio::spawn(server.serve(stop.clone().cancelled_owned())))
        }
    };
    let grace = settings.broker.shutdown_grace;
    let token = settings.admin.token.clone();
    let admin_limits = settings.admin.limits;
    let (journal, journal_task) = Journal::start(&settings.journal);
    let reader = admin::Reader::new(settings.journal.url.clone());
    let journal_url = settings.journal.url.clone();
    let (keys, mask) = (settings.journal.keys.clone(), settings.journal.mask.clone());
    let broker = settings.broker.clone();
    let live = Arc::new(Live::new(settings, HttpClient::new()));
    let consuming = Arc::new(Consuming::default());
    let metrics = Arc::new(Metrics::new());
    let admin = tokio::spawn(admin::serve(
        listener,
        AdminState {
            pipeline: Arc::clone(live.pipeline()),
            reload: Arc::new(Reloader {
                live: Arc::clone(&live),
                metrics: Arc::clone(&metrics),
            }),
            consuming: Arc::clone(&consuming),
            broker: broker.clone(),
            pauses: Arc::clone(live.pauses()),
            keys,
            mask,
            metrics: Arc::clone(&metrics),
            token,
            journal_writer: journal.clone(),
            journal: reader,
            callbacks,
        },
        admin_limits,
        stop.clone(),
    ));
    let hangups = tokio::spawn(reload_on_hangup(Arc::clone(&live), Arc::clone(&metrics)));
    let gauge = Arc::clone(&metrics);
    let depth = tokio::spawn(crate::broker::depth::watch(
        broker.clone(),
        move |parked| gauge.set_parked(parked),
        stop.clone(),
    ));
    let summary = tokio::spawn(summarize(Arc::clone(&metrics), stop.clone()));
    crate::channel_pause::load(&journal_url, live.pauses()).await;
    let pauses = tokio::spawn(crate::channel_pause::watch(
        journal_url,
        Arc::clone(live.pauses()),
        stop.clone(),
    ));
    let pipeline = Arc::clone(live.pipeline());
    let consumer = Consumer::new(broker, pipeline, consuming, metrics, journal);
    let trigger = stop.clone();
    let watch = async move {
        shutdown.await;
        let in_flight: usize = live
            .pipeline()
            .current()
            .health()
            .iter()
            .map(|h| h.in_flight)
            .sum();
        info!(
            grace = ?grace,
            in_flight,
            "stopping: no new deliveries; waiting for those in flight (a second Ctrl-C or SIGTERM stops at once; unacked messages return to the queue)"
        );
        trigger.cancel();
        // Keep waiting: the consumer decides when draining is over.
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = reconnect::supervise(&consumer, &stop) => {},
        _ = watch => {},
    }
    stop.cancel();
    hangups.abort();
    depth.abort();
    summary.abort();
    pauses.abort();
    if let Some(task) = inbound {
        drain_inbound(task, grace).await;
    }
    let unwritten = journal_task.shutdown(grace).await;
    if unwritten > 0 {
        warn!(unwritten, "journal entries not written before exit");
    }
    let _ = admin.await;
    Ok(())
}

/// How often each channel's summary line is logged (only when something happened).
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// Quiet success: one INFO line per channel and minute with what happened since the last.
async fn summarize(metrics: Arc<Metrics>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(SUMMARY_EVERY) => {}
        }
        for (channel, counts) in metrics.take_summary() {
            info!(
                channel = %channel,
                delivered = counts.delivered,
                retried = counts.retried,
                deferred = counts.deferred,
                parked = counts.parked,
                "in the last minute"
            );
        }
    }
}

/// Lets callbacks already being handled finish, within the grace period.
async fn drain_inbound(task: JoinHandle<Result<(), InboundError>>, grace: Duration) {
    match tokio::time::timeout(grace, task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => warn!(error = %e, "inbound server failed"),
        Ok(Err(e)) => warn!(error = %e, "inbound server task ended abnormally"),
        Err(_) => warn!(
            ?grace,
            "inbound callbacks still in flight after the grace period"
        ),
    }
}

/// `POST /admin/reload`: a reload, counted in the metrics.
struct Reloader {
    live: Arc<Live>,
    metrics: Arc<Metrics>,
}

impl admin::Reload for Reloader {
    fn reload(&self) -> BoxFuture<'_, Result<(), Box<dyn std::error::Error + Send + Sync>>> {
        Box::pin(async move { Ok(self.live.reload(&self.metrics).await?) })
    }
}

/// SIGHUP reloads the configuration, like `POST /admin/reload`.
async fn reload_on_hangup(live: Arc<Live>, metrics: Arc<Metrics>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        warn!("cannot listen for SIGHUP; reload with POST /admin/reload");
        return;
    };
    while hangups.recv().await.is_some() {
        // Counted and, when refused, logged by the reload itself.
        let _ = live.reload(&metrics).await;
    }
}

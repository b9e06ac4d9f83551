//! Wiring: settings → pipeline → consumer; reconnect on broker loss until shutdown.
//! Beside the consumer, when receivers are configured, the inbound callback server.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::consume::{BrokerError, Consumer};
use crate::deliver::Sender;
use crate::inbound::{InboundError, Server};
use crate::pipeline::Pipeline;
use crate::settings::Settings;

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why the bridge stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Inbound(#[from] InboundError),
}

/// Runs the bridge until `shutdown` completes, then drains in-flight work and returns.
///
/// A lost broker connection is not fatal: unacked messages return to the queue, and the
/// consumer reconnects with capped exponential backoff. The inbound server, when there
/// are receivers, runs in its own task on its own broker connection, so callbacks and
/// deliveries never wait on each other; it stops taking callbacks at the same moment.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let settings = Arc::new(settings);
    let token = CancellationToken::new();
    // Bound first, so a taken port fails the start rather than the first callback.
    let inbound = match settings.inbound.receivers.is_empty() {
        true => None,
        false => {
            let server = Server::bind(&settings).await?;
            let stop = token.clone();
            Some(tokio::spawn(server.serve(stop.cancelled_owned())))
        }
    };
    let pipeline = Arc::new(Pipeline::new(&settings, Sender::new()));
    let consumer = Consumer::new(pipeline, Arc::clone(&settings));
    let stop = token.clone();
    let watch = async move {
        shutdown.await;
        stop.cancel();
        // Keep waiting: the consumer decides when draining is over.
        std::future::pending::<()>().await
    };
    let supervise = async {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let started = Instant::now();
            match consumer.run(&token).await {
                Ok(()) => return Ok(()),
                Err(e) if token.is_cancelled() => {
                    // Shutting down anyway: whatever was unacked returns to the queue.
                    warn!(error = %e, "broker connection lost while shutting down");
                    return Ok(());
                }
                Err(e) => {
                    if started.elapsed() > MAX_BACKOFF {
                        backoff = FIRST_BACKOFF;
                    }
                    warn!(error = %e, retry_in = ?backoff, "broker connection lost; reconnecting");
                    tokio::select! {
                        _ = token.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    info!("reconnecting to the broker");
                }
            }
        }
    };
    let result: Result<(), BrokerError> = tokio::select! {
        result = supervise => result,
        _ = watch => Ok(()),
    };
    token.cancel();
    if let Some(task) = inbound {
        let grace = settings.broker.shutdown_grace;
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
    Ok(result?)
}

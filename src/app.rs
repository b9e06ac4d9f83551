//! Wiring: settings → pipeline → consumer; reconnect on broker loss until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::consume::{BrokerError, Consumer};
use crate::deliver::Sender;
use crate::pipeline::Pipeline;
use crate::settings::Settings;

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Runs the bridge until `shutdown` completes, then drains in-flight work and returns.
///
/// A lost broker connection is not fatal: unacked messages return to the queue, and the
/// consumer reconnects with capped exponential backoff.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BrokerError> {
    let settings = Arc::new(settings);
    let pipeline = Arc::new(Pipeline::new(&settings, Sender::new()));
    let consumer = Consumer::new(pipeline, Arc::clone(&settings));
    let token = CancellationToken::new();
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
    tokio::select! {
        result = supervise => result,
        _ = watch => Ok(()),
    }
}

//! The parking lot's depth for the metrics: read from the broker every few seconds on a
//! connection of its own, so an alert can fire on messages waiting for an operator.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::broker::BrokerError;
use super::endpoints;
use crate::broker::BrokerConfig;
use crate::metrics::Metrics;

/// How often the depth is read; alerts look at minutes, not seconds.
const EVERY: Duration = Duration::from_secs(5);

/// Keeps `notify_parked_messages` current until `stop`; broker trouble only delays it.
pub async fn watch(broker: BrokerConfig, metrics: Arc<Metrics>, stop: CancellationToken) {
    loop {
        if let Err(e) = watch_once(&broker, &metrics, &stop).await {
            // The consumer reports broker trouble; this is only a gauge.
            debug!(error = %e, "parking lot depth unavailable");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

async fn watch_once(
    settings: &BrokerConfig,
    metrics: &Metrics,
    stop: &CancellationToken,
) -> Result<(), BrokerError> {
    let connection =
        endpoints::connect_any(&settings.urls, "notify-bridge parking-lot depth").await?;
    let channel = connection
        .create_channel()
        .await
        .map_err(BrokerError::Channel)?;
    let dead = settings.dead_queue();
    // A passive declare only reads: it never creates the queue or changes its arguments.
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    loop {
        let queue = channel
            .queue_declare(dead.as_str().into(), passive, FieldTable::default())
            .await
            .map_err(|source| BrokerError::Queue {
                queue: dead.clone(),
                source,
            })?;
        metrics.set_parked(queue.message_count());
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
    let _ = connection.close(200, "stopping".into()).await;
    Ok(())
}

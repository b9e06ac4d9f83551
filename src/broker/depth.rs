//! The parking lot's depth for the metrics: read from the broker every few seconds on a
//! connection of its own, so an alert can fire on messages waiting for an operator.

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{endpoints, BrokerConfig, BrokerError};

/// How often the depth is read; alerts look at minutes, not seconds.
const EVERY: Duration = Duration::from_secs(5);

/// Hands the parking lot's depth to `report` every few seconds until `stop` (for the
/// `notify_parked_messages` gauge); broker trouble only delays it.
pub async fn watch(broker: BrokerConfig, report: impl Fn(u32), stop: CancellationToken) {
    loop {
        if let Err(e) = watch_once(&broker, &report, &stop).await {
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
    report: &impl Fn(u32),
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
        report(queue.message_count());
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
    let _ = connection.close(200, "stopping".into()).await;
    Ok(())
}

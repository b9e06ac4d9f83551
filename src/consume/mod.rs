//! The consumer: take deliveries, run each through the pipeline, settle it durably.
//!
//! Settling follows one rule: a message is acked only once its outcome is durable —
//! delivered, or confirmed by the broker into the parking lot. Anything else stays unacked
//! and returns to the queue when the channel closes.

pub mod broker;
mod park;

use std::sync::Arc;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::message::MessageId;
use crate::pipeline::Pipeline;
use crate::settings::BrokerSettings;
pub use broker::BrokerError;
use park::Parker;

/// Consumes the main queue until `shutdown` fires or the broker goes away.
pub struct Consumer {
    pipeline: Arc<Pipeline>,
    broker: BrokerSettings,
}

impl Consumer {
    pub fn new(pipeline: Arc<Pipeline>, broker: BrokerSettings) -> Self {
        Self { pipeline, broker }
    }

    /// Runs until `shutdown` is cancelled (returns `Ok`) or the connection fails (`Err`).
    ///
    /// On shutdown: stop taking deliveries, give in-flight ones `shutdown_grace` to finish,
    /// then close the channel so the broker requeues whatever is still unacked.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), BrokerError> {
        let connection = broker::connect(&self.broker.url, "notify-bridge").await?;
        let consume = connection
            .create_channel()
            .await
            .map_err(BrokerError::Channel)?;
        let publish = broker::confirm_channel(&connection).await?;
        broker::declare_topology(&consume, &self.broker).await?;
        consume
            .basic_qos(self.broker.prefetch, BasicQosOptions::default())
            .await
            .map_err(BrokerError::Channel)?;
        let mut deliveries = consume
            .basic_consume(
                self.broker.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|source| BrokerError::Queue {
                queue: self.broker.queue.clone(),
                source,
            })?;
        info!(queue = %self.broker.queue, prefetch = self.broker.prefetch, "consuming");

        let parker = Arc::new(Parker::new(publish, self.broker.dead_queue()));
        // A park that cannot be confirmed leaves its message unacked; stop and let it return.
        let fatal = shutdown.child_token();
        let tracker = TaskTracker::new();
        let result = loop {
            let delivery = tokio::select! {
                _ = fatal.cancelled() => break Ok(()),
                next = deliveries.next() => next,
            };
            match delivery {
                Some(Ok(delivery)) => {
                    let pipeline = Arc::clone(&self.pipeline);
                    let parker = Arc::clone(&parker);
                    let fatal = fatal.clone();
                    tracker.spawn(async move {
                        if let Err(e) = settle_one(&pipeline, &parker, delivery).await {
                            error!(error = %e, "cannot settle a message; stopping to let it return to the queue");
                            fatal.cancel();
                        }
                    });
                }
                Some(Err(e)) => break Err(BrokerError::Channel(e)),
                None => break Err(BrokerError::ConsumerEnded),
            }
        };
        let tag = deliveries.tag();
        let _ = consume
            .basic_cancel(tag, BasicCancelOptions::default())
            .await;
        tracker.close();
        if tokio::time::timeout(self.broker.shutdown_grace, tracker.wait())
            .await
            .is_err()
        {
            warn!(grace = ?self.broker.shutdown_grace, "grace period over; unfinished messages return to the queue");
        }
        let _ = consume.close(200, "shutting down".into()).await;
        let _ = connection.close(200, "shutting down".into()).await;
        if result.is_ok() && !shutdown.is_cancelled() {
            return Err(BrokerError::SettleFailed);
        }
        result
    }
}

/// Handles one delivery and acks it once its outcome is durable.
async fn settle_one(
    pipeline: &Pipeline,
    parker: &Parker,
    delivery: Delivery,
) -> Result<(), BrokerError> {
    let props = &delivery.properties;
    let id = MessageId::from_delivery(
        props.message_id().as_ref().map(|s| s.as_str()),
        &delivery.data,
    );
    let content_type = props.content_type().as_ref().map(|s| s.as_str().to_owned());
    let handled = pipeline
        .handle(&id, &delivery.data, content_type.as_deref())
        .await;
    if let Some((reason, status)) = handled.failure() {
        parker
            .park(&delivery, &id, &handled, &reason, status)
            .await?;
    }
    delivery
        .acker
        .ack(BasicAckOptions::default())
        .await
        .map_err(BrokerError::Channel)?;
    Ok(())
}

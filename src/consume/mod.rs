//! The consumer: take deliveries, run each through the pipeline, settle it durably.
//!
//! Settling follows one rule: a message is acked only once its outcome is durable —
//! delivered, or confirmed by the broker into a retry queue or the parking lot. Anything
//! else stays unacked and returns to the queue when the channel closes.

pub mod acks;
pub mod headers;
pub mod reconnect;
mod report;
mod session;
pub mod settle;

use std::sync::Arc;

use futures_util::FutureExt;
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::broker::endpoints::{Connected, Endpoints};
use crate::broker::headers::attempt_of;
use crate::broker::BrokerConfig;
use crate::broker::{self, BrokerError};
use crate::journal::Journal;
use crate::message::{Attempt, MessageId};
use crate::metrics::Metrics;
use crate::parse::{BadInput, Declared};
use crate::pipeline::{Handled, Pipeline, Running};
use crate::retry::Verdict;
use acks::AckError;
use acks::Acks;
use report::Report;
pub use session::{Consuming, Session};
use settle::Settler;

/// Why consuming on one connection stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("the broker ended the consumer (queue deleted, or connection lost)")]
    ConsumerEnded,
    #[error("the broker connection was lost")]
    ConnectionLost,
    #[error("a message could not be settled; stopped so unacked messages return to the queue")]
    SettleFailed,
    #[error("settled messages could not be acked ({0}); they return to the queue")]
    Acks(#[from] AckError),
}

/// Consumes the main queue, one connection at a time, until shutdown.
pub struct Consumer {
    broker: BrokerConfig,
    pipeline: Arc<Running>,
    consuming: Arc<Consuming>,
    endpoints: Endpoints,
    metrics: Arc<Metrics>,
    journal: Journal,
    /// Every message task of every connection: shutdown waits on those still running,
    /// including requests that outlived a lost connection.
    tasks: TaskTracker,
}

impl Consumer {
    /// Consumes `broker.queue`, each message through the pipeline in use when it arrives;
    /// `consuming` tells the readiness probe which node, while connected.
    pub fn new(
        broker: BrokerConfig,
        pipeline: Arc<Running>,
        consuming: Arc<Consuming>,
        metrics: Arc<Metrics>,
        journal: Journal,
    ) -> Self {
        Self {
            endpoints: Endpoints::new(broker.urls.clone()),
            broker,
            pipeline,
            consuming,
            metrics,
            journal,
            tasks: TaskTracker::new(),
        }
    }

    /// Connects, declares the topology and starts consuming: a [`Session`] to run. A node
    /// that fails any of it (booting, partitioned) sends the next attempt to the next node.
    pub async fn connect(&self) -> Result<Session<'_>, BrokerError> {
        let opened = self.open().await;
        if opened.is_err() {
            self.endpoints.next();
        }
        opened
    }

    async fn open(&self) -> Result<Session<'_>, BrokerError> {
        let broker = &self.broker;
        // Named per queue and process so operators (and tests) can find this connection.
        let name = format!("notify-bridge {} pid {}", broker.queue, std::process::id());
        let Connected { connection, node } = self.endpoints.connect(&name).await?;
        let publish = broker::confirm_channel(&connection).await?;
        let retry_steps = self.pipeline.current().retry_steps();
        broker::declare_topology(&connection, broker, &retry_steps).await?;
        let (consume, deliveries) = consume_on(&connection, broker).await?;
        let release = broker::confirm_channel(&connection).await?;
        info!(queue = %broker.queue, prefetch = broker.prefetch, node = %node, "consuming");
        let settler = Arc::new(Settler::new(publish, broker));
        Ok(Session::new(
            self, connection, node, consume, deliveries, settler, release,
        ))
    }

    /// Spawns the handling of one delivery of the connection `held` belongs to.
    fn spawn(&self, delivery: Delivery, held: Held) {
        // Each message keeps the configuration it started with, across a reload.
        let pipeline = self.pipeline.current();
        let report = Report {
            metrics: Arc::clone(&self.metrics),
            journal: self.journal.clone(),
        };
        self.tasks.spawn(async move {
            let settling = settle_one(&pipeline, &held, &report, delivery);
            // A panic past the pipeline's own guard would leave a tag never settled:
            // reconnect, so the message returns and the ack front starts afresh.
            let error = match std::panic::AssertUnwindSafe(settling).catch_unwind().await {
                Ok(Ok(())) => return,
                // Expected once the connection is gone: the message returns by itself.
                Ok(Err(_)) if held.lost.is_cancelled() => return,
                Ok(Err(e)) => e.to_string(),
                Err(panic) => format!("panicked: {}", panic_text(panic.as_ref())),
            };
            error!(error = %error, "cannot settle a message; reconnecting so it returns to the queue");
            held.failed.cancel();
        });
    }
}

/// A channel of `connection` consuming the main queue, with the prefetch window.
async fn consume_on(
    connection: &lapin::Connection,
    broker: &BrokerConfig,
) -> Result<(lapin::Channel, lapin::Consumer), BrokerError> {
    let channel = connection
        .create_channel()
        .await
        .map_err(BrokerError::Channel)?;
    channel
        .basic_qos(broker.prefetch, BasicQosOptions::default())
        .await
        .map_err(BrokerError::Channel)?;
    let deliveries = channel
        .basic_consume(
            broker.queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|source| BrokerError::Queue {
            queue: broker.queue.clone(),
            source,
        })?;
    Ok((channel, deliveries))
}

/// What a message task holds of its connection: where to settle and ack, the token that
/// makes the connection reconnect when a message cannot be settled, and the one that
/// fires when the connection is gone.
#[derive(Clone)]
struct Held {
    settler: Arc<Settler>,
    acks: Acks,
    failed: CancellationToken,
    lost: CancellationToken,
}

/// Handles one delivery and, once its outcome is durable, hands it over to be acked. Once
/// its connection is lost nothing is settled: the message returns to the queue by itself.
async fn settle_one(
    pipeline: &Pipeline,
    held: &Held,
    report: &Report,
    mut delivery: Delivery,
) -> Result<(), ConsumeError> {
    let lost = &held.lost;
    let props = &delivery.properties;
    let id = MessageId::from_delivery(
        props.message_id().as_ref().map(|s| s.as_str()),
        &delivery.data,
    );
    let content_type = props.content_type().as_ref().map(|s| s.as_str().to_owned());
    let content_encoding = props
        .content_encoding()
        .as_ref()
        .map(|s| s.as_str().to_owned());
    let attempt = attempt_of(&delivery);
    let handled = if let Err(bad) = headers::check(&delivery.properties) {
        warn!(id = %id, reason = bad.code(), error = %bad, "bad input; parking");
        // Not cloned, not dropped here: a deep table would overflow this thread's stack.
        headers::discard(std::mem::take(&mut delivery.properties));
        Handled::bad(bad)
    } else {
        // A panic here would leave the message unacked until the connection dropped, then
        // redelivered to panic again: park it instead, so one message cannot stall the queue.
        let declared = Declared {
            content_type: content_type.as_deref(),
            content_encoding: content_encoding.as_deref(),
        };
        let handling = pipeline.handle(&id, &delivery.data, declared, attempt, lost);
        match std::panic::AssertUnwindSafe(handling).catch_unwind().await {
            Ok(Some(handled)) => handled,
            Ok(None) => return Ok(()),
            Err(panic) => {
                let what = panic_text(panic.as_ref());
                error!(id = %id, panic = %what, "handling a message panicked; parking it");
                Handled::bad(BadInput::Internal("a panic".into()))
            }
        }
    };
    if !matches!(handled.verdict, Verdict::Ack) {
        held.acks.settling(delivery.delivery_tag);
    }
    let settled = match lost.is_cancelled() {
        true => Err(ConsumeError::ConnectionLost),
        false => settle(&held.settler, &delivery, &id, &handled, attempt)
            .await
            .map_err(ConsumeError::from),
    };
    match settled {
        Ok(()) => {
            held.acks.settled(delivery.delivery_tag);
            report.handled(&id, attempt, &handled, delivery);
            Ok(())
        }
        // Lost before, or while, settling: the attempt is journaled, the message returns.
        Err(_) if lost.is_cancelled() => {
            report.unsettled(&id, attempt, &handled);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Carries out the verdict: re-publishes (confirmed) where it says; nothing for an ack.
async fn settle(
    settler: &Settler,
    delivery: &Delivery,
    id: &MessageId,
    handled: &Handled,
    attempt: Attempt,
) -> Result<(), BrokerError> {
    match handled.verdict {
        Verdict::Ack => Ok(()),
        Verdict::RetryIn { step, wait } => {
            settler
                .retry(delivery, id, handled, attempt, step, wait)
                .await
        }
        Verdict::Defer { step, wait } => {
            settler
                .defer(delivery, id, handled, attempt, (step, wait))
                .await
        }
        Verdict::Park => settler.park(delivery, id, handled, attempt).await,
    }
}

/// The message a panic was raised with, when it has one.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

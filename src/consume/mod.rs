//! The consumer: take deliveries, run each through the pipeline, settle it durably.
//!
//! Settling follows one rule: a message is acked only once its outcome is durable —
//! delivered, or confirmed by the broker into a retry queue or the parking lot. Anything
//! else stays unacked and returns to the queue when the channel closes.

pub mod acks;
pub mod broker;
pub mod endpoints;
pub mod headers;
pub mod parking_lot;
pub mod settle;

use std::sync::Arc;

use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::journal::{Entry, Journal, Original};
use crate::live::Live;
use crate::message::{Attempt, MessageId};
use crate::metrics::Metrics;
use crate::parse::BadInput;
use crate::pipeline::{Handled, Pipeline, Verdict};
use acks::Acks;
pub use broker::BrokerError;
use endpoints::{Connected, Endpoints};
use settle::{attempt_of, Settler};

/// Consumes the main queue until `shutdown` fires or the broker goes away.
pub struct Consumer {
    live: Arc<Live>,
    endpoints: Endpoints,
    metrics: Arc<Metrics>,
    journal: Journal,
}

impl Consumer {
    pub fn new(live: Arc<Live>, metrics: Arc<Metrics>, journal: Journal) -> Self {
        let urls = live.current().settings.broker.urls.clone();
        Self {
            endpoints: Endpoints::new(urls),
            live,
            metrics,
            journal,
        }
    }

    /// Runs one connection until `shutdown` is cancelled (`Ok`) or the broker fails (`Err`).
    ///
    /// On either: stop taking deliveries, give in-flight ones `shutdown_grace` to finish,
    /// then close the channel so the broker requeues whatever is still unacked.
    pub async fn run(&self, shutdown: &CancellationToken) -> Result<(), BrokerError> {
        let result = self.run_once(shutdown).await;
        if result.is_err() {
            // The node may be the trouble (booting, partitioned): start on the next one.
            self.endpoints.next();
        }
        result
    }

    async fn run_once(&self, shutdown: &CancellationToken) -> Result<(), BrokerError> {
        let settings = Arc::clone(&self.live.current().settings);
        let broker = &settings.broker;
        // Named per queue and process so operators (and tests) can find this connection.
        let name = format!("notify-bridge {} pid {}", broker.queue, std::process::id());
        let Connected { connection, node } = self.endpoints.connect(&name).await?;
        let consume = connection
            .create_channel()
            .await
            .map_err(BrokerError::Channel)?;
        let publish = broker::confirm_channel(&connection).await?;
        broker::declare_topology(&consume, broker, &settings.retry_steps()).await?;
        consume
            .basic_qos(broker.prefetch, BasicQosOptions::default())
            .await
            .map_err(BrokerError::Channel)?;
        let mut deliveries = consume
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
        info!(queue = %broker.queue, prefetch = broker.prefetch, node = %node, "consuming");
        self.live.set_consuming(Some(&node));
        self.metrics.set_broker_connected(&node, true);

        let settler = Arc::new(Settler::new(publish, broker));
        // A settle that cannot be confirmed leaves its message unacked: stop, let it return.
        let failed = CancellationToken::new();
        let (acks, ack_task) = Acks::start(consume.clone(), failed.clone());
        let tracker = TaskTracker::new();
        let result = loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                _ = failed.cancelled() => break Err(BrokerError::SettleFailed),
                next = deliveries.next() => next,
            };
            let delivery = match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(e)) => break Err(BrokerError::Channel(e)),
                None => break Err(BrokerError::ConsumerEnded),
            };
            // Each message keeps the configuration it started with, across a reload.
            let pipeline = Arc::clone(&self.live.current().pipeline);
            let settler = Arc::clone(&settler);
            let acks = acks.clone();
            let report = Report {
                metrics: Arc::clone(&self.metrics),
                journal: self.journal.clone(),
            };
            let failed = failed.clone();
            tracker.spawn(async move {
                let settling = settle_one(&pipeline, &settler, &acks, &report, delivery);
                // A panic past the pipeline's own guard would leave a tag never settled:
                // reconnect, so the message returns and the ack front starts afresh.
                let error = match std::panic::AssertUnwindSafe(settling).catch_unwind().await {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => e.to_string(),
                    Err(panic) => format!("panicked: {}", panic_text(panic.as_ref())),
                };
                error!(error = %error, "cannot settle a message; reconnecting so it returns to the queue");
                failed.cancel();
            });
        };
        self.live.set_consuming(None);
        self.metrics.set_broker_connected(&node, false);
        let _ = consume
            .basic_cancel(deliveries.tag(), BasicCancelOptions::default())
            .await;
        tracker.close();
        if tokio::time::timeout(broker.shutdown_grace, tracker.wait())
            .await
            .is_err()
        {
            warn!(grace = ?broker.shutdown_grace, "grace period over; unfinished messages return to the queue");
        }
        // The acks owed leave before the channel closes. A message still running past the
        // grace, or whose ack could not be sent, returns to the queue with the channel.
        drop(acks);
        let acked = ack_task.finish().await.map_err(BrokerError::from);
        if let Err(e) = &acked {
            warn!(error = %e, "could not ack every settled message");
        }
        let _ = consume.close(200, "shutting down".into()).await;
        let _ = connection.close(200, "shutting down".into()).await;
        result.and(acked)
    }
}

/// Handles one delivery and, once its outcome is durable, hands it over to be acked.
async fn settle_one(
    pipeline: &Pipeline,
    settler: &Settler,
    acks: &Acks,
    report: &Report,
    mut delivery: Delivery,
) -> Result<(), BrokerError> {
    let props = &delivery.properties;
    let id = MessageId::from_delivery(
        props.message_id().as_ref().map(|s| s.as_str()),
        &delivery.data,
    );
    let content_type = props.content_type().as_ref().map(|s| s.as_str().to_owned());
    let attempt = attempt_of(&delivery);
    let handled = if let Err(bad) = headers::check(&delivery.properties) {
        warn!(id = %id, reason = bad.code(), error = %bad, "bad input; parking");
        // Not cloned, not dropped here: a deep table would overflow this thread's stack.
        headers::discard(std::mem::take(&mut delivery.properties));
        Handled::bad(bad)
    } else {
        // A panic here would leave the message unacked until the connection dropped, then
        // redelivered to panic again: park it instead, so one message cannot stall the queue.
        let handling = pipeline.handle(&id, &delivery.data, content_type.as_deref(), attempt);
        match std::panic::AssertUnwindSafe(handling).catch_unwind().await {
            Ok(handled) => handled,
            Err(panic) => {
                let what = panic_text(panic.as_ref());
                error!(id = %id, panic = %what, "handling a message panicked; parking it");
                Handled::bad(BadInput::Internal("a panic".into()))
            }
        }
    };
    match handled.verdict {
        Verdict::Ack => {}
        Verdict::RetryIn { step, wait } => {
            settler
                .retry(&delivery, &id, &handled, attempt, step, wait)
                .await?
        }
        Verdict::Defer { step, wait } => {
            settler.defer(&delivery, &id, attempt, (step, wait)).await?
        }
        Verdict::Park => settler.park(&delivery, &id, &handled, attempt).await?,
    }
    acks.settled(delivery.delivery_tag);
    report.handled(&id, attempt, &handled, delivery);
    Ok(())
}

/// Where the outcome of a settled message is reported: metrics and the journal.
struct Report {
    metrics: Arc<Metrics>,
    journal: Journal,
}

impl Report {
    /// Takes the delivery: on a first attempt its body moves into the journal, uncopied.
    fn handled(&self, id: &MessageId, attempt: Attempt, handled: &Handled, mut delivery: Delivery) {
        self.metrics.observe(handled);
        // The original body once, on the first attempt: enough to replay it later.
        let original = (attempt.number == 1).then(|| Original {
            body: std::mem::take(&mut delivery.data),
            content_type: delivery
                .properties
                .content_type()
                .as_ref()
                .map(|s| s.as_str().to_owned()),
        });
        if let Some(entry) = Entry::of(id.as_str(), attempt.number, handled, original) {
            self.journal.record(entry);
        }
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

//! One broker connection's consume loop, and how it ends.
//!
//! Two endings. A lost connection (or consume channel) ends it at once: its unacked
//! deliveries are already on their way back to the queue, so no new attempt starts for
//! them, requests already on the wire finish in the background (their outcome cannot be
//! acked: they are journaled as unsettled), and the caller reconnects without waiting for
//! them. A shutdown, or a message that could not be settled on a live connection, drains
//! instead: in-flight messages get `shutdown_grace` to settle and be acked, then the
//! channel closes and the broker requeues the rest.
//!
//! A message held at the front of the consume channel's window (a hanging brand's, for its
//! whole timeout) makes every ack behind it a lone one, which RabbitMQ pays for with a walk
//! of the channel's unacked list: the slowest brand would set the pace of all the others.
//! So once the front has been held for a while with acks going out alone behind it, the
//! session consumes on a fresh channel and retires the old one: it takes no new
//! deliveries, its messages settle and are acked on it as before, then it closes. One
//! channel is retiring at a time, so the connection holds at most the prefetch window
//! plus what the retiring channel still has out.

use std::sync::Mutex;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use lapin::options::BasicCancelOptions;
use lapin::{Channel, Connection};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::acks::{AckTask, Acks};
use super::settle::Settler;
use super::{consume_on, ConsumeError, Consumer, Held};
use crate::broker::{release, BrokerError};

/// The broker node (`host:port`) consumed from, while consuming: for `/readyz`.
#[derive(Debug, Default)]
pub struct Consuming(Mutex<Option<String>>);

impl Consuming {
    /// The node consumed from, or `None` while not consuming.
    pub fn node(&self) -> Option<String> {
        self.0.lock().map(|n| n.clone()).unwrap_or(None)
    }

    /// Records the node now consumed from, or `None` once consuming stopped.
    pub fn set(&self, node: Option<&str>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = node.map(str::to_owned);
        }
    }
}

/// A connected consumer: deliveries flow until [`Session::run`] ends.
pub struct Session<'c> {
    consumer: &'c Consumer,
    connection: Connection,
    /// The broker node (`host:port`) this connection is to.
    node: String,
    channel: Channel,
    deliveries: lapin::Consumer,
    held: Held,
    ack_task: AckTask,
    /// Brings this connection's held retries back when due; ends only on failure.
    releasing: JoinHandle<Result<(), BrokerError>>,
    /// Stops the release: its held messages return to their queues with the connection.
    release_stop: CancellationToken,
    /// The consume channel replaced last, until its messages are acked and it is closed.
    retiring: Option<Retiring>,
    grace: Duration,
}

/// A replaced consume channel on its way out.
struct Retiring {
    /// Sends its acks once its messages are all settled, then closes it.
    task: JoinHandle<()>,
    /// Makes it send the acks owed at once and close, for a shutdown.
    stop: CancellationToken,
}

/// Why the loop stopped taking deliveries.
enum End {
    /// The connection or consume channel is gone.
    Lost(ConsumeError),
    /// Shutdown (`Ok`) or a failure on a live connection: drain, then close.
    Drain(Result<(), ConsumeError>),
}

impl<'c> Session<'c> {
    pub(super) fn new(
        consumer: &'c Consumer,
        connection: Connection,
        node: String,
        channel: Channel,
        deliveries: lapin::Consumer,
        settler: std::sync::Arc<Settler>,
        release: Channel,
    ) -> Self {
        // A settle that cannot be confirmed leaves its message unacked: stop, let it return.
        let failed = CancellationToken::new();
        let (acks, ack_task) = Acks::start(channel.clone(), failed.clone());
        let grace = consumer.broker.shutdown_grace;
        let release_stop = CancellationToken::new();
        // The schedule in use, read again as reloads change it.
        let pipeline = std::sync::Arc::clone(&consumer.pipeline);
        let steps = move || pipeline.current().retry_steps();
        let releasing = tokio::spawn(release::run(
            release,
            consumer.broker.queue.clone(),
            steps,
            release_stop.clone(),
        ));
        Self {
            consumer,
            connection,
            node,
            channel,
            deliveries,
            held: Held {
                settler,
                acks,
                failed,
                lost: CancellationToken::new(),
            },
            ack_task,
            releasing,
            release_stop,
            retiring: None,
            grace,
        }
    }

    /// Takes deliveries until `shutdown` is cancelled (`Ok`) or the broker fails (`Err`).
    pub async fn run(mut self, shutdown: &CancellationToken) -> Result<(), ConsumeError> {
        let (consuming, metrics) = (&self.consumer.consuming, &self.consumer.metrics);
        consuming.set(Some(&self.node));
        metrics.set_broker_connected(&self.node, true);
        let end = self.take(shutdown).await;
        self.release_stop.cancel();
        consuming.set(None);
        metrics.set_broker_connected(&self.node, false);
        let endpoints = &self.consumer.endpoints;
        let result = match end {
            End::Lost(e) => {
                self.abandon();
                Err(e)
            }
            End::Drain(result) => self.drain(result).await,
        };
        if result.is_err() {
            // Reconnect to the next node: this one may be the trouble.
            endpoints.next();
        }
        result
    }

    async fn take(&mut self, shutdown: &CancellationToken) -> End {
        loop {
            let stuck = self.ack_task.stuck();
            let replaceable = self.retiring.as_ref().is_none_or(|r| r.task.is_finished());
            let next = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return End::Drain(Ok(())),
                _ = self.held.failed.cancelled() => return self.failed(ConsumeError::SettleFailed),
                released = &mut self.releasing => return self.failed(release_failure(released)),
                _ = stuck.notified(), if replaceable => match self.replace_channel().await {
                    Ok(()) => continue,
                    Err(e) => return self.failed(e.into()),
                },
                next = self.deliveries.next() => next,
            };
            match next {
                // Deliveries already buffered keep coming after the connection died; none
                // of them can be acked any more, so none may be sent.
                Some(Ok(_)) if !self.channel.status().connected() => {
                    return End::Lost(ConsumeError::ConsumerEnded)
                }
                Some(Ok(delivery)) => self.consumer.spawn(delivery, self.held.clone()),
                Some(Err(e)) => return End::Lost(BrokerError::Channel(e).into()),
                None => return End::Lost(ConsumeError::ConsumerEnded),
            }
        }
    }

    /// Consumes on a fresh channel and retires the current one, whose front is held.
    async fn replace_channel(&mut self) -> Result<(), BrokerError> {
        let (channel, deliveries) = consume_on(&self.connection, &self.consumer.broker).await?;
        let (acks, ack_task) = Acks::start(channel.clone(), self.held.failed.clone());
        let old = self.held.clone();
        self.held.acks = acks;
        let old_channel = std::mem::replace(&mut self.channel, channel);
        let mut old_deliveries = std::mem::replace(&mut self.deliveries, deliveries);
        let old_acks = std::mem::replace(&mut self.ack_task, ack_task);
        old_channel
            .basic_cancel(old_deliveries.tag(), BasicCancelOptions::default())
            .await
            .map_err(BrokerError::Channel)?;
        // Deliveries sent before the cancel was confirmed are already buffered: hand them
        // out, or they would stay unacked until the channel closed.
        while let Some(Some(Ok(delivery))) = old_deliveries.next().now_or_never() {
            self.consumer.spawn(delivery, old.clone());
        }
        self.consumer.metrics.consume_channel_replaced();
        debug!("a message held the consume channel's front; consuming on a fresh channel");
        let stop = old_acks.stopper();
        let task = tokio::spawn(async move {
            // Its acks finish once the last of its messages is settled and lets go.
            drop(old);
            if let Err(e) = old_acks.done().await {
                warn!(error = %e, "a retired consume channel could not ack every message");
            }
            let _ = old_channel.close(200, "replaced".into()).await;
        });
        self.retiring = Some(Retiring { task, stop });
        Ok(())
    }

    /// A message could not be settled, or held retries cannot be brought back. When that
    /// is because the channel is gone, the connection is lost, not worth draining.
    fn failed(&self, error: ConsumeError) -> End {
        match self.channel.status().connected() && self.connection.status().connected() {
            true => End::Drain(Err(error)),
            false => End::Lost(error),
        }
    }

    /// Gives up the connection at once: messages not yet sent are dropped (the broker
    /// redelivers them), requests on the wire finish in the background, unacked.
    fn abandon(self) {
        // Messages not yet sent are abandoned.
        self.held.lost.cancel();
        self.ack_task.abandon();
        // Should the channel linger half-open (the consumer cancelled, the connection up),
        // closing it is what returns its unacked messages; nobody waits for that.
        let (connection, grace) = (self.connection, self.grace);
        tokio::spawn(async move {
            let closing = connection.close(200, "connection lost".into());
            let _ = tokio::time::timeout(grace, closing).await;
        });
    }

    /// Stops taking deliveries, gives in-flight ones `shutdown_grace` to settle, sends
    /// the acks owed, then closes so the broker requeues whatever is still unacked.
    async fn drain(self, result: Result<(), ConsumeError>) -> Result<(), ConsumeError> {
        let _ = self
            .channel
            .basic_cancel(self.deliveries.tag(), BasicCancelOptions::default())
            .await;
        let tasks = &self.consumer.tasks;
        tasks.close();
        if tokio::time::timeout(self.grace, tasks.wait())
            .await
            .is_err()
        {
            warn!(grace = ?self.grace, "grace period over; unfinished messages return to the queue");
        }
        // A message still running past the grace, or whose ack could not be sent, returns
        // to the queue with the channel.
        drop(self.held);
        let acked = self.ack_task.finish().await.map_err(ConsumeError::from);
        if let Some(retiring) = self.retiring {
            // Its messages are settled or past the grace: its acks go out before the close.
            retiring.stop.cancel();
            let _ = tokio::time::timeout(self.grace, retiring.task).await;
        }
        if let Err(e) = &acked {
            warn!(error = %e, "could not ack every settled message");
        }
        let _ = self.channel.close(200, "shutting down".into()).await;
        let _ = self.connection.close(200, "shutting down".into()).await;
        result.and(acked)
    }
}

/// Why the release of held retries ended on its own: it runs until stopped.
fn release_failure(ended: Result<Result<(), BrokerError>, tokio::task::JoinError>) -> ConsumeError {
    match ended {
        Ok(Err(e)) => e.into(),
        Ok(Ok(())) | Err(_) => BrokerError::Released.into(),
    }
}

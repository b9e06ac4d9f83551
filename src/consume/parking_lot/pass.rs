//! One bounded pass over the parking lot: at most the messages it held when the pass began.
//!
//! A classic queue cannot be browsed, only taken from. A pass takes with `basic_get` and
//! holds what it leaves alone unacked, so nothing is fetched twice and the queue's order
//! survives; [`Pass::finish`] hands the held messages back (nack with requeue returns each to
//! its old place). Should the pass fail or the process die, the broker requeues every
//! unacked message when the channel closes: a pass never loses one.

use lapin::message::BasicGetMessage;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};

use crate::consume::broker::{self, BrokerError};
use crate::settings::BrokerSettings;

/// A confirm channel on the parking lot, and what the pass still may take.
pub(super) struct Pass {
    connection: Connection,
    pub channel: Channel,
    pub dead: String,
    /// Messages ready in the lot when the pass began, less those taken since.
    remaining: u32,
    held: Vec<BasicGetMessage>,
}

impl Pass {
    /// Connects (named `notify-bridge <purpose>` for the management UI) and counts the lot.
    pub async fn open(broker: &BrokerSettings, purpose: &str) -> Result<Self, BrokerError> {
        let name = format!("notify-bridge {purpose} {}", broker.queue);
        let connection = broker::connect(&broker.url, &name).await?;
        let channel = broker::confirm_channel(&connection).await?;
        let dead = broker.dead_queue();
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let remaining = channel
            .queue_declare(dead.as_str().into(), passive, FieldTable::default())
            .await
            .map_err(|source| BrokerError::Queue {
                queue: dead.clone(),
                source,
            })?
            .message_count();
        Ok(Self {
            connection,
            channel,
            dead,
            remaining,
            held: Vec::new(),
        })
    }

    /// The next message, or `None` once the lot is empty or the count taken at the start
    /// is used up (what arrives later, re-parked replays included, waits for another pass).
    pub async fn next(&mut self) -> Result<Option<BasicGetMessage>, BrokerError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let got = self
            .channel
            .basic_get(self.dead.as_str().into(), BasicGetOptions::default())
            .await
            .map_err(|source| BrokerError::Queue {
                queue: self.dead.clone(),
                source,
            })?;
        self.remaining -= u32::from(got.is_some());
        Ok(got)
    }

    /// Keeps `message` in the lot: it is handed back by [`Pass::finish`].
    pub fn hold(&mut self, message: BasicGetMessage) {
        self.held.push(message);
    }

    /// Removes `message` from the lot for good.
    pub async fn remove(&self, message: &BasicGetMessage) -> Result<(), BrokerError> {
        message
            .delivery
            .ack(BasicAckOptions::default())
            .await
            .map(drop)
            .map_err(BrokerError::Channel)
    }

    /// Moves `message` to the lot's tail: confirmed copy first, then the ack.
    pub async fn to_tail(&self, message: &BasicGetMessage) -> Result<(), BrokerError> {
        let delivery = &message.delivery;
        let properties = delivery.properties.clone();
        broker::publish_confirmed(&self.channel, &self.dead, &delivery.data, properties).await?;
        self.remove(message).await
    }

    /// Hands every held message back to its place in the lot and closes the connection.
    pub async fn finish(self) -> Result<(), BrokerError> {
        for message in self.held {
            message
                .delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await
                .map_err(BrokerError::Channel)?;
        }
        let _ = self.connection.close(200, "done".into()).await;
        Ok(())
    }
}

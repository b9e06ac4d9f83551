//! One bounded pass over the parking lot: at most the messages it held when the pass began.
//!
//! A classic queue cannot be browsed, only taken from. A pass takes with `basic_get` and
//! holds what it leaves alone unacked, so nothing is fetched twice and the queue's order
//! survives; [`Pass::finish`] hands the held messages back (nack with requeue returns each to
//! its old place). Should the pass fail or the process die, the broker requeues every
//! unacked message when the channel closes: a pass never loses one.
//!
//! The count taken at the start bounds the pass, so what is parked meanwhile (a replay's
//! messages parked again at once) waits for the next one. Past that count the pass goes on
//! only while messages were parked before it began: an earlier command's hand-back may still
//! be reaching the broker (see below), and those messages are part of the lot as it was.
//! Messages without a parked-at time count as old.
//!
//! Only delivery tags are held, not bodies, and one `multiple` nack hands everything back:
//! one nack per message kept the broker requeueing thousands for seconds after the command
//! ended (5,000 listed: 2,150 still unacked once the process had exited), so the next
//! command counted a short lot.

use lapin::message::BasicGetMessage;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};

use super::describe;
use crate::broker::BrokerConfig;
use crate::broker::{self, endpoints, BrokerError};
use crate::clock::now_ms;

/// A confirm channel on the parking lot, and what the pass still may take.
pub(super) struct Pass {
    connection: Connection,
    pub channel: Channel,
    pub dead: String,
    /// Messages ready in the lot when the pass began, less those taken since.
    remaining: u32,
    /// The last delivery tag held: every unacked message up to it is one the pass keeps.
    held: Option<u64>,
    /// Epoch ms when the pass began.
    started_ms: u64,
    /// A message parked since the pass began was met: the lot as it was is done.
    done: bool,
}

impl Pass {
    /// Connects (named `notify-bridge <purpose>` for the management UI) and counts the lot.
    pub async fn open(broker: &BrokerConfig, purpose: &str) -> Result<Self, BrokerError> {
        let name = format!("notify-bridge {purpose} {}", broker.queue);
        let connection = endpoints::connect_any(&broker.urls, &name).await?;
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
            held: None,
            started_ms: now_ms(),
            done: false,
        })
    }

    /// The next message, or `None` once the lot as it was when the pass began is done.
    pub async fn next(&mut self) -> Result<Option<BasicGetMessage>, BrokerError> {
        if self.done {
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
        let Some(message) = got else {
            return Ok(None);
        };
        if self.remaining > 0 {
            self.remaining -= 1;
        } else if describe(&message)
            .parked_at_ms
            .is_some_and(|at| at >= self.started_ms)
        {
            self.hold(message.delivery.delivery_tag);
            self.done = true;
            return Ok(None);
        }
        Ok(Some(message))
    }

    /// Keeps the message taken as `tag` in the lot: it is handed back by [`Pass::finish`]. Every message a
    /// pass takes is held, removed or moved, or the hand-back would remove it too.
    pub fn hold(&mut self, tag: u64) {
        self.held = Some(self.held.map_or(tag, |held| held.max(tag)));
    }

    /// Removes the message taken as `tag` from the lot for good.
    pub async fn remove(&self, tag: u64) -> Result<(), BrokerError> {
        self.channel
            .basic_ack(tag, BasicAckOptions::default())
            .await
            .map_err(BrokerError::Channel)
    }

    /// Moves `message` to the lot's tail: confirmed copy first, then the ack.
    pub async fn to_tail(&self, message: &BasicGetMessage) -> Result<(), BrokerError> {
        let delivery = &message.delivery;
        let properties = delivery.properties.clone();
        broker::publish_confirmed(&self.channel, &self.dead, &delivery.data, properties).await?;
        self.remove(delivery.delivery_tag).await
    }

    /// Hands every held message back to its place in the lot and closes the connection,
    /// the channel first: its close-ok means the broker has taken the hand-back.
    pub async fn finish(self) -> Result<(), BrokerError> {
        if let Some(last) = self.held {
            let back = BasicNackOptions {
                multiple: true,
                requeue: true,
            };
            self.channel
                .basic_nack(last, back)
                .await
                .map_err(BrokerError::Channel)?;
        }
        let _ = self.channel.close(200, "done".into()).await;
        let _ = self.connection.close(200, "done".into()).await;
        Ok(())
    }
}

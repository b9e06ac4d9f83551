//! Settling a delivery durably: re-publish to a retry queue or the parking lot, with the
//! broker's confirm, before the original is acked.

use std::time::Duration;

use crate::clock::now_ms;

use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::Channel;

use crate::broker::headers::{
    self, epoch_ms, text, Headers, ATTEMPT, CHANNEL, DEFERRALS, DUE_AT, ERROR, FIRST_ATTEMPT_AT,
    FIRST_STALLED_AT, LAST_ATTEMPT_AT, NOTIFY_TYPE, PARKED_AT, STATUS,
};
use crate::broker::topology::{self, defer_queue, retry_queue};
use crate::broker::{self, BrokerConfig, BrokerError};
use crate::message::{Attempt, MessageId};
use crate::pipeline::Handled;
use crate::retry::{Deferral, Outcome};

/// Re-publishes over a confirm channel.
pub struct Settler {
    channel: Channel,
    queue: String,
    dead: String,
    /// Whether held messages carry an expiration (see `topology::holding_expires`).
    expire: bool,
}

impl Settler {
    /// Retry and defer queues and the parking lot are named after `broker.queue`.
    pub fn new(channel: Channel, broker: &BrokerConfig) -> Self {
        Self {
            channel,
            dead: broker.dead_queue(),
            queue: broker.queue.clone(),
            expire: topology::holding_expires(broker),
        }
    }

    /// Sends `delivery` to the retry queue of `step`, due back after `wait`.
    pub async fn retry(
        &self,
        delivery: &Delivery,
        id: &MessageId,
        handled: &Handled,
        attempt: Attempt,
        step: Duration,
        wait: Duration,
    ) -> Result<(), BrokerError> {
        let mut headers = self.headers(delivery, handled, attempt);
        headers.insert(ATTEMPT.into(), AMQPValue::LongUInt(attempt.number + 1));
        let queue = retry_queue(&self.queue, step);
        self.send(delivery, id, headers, Some(wait), &queue).await
    }

    /// Sends an unattempted `delivery` to the defer queue of `step` for `wait`; its attempt
    /// is unchanged. A stall's first deferral starts the clock that caps them; a pause
    /// stops it, so time an operator held the channel never counts against the brand.
    pub async fn defer(
        &self,
        delivery: &Delivery,
        id: &MessageId,
        handled: &Handled,
        attempt: Attempt,
        (step, wait): (Duration, Duration),
    ) -> Result<(), BrokerError> {
        let mut headers = headers::original(delivery);
        headers.insert(DEFERRALS.into(), AMQPValue::LongUInt(attempt.deferrals + 1));
        match handled.outcome {
            Outcome::Deferred(Deferral::Stalled) if attempt.first_stalled_at_ms.is_none() => {
                headers.insert(FIRST_STALLED_AT.into(), epoch_ms(now_ms()));
            }
            Outcome::Deferred(Deferral::Paused) => {
                headers.remove(FIRST_STALLED_AT);
            }
            _ => {}
        }
        let queue = defer_queue(&self.queue, step);
        self.send(delivery, id, headers, Some(wait), &queue).await
    }

    /// Parks `delivery` in `<queue>.dead` with why, how often and when it was tried.
    pub async fn park(
        &self,
        delivery: &Delivery,
        id: &MessageId,
        handled: &Handled,
        attempt: Attempt,
    ) -> Result<(), BrokerError> {
        let mut headers = self.headers(delivery, handled, attempt);
        headers.insert(ATTEMPT.into(), AMQPValue::LongUInt(attempt.number));
        let now = epoch_ms(now_ms());
        headers.insert(LAST_ATTEMPT_AT.into(), now.clone());
        headers.insert(PARKED_AT.into(), now);
        if let Some(channel) = &handled.channel {
            text(&mut headers, CHANNEL, channel);
        }
        if let Some(kind) = handled.notify_type {
            text(&mut headers, NOTIFY_TYPE, kind.as_str());
        }
        self.send(delivery, id, headers, None, &self.dead).await
    }

    /// Re-publishes the original body with `headers`, confirmed. The id travels with the
    /// message so a retry or replay keeps the identity brands dedupe on; its due time
    /// carries jitter and Retry-After.
    async fn send(
        &self,
        delivery: &Delivery,
        id: &MessageId,
        mut headers: Headers,
        expiration: Option<Duration>,
        queue: &str,
    ) -> Result<(), BrokerError> {
        let mut properties = delivery.properties.clone();
        match expiration {
            Some(wait) => {
                // The bridge brings it back at its due time (see `broker::release`); on
                // classic queues the expiration is the broker's way back should no bridge
                // be running then.
                let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                headers.insert(DUE_AT.into(), epoch_ms(now_ms().saturating_add(wait_ms)));
                if self.expire {
                    properties = properties.with_expiration(wait_ms.to_string().into());
                }
            }
            // Parked: no due time (one that came back by the broker's dead-lettering
            // still carries its spent one).
            None => {
                headers.remove(DUE_AT);
            }
        }
        let properties = properties
            .with_message_id(ShortString::from(id.as_str()))
            .with_headers(FieldTable::from(headers));
        broker::publish_confirmed(&self.channel, queue, &delivery.data, properties).await
    }

    /// The original headers plus the last error and status, and when the first attempt was.
    fn headers(&self, delivery: &Delivery, handled: &Handled, attempt: Attempt) -> Headers {
        let mut headers = headers::original(delivery);
        if let Some(error) = handled.error() {
            text(&mut headers, ERROR, &error);
        }
        match handled.status() {
            Some(status) => headers.insert(STATUS.into(), AMQPValue::LongInt(i32::from(status))),
            // A stale status from an earlier attempt would mislead: this one had none.
            None => headers.remove(STATUS),
        };
        let first = attempt.first_at_ms.unwrap_or_else(now_ms);
        headers.insert(FIRST_ATTEMPT_AT.into(), epoch_ms(first));
        headers
    }
}

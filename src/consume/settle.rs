//! Settling a delivery durably: re-publish to a retry queue or the parking lot, with the
//! broker's confirm, before the original is acked.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::clock::now_ms;

use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::Channel;

use super::broker::{self, BrokerError};
use crate::broker::BrokerConfig;
use crate::message::{Attempt, MessageId};
use crate::pipeline::Handled;
use crate::retry::step_name;

/// Header: the attempt a queued message will be delivered as; on a parked one, attempts made.
pub const ATTEMPT: &str = "x-notify-attempt";
/// Header: epoch ms of the first attempt.
pub const FIRST_ATTEMPT_AT: &str = "x-notify-first-attempt-at";
/// Header: times the message was deferred unattempted (its channel was stalled).
pub const DEFERRALS: &str = "x-notify-deferrals";
const ERROR: &str = "x-notify-error";
const STATUS: &str = "x-notify-status";

type Headers = BTreeMap<ShortString, AMQPValue>;

/// Re-publishes over a confirm channel.
pub struct Settler {
    channel: Channel,
    queue: String,
    dead: String,
}

impl Settler {
    /// Retry and defer queues and the parking lot are named after `broker.queue`.
    pub fn new(channel: Channel, broker: &BrokerConfig) -> Self {
        Self {
            channel,
            dead: broker.dead_queue(),
            queue: broker.queue.clone(),
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
    /// is unchanged.
    pub async fn defer(
        &self,
        delivery: &Delivery,
        id: &MessageId,
        attempt: Attempt,
        (step, wait): (Duration, Duration),
    ) -> Result<(), BrokerError> {
        let mut headers = original_headers(delivery);
        headers.insert(DEFERRALS.into(), AMQPValue::LongUInt(attempt.deferrals + 1));
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
        headers.insert("x-notify-last-attempt-at".into(), now.clone());
        headers.insert("x-notify-parked-at".into(), now);
        if let Some(channel) = &handled.channel {
            text(&mut headers, "x-notify-channel", channel);
        }
        if let Some(kind) = handled.notify_type {
            text(&mut headers, "x-notify-type", kind.as_str());
        }
        self.send(delivery, id, headers, None, &self.dead).await
    }

    /// Re-publishes the original body with `headers`, confirmed. The id travels with the
    /// message so a retry or replay keeps the identity brands dedupe on; a per-message
    /// expiration carries jitter and Retry-After (the holding queue's TTL caps it).
    async fn send(
        &self,
        delivery: &Delivery,
        id: &MessageId,
        headers: Headers,
        expiration: Option<Duration>,
        queue: &str,
    ) -> Result<(), BrokerError> {
        let mut properties = delivery
            .properties
            .clone()
            .with_message_id(ShortString::from(id.as_str()))
            .with_headers(FieldTable::from(headers));
        if let Some(wait) = expiration {
            properties = properties.with_expiration(wait.as_millis().to_string().into());
        }
        broker::publish_confirmed(&self.channel, queue, &delivery.data, properties).await
    }

    /// The original headers plus the last error and status, and when the first attempt was.
    fn headers(&self, delivery: &Delivery, handled: &Handled, attempt: Attempt) -> Headers {
        let mut headers = original_headers(delivery);
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

/// The message's own headers. One parked for its headers has none left: they were
/// discarded on arrival (see `headers`).
fn original_headers(delivery: &Delivery) -> Headers {
    delivery
        .properties
        .headers()
        .as_ref()
        .map(|t| t.inner().clone())
        .unwrap_or_default()
}

/// `<queue>.retry.<step>`: holds messages for `step`, then dead-letters them back to `queue`.
pub fn retry_queue(queue: &str, step: Duration) -> String {
    format!("{queue}.retry.{}", step_name(step))
}

/// `<queue>.retry.defer.<step>`: where stalled channels' surplus waits, unattempted.
pub fn defer_queue(queue: &str, step: Duration) -> String {
    format!("{queue}.retry.defer.{}", step_name(step))
}

/// Reads where a delivery is in its schedule from its headers.
pub fn attempt_of(delivery: &Delivery) -> Attempt {
    let Some(headers) = delivery.properties.headers() else {
        return Attempt::FIRST;
    };
    let number = headers
        .inner()
        .get(ATTEMPT)
        .and_then(as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1);
    let first_at_ms = headers.inner().get(FIRST_ATTEMPT_AT).and_then(as_u64);
    let deferrals = headers
        .inner()
        .get(DEFERRALS)
        .and_then(as_u64)
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
    Attempt {
        number,
        first_at_ms,
        deferrals,
    }
}

fn as_u64(value: &AMQPValue) -> Option<u64> {
    match value {
        AMQPValue::LongUInt(n) => Some(u64::from(*n)),
        AMQPValue::LongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongLongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::ShortUInt(n) => Some(u64::from(*n)),
        AMQPValue::ShortInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.parse().ok(),
        _ => None,
    }
}

fn text(headers: &mut Headers, name: &str, value: &str) {
    headers.insert(
        name.into(),
        AMQPValue::LongString(LongString::from(value.as_bytes().to_vec())),
    );
}

/// Epoch milliseconds as an AMQP header value (a signed 64-bit integer).
fn epoch_ms(ms: u64) -> AMQPValue {
    AMQPValue::LongLongInt(i64::try_from(ms).unwrap_or(i64::MAX))
}

//! The `x-notify-*` headers a re-published message carries: where it is in its schedule,
//! why its last attempt failed, and, once parked, where it came from.

use std::collections::BTreeMap;

use lapin::message::Delivery;
use lapin::types::{AMQPValue, LongString, ShortString};
use lapin::BasicProperties;

use crate::message::Attempt;

/// Header: the attempt a queued message will be delivered as; on a parked one, attempts made.
pub const ATTEMPT: &str = "x-notify-attempt";
/// Header: epoch ms of the first attempt.
pub const FIRST_ATTEMPT_AT: &str = "x-notify-first-attempt-at";
/// Header: times the message was deferred unattempted (its channel was stalled).
pub const DEFERRALS: &str = "x-notify-deferrals";
/// Header: epoch ms the message was first deferred because its channel was stalled.
pub const FIRST_STALLED_AT: &str = "x-notify-first-stalled-at";
/// Header: the last attempt's error, `reason-code: detail`.
pub const ERROR: &str = "x-notify-error";
/// Header: the brand's HTTP status on the last attempt, when it answered.
pub const STATUS: &str = "x-notify-status";

/// Header, on a held message: epoch ms it is due back in the main queue.
pub const DUE_AT: &str = "x-notify-due-at";
/// Header, on a parked message: epoch ms of its last attempt.
pub const LAST_ATTEMPT_AT: &str = "x-notify-last-attempt-at";
/// Header, on a parked message: epoch ms it was parked.
pub const PARKED_AT: &str = "x-notify-parked-at";
/// Header, on a parked message: its channel, when known.
pub const CHANNEL: &str = "x-notify-channel";
/// Header, on a parked message: its notify type, when known.
pub const NOTIFY_TYPE: &str = "x-notify-type";
/// Header: the `dead replay` run that re-published the message.
pub const REPLAY_RUN: &str = "x-notify-replay-run";

/// A message's headers, as re-published.
pub type Headers = BTreeMap<ShortString, AMQPValue>;

/// The message's own headers. One parked for its headers has none left: they were
/// discarded on arrival (see `consume::headers`).
pub fn original(delivery: &Delivery) -> Headers {
    delivery
        .properties
        .headers()
        .as_ref()
        .map(|t| t.inner().clone())
        .unwrap_or_default()
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
        first_stalled_at_ms: headers.inner().get(FIRST_STALLED_AT).and_then(as_u64),
    }
}

/// When a held message is due back (epoch ms), if it says.
pub fn due_at(properties: &BasicProperties) -> Option<u64> {
    properties
        .headers()
        .as_ref()?
        .inner()
        .get(DUE_AT)
        .and_then(as_u64)
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

/// Sets header `name` to the text `value`.
pub fn text(headers: &mut Headers, name: &str, value: &str) {
    headers.insert(
        name.into(),
        AMQPValue::LongString(LongString::from(value.as_bytes().to_vec())),
    );
}

/// Epoch milliseconds as an AMQP header value (a signed 64-bit integer).
pub fn epoch_ms(ms: u64) -> AMQPValue {
    AMQPValue::LongLongInt(i64::try_from(ms).unwrap_or(i64::MAX))
}

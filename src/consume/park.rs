//! The parking lot `<queue>.dead`: the original message plus headers saying why it is there.

use std::time::{SystemTime, UNIX_EPOCH};

use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::Channel;

use super::broker::{self, BrokerError};
use crate::message::MessageId;
use crate::pipeline::Handled;

/// Publishes parked messages over a confirm channel.
pub struct Parker {
    channel: Channel,
    queue: String,
}

impl Parker {
    pub fn new(channel: Channel, queue: String) -> Self {
        Self { channel, queue }
    }

    /// Parks `delivery` for `reason`; returns once the broker confirmed.
    pub async fn park(
        &self,
        delivery: &Delivery,
        id: &MessageId,
        handled: &Handled,
        reason: &str,
        status: Option<u16>,
    ) -> Result<(), BrokerError> {
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        text(&mut headers, "x-notify-error", reason);
        if let Some(status) = status {
            headers.insert(
                "x-notify-status".into(),
                AMQPValue::LongInt(i32::from(status)),
            );
        }
        if let Some(channel) = &handled.channel {
            text(&mut headers, "x-notify-channel", channel);
        }
        if let Some(kind) = handled.notify_type {
            text(&mut headers, "x-notify-type", kind.as_str());
        }
        headers.insert("x-notify-attempt".into(), AMQPValue::LongInt(1));
        headers.insert(
            "x-notify-parked-at".into(),
            AMQPValue::LongLongInt(now_ms()),
        );
        // The id travels with the message so a replay keeps the identity brands dedupe on.
        let properties = delivery
            .properties
            .clone()
            .with_message_id(ShortString::from(id.as_str()))
            .with_headers(headers);
        broker::publish_confirmed(&self.channel, &self.queue, &delivery.data, properties).await
    }
}

fn text(headers: &mut FieldTable, name: &str, value: &str) {
    headers.insert(
        name.into(),
        AMQPValue::LongString(LongString::from(value.as_bytes().to_vec())),
    );
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

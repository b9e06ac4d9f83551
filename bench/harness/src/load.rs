//! The load generator: realistic WHALE queue messages, published persistent with
//! confirms, either all at once over several AMQP channels or paced at a fixed rate.
//!
//! Each message's AMQP `message_id` is `<tag>-<index>-<publish epoch µs>`; the bridge
//! sends it as `X-Notify-Id`, so the sink can time the trip without reading bodies.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::time::Instant;

use crate::sink::{now_us, parse_id};

/// Where message `index` goes, or `None` to leave that index out of the load.
pub type Route = dyn Fn(usize) -> Option<Target> + Send + Sync;

/// The channel and URL a message names, and which body format it asks for.
#[derive(Debug, Clone)]
pub struct Target {
    pub channel: String,
    pub url: String,
    /// `messageType = third` (the channel's brand template) instead of `ebuy`.
    pub third: bool,
}

/// The notify types messages cycle through (every channel in the bench knows them).
pub const NOTIFY_TYPES: [&str; 3] = ["MakeCode", "Verify", "CodeDelay"];

/// A connection with `channels` confirm channels to publish over.
pub struct Publisher {
    connection: Connection,
    channels: Vec<Channel>,
}

impl Publisher {
    pub async fn connect(amqp: &str, channels: usize) -> Result<Self, lapin::Error> {
        let props =
            ConnectionProperties::default().with_connection_name("notify-bridge bench".into());
        let connection = Connection::connect(amqp, props).await?;
        let mut open = Vec::new();
        for _ in 0..channels.max(1) {
            let channel = connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            open.push(channel);
        }
        Ok(Self {
            connection,
            channels: open,
        })
    }

    /// Declares `queue` durable, as the bridge does, so it fills before a consumer starts.
    pub async fn declare(&self, queue: &str) -> Result<(), lapin::Error> {
        self.channels[0]
            .queue_declare(
                queue.into(),
                QueueDeclareOptions::durable(),
                FieldTable::default(),
            )
            .await
            .map(|_| ())
    }

    /// `(messages ready, consumers)` of `queue`; `None` when it does not exist.
    pub async fn queue_state(&self, queue: &str) -> Option<(u32, u32)> {
        // A passive declare of a missing queue closes its channel: use a throwaway one.
        let channel = self.connection.create_channel().await.ok()?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let state = channel
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await
            .ok()
            .map(|q| (q.message_count(), q.consumer_count()));
        let _ = channel.close(200, "done".into()).await;
        state
    }

    /// Deletes `queues`, ignoring those that do not exist.
    pub async fn delete(&self, queues: &[String]) {
        for queue in queues {
            let channel = match self.connection.create_channel().await {
                Ok(c) => c,
                Err(_) => return,
            };
            let _ = channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
            let _ = channel.close(200, "done".into()).await;
        }
    }

    /// Publishes messages `0..n` as fast as the broker confirms them, split over the
    /// channels; returns once every one is confirmed.
    pub async fn fill(
        &self,
        queue: &str,
        tag: &str,
        n: usize,
        route: &Route,
    ) -> Result<(), lapin::Error> {
        let k = self.channels.len();
        let parts = self.channels.iter().enumerate().map(|(c, channel)| {
            let indices = (c..n).step_by(k);
            publish_window(channel, queue, tag, indices, route)
        });
        for result in futures_util::future::join_all(parts).await {
            result?;
        }
        Ok(())
    }

    /// Publishes messages `0..n` at `rate` per second on one channel, stamping each at
    /// the moment it is sent; returns once every one is confirmed.
    pub async fn paced(
        &self,
        queue: &str,
        tag: &str,
        n: usize,
        rate: f64,
        route: &Route,
    ) -> Result<(), lapin::Error> {
        let channel = &self.channels[0];
        let period = Duration::from_secs_f64(1.0 / rate.max(1.0));
        let start = Instant::now();
        let mut confirms = Vec::with_capacity(n);
        for index in 0..n {
            let Some(target) = route(index) else {
                continue;
            };
            let due = start + period.mul_f64(index as f64);
            tokio::time::sleep_until(due).await;
            confirms.push(publish(channel, queue, tag, index, &target).await?);
        }
        for confirm in confirms {
            confirm.await?;
        }
        Ok(())
    }

    /// Takes every message out of `queue` (auto-ack) and returns the load indices of the
    /// ones with our ids; stops when none has come for `idle`.
    pub async fn take_all(&self, queue: &str, idle: Duration) -> Result<Vec<u32>, lapin::Error> {
        let channel = self.connection.create_channel().await?;
        let options = BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        };
        let mut deliveries = channel
            .basic_consume(queue.into(), "".into(), options, FieldTable::default())
            .await?;
        let mut indices = Vec::new();
        while let Ok(Some(delivery)) = tokio::time::timeout(idle, deliveries.next()).await {
            let delivery = delivery?;
            let id = delivery.properties.message_id();
            if let Some((index, _)) = id.as_ref().and_then(|id| parse_id(id.as_str())) {
                indices.push(index);
            }
        }
        let _ = channel.close(200, "done".into()).await;
        Ok(indices)
    }

    pub async fn close(self) {
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// Publishes `indices` on one channel with up to `WINDOW` confirms outstanding.
async fn publish_window(
    channel: &Channel,
    queue: &str,
    tag: &str,
    indices: impl Iterator<Item = usize>,
    route: &Route,
) -> Result<(), lapin::Error> {
    const WINDOW: usize = 512;
    let mut pending = Vec::with_capacity(WINDOW);
    for index in indices {
        let Some(target) = route(index) else {
            continue;
        };
        pending.push(publish(channel, queue, tag, index, &target).await?);
        if pending.len() == WINDOW {
            for confirm in pending.drain(..) {
                confirm.await?;
            }
        }
    }
    for confirm in pending {
        confirm.await?;
    }
    Ok(())
}

async fn publish(
    channel: &Channel,
    queue: &str,
    tag: &str,
    index: usize,
    target: &Target,
) -> Result<lapin::PublisherConfirm, lapin::Error> {
    let body = message(target, index);
    let id = format!("{tag}-{index}-{}", now_us());
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(id.into());
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body.as_bytes(),
            props,
        )
        .await
}

/// A queue message as WHALE publishes it: about 400 bytes, a voucher code's
/// business content with Chinese text and decimal amounts kept as text.
pub fn message(target: &Target, index: usize) -> String {
    let notify_type = NOTIFY_TYPES[index % NOTIFY_TYPES.len()];
    let whale = serde_json::json!({
        "appId": "WHALE",
        "bizContent": {
            "codeNo": format!("C{index:010}"),
            "orderNo": format!("B2C22080414554710{index:08}"),
            "faceValue": "10.00",
            "status": "ACTIVE",
            "validEnd": "2026-12-31 23:59:59",
            "memo": "券码通知/测试",
        },
        "timestamp": "1700000000000",
    });
    serde_json::json!({
        "channelId": target.channel,
        "notifyUrl": target.url,
        "notifyType": notify_type,
        "messageType": if target.third { "third" } else { "ebuy" },
        "whaleMessage": whale.to_string(),
    })
    .to_string()
}

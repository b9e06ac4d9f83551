//! Direct broker access for tests: publish like WHALE, read the parking lot, clean up.

use std::collections::HashMap;

use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use notify_bridge::broker::topology::defer_queue;
use notify_bridge::broker::topology::DEFER_STEPS;

/// A message read back from a queue.
#[derive(Debug, Clone)]
pub struct Got {
    pub body: Vec<u8>,
    pub message_id: Option<String>,
    pub headers: HashMap<String, String>,
}

pub struct TestBroker {
    connection: Connection,
    channel: Channel,
}

impl TestBroker {
    pub async fn connect() -> Self {
        Self::connect_to(&super::amqp_url()).await
    }

    /// Connects to the broker at `url` (a private node).
    pub async fn connect_to(url: &str) -> Self {
        Self::try_connect_to(url)
            .await
            .expect("RabbitMQ answers on the test URL")
    }

    /// Connects to the broker at `url`, or says why not (a node still starting).
    pub async fn try_connect_to(url: &str) -> Result<Self, lapin::Error> {
        let connection = Connection::connect(url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self {
            connection,
            channel,
        })
    }

    /// Declares `queue` durable, as the bridge does, so publishes before it starts land.
    pub async fn declare(&self, queue: &str) {
        self.channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions::durable(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    }

    /// Publishes `body` with an optional message id and content type; waits for the confirm.
    pub async fn publish(
        &self,
        queue: &str,
        body: &[u8],
        id: Option<&str>,
        content_type: Option<&str>,
    ) {
        let mut props = BasicProperties::default().with_delivery_mode(2);
        if let Some(id) = id {
            props = props.with_message_id(id.into());
        }
        if let Some(ct) = content_type {
            props = props.with_content_type(ct.into());
        }
        self.publish_with(queue, body, props).await;
    }

    /// Publishes `body` under each of `ids`, persistent, all before waiting for the
    /// confirms: a fill that does not take longer than the test's deliveries.
    pub async fn publish_all(&self, queue: &str, body: &[u8], ids: impl Iterator<Item = String>) {
        let mut confirms = Vec::new();
        for id in ids {
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(id.into());
            let confirm = self
                .channel
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions::default(),
                    body,
                    props,
                )
                .await
                .unwrap();
            confirms.push(confirm);
        }
        for confirm in confirms {
            assert!(
                confirm.await.unwrap().is_ack(),
                "the broker took the message"
            );
        }
    }

    /// Publishes `body` with exactly `props`; waits for the confirm.
    pub async fn publish_with(&self, queue: &str, body: &[u8], props: BasicProperties) {
        self.channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Messages waiting in `queue`; 0 while it does not exist yet.
    pub async fn depth(&self, queue: &str) -> u32 {
        self.inspect(queue).await.map_or(0, |q| q.message_count())
    }

    /// Consumers on `queue`; `None` while the broker cannot say (the queue does not exist
    /// yet, or the node is still finishing its start).
    pub async fn consumers(&self, queue: &str) -> Option<u32> {
        self.inspect(queue).await.map(|q| q.consumer_count())
    }

    /// A passive declare of `queue`, on a throwaway channel: one of a missing queue
    /// closes its channel.
    async fn inspect(&self, queue: &str) -> Option<lapin::Queue> {
        let channel = self.connection.create_channel().await.ok()?;
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .ok();
        let _ = channel.close(200, "done".into()).await;
        declared
    }

    /// Takes every message currently in `queue`.
    pub async fn drain(&self, queue: &str) -> Vec<Got> {
        let mut out = Vec::new();
        while let Some(msg) = self
            .channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .unwrap()
        {
            let delivery = msg.delivery;
            let props = &delivery.properties;
            let headers = props
                .headers()
                .as_ref()
                .map(|t| {
                    t.inner()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), value_text(v)))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Got {
                body: delivery.data.clone(),
                message_id: props.message_id().as_ref().map(|s| s.as_str().to_owned()),
                headers,
            });
            delivery.ack(BasicAckOptions::default()).await.unwrap();
        }
        out
    }

    /// The properties of every message now in `queue`, left where they were.
    pub async fn peek(&self, queue: &str) -> Vec<BasicProperties> {
        let mut held = Vec::new();
        while let Some(msg) = self
            .channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .unwrap()
        {
            held.push(msg.delivery);
        }
        let mut out = Vec::new();
        for delivery in held {
            out.push(delivery.properties.clone());
            let requeue = BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            };
            delivery.nack(requeue).await.unwrap();
        }
        out
    }

    /// Deletes the main queue, its parking lot and the retry queues the tests use.
    pub async fn cleanup(&self, queue: &str) {
        for q in bridge_queues(queue) {
            let _ = self
                .channel
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// `queue` and what the bridge derives from it: the parking lot, the retry queues of the
/// steps the tests use, the defer queues.
pub fn bridge_queues(queue: &str) -> Vec<String> {
    let mut queues = vec![queue.to_owned(), format!("{queue}.dead")];
    for step in [
        "50ms", "100ms", "200ms", "400ms", "1s", "5s", "5m", "30m", "2h", "5h", "10h", "1m", "3m",
        "30s",
    ] {
        queues.push(format!("{queue}.retry.{step}"));
    }
    queues.extend(DEFER_STEPS.map(|step| defer_queue(queue, step)));
    queues
}

/// Deletes `queues` when dropped, on failure too, through the first of `urls` that answers.
pub struct DeleteOnDrop {
    pub urls: Vec<String>,
    pub queues: Vec<String>,
}

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        let (urls, queues) = (self.urls.clone(), self.queues.clone());
        // Its own runtime on its own thread: Drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(delete(&urls, &queues));
        })
        .join();
    }
}

async fn delete(urls: &[String], queues: &[String]) {
    for url in urls {
        let Ok(connection) = Connection::connect(url, ConnectionProperties::default()).await else {
            continue;
        };
        if let Ok(channel) = connection.create_channel().await {
            for q in queues {
                let _ = channel
                    .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
        }
        let _ = connection.close(200, "cleaned up".into()).await;
        return;
    }
}

fn value_text(v: &AMQPValue) -> String {
    match v {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_owned(),
        AMQPValue::LongInt(i) => i.to_string(),
        AMQPValue::LongLongInt(i) => i.to_string(),
        AMQPValue::ShortInt(i) => i.to_string(),
        AMQPValue::LongUInt(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

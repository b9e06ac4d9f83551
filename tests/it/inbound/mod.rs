//! Inbound callbacks end to end: a reqwest client plays the provider, the real broker
//! takes the events, Redis (when asked) keeps nonces and event ids.

mod crash;
mod faults;
mod listeners;
mod providers;
mod refusals;
mod signing;
mod stores;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use notify_bridge::inbound::{Server, Stats};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::cleanup::TestQueue;
use crate::support::{amqp_url, settings, unique_queue};

pub const RSA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rsa");

/// The Redis the store tests use; override with NOTIFY_BRIDGE_TEST_REDIS.
pub fn redis_url() -> String {
    std::env::var("NOTIFY_BRIDGE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// What the harness varies between tests.
pub struct Options {
    /// `memory` or a redis URL.
    pub store: String,
    /// `x-max-length = 1` with `x-overflow = reject-publish`: a full queue nacks publishes.
    pub one_slot_queue: bool,
    pub max_body_bytes: usize,
    /// Start a server; false leaves that to the test (`Harness::config`).
    pub serve: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            store: "memory".into(),
            one_slot_queue: false,
            max_body_bytes: 1 << 20,
            serve: true,
        }
    }
}

/// One event read back from the bound queue.
#[derive(Debug)]
pub struct Event {
    pub body: serde_json::Value,
    pub routing_key: String,
    pub message_id: String,
    pub kind: Option<String>,
    pub headers: HashMap<String, String>,
}

/// An inbound server for one receiver, its exchange and a queue bound to it.
pub struct Harness {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    pub exchange: String,
    pub queue: TestQueue,
    /// The config, so a second replica can start from it.
    config: String,
    receiver: String,
    client: reqwest::Client,
    connection: Connection,
    channel: Channel,
    replicas: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Harness {
    /// `receiver` is the body of a `[receivers.<name>]` table (preset, signer…); the
    /// harness adds the path and exchange. `binding` is the queue's binding key.
    pub async fn start(receiver: &str, binding: &str) -> Self {
        Self::start_with(receiver, binding, Options::default()).await
    }

    pub async fn start_with(receiver: &str, binding: &str, options: Options) -> Self {
        let queue = unique_queue("inbound");
        let exchange = format!("{queue}.x");
        let name = queue.replace("it.inbound.", "r-");
        let config = format!(
            "[broker]\nurl = \"{{amqp}}\"\nqueue = \"{{queue}}\"\nshutdown_grace = \"5s\"\n\
             [inbound]\nlisten = \"127.0.0.1:0\"\nstore = \"{store}\"\nkey_prefix = \"it:{queue}\"\n\
             max_body_bytes = {max}\n\
             [receivers.{name}]\npath = \"/cb\"\n{receiver}\n\
             publish = {{ exchange = \"{exchange}\" }}\n",
            store = options.store,
            max = options.max_body_bytes,
        );
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("RabbitMQ answers on the test URL");
        let channel = connection.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        // Declared as the receiver declares it, so the queue can be bound before it starts.
        let durable_topic = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Topic,
                durable_topic,
                FieldTable::default(),
            )
            .await
            .unwrap();
        let mut arguments = FieldTable::default();
        if options.one_slot_queue {
            arguments.insert("x-max-length".into(), AMQPValue::LongLongInt(1));
            arguments.insert(
                "x-overflow".into(),
                AMQPValue::LongString("reject-publish".into()),
            );
        }
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::default(),
                arguments,
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                binding.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let mut harness = Self {
            addr: "127.0.0.1:0".parse().unwrap(),
            stats: Arc::default(),
            exchange,
            queue,
            config,
            receiver: name,
            client: reqwest::Client::new(),
            connection,
            channel,
            replicas: Vec::new(),
        };
        if options.serve {
            let (addr, stats) = harness.replica().await;
            harness.addr = addr;
            harness.stats = stats;
        }
        harness
    }

    /// The bridge config of this harness, `{amqp}` and `{queue}` (the consumer's queue) left
    /// for `support::settings` to fill.
    pub fn config(&self) -> &str {
        &self.config
    }

    /// Starts one more server on the same config (another replica); returns its address.
    pub async fn replica(&mut self) -> (SocketAddr, Arc<Stats>) {
        let settings = settings(&self.config, &self.queue);
        let server = Server::bind(&settings.inbound, settings.broker.urls)
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let stats = server.stats(&self.receiver).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            server
                .serve(shutdown)
                .await
                .expect("the server stops cleanly");
        });
        self.replicas.push((stop, task));
        (addr, stats)
    }

    /// POSTs `body` to the receiver's path on `addr`; returns the status and answer text.
    pub async fn post_to(
        &self,
        addr: SocketAddr,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let mut request = self
            .client
            .post(format!("http://{addr}/cb"))
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the inbound server answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    pub async fn post(&self, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
        self.post_to(self.addr, body, headers).await
    }

    /// Publishes straight to the exchange, as another publisher would (to fill the queue).
    pub async fn publish_direct(&self, routing_key: &str, body: &[u8]) {
        self.channel
            .basic_publish(
                self.exchange.as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Takes every event in the bound queue. A success answer comes after the broker's
    /// confirm, so what was accepted is already there: no waiting needed.
    pub async fn take(&self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(message) = self
            .channel
            .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            let delivery = message.delivery;
            let props = &delivery.properties;
            let headers = props
                .headers()
                .as_ref()
                .map(|t| {
                    t.inner()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), text(v)))
                        .collect()
                })
                .unwrap_or_default();
            events.push(Event {
                body: serde_json::from_slice(&delivery.data).unwrap_or(serde_json::Value::Null),
                routing_key: delivery.routing_key.as_str().to_owned(),
                message_id: props
                    .message_id()
                    .as_ref()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                kind: props.kind().as_ref().map(|s| s.as_str().to_owned()),
                headers,
            });
        }
        events
    }

    /// Stops every replica and deletes the queue and exchange.
    pub async fn stop(self) {
        for (stop, task) in self.replicas {
            let _ = stop.send(());
            tokio::time::timeout(std::time::Duration::from_secs(10), task)
                .await
                .expect("the inbound server stops")
                .unwrap();
        }
        let _ = self
            .channel
            .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
            .await;
        let _ = self
            .channel
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
        let _ = self.connection.close(200, "done".into()).await;
    }
}

fn text(v: &AMQPValue) -> String {
    match v {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::LongLongInt(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

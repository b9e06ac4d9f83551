//! Hands verified events to RabbitMQ: persistent, mandatory, and confirmed by the broker
//! before the provider hears "success".
//!
//! The inbound side has its own connection, apart from the consumer's, so a slow or
//! failing publish never holds up outbound deliveries. Each receiver publishes on its own
//! confirm channel: a channel the broker closes (a missing exchange) takes down only that
//! receiver's in-flight publishes. Broken links are re-opened by the next callback.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::ExchangeDeclareOptions;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use tokio::sync::Mutex;
use tracing::info;

use crate::broker::endpoints::Endpoints;
use crate::broker::{self, BrokerError};
use crate::secret::Secret;

/// Longest wait for a connection and channel, then for a confirm: past it the provider
/// gets a 503 and retries, rather than waiting on a broker that does not answer.
const LINK_TIMEOUT: Duration = Duration::from_secs(5);
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("exchange `{exchange}` cannot be used: {source}")]
    Exchange {
        exchange: String,
        source: lapin::Error,
    },
    #[error("publish to `{exchange}` failed: {source}")]
    Publish {
        exchange: String,
        source: lapin::Error,
    },
    #[error("the broker refused the event on `{exchange}` (nack)")]
    Nacked { exchange: String },
    #[error("no queue is bound to `{exchange}` for routing key `{routing_key}`")]
    Unroutable {
        exchange: String,
        routing_key: String,
    },
    #[error("the broker did not answer within {0:?}")]
    Timeout(Duration),
}

/// The inbound side's broker connection, opened on first use.
pub struct Publisher {
    /// The cluster's nodes: a lost connection is re-opened to the next one that answers.
    endpoints: Endpoints,
    /// Shown in the management UI, so operators can tell it from the consumer's.
    name: String,
    connection: Mutex<Option<Arc<Connection>>>,
}

/// One receiver's way into its exchange.
pub struct Outlet {
    publisher: Arc<Publisher>,
    exchange: String,
    declare: bool,
    channel: Mutex<Option<Channel>>,
}

impl Publisher {
    /// `listen` goes into the connection name: replicas on one host stay apart.
    pub fn new(urls: Vec<Secret>, listen: std::net::SocketAddr) -> Arc<Self> {
        Arc::new(Self {
            endpoints: Endpoints::new(urls),
            name: format!("notify-bridge inbound {listen} pid {}", std::process::id()),
            connection: Mutex::new(None),
        })
    }

    async fn connection(&self) -> Result<Arc<Connection>, BrokerError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            if connection.status().connected() {
                return Ok(Arc::clone(connection));
            }
            // Lost: the node may be the trouble, so dial the next one first.
            self.endpoints.next();
        }
        let connected = self.endpoints.connect(&self.name).await?;
        info!(node = %connected.node, "inbound publishing");
        let connection = Arc::new(connected.connection);
        *slot = Some(Arc::clone(&connection));
        Ok(connection)
    }

    /// Closes the connection (at shutdown, once no callback is in flight).
    pub async fn close(&self) {
        if let Some(connection) = self.connection.lock().await.take() {
            let _ = connection.close(200, "shutting down".into()).await;
        }
    }
}

impl Outlet {
    /// `exchange` is declared durable topic when `declare`, else only checked to exist;
    /// `""` is the default exchange, which needs neither.
    pub fn new(publisher: Arc<Publisher>, exchange: String, declare: bool) -> Self {
        Self {
            publisher,
            exchange,
            declare,
            channel: Mutex::new(None),
        }
    }

    /// Closes the channel (at shutdown, before the connection, which lapin otherwise
    /// reports as a connection error).
    pub async fn close(&self) {
        if let Some(channel) = self.channel.lock().await.take() {
            let _ = channel.close(200, "shutting down".into()).await;
        }
    }

    /// Publishes `body` persistently and waits for the broker's confirm.
    pub async fn publish(
        &self,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), PublishError> {
        let channel = tokio::time::timeout(LINK_TIMEOUT, self.channel())
            .await
            .map_err(|_| PublishError::Timeout(LINK_TIMEOUT))??;
        let sent = tokio::time::timeout(
            CONFIRM_TIMEOUT,
            self.send(&channel, routing_key, body, properties),
        )
        .await
        .unwrap_or(Err(PublishError::Timeout(CONFIRM_TIMEOUT)));
        if matches!(
            sent,
            Err(PublishError::Publish { .. } | PublishError::Timeout(_))
        ) {
            // The channel may be dead or wedged: the next callback opens a new one.
            self.channel.lock().await.take();
            tokio::spawn(async move { channel.close(200, "publish failed".into()).await });
        }
        sent
    }

    async fn send(
        &self,
        channel: &Channel,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), PublishError> {
        broker::publish_to(channel, &self.exchange, routing_key, body, properties)
            .await
            .map_err(|e| match e {
                BrokerError::Publish { source, .. } => PublishError::Publish {
                    exchange: self.exchange.clone(),
                    source,
                },
                BrokerError::Unroutable(_) => PublishError::Unroutable {
                    exchange: self.exchange.clone(),
                    routing_key: routing_key.to_owned(),
                },
                BrokerError::Nacked(_) => PublishError::Nacked {
                    exchange: self.exchange.clone(),
                },
                other => PublishError::Broker(other),
            })
    }

    /// The open confirm channel, or a new one with the exchange declared (or checked).
    async fn channel(&self) -> Result<Channel, PublishError> {
        let mut slot = self.channel.lock().await;
        if let Some(channel) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        let connection = self.publisher.connection().await?;
        let channel = broker::confirm_channel(&connection).await?;
        if !self.exchange.is_empty() {
            let options = ExchangeDeclareOptions {
                durable: true,
                passive: !self.declare,
                ..ExchangeDeclareOptions::default()
            };
            channel
                .exchange_declare(
                    self.exchange.as_str().into(),
                    ExchangeKind::Topic,
                    options,
                    FieldTable::default(),
                )
                .await
                .map_err(|source| PublishError::Exchange {
                    exchange: self.exchange.clone(),
                    source,
                })?;
        }
        *slot = Some(channel.clone());
        Ok(channel)
    }
}

//! The broker's configuration: where RabbitMQ is, which queue, and how its queues are declared.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::secret::Secret;

/// Broker connection and queue topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// The AMQP URIs of the cluster's nodes, tried in turn; secrets because they usually
    /// carry a password. Never empty: `broker.url` first, then `broker.urls`.
    pub urls: Vec<Secret>,
    pub queue: String,
    pub prefetch: u16,
    pub declare: bool,
    pub max_message_bytes: usize,
    pub shutdown_grace: Duration,
    /// Extra arguments for every queue declared, e.g. `x-queue-type = "quorum"`.
    pub queue_arguments: BTreeMap<String, QueueArgument>,
}

/// A queue argument value as TOML gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum QueueArgument {
    Int(i64),
    Bool(bool),
    Text(String),
}

impl BrokerConfig {
    /// The parking lot: `<queue>.dead`.
    pub fn dead_queue(&self) -> String {
        super::topology::dead_queue(&self.queue)
    }
}

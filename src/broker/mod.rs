//! Everything AMQP: connecting, the queue topology, attempt headers, confirmed publishing.

mod config;

pub use config::{BrokerConfig, QueueArgument};

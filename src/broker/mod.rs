//! Everything AMQP, used by the consumer, the inbound side, the admin API and the CLI:
//! connecting (to whichever node of the cluster answers), the queue topology (main, retry,
//! defer and dead queues, named and built in one place), the attempt headers a re-published
//! message carries, bringing held retries back when due, publishing with the broker's confirm, and the parking lot's tools.

mod config;
pub mod connect;
pub mod dead_letters;
pub mod depth;
pub mod endpoints;
pub mod headers;
pub mod publish;
pub mod release;
pub mod topology;

pub use config::{BrokerConfig, QueueArgument};
pub use connect::{confirm_channel, connect, redacted_url};
pub use publish::{publish_confirmed, publish_to};
pub use topology::declare_topology;

/// Why the broker could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot connect to {url}: {source}")]
    Connect { url: String, source: lapin::Error },
    #[error("queue `{queue}`: {source}")]
    Queue { queue: String, source: lapin::Error },
    #[error("queue `{queue}` already exists with other arguments than broker.queue_arguments asks for ({detail}); make the setting match the queue, or move its messages away and delete it")]
    QueueMismatch { queue: String, detail: String },
    #[error("broker channel: {0}")]
    Channel(#[source] lapin::Error),
    #[error("publish to `{queue}` failed: {source}")]
    Publish { queue: String, source: lapin::Error },
    #[error("publish to `{0}` was refused by the broker")]
    Nacked(String),
    #[error("publish to `{0}` went over a channel without confirms")]
    Unconfirmed(String),
    #[error("publish to `{0}` was not routed (does the queue exist?)")]
    Unroutable(String),
    #[error("the broker ended a retry queue's consumer (queue deleted, or connection lost)")]
    Released,
}

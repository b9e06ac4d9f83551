//! Publishing that counts only once the broker confirms it: persistent, mandatory, and an
//! error when unroutable, refused, or sent over a channel without confirms.

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel, Confirmation};

use super::BrokerError;

/// Publishes a persistent message to `queue` and waits for the broker's confirm.
pub async fn publish_confirmed(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), BrokerError> {
    publish_to(channel, "", queue, body, properties).await
}

/// Publishes a persistent, mandatory message and waits for the broker's confirm: `Ok` only
/// once the broker has taken responsibility for it. Errors name the routing key (the queue,
/// on the default exchange).
pub async fn publish_to(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), BrokerError> {
    let publish_error = |source| BrokerError::Publish {
        queue: routing_key.to_owned(),
        source,
    };
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions {
                // Unroutable must be an error, not a silent drop.
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            properties.with_delivery_mode(2),
        )
        .await
        .map_err(publish_error)?
        .await
        .map_err(publish_error)?;
    match confirm {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) => Err(BrokerError::Unroutable(routing_key.to_owned())),
        Confirmation::Nack(_) => Err(BrokerError::Nacked(routing_key.to_owned())),
        Confirmation::NotRequested => Err(BrokerError::Unconfirmed(routing_key.to_owned())),
    }
}

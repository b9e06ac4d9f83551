//! The baseline: the least a RabbitMQ → HTTP bridge can do. lapin consume → reqwest POST
//! of the body as it is → ack, no parsing, formatting or signing; one task per delivery as
//! the bridge does, with the bridge's prefetch and in-flight limit.

use std::sync::Arc;

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::Semaphore;

/// What the baseline consumes and where it posts.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub amqp: String,
    #[arg(long)]
    pub queue: String,
    /// Every message is POSTed here.
    #[arg(long)]
    pub url: String,
    #[arg(long, default_value_t = 256)]
    pub prefetch: u16,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
}

/// Consumes `queue` on `channel` with `prefetch` unacked at most, acks manual.
pub async fn consume_from(
    channel: &Channel,
    queue: &str,
    prefetch: u16,
) -> lapin::Result<lapin::Consumer> {
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// Consumes until the process is killed, or the broker ends the consumer.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let props = ConnectionProperties::default()
        .with_connection_name(format!("bench passthrough {}", args.queue).into());
    let connection = Connection::connect(&args.amqp, props).await?;
    let channel = connection.create_channel().await?;
    let mut deliveries = consume_from(&channel, &args.queue, args.prefetch).await?;
    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let limit = Arc::new(Semaphore::new(args.in_flight));
    let url = Arc::new(args.url);
    while let Some(delivery) = deliveries.next().await {
        let mut delivery = delivery?;
        let (client, limit, url) = (client.clone(), Arc::clone(&limit), Arc::clone(&url));
        tokio::spawn(async move {
            let Ok(_permit) = limit.acquire().await else {
                return;
            };
            let id = delivery
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            let body = std::mem::take(&mut delivery.data);
            let sent = client
                .post(url.as_str())
                .header("Content-Type", "application/json")
                .header("X-Notify-Id", id)
                .body(body)
                .send()
                .await;
            if let Ok(response) = sent {
                let _ = response.bytes().await;
            }
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
        });
    }
    Ok(())
}

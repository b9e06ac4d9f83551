//! `bench acks`: what RabbitMQ spends per message under each ack pattern, with no bridge,
//! no HTTP and no parsing: one consumer on a queue of persistent messages. It separates the
//! broker's share of a hanging neighbour's cost (bench/FINDINGS.md, third pass): acks one by
//! one instead of `multiple`, messages held unacked at the front of the window (where a
//! hanging brand's sit), and durable republishing (where a stalled brand's deferrals go).

use std::time::{Duration, Instant};

use clap::ValueEnum;
use futures_util::future::try_join_all;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use notify_bridge::broker::topology::holding;

use super::child::{broker_pid, cpu_time_of};
use super::passthrough::consume_from;

/// How the consumer acks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pattern {
    /// One `multiple` ack per 32 messages.
    Multiple,
    /// One ack per message.
    Single,
    /// One ack per message, with the first `--held` messages left unacked until the end.
    Held,
}

/// What to measure.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(
        long,
        env = "NOTIFY_BRIDGE_TEST_AMQP",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp: String,
    /// Messages consumed per pattern.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    #[arg(long, default_value_t = 256)]
    pub prefetch: u16,
    #[arg(long, value_delimiter = ',', default_values = ["multiple", "single", "held"])]
    pub patterns: Vec<Pattern>,
    /// Messages held at the front in the `held` pattern (a hanging brand's in flight).
    #[arg(long, default_value_t = 64)]
    pub held: usize,
    /// Also republish one message in this many, with confirm, to a queue that returns it
    /// after 1 s, before acking it, as a deferral does (0: never).
    #[arg(long, default_value_t = 0)]
    pub republish_every: usize,
    /// A queue argument for the queues measured, `name=value` (repeatable), e.g.
    /// `x-queue-type=quorum`; integer values are sent as integers.
    #[arg(long = "queue-arg")]
    pub queue_args: Vec<String>,
    /// The broker processes to charge (every node of a cluster, comma-separated); default:
    /// the oldest beam.smp on this machine.
    #[arg(long, value_delimiter = ',')]
    pub broker_pids: Vec<u32>,
}

const BODY_BYTES: usize = 600;
const MULTIPLE_EVERY: usize = 32;

/// Prints, per pattern, the consume rate and the broker's CPU per message.
pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.republish_every > 0 && args.patterns.contains(&Pattern::Multiple) {
        // A `multiple` ack would also ack the republished ones before their confirm.
        anyhow::bail!("--republish-every goes with the single and held patterns only");
    }
    let broker = match args.broker_pids.is_empty() {
        true => vec![broker_pid().ok_or_else(|| anyhow::anyhow!("no beam.smp process here"))?],
        false => args.broker_pids.clone(),
    };
    let arguments = queue_arguments(&args.queue_args)?;
    let connection = Connection::connect(&args.amqp, ConnectionProperties::default()).await?;
    for pattern in args.patterns.clone() {
        let queue = format!("bench.acks.{:08x}", rand::random::<u32>());
        let publish = connection.create_channel().await?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let side = format!("{queue}.side");
        declare(&publish, &queue, arguments.clone()).await?;
        // Returns its messages to the main queue after 1 s, as a defer queue does.
        let returns = holding(&arguments, &queue, Duration::from_secs(1));
        declare(&publish, &side, returns).await?;
        let measured = async {
            let before = broker_cpu(&broker)?;
            fill(&publish, &queue, args.messages).await?;
            let filling = broker_cpu(&broker)? - before;
            let consumed = consume(
                &connection,
                &publish,
                &queue,
                &side,
                pattern,
                &args,
                &broker,
            )
            .await?;
            anyhow::Ok((filling, consumed))
        }
        .await;
        for q in [&queue, &side] {
            let _ = publish
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let (filling, (rate, broker_us)) = measured?;
        let publish_us = filling.as_secs_f64() * 1e6 / args.messages as f64;
        println!(
            "  acks {pattern:?} (held {}, republish 1 in {}): {rate:.0} msg/s, broker {broker_us:.1} µs/msg consuming, {publish_us:.1} µs/msg publishing",
            if pattern == Pattern::Held { args.held } else { 0 },
            args.republish_every,
        );
    }
    Ok(())
}

async fn declare(channel: &Channel, queue: &str, arguments: FieldTable) -> lapin::Result<()> {
    channel
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments)
        .await
        .map(|_| ())
}

async fn fill(channel: &Channel, queue: &str, n: usize) -> anyhow::Result<()> {
    let body = vec![b'x'; BODY_BYTES];
    for start in (0..n).step_by(1000) {
        let batch = (start..n.min(start + 1000)).map(|_| publish(channel, queue, &body));
        try_join_all(batch).await?;
    }
    Ok(())
}

/// Publishes a persistent message and waits for its confirm.
async fn publish(channel: &Channel, queue: &str, body: &[u8]) -> lapin::Result<()> {
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await?
        .await
        .map(|_| ())
}

/// Consumes `args.messages` deliveries the `pattern` way: (messages/s, broker µs/message).
async fn consume(
    connection: &Connection,
    publisher: &Channel,
    queue: &str,
    side: &str,
    pattern: Pattern,
    args: &Args,
    broker: &[u32],
) -> anyhow::Result<(f64, f64)> {
    let channel = connection.create_channel().await?;
    let mut deliveries = consume_from(&channel, queue, args.prefetch).await?;
    let (started, cpu_before) = (Instant::now(), broker_cpu(broker)?);
    let (mut held, mut republished) = (Vec::new(), Vec::new());
    let single = BasicAckOptions::default();
    for got in 1..=args.messages {
        let Some(delivery) = deliveries.next().await else {
            anyhow::bail!("the broker ended the consumer");
        };
        let delivery = delivery?;
        if args.republish_every > 0 && got % args.republish_every == 0 {
            // Concurrently, as the bridge's settle tasks do: confirm, then ack.
            let publisher = publisher.clone();
            let side = side.to_owned();
            republished.push(tokio::spawn(async move {
                publish(&publisher, &side, &delivery.data).await?;
                delivery.acker.ack(single).await.map(|_| ())
            }));
            continue;
        }
        match pattern {
            Pattern::Multiple if got % MULTIPLE_EVERY == 0 || got == args.messages => {
                delivery
                    .acker
                    .ack(BasicAckOptions { multiple: true })
                    .await?;
            }
            Pattern::Multiple => {}
            Pattern::Held if held.len() < args.held => held.push(delivery),
            Pattern::Single | Pattern::Held => {
                delivery.acker.ack(single).await?;
            }
        }
    }
    for task in republished {
        task.await??;
    }
    let (elapsed, cpu) = (started.elapsed(), broker_cpu(broker)? - cpu_before);
    for delivery in held {
        delivery.acker.ack(single).await?;
    }
    let _ = channel.close(200, "done".into()).await;
    let n = args.messages as f64;
    Ok((n / elapsed.as_secs_f64(), cpu.as_secs_f64() * 1e6 / n))
}

/// The CPU time of every broker process, summed.
fn broker_cpu(pids: &[u32]) -> anyhow::Result<Duration> {
    pids.iter()
        .map(|pid| {
            cpu_time_of(*pid)
                .ok_or_else(|| anyhow::anyhow!("cannot read the CPU time of beam.smp {pid}"))
        })
        .sum()
}

/// `name=value` pairs as a queue's arguments.
fn queue_arguments(pairs: &[String]) -> anyhow::Result<FieldTable> {
    let mut table = FieldTable::default();
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--queue-arg `{pair}` is not name=value"))?;
        let value = match value.parse::<i64>() {
            Ok(i) => AMQPValue::LongLongInt(i),
            Err(_) => AMQPValue::LongString(value.into()),
        };
        table.insert(name.into(), value);
    }
    Ok(table)
}

//! `publish`: put a queue message on the queue, as WHALE would, with publisher confirms.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use lapin::BasicProperties;
use notify_bridge::broker::{self, endpoints};

use crate::ConfigArg;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// A file holding one queue message.
    #[arg(long)]
    message: PathBuf,
    /// How many copies to publish, each with its own message id.
    #[arg(long, default_value_t = 1)]
    count: u32,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = args.config.load()?;
    let body = std::fs::read(&args.message)
        .with_context(|| format!("cannot read {}", args.message.display()))?;
    let connection = endpoints::connect_any(&settings.broker.urls, "notify-bridge publish").await?;
    let channel = broker::confirm_channel(&connection).await?;
    broker::declare_topology(&connection, &settings.broker, &settings.retry_steps()).await?;
    let run_id = format!("{:016x}", rand::random::<u64>());
    for i in 0..args.count {
        let id = format!("pub-{run_id}-{i}");
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_message_id(id.as_str().into());
        broker::publish_confirmed(&channel, &settings.broker.queue, &body, properties).await?;
    }
    println!(
        "published {} message(s) to {}",
        args.count, settings.broker.queue
    );
    let _ = connection.close(200, "done".into()).await;
    Ok(ExitCode::SUCCESS)
}

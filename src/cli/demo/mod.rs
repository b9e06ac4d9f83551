//! `demo`: the bridge with one channel per preset, against RabbitMQ, delivering to a
//! receiver in this process that checks every callback as that brand's developer would.
//! One message per preset and notifyType; exit 0 only when every one arrived and verified.

mod brand;
mod receiver;
mod setup;

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use lapin::options::QueueDeleteOptions;
use lapin::BasicProperties;
use notify_bridge::broker::topology::defer_queue;
use notify_bridge::broker::topology::DEFER_STEPS;
use notify_bridge::broker::{self, endpoints};
use notify_bridge::settings::{process_env, Settings};
use tokio::sync::mpsc;

use receiver::Arrival;

#[derive(clap::Args)]
pub struct Args {
    /// The RabbitMQ to run against.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp: String,
    /// The demo's own queue (its retry and parking-lot queues are named after it); it never
    /// touches a deployment's queue.
    #[arg(long, default_value = "notify-bridge.demo")]
    queue: String,
    /// How long to wait for every callback.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    wait: Duration,
    /// Stay up after the run, so messages can be published by hand; Ctrl-C ends it.
    #[arg(long)]
    keep: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("notify-bridge-demo-{}", std::process::id()));
    let result = run_in(&args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(args: &Args, dir: &Path) -> anyhow::Result<ExitCode> {
    let (arrivals, mut arrived) = mpsc::unbounded_channel();
    let published = Arc::new(Mutex::new(HashMap::new()));
    let receiver = receiver::start(arrivals, Arc::clone(&published)).await?;
    let config = setup::write_config(dir, &args.amqp, &args.queue)
        .with_context(|| format!("cannot write the demo's files under {}", dir.display()))?;
    let settings = Settings::load(&config, &process_env())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let bridge = tokio::spawn(notify_bridge::app::run(settings.clone(), async {
        let _ = stopped.await;
    }));

    let expected = setup::PRESETS.len() * setup::NOTIFY_TYPES.len();
    publish_all(&settings, &receiver.base, &published).await?;
    println!(
        "published {expected} messages to {}; waiting for the callbacks",
        args.queue
    );
    let results = collect(&mut arrived, expected, args.wait).await;
    let verified = report(&results, expected);

    if args.keep {
        keep_running(dir, &config, &receiver.base, &mut arrived).await?;
    }
    let _ = stop.send(());
    bridge.await.context("the bridge task")??;
    delete_topology(&settings).await;
    Ok(match verified == expected {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    })
}

/// One message per preset and notifyType, with publisher confirms; the publish time is
/// kept per message id so each arrival's latency can be told.
async fn publish_all(
    settings: &Settings,
    base: &str,
    published: &receiver::Published,
) -> anyhow::Result<()> {
    let connection = endpoints::connect_any(&settings.broker.urls, "notify-bridge demo").await?;
    let channel = broker::confirm_channel(&connection).await?;
    broker::declare_topology(&connection, &settings.broker, &settings.retry_steps()).await?;
    for preset in setup::PRESETS {
        for notify_type in setup::NOTIFY_TYPES {
            let id = format!("demo-{preset}-{notify_type}-{:08x}", rand::random::<u32>());
            let body = setup::queue_message(base, preset, notify_type);
            let properties = BasicProperties::default().with_message_id(id.as_str().into());
            published.lock().unwrap().insert(id, Instant::now());
            broker::publish_confirmed(
                &channel,
                &settings.broker.queue,
                body.as_bytes(),
                properties,
            )
            .await?;
        }
    }
    let _ = connection.close(200, "published".into()).await;
    Ok(())
}

/// Arrivals until `expected` distinct ones or `wait`, printing each as it comes.
async fn collect(
    arrived: &mut mpsc::UnboundedReceiver<Arrival>,
    expected: usize,
    wait: Duration,
) -> HashMap<(String, String), Arrival> {
    let mut results = HashMap::new();
    let deadline = tokio::time::Instant::now() + wait;
    while results.len() < expected {
        match tokio::time::timeout_at(deadline, arrived.recv()).await {
            Ok(Some(arrival)) => {
                println!("{}", arrival.line());
                results.insert(
                    (arrival.preset.clone(), arrival.notify_type.clone()),
                    arrival,
                );
            }
            _ => break,
        }
    }
    results
}

/// Prints what is missing and the summary; returns how many arrived and verified.
fn report(results: &HashMap<(String, String), Arrival>, expected: usize) -> usize {
    for preset in setup::PRESETS {
        for notify_type in setup::NOTIFY_TYPES {
            if !results.contains_key(&(preset.to_string(), notify_type.to_string())) {
                println!("{preset:<11} {notify_type:<17} MISSING: no callback arrived");
            }
        }
    }
    let verified = results.values().filter(|a| a.verified.is_ok()).count();
    let mut latencies: Vec<Duration> = results.values().filter_map(|a| a.latency).collect();
    latencies.sort();
    let median = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    println!(
        "{verified} of {expected} callbacks arrived and verified ({} presets x {} notifyTypes); median latency {:.1} ms",
        setup::PRESETS.len(),
        setup::NOTIFY_TYPES.len(),
        median.as_secs_f64() * 1000.0
    );
    verified
}

/// `--keep`: the bridge and receiver stay up; publish the written messages by hand.
async fn keep_running(
    dir: &Path,
    config: &Path,
    base: &str,
    arrived: &mut mpsc::UnboundedReceiver<Arrival>,
) -> anyhow::Result<()> {
    let messages = setup::write_messages(dir, base)?;
    println!(
        "the bridge and the receiver stay up (Ctrl-C ends the demo); publish by hand with\n  \
         notify-bridge publish --config {} --message {}/em-Verify.json",
        config.display(),
        messages.display()
    );
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            Some(arrival) = arrived.recv() => println!("{}", arrival.line()),
        }
    }
}

/// The demo's queues are its own: nothing of them is left on the broker.
async fn delete_topology(settings: &Settings) {
    let Ok(connection) = endpoints::connect_any(&settings.broker.urls, "notify-bridge demo").await
    else {
        return;
    };
    if let Ok(channel) = connection.create_channel().await {
        let queue = &settings.broker.queue;
        let mut names = vec![queue.clone(), settings.broker.dead_queue()];
        names.extend(DEFER_STEPS.map(|step| defer_queue(queue, step)));
        for name in names {
            let _ = channel
                .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
    }
    let _ = connection.close(200, "demo done".into()).await;
}

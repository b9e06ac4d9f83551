//! `bench prepare`: the bridge's own work on one message without any I/O — parse, schema,
//! route, format, sign — timed in a loop on one core (`Pipeline::prepare`). Run it under
//! `valgrind --tool=callgrind` for a per-function breakdown that load on the machine does
//! not disturb.

use std::time::Instant;

use notify_bridge::deliver::HttpClient;
use notify_bridge::message::MessageId;
use notify_bridge::parse::Declared;
use notify_bridge::pipeline::{Pins, Pipeline};
use notify_bridge::settings::Settings;

use bench_harness::config::{self, bridge_toml, Tuning};
use bench_harness::load::{message, Target};

/// What to time.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Messages prepared per channel.
    #[arg(long, default_value_t = 20_000)]
    pub iterations: usize,
    /// Channels to time: md5, rsa.
    #[arg(long, value_delimiter = ',', default_values = ["md5", "rsa"])]
    pub channels: Vec<String>,
}

/// Prints µs per message for each channel.
pub fn run(args: Args) -> anyhow::Result<()> {
    let pipeline = bench_pipeline()?;
    for name in &args.channels {
        let (channel, third) = match name.as_str() {
            "rsa" => (config::RSA, true),
            _ => (config::MD5, false),
        };
        let target = Target {
            channel: channel.into(),
            url: "http://127.0.0.1:8080/ok".into(),
            third,
        };
        let bodies: Vec<String> = (0..64).map(|i| message(&target, i)).collect();
        let started = Instant::now();
        let mut bytes = 0;
        for i in 0..args.iterations {
            let id = MessageId::from_delivery(Some(&format!("prep-{i}-0")), b"");
            let body = bodies[i % bodies.len()].as_bytes();
            let prepared = pipeline
                .prepare(
                    &id,
                    body,
                    Declared::content_type(Some("application/json")),
                    &Pins::now(),
                    false,
                )
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            bytes += prepared.request.body.len();
        }
        let per = started.elapsed().as_secs_f64() * 1e6 / args.iterations as f64;
        println!(
            "prepare {name}: {per:.1} µs/message over {} messages (body {} B)",
            args.iterations,
            bytes / args.iterations.max(1)
        );
    }
    Ok(())
}

/// The pipeline of the bench's bridge config (every channel the bench measures), built
/// without a broker or a brand: what `prepare` and `stages` run messages through.
pub fn bench_pipeline() -> anyhow::Result<Pipeline> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.toml");
    let fixtures = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let tuning = Tuning {
        prefetch: 256,
        in_flight: 64,
    };
    std::fs::write(
        &path,
        bridge_toml("amqp://unused", "unused", tuning, fixtures),
    )?;
    let settings = Settings::load(&path, &Default::default())?;
    Ok(Pipeline::new(
        settings.channels.values(),
        settings.broker.max_message_bytes,
        HttpClient::new(),
    ))
}

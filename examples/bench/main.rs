//! `bench`: throughput, latency and isolation of notify-bridge on this machine.
//!
//! Started by `bench/run.sh` (see `bench/README.md`): it runs the release bridge as a child
//! process against the local RabbitMQ and an HTTP sink in this process, measures a
//! pass-through consumer the same way as the baseline, and prints medians of each figure
//! with a last line `RESULT key=value …`. `bench passthrough …` is that baseline consumer.
//!
//! Layout: `opts` (flags), `run` (the scenarios of one run), `noisy` (the noisy
//! neighbour), `scale` (the curve by queue depth), `scenario` (one measurement), `child` (consumer processes, /proc),
//! `passthrough` (the baseline consumer),
//! `prepare` (the bridge's CPU work on one message, without I/O), `stages` (the same plus
//! the metrics, journal entry and journal insert, stage by stage, for callgrind), `acks`
//! (the broker's CPU per message under each ack pattern, without the bridge), `keys` (the
//! journal's business-key extraction). The publisher, the HTTP sink, the figures, the
//! bridge's TOML and the RSA yardstick come from the `bench-harness` library
//! (`bench/harness/`), shared with the smoke test.

mod acks;
mod child;
mod keys;
mod noisy;
mod opts;
mod passthrough;
mod prepare;
mod run;
mod scale;
mod scenario;
mod stages;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Throughput, latency and isolation of notify-bridge (see bench/README.md)"
)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    #[command(flatten)]
    opts: opts::Opts,
}

#[derive(Subcommand)]
enum Mode {
    /// The baseline consumer: consume → POST → ack (the bench starts it itself).
    Passthrough(passthrough::Args),
    /// Time the bridge's parse → format → sign of one message, without I/O.
    Prepare(prepare::Args),
    /// The broker's CPU per message under each ack pattern, without the bridge.
    Acks(acks::Args),
    /// Time the journal's business-key extraction of one message.
    Keys(keys::Args),
    /// The bridge's per-message work stage by stage (prepare, metrics, journal entry,
    /// journal insert), without broker or HTTP: run it under callgrind.
    Stages(stages::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Some(Mode::Passthrough(args)) => passthrough::run(args).await,
        Some(Mode::Prepare(args)) => prepare::run(args),
        Some(Mode::Acks(args)) => acks::run(args).await,
        Some(Mode::Keys(args)) => keys::run(args),
        Some(Mode::Stages(args)) => stages::run(args).await,
        None => run::bench(cli.opts).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

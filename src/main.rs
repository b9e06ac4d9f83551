//! The `notify-bridge` command line: parse arguments, load settings, run a subcommand.

mod cli;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use notify_bridge::settings::{process_env, Settings};
use notify_bridge::shutdown;

#[derive(Parser)]
#[command(
    name = "notify-bridge",
    version,
    about = "RabbitMQ → signed brand callbacks"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Consume the queue and deliver callbacks until SIGTERM.
    Run(ConfigArg),
    /// Validate the configuration; non-zero exit names the channel and field at fault.
    CheckConfig(ConfigArg),
    /// Print the exact request a queue message would produce.
    Sign(cli::sign::Args),
    /// Check the signature of a received callback; --explain shows why it fails.
    Verify(cli::verify::Args),
    /// Send one signed sample callback to a brand and judge its answer.
    SendTest(cli::send_test::Args),
    /// Publish a queue message (for testing) with publisher confirms.
    Publish(cli::publish::Args),
    /// List, replay or purge the parking lot.
    Dead(cli::dead::Args),
    /// Pause or resume a channel's deliveries, or list the paused ones.
    Channel(cli::channel::Args),
    /// Show the delivery journal: attempts by channel, type, outcome, time or message id.
    Deliveries(cli::deliveries::Args),
    /// Every preset live against RabbitMQ and a receiver here that checks each callback.
    Demo(cli::demo::Args),
}

/// The config file every subcommand takes.
#[derive(clap::Args)]
pub struct ConfigArg {
    /// TOML config file; NOTIFY_BRIDGE__… variables override its keys.
    #[arg(long, default_value = "notify-bridge.toml")]
    config: PathBuf,
}

impl ConfigArg {
    fn load(&self) -> anyhow::Result<Settings> {
        Settings::load(&self.config, &process_env())
            .map_err(|e| anyhow::anyhow!("config {}: {e}", self.config.display()))
    }
}

fn main() -> ExitCode {
    reserve_stack_for_amqp_parsing();
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(RUNTIME_STACK_BYTES)
        .build()
        .expect("the tokio runtime starts");
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => {
            let settings = args.load()?;
            let run = notify_bridge::app::run(settings, shutdown::signal_received());
            tokio::select! {
                result = run => result?,
                // Returning drops the connections: the broker requeues what is unacked.
                _ = shutdown::second_signal() => return Ok(ExitCode::from(130)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig(args) => {
            let settings = args.load()?;
            let names =
                |keys: Vec<&String>| keys.into_iter().cloned().collect::<Vec<_>>().join(", ");
            println!(
                "config OK: {} channel(s): {}",
                settings.channels.len(),
                names(settings.channels.keys().collect())
            );
            // Only when the journal can be read from here: a config is checked on machines
            // that have no access to the production database too.
            match notify_bridge::app::removed_channels::waiting(&settings).await {
                Ok(waiting) => {
                    for line in notify_bridge::app::removed_channels::describe(&waiting) {
                        println!("warning: {line}");
                    }
                }
                Err(e) => println!("(messages waiting for removed channels not counted: {e})"),
            }
            let receivers = &settings.inbound.receivers;
            if !receivers.is_empty() {
                println!(
                    "receiving on {}: {} receiver(s): {}",
                    settings.inbound.listen,
                    receivers.len(),
                    names(receivers.keys().collect())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sign(args) => cli::sign::run(args),
        Command::Verify(args) => cli::verify::run(args),
        Command::SendTest(args) => cli::send_test::run(args).await,
        Command::Publish(args) => cli::publish::run(args).await,
        Command::Dead(args) => cli::dead::run(args).await,
        Command::Channel(args) => cli::channel::run(args).await,
        Command::Deliveries(args) => cli::deliveries::run(args).await,
        Command::Demo(args) => cli::demo::run(args).await,
    }
}

/// Stack of the runtime's own threads: a little above the 2 MiB default, for schema
/// checks and templates over the deepest JSON accepted (64 levels) in debug builds.
const RUNTIME_STACK_BYTES: usize = 4 << 20;

/// lapin parses each delivery's headers on a thread of its own, recursively, with the
/// default stack: headers nested a few hundred levels deep crash the process (and every
/// replica the message is redelivered to). That thread takes its size from
/// `RUST_MIN_STACK`, read once at the first thread spawned, so it is set here, first,
/// unless the operator set it. The runtime's threads are sized explicitly above.
fn reserve_stack_for_amqp_parsing() {
    if std::env::var_os("RUST_MIN_STACK").is_none() {
        let bytes = notify_bridge::consume::headers::DEEP_STACK_BYTES;
        std::env::set_var("RUST_MIN_STACK", bytes.to_string());
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // lapin logs every returned (unroutable) message whole at warn: for an inbound
        // callback that is the decrypted body, personal data that must not reach the logs.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,lapin=warn,lapin::returned_messages=error")
        });
    // Colours only on a terminal: journald and log files get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

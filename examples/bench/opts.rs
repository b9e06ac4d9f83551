//! The bench's command-line options: sizes, runs, tuning, and which scenarios to run.

use std::path::PathBuf;

use clap::ValueEnum;

/// Command-line options of a benchmark run.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Messages per throughput run.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Messages per rsa run (default: half of --messages).
    #[arg(long)]
    pub rsa_messages: Option<usize>,
    /// Messages per noisy-neighbour run, 1 in 10 for the failing channel A (default: half
    /// of --messages).
    #[arg(long)]
    pub noisy_messages: Option<usize>,
    /// AMQP channels the queue is filled over.
    #[arg(long, default_value_t = 4)]
    pub channels: usize,
    /// Runs; each figure is the median over them.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Small and fast (200 messages, 1 run, short phases): checks the harness works.
    #[arg(long)]
    pub quick: bool,
    #[arg(
        long,
        env = "NOTIFY_BRIDGE_TEST_AMQP",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp: String,
    /// The bridge binary (default: target/release/notify-bridge beside this program).
    #[arg(long)]
    pub bridge: Option<PathBuf>,
    /// broker.prefetch of the bridge, and the baseline's prefetch.
    #[arg(long, default_value_t = 256)]
    pub prefetch: u16,
    /// max_in_flight of each bridge channel, and the baseline's in-flight limit.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// How channel A misbehaves in the noisy-neighbour runs.
    #[arg(long, value_delimiter = ',', default_values = ["hang", "fail"])]
    pub noisy: Vec<NoisyMode>,
    /// Seconds each paced (latency) run publishes for.
    #[arg(long, default_value_t = 4.0)]
    pub paced_secs: f64,
    /// Messages per second for the paced runs, instead of half the md5 channel's drained
    /// rate measured in the same run: to compare two builds at the same load.
    #[arg(long)]
    pub pace: Option<f64>,
    /// Seconds B gets to finish while A misbehaves; B's figures are taken as they are then.
    #[arg(long, default_value_t = 20)]
    pub noisy_deadline: u64,
    /// Scenarios to run (paced needs md5, rsa runs OpenSSL too).
    #[arg(long, value_delimiter = ',', default_values = ["baseline", "md5", "paced", "rsa", "noisy"])]
    pub only: Vec<Scenario>,
    /// RUST_LOG for the bridge (default: the bridge's own, `info,lapin=warn`).
    #[arg(long)]
    pub bridge_log: Option<String>,
    /// Run each consumer under this command (split on spaces), e.g.
    /// `--wrap "valgrind --tool=callgrind --callgrind-out-file=target/bench/cg.%p"`.
    #[arg(long)]
    pub wrap: Option<String>,
    /// Where generated configs and consumer logs go (default: target/bench).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Queue depths of the scale curve (`--only scale`).
    #[arg(long, value_delimiter = ',', default_values_t = [20_000, 200_000, 1_000_000])]
    pub depths: Vec<usize>,
    /// Keep each bridge run's SQLite journal in the workdir (`<queue>.db`), to look into.
    #[arg(long)]
    pub keep_journals: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NoisyMode {
    /// A's endpoint never answers within A's 2 s timeout.
    Hang,
    /// A's endpoint answers 500 at once.
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Baseline,
    Md5,
    Paced,
    Rsa,
    Noisy,
    /// The scale curve over `--depths` (not run unless asked for: it queues a million).
    Scale,
}

impl NoisyMode {
    pub fn name(self) -> &'static str {
        match self {
            NoisyMode::Hang => "hang",
            NoisyMode::Fail => "fail",
        }
    }
}

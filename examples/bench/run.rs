//! The benchmark proper: each run measures the baseline, the md5 channel (drained and
//! paced), the rsa channel against OpenSSL, and the noisy neighbour; figures are medians.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;

use super::config::{self, Tuning};
use super::load::{Publisher, Route, Target};
use super::openssl;
use super::report::{number, Agg, Figures};
use super::scenario::{Harness, Load, Measured, Under};
use super::sink::Sink;
use super::stats::retry_gap_ms;

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
}

impl NoisyMode {
    fn name(self) -> &'static str {
        match self {
            NoisyMode::Hang => "hang",
            NoisyMode::Fail => "fail",
        }
    }
}

/// Runs the benchmark and prints its report; the last line is `RESULT …`.
pub async fn bench(mut opts: Opts) -> anyhow::Result<()> {
    if opts.quick {
        opts.messages = opts.messages.min(200);
        opts.runs = 1;
        opts.paced_secs = opts.paced_secs.min(1.0);
        opts.noisy_deadline = opts.noisy_deadline.min(10);
    }
    let harness = harness(&opts).await?;
    println!(
        "notify-bridge bench: {} messages ({} B each), {} run(s), prefetch {}, {} in flight; bridge {}",
        opts.messages,
        sample_size(&harness),
        opts.runs,
        opts.prefetch,
        opts.in_flight,
        harness.bridge.display()
    );
    let mut figures = Figures::default();
    for run in 1..=opts.runs {
        println!("run {run}/{}", opts.runs);
        one_run(&harness, &opts, &mut figures).await?;
    }
    println!(
        "median of {} run(s) (counts summed, peak RSS the max):",
        opts.runs
    );
    for (key, value, values) in figures.rows() {
        let each: Vec<String> = values.iter().map(|v| number(key, *v)).collect();
        println!(
            "  {key:<28} {:>10}   [{}]",
            number(key, value),
            each.join(", ")
        );
    }
    harness.publisher.close().await;
    println!("{}", figures.result_line());
    Ok(())
}

async fn harness(opts: &Opts) -> anyhow::Result<Harness> {
    let self_exe = std::env::current_exe()?;
    // target/<profile>/examples/bench → target/<profile>
    let profile_dir = self_exe
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let bridge = opts
        .bridge
        .clone()
        .unwrap_or_else(|| profile_dir.join("notify-bridge"));
    anyhow::ensure!(
        bridge.exists(),
        "no bridge binary at {} (cargo build --release, or --bridge)",
        bridge.display()
    );
    let workdir = opts.workdir.clone().unwrap_or_else(|| {
        profile_dir
            .parent()
            .map(|t| t.join("bench"))
            .unwrap_or_default()
    });
    std::fs::create_dir_all(&workdir)?;
    Ok(Harness {
        amqp: opts.amqp.clone(),
        sink: Sink::start().await?,
        publisher: Publisher::connect(&opts.amqp, opts.channels).await?,
        bridge,
        self_exe,
        workdir,
        fixtures: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")),
        tuning: Tuning {
            prefetch: opts.prefetch,
            in_flight: opts.in_flight,
        },
        bridge_log: opts.bridge_log.clone(),
        wrap: opts
            .wrap
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect(),
    })
}

fn sample_size(harness: &Harness) -> usize {
    let target = Target {
        channel: config::MD5.into(),
        url: harness.sink.url("/ok/md5"),
        third: false,
    };
    super::load::message(&target, 123).len()
}

async fn one_run(h: &Harness, opts: &Opts, figures: &mut Figures) -> anyhow::Result<()> {
    let wants = |s| opts.only.contains(&s);
    let n = opts.messages;
    let mut baseline = None;
    if wants(Scenario::Baseline) {
        let m = h.measure(Under::Baseline, &drain(h, "baseline", n)).await?;
        print_drain("baseline", &m, None);
        record_drain(figures, "baseline", &m);
        baseline = Some(m);
    }
    let mut md5_rate = None;
    if wants(Scenario::Md5) {
        let m = h.measure(Under::Bridge, &drain(h, "md5", n)).await?;
        print_drain("md5", &m, baseline.as_ref().map(|b| b.summary.rate));
        record_drain(figures, "md5", &m);
        figures.add("peak_rss_mib", Agg::Max, m.peak_rss_mib);
        if let Some(b) = &baseline {
            figures.add("md5_ratio", Agg::Median, m.summary.rate / b.summary.rate);
            // CPU is counted per process, so this holds up when other work shares the
            // cores: the rate ratio to expect when the machine is the limit.
            let cpu_ratio = machine_cpu_us(b) / machine_cpu_us(&m);
            println!(
                "  md5 uses {:.2}x the machine CPU per message of the baseline",
                1.0 / cpu_ratio
            );
            figures.add("md5_cpu_ratio", Agg::Median, cpu_ratio);
        }
        md5_rate = Some(m.summary.rate);
    }
    if let (true, Some(max)) = (wants(Scenario::Paced), md5_rate) {
        paced(h, opts, Under::Bridge, max / 2.0, figures).await?;
        if baseline.is_some() {
            paced(h, opts, Under::Baseline, max / 2.0, figures).await?;
        }
    }
    if wants(Scenario::Rsa) {
        rsa(h, opts, figures).await?;
    }
    if wants(Scenario::Noisy) {
        let pace = md5_rate.map(|r| r / 2.0);
        for mode in &opts.noisy {
            noisy(h, opts, *mode, pace, figures).await?;
        }
    }
    Ok(())
}

/// Every message to one healthy channel, queued before the consumer starts.
fn drain(h: &Harness, name: &'static str, n: usize) -> Load {
    let (channel, third) = match name {
        "rsa" => (config::RSA, true),
        _ => (config::MD5, false),
    };
    let url = h.sink.url(&format!("/ok/{name}"));
    let route: Arc<Route> = Arc::new(move |_| {
        Some(Target {
            channel: channel.into(),
            url: url.clone(),
            third,
        })
    });
    Load {
        name,
        n,
        route,
        healthy: Arc::new(|_| true),
        retried: None,
        pace: None,
        deadline: Duration::from_secs(180),
    }
}

fn print_drain(name: &str, m: &Measured, baseline: Option<f64>) {
    let s = &m.summary;
    let ratio = baseline
        .map(|b| format!(" ({:.2} of baseline)", s.rate / b))
        .unwrap_or_default();
    println!(
        "  {name:<9} drained {}/{}: {:.0} msg/s{ratio}; cpu/msg consumer {:.0} µs, broker {:.0} µs, sink {:.0} µs; peak RSS {:.1} MiB; duplicates {}, missing {}; backlog latency p50 {:.0} ms p99 {:.0} ms",
        s.delivered, s.expected, s.rate, m.consumer_cpu_us, m.broker_cpu_us, m.bench_cpu_us,
        m.peak_rss_mib, s.duplicates, s.missing, s.p50_ms, s.p99_ms
    );
}

/// CPU per message of the consumer, the broker and the sink together.
fn machine_cpu_us(m: &Measured) -> f64 {
    m.consumer_cpu_us + m.broker_cpu_us + m.bench_cpu_us
}

fn record_drain(figures: &mut Figures, name: &str, m: &Measured) {
    figures.add(&format!("{name}_rate"), Agg::Median, m.summary.rate);
    figures.add(&format!("{name}_cpu_us"), Agg::Median, m.consumer_cpu_us);
    figures.add(
        &format!("{name}_broker_cpu_us"),
        Agg::Median,
        m.broker_cpu_us,
    );
    figures.add(&format!("{name}_rss_mib"), Agg::Max, m.peak_rss_mib);
    figures.add("duplicates", Agg::Sum, m.summary.duplicates as f64);
    figures.add("missing", Agg::Sum, m.summary.missing as f64);
    figures.add("foreign", Agg::Sum, m.foreign as f64);
}

/// The md5 channel fed live at `rate` (half its measured maximum): latency; and the
/// baseline at the same rate, to tell the machine's latency from the bridge's.
async fn paced(
    h: &Harness,
    opts: &Opts,
    under: Under,
    rate: f64,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let name = match under {
        Under::Bridge => "md5",
        Under::Baseline => "baseline",
    };
    let mut load = drain(h, name, (rate * opts.paced_secs).ceil() as usize);
    load.pace = Some(rate);
    load.deadline = Duration::from_secs(30);
    let m = h.measure(under, &load).await?;
    let s = &m.summary;
    println!(
        "  {name:<9} paced at {rate:.0}/s: {}/{} arrived; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; cpu/msg consumer {:.0} µs, broker {:.0} µs",
        s.delivered, s.expected, s.p50_ms, s.p99_ms, s.max_ms, m.consumer_cpu_us, m.broker_cpu_us
    );
    if under == Under::Bridge {
        figures.add("md5_paced_rate", Agg::Median, rate);
    }
    figures.add(&format!("{name}_p50_ms"), Agg::Median, s.p50_ms);
    figures.add(&format!("{name}_p99_ms"), Agg::Median, censored_p99(s));
    figures.add("duplicates", Agg::Sum, s.duplicates as f64);
    figures.add("missing", Agg::Sum, s.missing as f64);
    Ok(())
}

/// p99 latency, infinite when more than 1% never arrived.
fn censored_p99(s: &super::stats::Summary) -> f64 {
    if s.missing * 100 > s.expected {
        f64::INFINITY
    } else {
        s.p99_ms
    }
}

/// The rsa channel drained, against OpenSSL's RSA-2048 sign rate on every core.
async fn rsa(h: &Harness, opts: &Opts, figures: &mut Figures) -> anyhow::Result<()> {
    let n = opts.rsa_messages.unwrap_or(opts.messages / 2).max(1);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let seconds = if opts.quick { 1 } else { 3 };
    // OpenSSL just before and just after the drain; other load on the machine only ever
    // lowers it, so the better of the two is the fairer yardstick (and the stricter).
    let before = openssl_rate(cores, seconds).await?;
    let m = h.measure(Under::Bridge, &drain(h, "rsa", n)).await?;
    let after = openssl_rate(cores, seconds).await?;
    let openssl = before.max(after);
    print_drain("rsa", &m, None);
    record_drain(figures, "rsa", &m);
    let ratio = m.summary.rate / openssl;
    // The same comparison in CPU: OpenSSL's time per sign on one core against the whole
    // machine's CPU per delivered rsa message (bridge, broker and sink).
    let sign_us = 1e6 * cores as f64 / openssl;
    let cpu_ratio = sign_us / machine_cpu_us(&m);
    println!(
        "  openssl speed -multi {cores} rsa2048: {before:.0} before, {after:.0} after sign/s ({sign_us:.0} µs/sign/core); rsa channel at {ratio:.2} of it (by CPU per message: {cpu_ratio:.2})"
    );
    figures.add("openssl_sign_rate", Agg::Median, openssl);
    figures.add("rsa_ratio_openssl", Agg::Median, ratio);
    figures.add("rsa_cpu_ratio_openssl", Agg::Median, cpu_ratio);
    Ok(())
}

async fn openssl_rate(cores: usize, seconds: u32) -> anyhow::Result<f64> {
    tokio::task::spawn_blocking(move || openssl::rsa2048_sign_rate(cores, seconds))
        .await?
        .map_err(anyhow::Error::msg)
}

/// Channel A misbehaves (1 message in 10) while B is healthy: B's throughput and, paced,
/// its latency, each against B alone; and A's messages must all be retried or parked.
async fn noisy(
    h: &Harness,
    opts: &Opts,
    mode: NoisyMode,
    pace: Option<f64>,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let n = opts.noisy_messages.unwrap_or(opts.messages / 2).max(10);
    let key = |what: &str| format!("noisy_{}_{what}", mode.name());
    let deadline = Duration::from_secs(opts.noisy_deadline);
    let solo = h
        .measure(
            Under::Bridge,
            &neighbours(h, mode, n, false, None, deadline),
        )
        .await?;
    let mixed = h
        .measure(Under::Bridge, &neighbours(h, mode, n, true, None, deadline))
        .await?;
    let ratio = mixed.summary.rate / solo.summary.rate.max(f64::MIN_POSITIVE);
    let a = account_for_a(n, &mixed);
    println!(
        "  noisy {}: B alone {:.0} msg/s; with A {:.0} msg/s ({ratio:.2}), B {}/{} in {} s; A: {} sent, {} retried or parked ({} parked), {} lost; retry gap median {}",
        mode.name(), solo.summary.rate, mixed.summary.rate, mixed.summary.delivered,
        mixed.summary.expected, opts.noisy_deadline, a.sent, a.kept, a.parked, a.lost,
        a.gap_ms.map_or("-".into(), |g| format!("{g:.0} ms"))
    );
    figures.add(&key("b_ratio"), Agg::Median, ratio);
    figures.add(&key("a_lost"), Agg::Sum, a.lost as f64);
    figures.add(&key("b_lost"), Agg::Sum, lost_b(n, &mixed) as f64);
    if let Some(gap) = a.gap_ms {
        figures.add(&key("a_retry_gap_ms"), Agg::Median, gap);
    }
    let Some(rate) = pace else {
        return Ok(());
    };
    let paced_n = (rate * opts.paced_secs).ceil() as usize;
    let solo = h
        .measure(
            Under::Bridge,
            &neighbours(h, mode, paced_n, false, Some(rate), deadline),
        )
        .await?;
    let mixed = h
        .measure(
            Under::Bridge,
            &neighbours(h, mode, paced_n, true, Some(rate), deadline),
        )
        .await?;
    let (p99_solo, p99_mixed) = (censored_p99(&solo.summary), censored_p99(&mixed.summary));
    println!(
        "  noisy {} paced at {rate:.0}/s: B alone p99 {p99_solo:.1} ms; with A p99 {p99_mixed:.1} ms ({}/{} of B arrived)",
        mode.name(), mixed.summary.delivered, mixed.summary.expected
    );
    figures.add(&key("b_p99_ms"), Agg::Median, p99_mixed);
    figures.add(
        &key("b_p99_ratio"),
        Agg::Median,
        p99_mixed / p99_solo.max(0.001),
    );
    Ok(())
}

/// Message `i` goes to A when `i % 10 == 0` (left out when `with_a` is false), else to B.
fn neighbours(
    h: &Harness,
    mode: NoisyMode,
    n: usize,
    with_a: bool,
    pace: Option<f64>,
    deadline: Duration,
) -> Load {
    let a_url = h.sink.url(&format!("/{}/a", mode.name()));
    let b_url = h.sink.url("/ok/b");
    let route: Arc<Route> = Arc::new(move |i| {
        let (channel, url) = match is_a(i) {
            true if !with_a => return None,
            true => (config::NOISY_A, &a_url),
            false => (config::HEALTHY_B, &b_url),
        };
        Some(Target {
            channel: channel.into(),
            url: url.clone(),
            third: false,
        })
    });
    Load {
        name: if with_a { "noisy" } else { "solo" },
        n,
        route,
        healthy: Arc::new(|i| !is_a(i)),
        // Drained: wait for A's first retry too, to time it against A's schedule.
        retried: (with_a && pace.is_none()).then(|| Arc::new(is_a) as Arc<_>),
        pace,
        deadline,
    }
}

fn is_a(index: usize) -> bool {
    index.is_multiple_of(10)
}

/// Where A's messages ended up.
struct AccountA {
    sent: usize,
    /// Still in the main queue, a retry queue or the parking lot after the run.
    kept: usize,
    parked: usize,
    lost: usize,
    gap_ms: Option<f64>,
}

fn account_for_a(n: usize, m: &Measured) -> AccountA {
    let a: HashSet<u32> = (0..n).filter(|&i| is_a(i)).map(|i| i as u32).collect();
    let kept = a.intersection(&m.left_in_queues).count();
    AccountA {
        sent: a.len(),
        kept,
        parked: a.intersection(&m.parked).count(),
        lost: a.len() - kept,
        gap_ms: retry_gap_ms(&m.arrivals, is_a),
    }
}

/// B's messages that neither arrived nor are still queued.
fn lost_b(n: usize, m: &Measured) -> usize {
    let arrived: HashSet<u32> = m.arrivals.iter().map(|a| a.index).collect();
    (0..n as u32)
        .filter(|&i| !is_a(i as usize))
        .filter(|i| !arrived.contains(i) && !m.left_in_queues.contains(i))
        .count()
}

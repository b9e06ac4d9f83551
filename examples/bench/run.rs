//! The benchmark proper: each run measures the baseline, the md5 channel (drained and
//! paced), the rsa channel against OpenSSL, and the noisy neighbour; figures are medians.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::opts::{Opts, Scenario};
use super::scenario::{Harness, Load, Measured, Under};
use super::{noisy, scale};
use bench_harness::config::{self, Tuning};
use bench_harness::load::{Publisher, Route, Target};
use bench_harness::openssl;
use bench_harness::report::{number, Agg, Figures};
use bench_harness::sink::Sink;

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
    if opts.only.contains(&Scenario::Scale) {
        for file in scale::write(&harness.workdir, &opts.depths, &figures)? {
            println!("scale curve: {}", file.display());
        }
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
        keep_journals: opts.keep_journals,
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
    bench_harness::load::message(&target, 123).len()
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
    let pace = opts.pace.or(md5_rate.map(|r| r / 2.0));
    if let (true, Some(pace)) = (wants(Scenario::Paced), pace) {
        paced(h, opts, Under::Bridge, pace, figures).await?;
        if baseline.is_some() {
            paced(h, opts, Under::Baseline, pace, figures).await?;
        }
    }
    if wants(Scenario::Rsa) {
        rsa(h, opts, figures).await?;
    }
    if wants(Scenario::Noisy) {
        for mode in &opts.noisy {
            noisy::run(h, opts, *mode, pace, figures).await?;
        }
    }
    if wants(Scenario::Scale) {
        scale::run(h, opts, figures).await?;
    }
    Ok(())
}

/// Every message to one healthy channel, queued before the consumer starts.
pub(super) fn drain(h: &Harness, name: &'static str, n: usize) -> Load {
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
        // A deep queue takes longer: allow 1,500 a second at worst.
        deadline: Duration::from_secs(180.max(n as u64 / 1_500)),
    }
}

pub(super) fn print_drain(name: &str, m: &Measured, baseline: Option<f64>) {
    let s = &m.summary;
    let ratio = baseline
        .map(|b| format!(" ({:.2} of baseline)", s.rate / b))
        .unwrap_or_default();
    let journal = m
        .journal_bytes_per_msg
        .map(|b| format!("; journal {b:.0} B/msg"))
        .unwrap_or_default();
    println!(
        "  {name:<9} drained {}/{}: {:.0} msg/s{ratio}; cpu/msg consumer {:.0} µs, broker {:.0} µs, sink {:.0} µs; peak RSS {:.1} MiB; duplicates {}, missing {}; backlog latency p50 {:.0} ms p99 {:.0} ms{journal}",
        s.delivered, s.expected, s.rate, m.consumer_cpu_us, m.broker_cpu_us, m.bench_cpu_us,
        m.peak_rss_mib, s.duplicates, s.missing, s.p50_ms, s.p99_ms
    );
}

/// CPU per message of the consumer, the broker and the sink together.
pub fn machine_cpu_us(m: &Measured) -> f64 {
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
    if let Some(bytes) = m.journal_bytes_per_msg {
        figures.add(&format!("{name}_journal_bytes"), Agg::Median, bytes);
    }
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
pub fn censored_p99(s: &bench_harness::stats::Summary) -> f64 {
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

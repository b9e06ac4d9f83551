//! The noisy-neighbour scenario: channel A misbehaves on 1 message in 10 while channel B
//! is healthy; B's throughput and latency against B alone, and where A's messages went.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::opts::{NoisyMode, Opts};
use super::run::censored_p99;
use super::scenario::{Harness, Load, Measured, Under};
use bench_harness::config;
use bench_harness::load::{Route, Target};
use bench_harness::report::{Agg, Figures};
use bench_harness::stats::retry_gap_ms;

/// Channel A misbehaves (1 message in 10) while B is healthy: B's throughput and, paced,
/// its latency, each against B alone; and A's messages must all be retried or parked.
pub async fn run(
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

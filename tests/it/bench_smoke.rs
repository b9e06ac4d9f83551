//! The benchmark harness (`examples/bench`) on a tiny load: its sink, publisher and
//! counting against an in-process bridge, so a broken harness fails `cargo test`.
//!
//! The harness is the `bench-harness` library (`bench/harness/`) the bench program uses too;
//! the release benchmark itself runs through `bench/run.sh`.

use bench_harness::{config, sink, stats};
use std::collections::HashSet;
use std::time::Duration;

use crate::support::{amqp_url, eventually, settings, unique_queue, Bridge};
use bench_harness::load::{Publisher, Target};

const N: usize = 200;
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// 1 message in 10 goes to channel A, whose endpoint answers 500; the rest to md5.
fn is_a(index: usize) -> bool {
    index.is_multiple_of(10)
}

#[tokio::test]
async fn the_harness_counts_a_small_load_exactly() {
    let queue = unique_queue("bench");
    let sink = sink::Sink::start().await.unwrap();
    let publisher = Publisher::connect(&amqp_url(), 2).await.unwrap();
    publisher.declare(&queue).await.unwrap();
    sink.reset(N);
    let (ok, fail) = (sink.url("/ok/md5"), sink.url("/fail/a"));
    let route = move |i: usize| {
        let (channel, url) = match is_a(i) {
            true => (config::NOISY_A, &fail),
            false => (config::MD5, &ok),
        };
        Some(Target {
            channel: channel.into(),
            url: url.clone(),
            third: false,
        })
    };
    publisher.fill(&queue, "smoke", N, &route).await.unwrap();
    let tuning = config::Tuning {
        prefetch: 64,
        in_flight: 16,
    };
    let toml = config::bridge_toml(&amqp_url(), &queue, tuning, FIXTURES.as_ref());
    let settings = settings(&toml, &queue);
    let bridge = Bridge::start(settings);

    // A's messages fail three times (schedule 0s, 1s, 2s), then wait in the parking lot.
    let dead = format!("{queue}.dead");
    let a_count = (0..N).filter(|&i| is_a(i)).count() as u32;
    eventually(
        Duration::from_secs(15),
        "healthy arrived, A parked",
        || async {
            sink.all_arrived(|i| !is_a(i))
                && publisher.queue_state(&dead).await.map(|(ready, _)| ready) == Some(a_count)
        },
    )
    .await;
    bridge.stop().await;

    let arrivals = sink.arrivals();
    let healthy = stats::summarize(&arrivals, N, |i| !is_a(i), None);
    assert_eq!((healthy.expected, healthy.delivered), (180, 180));
    assert_eq!((healthy.duplicates, healthy.missing), (0, 0));
    assert!(healthy.rate > 0.0 && healthy.p50_ms <= healthy.p99_ms);
    assert_eq!(sink.foreign(), 0);
    let a = stats::summarize(&arrivals, N, is_a, None);
    assert_eq!(
        (a.delivered, a.duplicates),
        (20, 0),
        "each attempt arrives once"
    );
    let attempts = arrivals.iter().filter(|x| is_a(x.index as usize)).count();
    assert_eq!(attempts, 60, "three attempts each");
    // The first retry waits its 1 s step (plus up to 10% jitter, plus the trip back).
    let gap = stats::retry_gap_ms(&arrivals, is_a).unwrap();
    assert!((1000.0..3000.0).contains(&gap), "retry gap {gap} ms");
    let parked: HashSet<u32> = publisher
        .take_all(&dead, Duration::from_millis(300))
        .await
        .unwrap()
        .into_iter()
        .collect();
    let expected: HashSet<u32> = (0..N as u32).filter(|&i| is_a(i as usize)).collect();
    assert_eq!(parked, expected);

    publisher.close().await;
}

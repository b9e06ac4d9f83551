//! Three replicas on three nodes, quorum queues, a brand failing 30% of first attempts and
//! 1% always; then, one after another: the main queue's leader node killed, a replica
//! killed, every connection on a node closed. Nothing may go missing.

use std::time::{Duration, Instant};

use serde_json::json;

use super::brand::{always_fails, duplicates_between, longest_stall, Brand};
use super::fleet::{Replica, CHANNELS};
use super::journal::SharedJournal;
use super::{cluster, delete_on_drop, ensure_cluster, leader_of, publish_all, queue_types};
use crate::queue_message;
use crate::support::{eventually, unique_queue};

/// Messages per run (three waves, one per fault); NOTIFY_BRIDGE_CLUSTER_MESSAGES overrides.
fn total() -> u32 {
    std::env::var("NOTIFY_BRIDGE_CLUSTER_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6_000)
}

/// What one fault cost, as the brand saw it.
pub struct Measured {
    pub fault: &'static str,
    /// When the fault was made.
    pub at: Instant,
    /// The longest pause in requests in the 30 s after the fault.
    pub stall: Duration,
    /// From the fault to the end of that pause: deliveries flowing again.
    pub resumed: Duration,
    /// For a killed replica: until its restart consumes again.
    pub replica_back: Option<Duration>,
    /// Successful deliveries of an id already delivered, in the 30 s after the fault.
    pub duplicates: usize,
}

impl Measured {
    fn of(fault: &'static str, brand: &Brand, at: Instant) -> Self {
        let arrivals = brand.arrivals();
        let (stall, resumed) = longest_stall(&arrivals, at, Duration::from_secs(30));
        Self {
            fault,
            at,
            stall,
            resumed,
            replica_back: None,
            duplicates: duplicates_between(&arrivals, at, at + Duration::from_secs(30)),
        }
    }
}

impl std::fmt::Display for Measured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<30} resumed after {:>7.2?} (longest stall {:>7.2?}), duplicates {}",
            self.fault, self.resumed, self.stall, self.duplicates
        )?;
        if let Some(back) = self.replica_back {
            write!(f, ", replica consuming again after {back:.2?}")?;
        }
        Ok(())
    }
}

fn wave(range: std::ops::Range<u32>, brand: &Brand) -> Vec<(String, String)> {
    range
        .map(|n| {
            let channel = CHANNELS[n as usize % CHANNELS.len()];
            let url = format!("http://{}/n", brand.addr);
            let whale = json!({"bizContent": format!("{{\"codeNo\":\"C{n}\"}}")});
            (
                format!("c-{n}"),
                queue_message(channel, &url, "MakeCode", &whale),
            )
        })
        .collect()
}

/// Waits until the brand has `n` distinct ids delivered; on timeout fails with what is
/// where: the ids not yet delivered, the queues' depths, which replicas consume.
async fn delivered_at_least(brand: &Brand, n: usize, replicas: &[Replica], queue: &str) {
    let started = Instant::now();
    while brand.delivered() < n {
        if started.elapsed() > Duration::from_secs(240) {
            let mut consuming = Vec::new();
            for r in replicas {
                consuming.push(r.consuming_from().await);
            }
            let depths = cluster(&["ctl", "1", "-q", "list_queues", "name", "messages"]).await;
            let depths: Vec<&str> = depths.lines().filter(|l| l.contains(queue)).collect();
            let waiting = super::brand::undelivered(&brand.arrivals());
            panic!(
                "{} of {n} delivered after {:?}; replicas consuming from {consuming:?}; \
                 queues {depths:?}; first undelivered {waiting:?}",
                brand.delivered(),
                started.elapsed()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Delivered ids of a wave that are meant to succeed.
fn succeeding(range: std::ops::Range<u32>) -> usize {
    range.filter(|n| !always_fails(*n)).count()
}

async fn all_consuming(replicas: &[Replica]) -> bool {
    for r in replicas {
        if r.consuming_from().await.is_none() {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_cluster_loses_nothing_through_node_replica_and_connection_faults() {
    let started = Instant::now();
    ensure_cluster().await;
    let queue = unique_queue("cluster");
    let _queues = delete_on_drop(&queue);
    let journal = SharedJournal::new();
    let brand = Brand::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut replicas: Vec<Replica> = (1..=3)
        .map(|n| Replica::new(n, dir.path(), &queue, &journal.url()))
        .collect();
    for r in &mut replicas {
        r.start();
    }
    eventually(Duration::from_secs(60), "three replicas consuming", || {
        all_consuming(&replicas)
    })
    .await;
    for (r, node) in replicas.iter().zip(["5681", "5682", "5683"]) {
        let from = r.consuming_from().await.unwrap();
        assert!(from.ends_with(node), "replica {} on {from}", r.n);
    }
    // Quorum everywhere: main, parking lot, retry and defer queues, from the one argument.
    let types = queue_types(&queue, 1).await;
    assert!(types.len() >= 4, "{types:?}");
    assert!(types.iter().all(|(_, t, _)| t == "quorum"), "{types:?}");
    // Retries come back brought by the bridge, not by the broker's dead-lettering (lossy
    // at-most-once; at-least-once stalled on a leader change): no TTL, no dead-letter target.
    let holding = types.iter().filter(|(name, _, _)| name.contains(".retry."));
    for (name, _, arguments) in holding {
        assert!(!arguments.contains("x-dead-letter"), "{name}: {arguments}");
        assert!(!arguments.contains("x-message-ttl"), "{name}: {arguments}");
    }

    let n = total();
    let third = n / 3;
    let waves = [0..third, third..2 * third, 2 * third..n];
    let mut measured = Vec::new();

    // 1. The node leading the main queue is killed mid-wave, restarted later. Retries are
    // in flight through it: the bridge brings them back from the retry queues itself (on
    // RabbitMQ 3.10.8 the broker's at-least-once dead-lettering stalled here for minutes).
    let leader = leader_of(&queue, 1).await;
    let publish_via = leader % 3 + 1;
    publish_all(publish_via, &queue, &wave(waves[0].clone(), &brand)).await;
    delivered_at_least(&brand, succeeding(waves[0].clone()) / 2, &replicas, &queue).await;
    let fault = Instant::now();
    cluster(&["kill", &leader.to_string()]).await;
    delivered_at_least(&brand, succeeding(0..waves[0].end), &replicas, &queue).await;
    measured.push(Measured::of("leader node killed", &brand, fault));
    cluster(&["restart", &leader.to_string()]).await;
    eventually(
        Duration::from_secs(60),
        "every replica consuming after the leader's restart",
        || all_consuming(&replicas),
    )
    .await;

    // 2. A replica is killed mid-wave and restarted.
    publish_all(publish_via, &queue, &wave(waves[1].clone(), &brand)).await;
    delivered_at_least(
        &brand,
        succeeding(0..third) + succeeding(waves[1].clone()) / 2,
        &replicas,
        &queue,
    )
    .await;
    let fault = Instant::now();
    replicas[1].kill();
    replicas[1].start();
    eventually(
        Duration::from_secs(60),
        "the killed replica back",
        || async { replicas[1].consuming_from().await.is_some() },
    )
    .await;
    let back = fault.elapsed();
    delivered_at_least(&brand, succeeding(0..waves[1].end), &replicas, &queue).await;
    let mut killed = Measured::of("replica killed", &brand, fault);
    killed.replica_back = Some(back);
    measured.push(killed);

    // 3. Every connection on replica 3's node is closed by the broker.
    publish_all(publish_via, &queue, &wave(waves[2].clone(), &brand)).await;
    delivered_at_least(
        &brand,
        succeeding(0..2 * third) + succeeding(waves[2].clone()) / 2,
        &replicas,
        &queue,
    )
    .await;
    let node = replicas[2]
        .consuming_from()
        .await
        .expect("replica 3 consuming");
    let node_n = node.rsplit(':').next().unwrap().parse::<usize>().unwrap() - 5680;
    let fault = Instant::now();
    let node_arg = node_n.to_string();
    cluster(&[
        "ctl",
        &node_arg,
        "-q",
        "close_all_connections",
        "test fault",
    ])
    .await;
    delivered_at_least(&brand, succeeding(0..n), &replicas, &queue).await;
    measured.push(Measured::of("connections closed on a node", &brand, fault));
    eventually(
        Duration::from_secs(30),
        "every replica consuming again",
        || all_consuming(&replicas),
    )
    .await;

    for m in &measured {
        eprintln!("{m}");
    }
    super::verdict::verify(&brand, &journal, &replicas, n, &measured).await;
    eprintln!("cluster test: {n} messages in {:?}", started.elapsed());
}

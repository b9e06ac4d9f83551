//! Process faults: SIGKILL at random moments and SIGTERM mid-run lose nothing.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::queue_message;
use crate::support::broker::TestBroker;
use crate::support::process::{config_file, spawn_bridge, spawn_bridge_with, terminate};
use crate::support::receiver::Receiver;
use crate::support::{eventually, unique_queue};

/// Eleven quick retries: at a 30% failure rate the chance of a message exhausting them is
/// 0.3^12, so any message missing at the end was lost, not parked.
const CONFIG: &str = r#"
[broker]
url = "{amqp}"
queue = "{queue}"
prefetch = 128
shutdown_grace = "3s"

[channels.shop]
app_id = "APP"
max_in_flight = 64
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "fault-secret" }
retry = { schedule = ["0s", "50ms", "50ms", "50ms", "50ms", "50ms", "50ms", "50ms", "50ms", "50ms", "50ms", "50ms"] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing() {
    let queue = unique_queue("crash");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let delivered: Arc<Mutex<HashSet<String>>> = Arc::default();
    let successes = Arc::new(AtomicUsize::new(0));
    let (record, count) = (Arc::clone(&delivered), Arc::clone(&successes));
    let receiver = Receiver::start(move |r| {
        if rand::random::<f64>() < 0.3 {
            return (500, "flaky".into());
        }
        record
            .lock()
            .unwrap()
            .insert(r.headers["x-notify-id"].clone());
        count.fetch_add(1, Ordering::SeqCst);
        (200, "ok".into())
    })
    .await;
    let total = 5000;
    let body = queue_message(
        "shop",
        &receiver.url("/n"),
        "MakeCode",
        &json!({"bizContent": "{}"}),
    );
    for i in 0..total {
        broker
            .publish(&queue, body.as_bytes(), Some(&format!("k-{i}")), None)
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), CONFIG, &queue);
    let mut bridge = spawn_bridge(&cfg);
    let mut kills = 0;
    for _ in 0..4 {
        let target = delivered.lock().unwrap().len() + 300 + (rand::random::<u32>() % 600) as usize;
        if target >= total {
            break;
        }
        eventually(
            Duration::from_secs(180),
            "progress before the kill",
            || async { delivered.lock().unwrap().len() >= target },
        )
        .await;
        bridge.kill().unwrap(); // SIGKILL: no chance to drain or ack
        bridge.wait().unwrap();
        kills += 1;
        bridge = spawn_bridge(&cfg);
    }
    eventually(Duration::from_secs(400), "every id delivered", || async {
        delivered.lock().unwrap().len() == total
    })
    .await;
    bridge.kill().unwrap();
    bridge.wait().unwrap();

    let duplicates = successes.load(Ordering::SeqCst) - total;
    println!("crash test: {total} messages, {kills} SIGKILLs, {duplicates} duplicate successful deliveries");
    assert!(kills >= 2, "the bridge was killed mid-run");
    assert_eq!(
        broker.depth(&format!("{queue}.dead")).await,
        0,
        "nothing exhausted its retries"
    );
    broker.cleanup(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_and_exits_cleanly() {
    let queue = unique_queue("term");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::start_slow(Duration::from_millis(20), |_| (200, "ok".into())).await;
    let total = 400;
    let body = queue_message(
        "shop",
        &receiver.url("/n"),
        "MakeCode",
        &json!({"bizContent": "{}"}),
    );
    for i in 0..total {
        broker
            .publish(&queue, body.as_bytes(), Some(&format!("t-{i}")), None)
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), CONFIG, &queue);
    let mut bridge = spawn_bridge(&cfg);
    eventually(Duration::from_secs(30), "deliveries under way", || async {
        receiver.count() >= 100
    })
    .await;
    terminate(&bridge);
    let started = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || bridge.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "exited within the 3s grace period"
    );
    assert!(
        receiver.count() < total,
        "it stopped before finishing the queue"
    );

    let mut bridge = spawn_bridge(&cfg);
    eventually(
        Duration::from_secs(60),
        "all delivered after restart",
        || async {
            let ids: HashSet<String> = receiver
                .received()
                .into_iter()
                .map(|r| r.headers["x-notify-id"].clone())
                .collect();
            ids.len() == total
        },
    )
    .await;
    bridge.kill().unwrap();
    bridge.wait().unwrap();
    let duplicates = receiver.count() - total;
    println!("sigterm test: {total} messages, {duplicates} duplicates");
    assert_eq!(duplicates, 0, "a drained shutdown delivers nothing twice");
    broker.cleanup(&queue).await;
}

/// The first signal says what the bridge waits for; a second one stops it at once, and the
/// messages it was still sending return to the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once_and_the_unfinished_return_to_the_queue() {
    let queue = unique_queue("twice");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::start_slow(Duration::from_secs(60), |_| (200, "ok".into())).await;
    let body = queue_message(
        "shop",
        &receiver.url("/n"),
        "MakeCode",
        &json!({"bizContent": "{}"}),
    );
    for i in 0..3 {
        broker
            .publish(&queue, body.as_bytes(), Some(&format!("w-{i}")), None)
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), CONFIG, &queue);
    let env = [
        ("RUST_LOG", "info"),
        ("NOTIFY_BRIDGE__BROKER__SHUTDOWN_GRACE", "60s"),
    ];
    let mut bridge = spawn_bridge_with(&cfg, &env);
    eventually(
        Duration::from_secs(30),
        "three requests hanging at the brand",
        || async { receiver.arrived() == 3 },
    )
    .await;
    terminate(&bridge);
    let log = cfg.with_extension("log");
    eventually(
        Duration::from_secs(10),
        "the first signal explained",
        || async {
            std::fs::read_to_string(&log)
                .is_ok_and(|text| text.contains("a second Ctrl-C or SIGTERM stops at once"))
        },
    )
    .await;
    let started = std::time::Instant::now();
    terminate(&bridge);
    let status = tokio::task::spawn_blocking(move || bridge.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(130), "exit status {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped at once, not after the 60 s grace: {:?}",
        started.elapsed()
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("in_flight=3"), "{text}");
    eventually(
        Duration::from_secs(10),
        "the three back in the queue",
        || async { broker.depth(&queue).await == 3 },
    )
    .await;
}

#[tokio::test]
async fn sighup_reloads_the_channels() {
    let queue = unique_queue("hup");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), CONFIG, &queue);
    let mut bridge = spawn_bridge(&cfg);
    // Until its SIGHUP handler is installed a process dies of SIGHUP: wait for a delivery.
    let first = queue_message(
        "shop",
        &receiver.url("/shop"),
        "Verify",
        &json!({"bizContent": "{}"}),
    );
    broker
        .publish(&queue, first.as_bytes(), Some("h-0"), None)
        .await;
    eventually(Duration::from_secs(30), "the bridge is up", || async {
        receiver.count() == 1
    })
    .await;
    let later =  "\n[channels.later]\napp_id = \"L\"\nurl_policy = { schemes = [\"http\"], allow_private = true }\nsigner = { secret = \"l\" }\n";
    std::fs::write(&cfg, std::fs::read_to_string(&cfg).unwrap() + later).unwrap();
    let body = queue_message(
        "later",
        &receiver.url("/later"),
        "Verify",
        &json!({"bizContent": "{}"}),
    );
    let mut i = 0;
    eventually(Duration::from_secs(30), "the new channel delivers", || {
        i += 1;
        let hup = std::process::Command::new("kill")
            .args(["-HUP", &bridge.id().to_string()])
            .status();
        let (broker, queue, body, receiver) = (&broker, &queue, &body, &receiver);
        async move {
            assert!(hup.unwrap().success());
            broker
                .publish(queue, body.as_bytes(), Some(&format!("h-{i}")), None)
                .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            receiver.count() > 1
        }
    })
    .await;
    assert!(
        bridge.try_wait().unwrap().is_none(),
        "SIGHUP reloads, it does not stop the bridge"
    );
    bridge.kill().unwrap();
    bridge.wait().unwrap();
    assert_eq!(receiver.received()[1].path, "/later");
    broker.cleanup(&queue).await;
}

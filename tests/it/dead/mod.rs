//! The parking lot's operator tools: `dead replay` ends while the bridge re-parks what it
//! moves, `--dry-run` and the filters leave the lot as it was, `dead purge` wants a count,
//! and a message replayed by id is not delivered again by a later `dead replay`.
mod filters;

use std::collections::HashMap;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify_bridge::journal::{Filter, JournalReader};
use serde_json::json;

use crate::support::broker::TestBroker;
use crate::support::process::config_file;
use crate::support::receiver::Receiver;
use crate::support::{eventually, settings, unique_queue, Bridge};
use crate::{queue_message, CONFIG};

/// Runs the bridge binary off the test's runtime, so an in-process bridge keeps working.
async fn cli(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
            .args(&args)
            .output()
            .unwrap()
    });
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the command ends")
        .unwrap()
}

fn stdout(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn whale() -> serde_json::Value {
    json!({"bizContent": "{\"codeNo\":\"C1\"}"})
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_ends_while_the_bridge_parks_every_message_again() {
    let queue = unique_queue("dead-loop");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::start(|_| (401, "unauthorised".into())).await;
    let settings = settings(CONFIG, &queue);
    let journal = settings.journal.url.clone();
    let bridge = Bridge::start(settings);
    let mut ids = Vec::new();
    for i in 0..50 {
        let id = format!("bad-{i}");
        broker.publish(&queue, b"not json", Some(&id), None).await;
        ids.push(id);
    }
    for i in 0..20 {
        let id = format!("refused-{i}");
        let body = queue_message("shop", &receiver.url("/n"), "MakeCode", &whale());
        broker
            .publish(&queue, body.as_bytes(), Some(&id), None)
            .await;
        ids.push(id);
    }
    let dead = format!("{queue}.dead");
    eventually(Duration::from_secs(20), "70 parked", || async {
        broker.depth(&dead).await == 70
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), CONFIG, &queue);
    let started = Instant::now();
    let out = stdout(&cli(&["dead", "replay", "--config", cfg.to_str().unwrap()]).await);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "replay took {took:?}");
    assert!(out.contains("replayed 70 message(s)"), "{out}");
    for id in &ids {
        assert!(out.contains(&format!("{id} ")), "{id} printed: {out}");
    }
    eventually(Duration::from_secs(20), "all 70 parked again", || async {
        broker.depth(&dead).await == 70 && broker.depth(&queue).await == 0
    })
    .await;
    let reader = JournalReader::open(&journal).await.unwrap();
    let all = Filter {
        limit: Some(1000),
        ..Filter::default()
    };
    eventually(Duration::from_secs(10), "140 journal rows", || async {
        reader.list(&all).await.unwrap().len() >= 140
    })
    .await;
    bridge.stop().await;

    let mut per_id: HashMap<String, usize> = HashMap::new();
    for row in reader.list(&all).await.unwrap() {
        *per_id.entry(row.message_id).or_default() += 1;
    }
    assert_eq!(per_id.len(), 70);
    assert!(per_id.values().all(|n| *n == 2), "{per_id:?}");
    assert_eq!(
        receiver.count(),
        40,
        "each refused message tried once per parking"
    );
    let mut parked: Vec<String> = broker
        .drain(&dead)
        .await
        .into_iter()
        .filter_map(|p| p.message_id)
        .collect();
    parked.sort();
    ids.sort();
    assert_eq!(parked, ids, "each message parked exactly once");
}
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_replayed_by_id_leaves_the_lot_and_is_delivered_once() {
    let queue = unique_queue("dead-by-id");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let healthy = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&healthy);
    let receiver = Receiver::start(move |_| match *flag.lock().unwrap() {
        true => (200, "SUCCESS".into()),
        false => (502, "down".into()),
    })
    .await;
    let mut settings = settings(CONFIG, &queue);
    let port = free_port();
    settings.admin.listen = format!("127.0.0.1:{port}").parse().unwrap();
    let bridge = Bridge::start(settings);
    // `em-like` has a one-attempt schedule: parked at the first failure.
    let body = queue_message("em-like", &receiver.url("/n"), "Verify", &whale());
    broker
        .publish(&queue, body.as_bytes(), Some("once-1"), None)
        .await;
    let dead = format!("{queue}.dead");
    eventually(Duration::from_secs(20), "parked", || async {
        broker.depth(&dead).await == 1
    })
    .await;

    *healthy.lock().unwrap() = true;
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/deliveries/once-1/replay");
    let answer = http.post(url).send().await.unwrap().text().await.unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["replayed"], "once-1", "{answer}");
    assert_eq!(answer["takenFromParkingLot"], 1, "{answer}");
    assert_eq!(broker.depth(&dead).await, 0, "its parked copy is gone");
    eventually(Duration::from_secs(20), "the replayed delivery", || async {
        receiver.count() == 2
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), CONFIG, &queue);
    let out = stdout(&cli(&["dead", "replay", "--config", cfg.to_str().unwrap()]).await);
    assert!(out.contains("replayed 0 message(s)"), "{out}");
    bridge.stop().await;
    assert_eq!(
        receiver.count(),
        2,
        "one failure, one delivery, no second delivery"
    );
    let delivered: Vec<_> = receiver
        .received()
        .iter()
        .map(|r| r.headers["x-notify-id"].clone())
        .collect();
    assert_eq!(delivered, ["once-1", "once-1"]);
}

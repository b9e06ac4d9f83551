//! Durable retries (SPEC §5): schedules, the parking lot, replay, broker connection loss.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use serde_json::json;

use crate::queue_message;
use crate::support::broker::TestBroker;
use crate::support::process::{
    bridge_cli, close_connections_named, config_file, spawn_bridge, terminate,
};
use crate::support::receiver::Receiver;
use crate::support::{eventually, settings, unique_queue, Bridge};

const CONFIG: &str = r#"
[broker]
url = "{amqp}"
queue = "{queue}"
prefetch = 64
shutdown_grace = "5s"

[channels.shop]
app_id = "APP"
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "retry-secret" }
retry = { schedule = ["0s", "100ms", "200ms"] }
"#;

fn whale() -> serde_json::Value {
    json!({"bizContent": "{\"codeNo\":\"C1\"}"})
}

#[tokio::test]
async fn a_brand_failing_twice_gets_each_message_on_the_third_attempt() {
    let queue = unique_queue("third");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let tries: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let counter = Arc::clone(&tries);
    let receiver = Receiver::start(move |r| {
        let mut tries = counter.lock().unwrap();
        let n = tries.entry(r.headers["x-notify-id"].clone()).or_default();
        *n += 1;
        match *n {
            1 => (503, "busy".into()),
            2 => (200, "FAIL".into()),
            _ => (200, "ok".into()),
        }
    })
    .await;
    // The second failure is a 2xx whose body fails this channel's rule.
    let config = CONFIG.replace("retry = {", "success = { body = \"ok\" }\nretry = {");
    let bridge = Bridge::start(settings(&config, &queue));
    for i in 0..20 {
        let body = queue_message("shop", &receiver.url("/n"), "MakeCode", &whale());
        broker
            .publish(&queue, body.as_bytes(), Some(&format!("r-{i}")), None)
            .await;
    }
    eventually(Duration::from_secs(30), "60 attempts", || async {
        receiver.count() >= 60
    })
    .await;
    eventually(Duration::from_secs(10), "queues empty", || async {
        broker.depth(&queue).await == 0 && broker.depth(&format!("{queue}.retry.100ms")).await == 0
    })
    .await;
    bridge.stop().await;

    let got = receiver.received();
    assert_eq!(got.len(), 60, "three attempts each, no more");
    for i in 0..20 {
        let id = format!("r-{i}");
        let attempts: Vec<&str> = got
            .iter()
            .filter(|r| r.headers["x-notify-id"] == id)
            .map(|r| r.headers["x-notify-attempt"].as_str())
            .collect();
        assert_eq!(attempts, ["1", "2", "3"], "{id}");
    }
    assert_eq!(broker.depth(&format!("{queue}.dead")).await, 0);
    broker.cleanup(&queue).await;
}

/// A retry comes back when the bridge says it is due, not when the broker's TTL lets it go:
/// a message put in `.retry.1m` due in 500 ms, with a 60 s expiration (the broker would
/// hold it that long), arrives within seconds, as the attempt its headers say.
#[tokio::test]
async fn held_retries_come_back_at_their_due_time_brought_by_the_bridge() {
    let queue = unique_queue("due");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::start(|_| (200, "ok".into())).await;
    let config = CONFIG.replace(r#"["0s", "100ms", "200ms"]"#, r#"["0s", "1m"]"#);
    let bridge = Bridge::start(settings(&config, &queue));
    let holding = format!("{queue}.retry.1m");
    eventually(
        Duration::from_secs(20),
        "the bridge holding .retry.1m",
        || async { broker.consumers(&holding).await == Some(1) },
    )
    .await;

    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut headers = FieldTable::default();
    headers.insert("x-notify-attempt".into(), AMQPValue::LongUInt(2));
    headers.insert(
        "x-notify-due-at".into(),
        AMQPValue::LongLongInt(now_ms + 500),
    );
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_message_id("due-1".into())
        .with_expiration("60000".into())
        .with_headers(headers);
    let body = queue_message("shop", &receiver.url("/n"), "MakeCode", &whale());
    let put = std::time::Instant::now();
    broker.publish_with(&holding, body.as_bytes(), props).await;
    eventually(
        Duration::from_secs(15),
        "the held retry delivered",
        || async { receiver.count() == 1 },
    )
    .await;
    let waited = put.elapsed();
    bridge.stop().await;

    assert!(
        waited >= Duration::from_millis(400),
        "came back early: {waited:?}"
    );
    let got = receiver.received();
    assert_eq!(got[0].headers["x-notify-id"], "due-1");
    assert_eq!(got[0].headers["x-notify-attempt"], "2");
    assert_eq!(broker.depth(&holding).await, 0, "acked once brought back");
    broker.cleanup(&queue).await;
}

#[tokio::test]
async fn exhausted_messages_are_parked_then_replayed_once_the_brand_recovers() {
    let queue = unique_queue("replay");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let healthy = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&healthy);
    let receiver = Receiver::start(move |_| match *flag.lock().unwrap() {
        true => (200, "ok".into()),
        false => (502, "bad gateway".into()),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), CONFIG, &queue);
    let cfg = cfg.to_str().unwrap();
    let bridge = Bridge::start(settings(CONFIG, &queue));
    for i in 0..3 {
        let body = queue_message("shop", &receiver.url("/n"), "Verify", &whale());
        broker
            .publish(&queue, body.as_bytes(), Some(&format!("x-{i}")), None)
            .await;
    }
    let dead = format!("{queue}.dead");
    eventually(Duration::from_secs(20), "three parked", || async {
        broker.depth(&dead).await == 3
    })
    .await;
    assert_eq!(receiver.count(), 9, "three attempts each");

    let listing = bridge_cli(&["dead", "list", "--config", cfg]);
    assert!(
        listing.contains("x-0") && listing.contains("shop") && listing.contains("502"),
        "{listing}"
    );
    assert!(listing.contains("delivery-failed"), "{listing}");
    assert_eq!(broker.depth(&dead).await, 3, "listing leaves them parked");

    let parked = broker.drain(&dead).await;
    let h = &parked[0].headers;
    assert_eq!(h["x-notify-attempt"], "3");
    assert_eq!(h["x-notify-status"], "502");
    assert!(
        h.contains_key("x-notify-first-attempt-at") && h.contains_key("x-notify-last-attempt-at")
    );
    for p in &parked {
        broker
            .publish(&dead, &p.body, p.message_id.as_deref(), None)
            .await;
    }

    *healthy.lock().unwrap() = true;
    let out = bridge_cli(&[
        "dead",
        "replay",
        "--config",
        cfg,
        "--channel",
        "shop",
        "--limit",
        "2",
    ]);
    assert!(out.contains("replayed 2"), "{out}");
    eventually(
        Duration::from_secs(20),
        "two replayed deliveries",
        || async { receiver.count() >= 11 },
    )
    .await;
    assert_eq!(
        broker.depth(&dead).await,
        1,
        "--limit leaves the rest parked"
    );
    bridge_cli(&["dead", "replay", "--config", cfg]);
    eventually(Duration::from_secs(20), "the last one", || async {
        receiver.count() >= 12
    })
    .await;
    bridge.stop().await;

    let replayed: Vec<_> = receiver.received().into_iter().skip(9).collect();
    assert_eq!(replayed.len(), 3, "each replayed message delivered once");
    assert!(
        replayed
            .iter()
            .all(|r| r.headers["x-notify-attempt"] == "1"),
        "a fresh schedule"
    );
    assert_eq!(broker.depth(&dead).await, 0);
    broker.cleanup(&queue).await;
}

#[tokio::test]
async fn broker_connections_closed_mid_run_lose_nothing() {
    let queue = unique_queue("reconnect");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::start_slow(Duration::from_millis(2), |_| (200, "ok".into())).await;
    let bridge = Bridge::start(settings(CONFIG, &queue));
    let total = 600;
    for i in 0..total {
        let body = queue_message("shop", &receiver.url("/n"), "MakeCode", &whale());
        broker
            .publish(&queue, body.as_bytes(), Some(&format!("c-{i}")), None)
            .await;
    }
    let mut closed = 0;
    for threshold in [100, 300] {
        eventually(Duration::from_secs(30), "progress", || async {
            receiver.count() >= threshold
        })
        .await;
        closed += close_connections_named(&queue);
    }
    assert!(closed >= 2, "the bridge's connection was closed twice");
    eventually(Duration::from_secs(60), "all delivered", || async {
        let ids: std::collections::HashSet<String> = receiver
            .received()
            .into_iter()
            .map(|r| r.headers["x-notify-id"].clone())
            .collect();
        ids.len() == total
    })
    .await;
    bridge.stop().await;
    let duplicates = receiver.count() - total;
    println!("reconnect test: {total} messages, {duplicates} duplicate deliveries");
    broker.cleanup(&queue).await;
}

/// A retry step added by a reload is brought back too: on quorum queues only the bridge
/// brings retries back, so the new step's queue must be consumed without a restart.
#[tokio::test]
async fn a_retry_step_added_by_a_reload_is_brought_back() {
    let queue = unique_queue("newstep");
    let broker = TestBroker::connect().await;
    let tries: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let counter = Arc::clone(&tries);
    let receiver = Receiver::start(move |r| {
        let id = r.headers["x-notify-id"].clone();
        let mut tries = counter.lock().unwrap();
        let n = tries.entry(id.clone()).or_default();
        *n += 1;
        match (id.starts_with("fail-"), *n) {
            (true, 1) => (503, "busy".into()),
            _ => (200, "ok".into()),
        }
    })
    .await;
    let quorum = "queue_arguments = { \"x-queue-type\" = \"quorum\" }\n\n[channels.shop]";
    let config = CONFIG
        .replacen("\n[channels.shop]", quorum, 1)
        .replace(r#"["0s", "100ms", "200ms"]"#, r#"["0s", "1m"]"#);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &config, &queue);
    let bridge = spawn_bridge(&cfg);
    // The bridge declares the queues (quorum) itself.
    eventually(Duration::from_secs(30), "the bridge consuming", || async {
        broker.consumers(&queue).await == Some(1)
    })
    .await;
    // Up, with its SIGHUP handler installed, once it has delivered.
    let probe = queue_message("shop", &receiver.url("/n"), "MakeCode", &whale());
    broker
        .publish(&queue, probe.as_bytes(), Some("probe"), None)
        .await;
    eventually(Duration::from_secs(30), "the bridge delivering", || async {
        receiver.count() == 1
    })
    .await;

    let reloaded = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(r#"["0s", "1m"]"#, r#"["0s", "400ms"]"#);
    std::fs::write(&cfg, reloaded).unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &bridge.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let added = format!("{queue}.retry.400ms");
    eventually(
        Duration::from_secs(20),
        "the new step's queue consumed",
        || async { broker.consumers(&added).await == Some(1) },
    )
    .await;

    let body = queue_message("shop", &receiver.url("/n"), "MakeCode", &whale());
    broker
        .publish(&queue, body.as_bytes(), Some("fail-1"), None)
        .await;
    eventually(Duration::from_secs(20), "the retry delivered", || async {
        receiver.count() == 3
    })
    .await;
    terminate(&bridge);
    let attempts: Vec<String> = receiver
        .received()
        .iter()
        .filter(|r| r.headers["x-notify-id"] == "fail-1")
        .map(|r| r.headers["x-notify-attempt"].clone())
        .collect();
    assert_eq!(attempts, ["1", "2"]);
}

//! The parking lot's operator tools: `dead replay` ends while the bridge re-parks what it
//! moves, `--dry-run` and the filters leave the lot as it was, `dead purge` wants a count,
//! and a message replayed by id is not delivered again by a later `dead replay`.

use std::collections::HashMap;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;
use notify_bridge::clock::now_ms;
use notify_bridge::journal::{Filter, JournalReader};
use serde_json::json;

use crate::support::broker::TestBroker;
use crate::support::cleanup::Queues;
use crate::support::process::config_file;
use crate::support::receiver::Receiver;
use crate::support::{eventually, settings, unique_queue, Bridge};
use crate::{queue_message, CONFIG};

/// The retry steps of the shared `CONFIG`'s channels.
const STEPS: [&str; 2] = ["200ms", "400ms"];

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
    let _queues = Queues::of_bridge(&queue, &STEPS);
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

/// Parks a message directly, as the bridge would have.
async fn park(broker: &TestBroker, dead: &str, id: &str, headers: &[(&str, AMQPValue)]) {
    let mut table = FieldTable::default();
    for (name, value) in headers {
        table.insert((*name).into(), value.clone());
    }
    let props = BasicProperties::default()
        .with_message_id(id.into())
        .with_delivery_mode(2)
        .with_headers(table);
    let body = json!({"channelId": "x", "id": id}).to_string();
    broker.publish_with(dead, body.as_bytes(), props).await;
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

/// Fills a lot with: a-0..a-2 `shop`, failed, parked now; b-0, b-1 `em-like`, bad input,
/// parked three hours ago; c-0 `shop`, failed, parked before parked-at existed.
async fn fill(broker: &TestBroker, dead: &str) {
    let now = i64::try_from(now_ms()).unwrap();
    for i in 0..3 {
        let headers = [
            ("x-notify-channel", text("shop")),
            ("x-notify-error", text("delivery-failed: HTTP 502")),
            ("x-notify-parked-at", AMQPValue::LongLongInt(now)),
        ];
        park(broker, dead, &format!("a-{i}"), &headers).await;
    }
    for i in 0..2 {
        let headers = [
            ("x-notify-channel", text("em-like")),
            ("x-notify-error", text("not-json: expected value")),
            (
                "x-notify-parked-at",
                AMQPValue::LongLongInt(now - 3 * 3_600_000),
            ),
        ];
        park(broker, dead, &format!("b-{i}"), &headers).await;
    }
    let headers = [
        ("x-notify-channel", text("shop")),
        ("x-notify-error", text("delivery-failed: HTTP 500")),
    ];
    park(broker, dead, "c-0", &headers).await;
}

/// The ids `dead list` shows, in the lot's order.
async fn listed(cfg: &str, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["dead", "list", "--config", cfg];
    args.extend_from_slice(filters);
    let out = stdout(&cli(&args).await);
    out.lines()
        .skip(1)
        .filter(|l| !l.contains("parked message(s) shown"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_and_filters_leave_the_lot_as_it_was() {
    let queue = unique_queue("dead-filters");
    let _queues = Queues::of_bridge(&queue, &STEPS);
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let dead = format!("{queue}.dead");
    broker.declare(&dead).await;
    fill(&broker, &dead).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), CONFIG, &queue);
    let cfg = cfg.to_str().unwrap();

    let everything = ["a-0", "a-1", "a-2", "b-0", "b-1", "c-0"];
    assert_eq!(listed(cfg, &[]).await, everything);
    assert_eq!(listed(cfg, &["--reason", "not-json"]).await, ["b-0", "b-1"]);
    assert_eq!(listed(cfg, &["--since", "2h"]).await, ["a-0", "a-1", "a-2"]);
    assert_eq!(
        listed(cfg, &["--channel", "shop"]).await,
        ["a-0", "a-1", "a-2", "c-0"]
    );
    let rfc3339 =
        humantime::format_rfc3339(std::time::SystemTime::now() - Duration::from_secs(4 * 3600));
    let since = rfc3339.to_string();
    assert_eq!(
        listed(cfg, &["--since", &since, "--channel", "em-like"]).await,
        ["b-0", "b-1"]
    );

    let dry = stdout(&cli(&["dead", "replay", "--config", cfg, "--dry-run"]).await);
    assert!(dry.contains("would replay 6 message(s)"), "{dry}");
    let dry = stdout(
        &cli(&[
            "dead",
            "replay",
            "--config",
            cfg,
            "--channel",
            "shop",
            "--since",
            "1h",
            "--dry-run",
        ])
        .await,
    );
    assert!(
        dry.contains("would replay 3 message(s)") && dry.contains("a-2"),
        "{dry}"
    );
    assert_eq!(
        listed(cfg, &[]).await,
        everything,
        "a dry run moves nothing"
    );
    assert_eq!(broker.depth(&queue).await, 0);

    let out = stdout(
        &cli(&[
            "dead",
            "replay",
            "--config",
            cfg,
            "--reason",
            "delivery-failed",
            "--channel",
            "shop",
            "--limit",
            "2",
        ])
        .await,
    );
    assert!(out.contains("replayed 2 message(s)"), "{out}");
    assert_eq!(listed(cfg, &[]).await, ["a-2", "b-0", "b-1", "c-0"]);
    let moved = broker.drain(&queue).await;
    let moved_ids: Vec<_> = moved.iter().filter_map(|m| m.message_id.clone()).collect();
    assert_eq!(moved_ids, ["a-0", "a-1"]);
    for m in &moved {
        assert!(m.headers.contains_key("x-notify-replay-run"), "{m:?}");
        assert!(
            !m.headers.contains_key("x-notify-error"),
            "fresh history: {m:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_removes_only_the_count_the_operator_confirms() {
    let queue = unique_queue("dead-purge");
    let _queues = Queues::of_bridge(&queue, &STEPS);
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let dead = format!("{queue}.dead");
    broker.declare(&dead).await;
    fill(&broker, &dead).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), CONFIG, &queue);
    let cfg = cfg.to_str().unwrap();
    let purge = |extra: &'static [&'static str]| {
        let mut args = vec![
            "dead",
            "purge",
            "--config",
            cfg,
            "--reason",
            "delivery-failed",
        ];
        args.extend_from_slice(extra);
        async move { cli(&args).await }
    };

    for refused in [purge(&[]).await, purge(&["--yes", "3"]).await] {
        assert_eq!(refused.status.code(), Some(1));
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(
            err.contains("4 message(s) would be purged") && err.contains("--yes 4"),
            "{err}"
        );
    }
    let dry = stdout(&purge(&["--dry-run", "--yes", "4"]).await);
    assert!(
        dry.contains("would purge 4 message(s)") && dry.contains("c-0"),
        "{dry}"
    );
    assert_eq!(
        broker.depth(&dead).await,
        6,
        "refusals and dry runs purge nothing"
    );

    let done = stdout(&purge(&["--yes", "4"]).await);
    assert!(done.contains("purged 4 message(s)"), "{done}");
    for id in ["a-0", "a-1", "a-2", "c-0"] {
        assert!(done.contains(id), "{id} printed: {done}");
    }
    assert_eq!(listed(cfg, &[]).await, ["b-0", "b-1"]);
    assert_eq!(broker.depth(&queue).await, 0, "purged, not moved");
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
    let _queues = Queues::of_bridge(&queue, &STEPS);
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

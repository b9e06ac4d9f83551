//! Hostile input (SPEC §6, §7): malformed and malicious messages, good ones interleaved.
//! Every bad one is parked with its own reason, every good one delivered exactly once, and
//! the bridge keeps running throughout.

mod corpus;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use notify_bridge::message::MessageId;

use crate::support::broker::TestBroker;
use crate::support::process::{config_file, spawn_bridge, terminate};
use crate::support::raw_amqp;
use crate::support::receiver::Receiver;
use crate::support::{eventually, settings, unique_queue, Bridge};

/// `good` may call the test receiver (http, exactly 127.0.0.1); `good-third` renders the
/// 商战 template for it with a small body limit; `public` has the default policy: https
/// to any public host, nothing private.
const CONFIG: &str = r#"
[broker]
url = "{amqp}"
queue = "{queue}"
prefetch = 64
max_message_bytes = 262144
shutdown_grace = "5s"

[channels.good]
app_id = "APP_GOOD"
url_policy = { schemes = ["http"], hosts = ["127.0.0.1"], allow_private = true }
signer = { secret = "hostile-secret" }
retry = { schedule = ["0s"] }

[channels.good-third]
preset = "shangzhan"
message_types = ["third"]
max_body_bytes = 4096
url_policy = { schemes = ["http"], hosts = ["127.0.0.1"], allow_private = true }
signer = { secret = "hostile-secret-3" }
retry = { schedule = ["0s"] }

[channels.public]
signer = { secret = "hostile-secret-p" }
retry = { schedule = ["0s"] }
"#;

/// Counts panics raised on this thread, where the bridge's tasks run (current-thread
/// runtime): a panic would otherwise only show as a parked `internal-error`.
fn count_panics_here() -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let here = std::thread::current().id();
    let seen = Arc::clone(&count);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == here {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
    count
}

#[tokio::test]
async fn hostile_messages_are_parked_with_their_reason_and_good_ones_delivered_once() {
    let panics = count_panics_here();
    let queue = unique_queue("hostile");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::ok().await;
    let url = receiver.url("/n");
    let bad = corpus::bad(&url);
    let good = corpus::good(&url);
    assert!(bad.len() >= 40, "the corpus has {} bad messages", bad.len());

    let bridge = Bridge::start(settings(CONFIG, &queue));
    let plain = crate::queue_message(
        "good",
        &url,
        "MakeCode",
        &serde_json::json!({"bizContent": "{}"}),
    );
    let mut expected_ids = Vec::new();
    for (i, case) in bad.iter().enumerate() {
        broker
            .publish(&queue, &case.body, Some(&case.id), None)
            .await;
        // A plain good message after each bad one: bad input must not hold them up.
        let id = format!("good-{i}");
        broker
            .publish(&queue, plain.as_bytes(), Some(&id), None)
            .await;
        expected_ids.push(id);
    }
    // A bad message whose headers fill nearly all of the broker's 128 KiB frame: parking
    // it with ours added as well could never be confirmed.
    let huge: std::collections::BTreeMap<_, _> = (10..36)
        .map(|i| {
            let value = LongString::from(vec![b'h'; 5_024]);
            (
                ShortString::from(format!("x-app-{i}")),
                AMQPValue::LongString(value),
            )
        })
        .collect();
    let props = BasicProperties::default()
        .with_message_id("bad-headers".into())
        .with_headers(FieldTable::from(huge));
    let nobody = plain.replace("\"good\"", "\"nobody\"");
    broker.publish_with(&queue, nobody.as_bytes(), props).await;
    for case in &good {
        broker
            .publish(&queue, &case.body, case.id.as_deref(), None)
            .await;
        let id = case
            .id
            .clone()
            .unwrap_or_else(|| MessageId::of_body(&case.body).as_str().to_owned());
        expected_ids.push(id);
    }

    let dead = format!("{queue}.dead");
    eventually(Duration::from_secs(60), "every message settled", || async {
        broker.depth(&dead).await as usize > bad.len() && receiver.count() >= expected_ids.len()
    })
    .await;
    eventually(Duration::from_secs(10), "main queue drained", || async {
        broker.depth(&queue).await == 0
    })
    .await;
    assert!(bridge.is_running(), "the bridge never stopped or restarted");
    bridge.stop().await;

    let mut parked: HashMap<String, _> = broker
        .drain(&dead)
        .await
        .into_iter()
        .map(|g| (g.message_id.clone().unwrap_or_default(), g))
        .collect();
    let headers = parked
        .remove("bad-headers")
        .expect("oversized headers parked");
    let reason = &headers.headers["x-notify-error"];
    assert!(reason.starts_with("headers-too-large: "), "{reason}");
    assert!(
        !headers.headers.contains_key("x-app-10"),
        "parked without them"
    );
    assert_eq!(
        parked.len(),
        bad.len(),
        "every bad message parked once, no good one"
    );
    for case in &bad {
        let got = parked
            .get(&case.id)
            .unwrap_or_else(|| panic!("{:?} was not parked", case.id));
        let reason = &got.headers["x-notify-error"];
        assert!(
            reason.starts_with(&format!("{}: ", case.code)) && reason.contains(&case.detail),
            "{:?}: expected `{}` with {:?}, got {reason:?}",
            case.id,
            case.code,
            case.detail
        );
        assert!(!reason.contains(['\r', '\n']), "{reason:?}");
        assert!(reason.chars().count() <= 1001, "{} chars", reason.len());
        assert_eq!(
            got.body, case.body,
            "{:?}: the original body is kept",
            case.id
        );
    }

    let received = receiver.received();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in &received {
        *counts.entry(r.headers["x-notify-id"].as_str()).or_default() += 1;
        assert!(
            !r.headers.contains_key("x-evil"),
            "a header was injected: {r:?}"
        );
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert!(body["sign"].is_string(), "{}", r.body);
    }
    for id in &expected_ids {
        assert_eq!(
            counts.get(id.as_str()),
            Some(&1),
            "{id:?} delivered exactly once"
        );
    }
    assert_eq!(received.len(), expected_ids.len());
    let encoded = received.iter().find(|r| r.path != "/n").unwrap();
    assert_eq!(
        encoded.path, "/n%0d%0aX-Evil:%201",
        "percent-encoded CR/LF stays in the path"
    );
    assert_eq!(panics.load(Ordering::SeqCst), 0, "no panics while handling");
    broker.cleanup(&queue).await;
}

/// Headers nested thousands deep crash a consumer whose AMQP library parses them on an
/// ordinary stack; near frame size, they cannot be re-published. The bridge (the binary,
/// so a crash would not take the tests down) parks both and keeps delivering.
#[tokio::test]
async fn deep_and_frame_sized_amqp_headers_neither_crash_nor_loop() {
    let queue = unique_queue("deep-headers");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let mut bridge = spawn_bridge(&config_file(dir.path(), CONFIG, &queue));
    let body = crate::queue_message(
        "good",
        &receiver.url("/n"),
        "MakeCode",
        &serde_json::json!({"bizContent": "{}"}),
    );
    let q = queue.to_string();
    let body_bytes = body.clone().into_bytes();
    tokio::task::spawn_blocking(move || {
        // 26,000 levels: as deep as a 128 KiB frame allows; 3,000: under the size limit.
        raw_amqp::publish(
            &q,
            &body_bytes,
            "deep-huge",
            &raw_amqp::nested_arrays(26_000),
        );
        raw_amqp::publish(
            &q,
            &body_bytes,
            "deep-small",
            &raw_amqp::nested_arrays(3_000),
        );
    })
    .await
    .unwrap();
    broker
        .publish(&queue, body.as_bytes(), Some("after"), None)
        .await;

    let dead = format!("{queue}.dead");
    eventually(
        Duration::from_secs(30),
        "both parked, the next delivered",
        || async { broker.depth(&dead).await == 2 && receiver.count() == 1 },
    )
    .await;
    assert!(
        bridge.try_wait().unwrap().is_none(),
        "the bridge is still running"
    );
    terminate(&bridge);
    let status = tokio::task::spawn_blocking(move || bridge.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    let parked: HashMap<String, String> = broker
        .drain(&dead)
        .await
        .into_iter()
        .map(|g| (g.message_id.unwrap(), g.headers["x-notify-error"].clone()))
        .collect();
    assert!(
        parked["deep-huge"].starts_with("headers-too-large: "),
        "{parked:?}"
    );
    assert!(
        parked["deep-small"].starts_with("headers-too-deep: "),
        "{parked:?}"
    );
    assert_eq!(receiver.received()[0].headers["x-notify-id"], "after");
    broker.cleanup(&queue).await;
}

//! One hanging brand must not hold up the others (SPEC §5): its surplus is deferred.

use std::time::Duration;

use notify_bridge::broker::topology::defer_queue;
use notify_bridge::broker::topology::DEFER_STEPS;
use serde_json::json;

use crate::queue_message;
use crate::support::broker::TestBroker;
use crate::support::browser::free_port;
use crate::support::process::channels_of_connections_named;
use crate::support::receiver::Receiver;
use crate::support::{eventually, settings, unique_queue, Bridge, Scrape};

/// The broker section every test here but one shares.
const BROKER: &str = r#"
[broker]
url = "{amqp}"
queue = "{queue}"
prefetch = 64
shutdown_grace = "2s"
"#;

/// The brand that behaves, beside the one each test makes misbehave.
const HEALTHY: &str = r#"
[channels.healthy]
app_id = "B"
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "b" }
"#;

const HANGS: &str = r#"
[channels.hangs]
app_id = "A"
timeout = "200ms"
max_in_flight = 4
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "a" }
retry = { schedule = ["0s", "100ms"] }
"#;

/// The broker, `misbehaving` (a channel's section) and the healthy brand.
fn beside_healthy(misbehaving: &str) -> String {
    format!("{BROKER}{misbehaving}{HEALTHY}")
}

#[tokio::test]
async fn a_hanging_brand_is_deferred_while_a_healthy_one_flows() {
    let queue = unique_queue("noisy");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    // Answers long after the hanging channel's 200 ms timeout.
    let slow = Receiver::start_slow(Duration::from_secs(2), |_| (200, "ok".into())).await;
    let fast = Receiver::ok().await;
    let (a_count, b_count) = (60, 200);
    // The hanging brand's messages go first, so without isolation they would fill the
    // whole prefetch window ahead of the healthy brand's.
    for i in 0..a_count {
        let id = format!("a-{i}");
        publish(&broker, &queue, "hangs", &slow.url("/a"), &id).await;
    }
    for i in 0..b_count {
        let id = format!("b-{i}");
        publish(&broker, &queue, "healthy", &fast.url("/b"), &id).await;
    }
    let bridge = Bridge::start(settings(&beside_healthy(HANGS), &queue));
    eventually(
        Duration::from_secs(20),
        "the healthy brand served",
        || async { fast.count() >= b_count },
    )
    .await;
    // Every hanging-brand message is tried on schedule (two attempts) and parked, none lost.
    let dead = format!("{queue}.dead");
    eventually(
        Duration::from_secs(60),
        "hanging brand's messages parked",
        || async { broker.depth(&dead).await as usize >= a_count },
    )
    .await;
    bridge.stop().await;
    assert_eq!(fast.count(), b_count, "each healthy message once");
    let parked = broker.drain(&dead).await;
    assert_eq!(parked.len(), a_count);
    assert!(parked.iter().all(|p| p.headers["x-notify-attempt"] == "2"));
    // Once the hanging channel is stalled (no success for 250 ms) only 4 are in flight and
    // none in line: most of the 60 went through the defer queue at some attempt.
    let deferred = parked
        .iter()
        .filter(|p| p.headers.contains_key("x-notify-deferrals"))
        .count();
    assert!(
        deferred >= a_count / 2,
        "{deferred} of {a_count} were deferred"
    );
    assert!(parked[0].headers["x-notify-error"].contains("timed out"));
    // Every deferred one came back from its defer queue: none is left waiting there.
    for step in DEFER_STEPS {
        let defer = defer_queue(&queue, step);
        assert_eq!(broker.depth(&defer).await, 0, "{defer}");
    }
    broker.cleanup(&queue).await;
}

const GONE: &str = r#"
[broker]
url = "{amqp}"
queue = "{queue}"
prefetch = 64
shutdown_grace = "1s"

[channels.gone]
app_id = "G"
timeout = "2s"
max_in_flight = 1
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "g" }
retry = { schedule = ["0s", "200ms", "200ms"] }
"#;

/// A brand gone for good: one request hangs in its only slot, the rest are deferred. Once
/// a message has waited on the stall longer than the whole retry schedule (400 ms here),
/// each further deferral counts as a failed attempt, so every message uses up its three
/// attempts and parks, naming the stall, in seconds. Without the cap, one attempt per 2 s
/// timeout would take a minute to get through thirty.
#[tokio::test]
async fn a_brand_gone_for_good_still_exhausts_its_schedule_and_parks() {
    let queue = unique_queue("gone");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let hangs = Receiver::start_slow(Duration::from_secs(60), |_| (200, "ok".into())).await;
    let count = 10;
    for i in 0..count {
        let id = format!("g-{i}");
        publish(&broker, &queue, "gone", &hangs.url("/g"), &id).await;
    }
    let bridge = Bridge::start(settings(GONE, &queue));
    let dead = format!("{queue}.dead");
    eventually(Duration::from_secs(25), "every message parked", || async {
        broker.depth(&dead).await as usize >= count
    })
    .await;
    bridge.stop().await;
    let parked = broker.drain(&dead).await;
    assert_eq!(parked.len(), count, "each message parked once");
    assert!(parked.iter().all(|p| p.headers["x-notify-attempt"] == "3"));
    let by_stall = parked
        .iter()
        .filter(|p| {
            p.headers["x-notify-error"]
                .starts_with("delivery-failed: channel stalled: deferred unattempted for")
        })
        .count();
    assert!(
        by_stall >= count / 2,
        "{by_stall} of {count} parked by the deferral cap: {:?}",
        parked
            .iter()
            .map(|p| &p.headers["x-notify-error"])
            .collect::<Vec<_>>()
    );
    assert!(parked
        .iter()
        .all(|p| p.headers.contains_key("x-notify-first-stalled-at")
            || !p.headers.contains_key("x-notify-deferrals")));
    broker.cleanup(&queue).await;
}

const SLOW: &str = r#"
[channels.slow]
app_id = "S"
timeout = "10s"
max_in_flight = 8
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "s" }
"#;

/// A slow brand's requests sit at the front of the consume channel's window for seconds,
/// so every healthy message behind them would be acked alone (RabbitMQ walks its unacked
/// list for each). The bridge consumes on a fresh channel instead; the old one keeps the
/// slow messages until they are answered, acks them, and closes. Nothing is lost, nothing
/// sent twice, and no channel or consumer is left behind.
#[tokio::test]
async fn a_held_window_front_moves_consuming_to_a_fresh_channel_and_the_old_one_closes() {
    let queue = unique_queue("held");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let slow = Receiver::start_slow(Duration::from_secs(5), |_| (200, "ok".into())).await;
    let fast = Receiver::ok().await;
    let (slow_count, fast_count) = (8, 300);
    for i in 0..slow_count {
        let id = format!("s-{i}");
        publish(&broker, &queue, "slow", &slow.url("/s"), &id).await;
    }
    let port = free_port();
    let mut config = settings(&beside_healthy(SLOW), &queue);
    config.admin.listen = format!("127.0.0.1:{port}").parse().unwrap();
    let bridge = Bridge::start(config);
    eventually(
        Duration::from_secs(10),
        "the slow requests sent",
        || async { slow.arrived() >= slow_count },
    )
    .await;
    // Healthy messages keep settling behind the held front for longer than it takes to
    // count as held (a quarter of a second).
    for i in 0..fast_count {
        let id = format!("b-{i}");
        publish(&broker, &queue, "healthy", &fast.url("/b"), &id).await;
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eventually(
        Duration::from_secs(20),
        "the healthy brand served",
        || async { fast.count() >= fast_count },
    )
    .await;
    let replaced = Scrape::of(port)
        .await
        .value("notify_consume_channels_replaced_total");
    assert!(replaced >= 1.0, "the held front was left in place");
    // While the slow answers are pending, the old channel still holds them unacked and
    // consumes nothing more: one consumer on the queue.
    let during = channels_of_connections_named(&queue);
    assert!(
        during
            .iter()
            .any(|&(consumers, unacked)| consumers == 0 && unacked as usize >= slow_count),
        "{during:?}"
    );
    assert_eq!(broker.consumers(&queue).await, Some(1));
    eventually(
        Duration::from_secs(20),
        "the slow brand answered",
        || async { slow.count() >= slow_count },
    )
    .await;
    eventually(
        Duration::from_secs(10),
        "the replaced channel closed, every message acked",
        || async {
            let channels = channels_of_connections_named(&queue);
            let unacked: u32 = channels.iter().map(|(_, u)| u).sum();
            unacked == 0 && channels.len() <= 3 && broker.depth(&queue).await == 0
        },
    )
    .await;
    bridge.stop().await;
    for (receiver, count) in [(&slow, slow_count), (&fast, fast_count)] {
        let mut ids: Vec<String> = receiver
            .received()
            .iter()
            .map(|r| r.headers["x-notify-id"].clone())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "each message once");
        assert_eq!(receiver.count(), count, "none sent twice");
    }
    broker.cleanup(&queue).await;
}

/// Publishes message `id` for `channel`, to be sent to `url`.
async fn publish(broker: &TestBroker, queue: &str, channel: &str, url: &str, id: &str) {
    let body = queue_message(channel, url, "MakeCode", &json!({"bizContent": "{}"}));
    broker.publish(queue, body.as_bytes(), Some(id), None).await;
}

//! When RabbitMQ refuses or loses the publish the provider hears failure and retries; the
//! retry after the broker recovers is published exactly once. And `app::run` serves
//! callbacks beside the consumer, and stops both.

use std::time::Duration;

use serde_json::{json, Value};

use super::signing::{self, YzmRequest};
use super::{Harness, Options};
use crate::support::broker::TestBroker;
use crate::support::process::close_connections_named;
use crate::support::receiver::Receiver;
use crate::support::{eventually, settings, Bridge};

const JSON: (&str, &str) = ("content-type", "application/json");
/// An outbound channel for the consumer that runs beside the receivers.
const SHOP: &str = r#"
[channels.shop]
app_id = "APP_SHOP"
url_policy = { schemes = ["http"], hosts = ["127.0.0.1"], allow_private = true }
signer = { secret = "it-secret-shop" }
retry = { schedule = ["0s"] }
"#;

#[tokio::test]
async fn a_nacked_publish_answers_failure_and_the_retry_is_published_once() {
    let options = Options {
        one_slot_queue: true,
        ..Options::default()
    };
    let h = Harness::start_with(&signing::yzm_receiver(), "#", options).await;
    h.publish_direct("filler", b"{\"filler\":true}").await;
    let dir = tempfile::tempdir().unwrap();
    let body =
        json!({"waybillNo": "W1", "driver": {"idCard": signing::yzm_encrypt(dir.path(), "1101")}})
            .to_string();
    let request = YzmRequest::sign(dir.path(), &body, signing::now_ms(), &signing::nonce());

    // The queue is full and rejects publishes: the broker nacks, the provider hears 503.
    assert_eq!(
        h.post(&request.body, &request.headers()).await,
        (503, "error: not accepted, retry later".into())
    );
    let drained = h.take().await;
    assert_eq!(drained.len(), 1);
    assert_eq!(drained[0].body["filler"], true, "only the filler was there");

    // The provider retries the very same request (same nonce): not a replay, since it was
    // never accepted; published once, and a further retry is not published again.
    assert_eq!(
        h.post(&request.body, &request.headers()).await,
        (200, "success".into())
    );
    let again = YzmRequest::sign(dir.path(), &body, signing::now_ms(), &signing::nonce());
    assert_eq!(
        h.post(&again.body, &again.headers()).await,
        (200, "success".into())
    );
    let events = h.take().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].body["driver"]["idCard"], "1101");
    let stats = h.stats.snapshot();
    assert_eq!(
        (stats.unavailable, stats.published, stats.duplicates),
        (1, 1, 1)
    );
    h.stop().await;
}

#[tokio::test]
async fn a_lost_broker_connection_is_reopened_by_the_next_callback() {
    let h = Harness::start("preset = \"em\"\nsigner = { secret = \"k\" }", "em.*").await;
    let push = |n: u32| {
        let data = json!({"notify_type": "OUT_TRADE_AUDIT", "trade_no": format!("DD{n}")});
        Value::Object(signing::em("KEY_A", &data, "1", "k")).to_string()
    };
    assert_eq!(h.post(&push(1), &[JSON]).await.0, 200);
    let name = format!("inbound {} ", h.addr);
    assert!(close_connections_named(&name) >= 1, "closed {name}");
    // Answers may be 503 while the loss is noticed; the provider's retry gets through.
    let second = push(2);
    eventually(
        Duration::from_secs(20),
        "a callback after the loss",
        || async { h.post(&second, &[JSON]).await.0 == 200 },
    )
    .await;
    let trades: Vec<String> = h
        .take()
        .await
        .iter()
        .map(|e| e.body["request_data"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(trades.len(), 2, "{trades:?}");
    assert!(trades[1].contains("DD2"));
    h.stop().await;
}

#[tokio::test]
async fn app_run_serves_callbacks_beside_the_consumer_and_stops_both() {
    let options = Options {
        serve: false,
        ..Options::default()
    };
    let h = Harness::start_with(
        "preset = \"em\"\nsigner = { secret = \"k\" }",
        "em.*",
        options,
    )
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = h
        .config()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
        + SHOP;
    let main_queue = format!("{}.main", h.queue);
    let broker = TestBroker::connect().await;
    broker.declare(&main_queue).await;
    let brand = Receiver::ok().await;
    let bridge = Bridge::start(settings(&config, &main_queue));

    // Outbound: a queue message reaches the brand.
    let message = crate::queue_message(
        "shop",
        &brand.url("/n"),
        "MakeCode",
        &json!({"bizContent": "{}"}),
    );
    broker
        .publish(&main_queue, message.as_bytes(), None, None)
        .await;
    // Inbound: a callback is published.
    let data = json!({"notify_type": "OUT_TRADE_AUDIT", "trade_no": "DD1"});
    let body = Value::Object(signing::em("KEY_A", &data, "1", "k")).to_string();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/cb");
    eventually(
        Duration::from_secs(10),
        "the inbound server answers",
        || async {
            let sent = client
                .post(&url)
                .header(JSON.0, JSON.1)
                .body(body.clone())
                .send()
                .await;
            matches!(sent, Ok(r) if r.status() == 200)
        },
    )
    .await;
    eventually(Duration::from_secs(10), "the brand receives", || async {
        brand.count() == 1
    })
    .await;
    assert_eq!(h.take().await.len(), 1);

    bridge.stop().await;
    assert!(
        client.post(&url).body(body.clone()).send().await.is_err(),
        "the inbound server stopped with the bridge"
    );
    broker.cleanup(&main_queue).await;
    h.stop().await;
}

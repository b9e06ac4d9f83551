//! WHALE's publishers as its teams run them: the official RabbitMQ Java client with the
//! properties Spring AMQP's converters set, and `amqp-publish`. Every body that is a queue
//! message is delivered and signed, whatever its content type says; and messages parked
//! for their content type by earlier versions are delivered once replayed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use notify_bridge::message::MessageId;
use notify_bridge::settings::Settings;
use serde_json::{json, Map, Value};

use crate::support::broker::TestBroker;
use crate::support::process::{bridge_cli, config_file};
use crate::support::receiver::{Received, Receiver};
use crate::support::{amqp_url, eventually, settings, unique_queue, Bridge};
use crate::{independent_sign, CONFIG};
use tools::{amqp_publish, compile_java, java_publish};

mod tools;

/// One bizContent for every publisher: brands must receive exactly these bytes.
const BIZ: &str = r#"{"orderNo":"W-1", "amount":0.10,"name":"易百\u0041","codes":["C1","C2"]}"#;

/// The standard message WHALE means, its timestamp pinned.
fn standard() -> Value {
    json!({"appId": "WHALE_APP", "bizContent": BIZ, "timestamp": "1700000000000"})
}

/// A queue message for channel `shop`; `whale` is the standard message as a JSON string
/// (`nested = false`) or as the object itself.
fn message(url: &str, notify_type: &str, nested: bool) -> Vec<u8> {
    let whale = match nested {
        true => standard(),
        false => Value::String(standard().to_string()),
    };
    json!({
        "channelId": "shop", "notifyUrl": url, "notifyType": notify_type,
        "messageType": "ebuy", "whaleMessage": whale,
    })
    .to_string()
    .into_bytes()
}

/// The one request that carried `id`, its signature checked independently.
fn delivered(received: &[Received], id: &str, action: &str) -> Map<String, Value> {
    let matching: Vec<_> = received
        .iter()
        .filter(|r| r.headers["x-notify-id"] == id)
        .collect();
    assert_eq!(matching.len(), 1, "{id} delivered exactly once");
    let body: Map<String, Value> = serde_json::from_str(&matching[0].body).unwrap();
    assert_eq!(body["action"], action, "{id}");
    assert_eq!(body["timestamp"], "1700000000000", "{id}");
    assert_eq!(
        body["sign"],
        independent_sign(&body, "it-secret-shop", true),
        "{id}: signed with the channel's secret"
    );
    body
}

fn header<'a>(props: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    props.headers().as_ref()?.inner().get(name)
}

#[tokio::test]
async fn java_and_amqp_tools_publishers_are_delivered_and_signed() {
    let queue = unique_queue("publishers");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::ok().await;
    let url = receiver.url("/n");
    let dir = tempfile::tempdir().unwrap();

    compile_java(dir.path());
    let simple = message(&url, "MakeCode", false);
    let jackson = message(&url, "MakeVoid", true);
    java_publish(
        dir.path(),
        &queue,
        &[
            ("simple", "java-simple", &simple),
            ("jackson", "java-jackson", &jackson),
        ],
    );
    let octets = message(&url, "Verify", false);
    amqp_publish(&queue, &octets, &["-C", "application/octet-stream"]);
    let bom = [
        b"\xEF\xBB\xBF".as_slice(),
        &message(&url, "VerifyVoid", true),
    ]
    .concat();
    amqp_publish(&queue, &bom, &[]);
    let text_json = message(&url, "CodeDelay", false);
    amqp_publish(&queue, &text_json, &["-C", "text/json", "-E", "UTF-8"]);
    let gzip = message(&url, "CodeExpire", false);
    amqp_publish(&queue, &gzip, &["-C", "application/json", "-E", "gzip"]);

    // The publishers set what they claim to: the test means nothing otherwise.
    let props = broker.peek(&queue).await;
    assert_eq!(props.len(), 6);
    let java: Vec<_> = props.iter().filter(|p| p.message_id().is_some()).collect();
    let (spring_simple, spring_jackson) = (java[0], java[1]);
    let text = |v: &Option<ShortString>| v.as_ref().map(|s| s.as_str().to_owned());
    assert_eq!(
        text(spring_simple.content_type()).as_deref(),
        Some("text/plain")
    );
    assert_eq!(
        text(spring_simple.content_encoding()).as_deref(),
        Some("UTF-8")
    );
    assert_eq!(*spring_simple.delivery_mode(), Some(2));
    assert_eq!(*spring_simple.priority(), Some(0));
    let json_type = text(spring_jackson.content_type());
    assert_eq!(json_type.as_deref(), Some("application/json"));
    let type_id = AMQPValue::LongString(LongString::from("com.whale.core.BrandNotifyDTO"));
    assert_eq!(header(spring_jackson, "__TypeId__"), Some(&type_id));
    let types: Vec<_> = props.iter().map(|p| text(p.content_type())).collect();
    assert!(types.contains(&Some("application/octet-stream".into())));
    assert!(
        types.contains(&None),
        "amqp-publish sends no content type unless told"
    );

    let bridge = Bridge::start(settings(CONFIG, &queue));
    let dead = format!("{queue}.dead");
    eventually(
        Duration::from_secs(30),
        "five delivered, one parked",
        || async { receiver.count() >= 5 && broker.depth(&dead).await >= 1 },
    )
    .await;
    eventually(Duration::from_secs(10), "queue drained", || async {
        broker.depth(&queue).await == 0
    })
    .await;
    bridge.stop().await;

    let received = receiver.received();
    assert_eq!(received.len(), 5, "{received:#?}");
    let id = |body: &[u8]| MessageId::of_body(body).as_str().to_owned();
    let bodies = [
        delivered(&received, "java-simple", "MakeCodeNotify"),
        delivered(&received, "java-jackson", "MakeVoidNotify"),
        delivered(&received, &id(&octets), "VerifyNotify"),
        delivered(&received, &id(&bom), "VerifyVoidNotify"),
        delivered(&received, &id(&text_json), "CodeDelayNotify"),
    ];
    for body in &bodies {
        // Nested or as a string, with or without a BOM: the same bizContent, byte for byte.
        assert_eq!(body["bizContent"].as_str(), Some(BIZ));
    }
    let parked = broker.drain(&dead).await;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].body, gzip, "parked as it came");
    let reason = &parked[0].headers["x-notify-error"];
    assert!(
        reason.starts_with("content-encoding: content encoding `gzip`"),
        "{reason}"
    );
}

#[tokio::test]
async fn messages_parked_for_their_content_type_by_earlier_versions_are_replayed() {
    let queue = unique_queue("ct-replay");
    let dead = format!("{queue}.dead");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    broker.declare(&dead).await;
    let receiver = Receiver::ok().await;
    let body = message(&receiver.url("/n"), "Verify", false);
    // As the bridge parked a Spring-published message when it still trusted the type.
    let parked_at = AMQPValue::LongLongInt(1_765_000_000_000);
    let reason = "content-type: content type `text/plain` is not application/json";
    let headers: FieldTable = [
        ("x-notify-error", AMQPValue::LongString(reason.into())),
        ("x-notify-attempt", AMQPValue::LongUInt(1)),
        ("x-notify-first-attempt-at", parked_at.clone()),
        ("x-notify-last-attempt-at", parked_at.clone()),
        ("x-notify-parked-at", parked_at),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v))
    .collect::<std::collections::BTreeMap<_, _>>()
    .into();
    let props = BasicProperties::default()
        .with_message_id("spring-1".into())
        .with_content_type("text/plain".into())
        .with_content_encoding("UTF-8".into())
        .with_delivery_mode(2)
        .with_priority(0)
        .with_headers(headers);
    broker.publish_with(&dead, &body, props).await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), CONFIG, &queue);
    let bridge = Bridge::start(settings(CONFIG, &queue));
    let out = bridge_cli(&["dead", "replay", "--config", cfg.to_str().unwrap()]);
    assert!(out.contains("replayed 1"), "{out}");
    eventually(Duration::from_secs(20), "the replayed delivery", || async {
        receiver.count() >= 1
    })
    .await;
    bridge.stop().await;

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].headers["x-notify-attempt"], "1",
        "a fresh schedule"
    );
    let sent = delivered(&received, "spring-1", "VerifyNotify");
    assert_eq!(sent["bizContent"].as_str(), Some(BIZ));
    assert_eq!(broker.depth(&dead).await, 0, "nothing parked again");
}

/// A Spring `text/plain` message the brand refused until parked is replayed from the
/// journal's original (`POST /deliveries/{id}/replay` keeps its content type) and lands.
#[tokio::test]
async fn a_spring_message_replayed_from_the_journal_is_delivered() {
    let queue = unique_queue("journal-replay");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&healthy);
    let receiver = Receiver::start(move |_| match flag.load(Ordering::SeqCst) {
        true => (200, "ok".into()),
        false => (500, "down".into()),
    })
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{CONFIG}\n[admin]\nlisten = \"127.0.0.1:{port}\"\n\n[journal]\nurl = \"sqlite://{}\"\n",
        dir.path().join("journal.db").display()
    )
    .replace("{queue}", &queue)
    .replace("{amqp}", &amqp_url());
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, toml).unwrap();
    let bridge = Bridge::start(Settings::load(&path, &HashMap::new()).unwrap());
    let spring = BasicProperties::default()
        .with_message_id("spring-2".into())
        .with_content_type("text/plain".into())
        .with_content_encoding("UTF-8".into())
        .with_delivery_mode(2)
        .with_priority(0);
    let body = message(&receiver.url("/n"), "MakeCode", false);
    broker.publish_with(&queue, &body, spring).await;
    let dead = format!("{queue}.dead");
    eventually(
        Duration::from_secs(20),
        "parked after three attempts",
        || async { broker.depth(&dead).await == 1 },
    )
    .await;
    assert_eq!(receiver.count(), 3, "tried, not refused as bad input");

    healthy.store(true, Ordering::SeqCst);
    let replay = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/deliveries/spring-2/replay"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status().as_u16(), 200);
    eventually(Duration::from_secs(10), "the replayed delivery", || async {
        receiver.count() == 4
    })
    .await;
    bridge.stop().await;
    let answered: Vec<_> = receiver.received().into_iter().skip(3).collect();
    let sent = delivered(&answered, "spring-2", "MakeCodeNotify");
    assert_eq!(sent["bizContent"].as_str(), Some(BIZ));
}

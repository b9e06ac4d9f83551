//! Good messages arrive once, correctly formed and signed; failures are parked, not lost.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::support::broker::TestBroker;
use crate::support::receiver::Receiver;
use crate::support::{eventually, settings, unique_queue, Bridge};
use crate::{independent_sign, queue_message, CONFIG};

const TYPES: [(&str, &str); 7] = [
    ("MakeCode", "MakeCodeNotify"),
    ("MakeVoid", "MakeVoidNotify"),
    ("UpdateCodeStatus", "UpdateCodeStatusNotify"),
    ("CodeDelay", "CodeDelayNotify"),
    ("CodeExpire", "CodeExpireNotify"),
    ("Verify", "VerifyNotify"),
    ("VerifyVoid", "VerifyVoidNotify"),
];

#[tokio::test]
async fn each_notify_type_arrives_once_signed_and_well_formed() {
    let queue = unique_queue("seven");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::ok().await;
    let bridge = Bridge::start(settings(CONFIG, &queue));

    for (i, (notify_type, _)) in TYPES.iter().enumerate() {
        // Half send bizContent as an object, half as a string, as WHALE versions differ.
        let biz = json!({"codeNo": format!("C{i}"), "amount": 0.10, "memo": "券码/测试"});
        let biz = if i % 2 == 0 {
            biz
        } else {
            Value::String(biz.to_string())
        };
        let whale = json!({"appId": "WHALE_APP", "bizContent": biz, "timestamp": "1700000000000", "sign": "WHALE"});
        let body = queue_message(
            "shop",
            &receiver.url(&format!("/n/{notify_type}")),
            notify_type,
            &whale,
        );
        broker
            .publish(
                &queue,
                body.as_bytes(),
                Some(&format!("id-{notify_type}")),
                Some("application/json"),
            )
            .await;
    }
    eventually(Duration::from_secs(20), "seven deliveries", || async {
        receiver.count() >= 7
    })
    .await;
    // Let any duplicate show up before counting: the queue must be drained and acked.
    eventually(Duration::from_secs(10), "queue drained", || async {
        broker.depth(&queue).await == 0
    })
    .await;
    bridge.stop().await;

    let got = receiver.received();
    assert_eq!(got.len(), 7, "each message arrives exactly once");
    let by_type: HashMap<String, _> = got
        .iter()
        .map(|r| (r.path.trim_start_matches("/n/").to_owned(), r))
        .collect();
    for (notify_type, action) in TYPES {
        let r = by_type[notify_type];
        assert_eq!(r.headers["x-notify-id"], format!("id-{notify_type}"));
        assert!(r.headers["content-type"].starts_with("application/json"));
        let body: Map<String, Value> = serde_json::from_str(&r.body).unwrap();
        let keys: Vec<&str> = body.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "appId",
                "action",
                "bizContent",
                "version",
                "timestamp",
                "sign"
            ]
        );
        assert_eq!(body["appId"], "APP_SHOP", "the channel's appId wins");
        assert_eq!(body["action"], action);
        assert_eq!(body["version"], "1.0");
        assert_eq!(body["timestamp"], "1700000000000");
        let biz = body["bizContent"]
            .as_str()
            .expect("bizContent is a JSON string");
        assert!(
            biz.contains(r#""amount":0.1"#) && biz.contains("券码/测试"),
            "{biz}"
        );
        assert_eq!(
            body["sign"],
            independent_sign(&body, "it-secret-shop", true)
        );
        assert_ne!(body["sign"], "WHALE");
    }
    assert_eq!(broker.depth(&format!("{queue}.dead")).await, 0);
    broker.cleanup(&queue).await;
}

#[tokio::test]
async fn failed_deliveries_are_parked_with_their_status() {
    let queue = unique_queue("fail");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::start(|r| match r.path.as_str() {
        "/500" => (500, "boom".into()),
        "/redirect" => (302, String::new()),
        "/401" => (401, "who are you".into()),
        // EM wants exactly SUCCESS: a polite 200 "success" is not enough.
        _ => (200, "success".into()),
    })
    .await;
    let bridge = Bridge::start(settings(CONFIG, &queue));

    let whale = json!({"bizContent": "{}"});
    let cases = [
        ("m-500", "shop", "/500"),
        ("m-302", "shop", "/redirect"),
        ("m-401", "shop", "/401"),
        ("m-em", "em-like", "/em"),
    ];
    for (id, channel, path) in cases {
        let body = queue_message(channel, &receiver.url(path), "Verify", &whale);
        broker
            .publish(&queue, body.as_bytes(), Some(id), None)
            .await;
    }
    let dead = format!("{queue}.dead");
    eventually(Duration::from_secs(20), "four parked", || async {
        broker.depth(&dead).await >= 4
    })
    .await;
    bridge.stop().await;

    let parked: HashMap<String, _> = broker
        .drain(&dead)
        .await
        .into_iter()
        .map(|g| (g.message_id.clone().unwrap(), g))
        .collect();
    assert_eq!(parked.len(), 4);
    assert_eq!(parked["m-500"].headers["x-notify-status"], "500");
    assert_eq!(parked["m-401"].headers["x-notify-status"], "401");
    // The shop schedule has three attempts; 401 is listed in park_on; em-like has one.
    assert_eq!(parked["m-500"].headers["x-notify-attempt"], "3");
    assert_eq!(parked["m-302"].headers["x-notify-attempt"], "3");
    assert_eq!(parked["m-401"].headers["x-notify-attempt"], "1");
    assert_eq!(parked["m-em"].headers["x-notify-attempt"], "1");
    let first: u64 = parked["m-500"].headers["x-notify-first-attempt-at"]
        .parse()
        .unwrap();
    let last: u64 = parked["m-500"].headers["x-notify-last-attempt-at"]
        .parse()
        .unwrap();
    assert!(
        last >= first + 600,
        "two retry waits lie between the first and last attempt"
    );
    assert_eq!(parked["m-302"].headers["x-notify-status"], "302");
    assert_eq!(parked["m-em"].headers["x-notify-status"], "200");
    assert_eq!(
        parked["m-500"].headers["x-notify-error"], r#"delivery-failed: HTTP 500: "boom""#,
        "the status first"
    );
    assert_eq!(
        parked["m-em"].headers["x-notify-error"],
        r#"delivery-failed: HTTP 200: body "success" is not an answer the success rule accepts"#
    );
    for g in parked.values() {
        assert!(g.headers["x-notify-error"].starts_with("delivery-failed: "));
        assert_eq!(g.headers["x-notify-type"], "Verify");
        assert!(g.headers.contains_key("x-notify-channel"));
    }
    let original = queue_message("shop", &receiver.url("/500"), "Verify", &whale);
    assert_eq!(
        parked["m-500"].body,
        original.as_bytes(),
        "the original body is kept"
    );
    assert_eq!(
        receiver.count(),
        3 + 3 + 1 + 1,
        "tries per schedule, no redirect followed"
    );
    assert_eq!(broker.depth(&queue).await, 0);
    broker.cleanup(&queue).await;
}

#[tokio::test]
async fn an_unreachable_brand_is_parked_not_lost() {
    let queue = unique_queue("down");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    // Bind then drop a listener: nothing answers on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bridge = Bridge::start(settings(CONFIG, &queue));
    let body = queue_message(
        "shop",
        &format!("http://127.0.0.1:{port}/x"),
        "MakeCode",
        &json!({"bizContent": "{}"}),
    );
    broker
        .publish(&queue, body.as_bytes(), Some("m-down"), None)
        .await;
    let dead = format!("{queue}.dead");
    eventually(Duration::from_secs(20), "parked", || async {
        broker.depth(&dead).await >= 1
    })
    .await;
    bridge.stop().await;
    let parked = broker.drain(&dead).await;
    assert!(parked[0].headers["x-notify-error"].contains("connection failed"));
    assert!(!parked[0].headers.contains_key("x-notify-status"));
    broker.cleanup(&queue).await;
}

#[tokio::test]
async fn a_name_resolving_to_a_private_address_is_refused_at_connect() {
    use std::net::ToSocketAddrs;
    // This machine's own hostname resolves to a loopback address (/etc/hosts).
    let host = String::from_utf8(
        std::process::Command::new("hostname")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let resolved: Vec<_> = (host.as_str(), 80).to_socket_addrs().unwrap().collect();
    assert!(
        resolved
            .iter()
            .all(|a| a.ip().is_loopback() || a.ip().is_unspecified()),
        "test premise: {host} resolves to loopback, got {resolved:?}"
    );
    let queue = unique_queue("rebind");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::ok().await;
    let config = format!(
        "{}\n[channels.public-only]\napp_id = \"P\"\nurl_policy = {{ schemes = [\"http\"], hosts = [\"{host}\"] }}\nsigner = {{ secret = \"p\" }}\n",
        CONFIG
    );
    let bridge = Bridge::start(settings(&config, &queue));
    let url = format!("http://{host}:{}/x", receiver.addr.port());
    let body = queue_message(
        "public-only",
        &url,
        "MakeCode",
        &json!({"bizContent": "{}"}),
    );
    broker
        .publish(&queue, body.as_bytes(), Some("m-rebind"), None)
        .await;
    // The same brand via allow_private is delivered: the refusal is the policy, not the network.
    let allowed = queue_message(
        "shop",
        &receiver.url("/ok"),
        "MakeCode",
        &json!({"bizContent": "{}"}),
    );
    broker
        .publish(&queue, allowed.as_bytes(), Some("m-allowed"), None)
        .await;
    let dead = format!("{queue}.dead");
    eventually(Duration::from_secs(20), "parked", || async {
        broker.depth(&dead).await >= 1 && receiver.count() >= 1
    })
    .await;
    bridge.stop().await;
    let parked = broker.drain(&dead).await;
    let reason = &parked[0].headers["x-notify-error"];
    assert!(reason.starts_with("url-refused: "), "{reason}");
    assert!(reason.contains("non-public"), "{reason}");
    assert_eq!(
        parked[0].headers["x-notify-attempt"], "1",
        "parked at once, not retried"
    );
    assert_eq!(receiver.count(), 1);
    assert_eq!(receiver.received()[0].path, "/ok");
    broker.cleanup(&queue).await;
}

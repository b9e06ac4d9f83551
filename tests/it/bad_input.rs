//! Bad input (SPEC §6): each kind parked at once with its own reason, good messages flowing.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use crate::support::broker::TestBroker;
use crate::support::receiver::Receiver;
use crate::support::{eventually, settings, unique_queue, Bridge};
use crate::{queue_message, CONFIG};

#[tokio::test]
async fn each_kind_of_bad_input_is_parked_with_its_reason() {
    let queue = unique_queue("bad");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::ok().await;
    let url = receiver.url("/n");
    let good_whale = json!({"bizContent": "{}"});
    let good = queue_message("shop", &url, "MakeCode", &good_whale);
    let with = |field: &str, value: serde_json::Value| {
        let mut doc: serde_json::Value = serde_json::from_str(&good).unwrap();
        doc[field] = value;
        doc.to_string()
    };
    let without = |field: &str| {
        let mut doc: serde_json::Value = serde_json::from_str(&good).unwrap();
        doc.as_object_mut().unwrap().remove(field);
        doc.to_string()
    };
    let huge = with(
        "whaleMessage",
        json!(json!({"bizContent": "x".repeat(1_100_000)}).to_string()),
    );
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("not-json", b"this is not json".to_vec(), None),
        ("not-json", vec![0xff, 0xfe, 0x00], None),
        ("not-object", b"[1,2,3]".to_vec(), None),
        ("missing-field", without("notifyUrl").into_bytes(), None),
        (
            "wrong-type",
            with("channelId", json!(42)).into_bytes(),
            None,
        ),
        (
            "unknown-channel",
            with("channelId", json!("nobody")).into_bytes(),
            None,
        ),
        (
            "unknown-notify-type",
            with("notifyType", json!("Refund")).into_bytes(),
            None,
        ),
        (
            "unknown-message-type",
            with("messageType", json!("xml")).into_bytes(),
            None,
        ),
        (
            "message-type-refused",
            with("messageType", json!("third")).into_bytes(),
            None,
        ),
        (
            "whale-message-not-json",
            with("whaleMessage", json!("{oops")).into_bytes(),
            None,
        ),
        (
            "whale-message-not-object",
            with("whaleMessage", json!("[1]")).into_bytes(),
            None,
        ),
        (
            "action-conflict",
            with(
                "whaleMessage",
                json!(json!({"action": "VerifyNotify", "bizContent": "{}"}).to_string()),
            )
            .into_bytes(),
            None,
        ),
        (
            "wrong-type",
            with("whaleMessage", json!(json!({"bizContent": 7}).to_string())).into_bytes(),
            None,
        ),
        (
            "url-refused",
            with("notifyUrl", json!("http://evil.example/steal")).into_bytes(),
            None,
        ),
        (
            "url-refused",
            with("notifyUrl", json!("ftp://127.0.0.1/x")).into_bytes(),
            None,
        ),
        ("too-large", huge.into_bytes(), None),
        // The content type decides nothing; the body is what is not JSON.
        ("not-json", b"<notify/>".to_vec(), Some("text/xml")),
    ];
    let bridge = Bridge::start(settings(CONFIG, &queue));
    for (i, (_, body, ct)) in cases.iter().enumerate() {
        broker
            .publish(&queue, body, Some(&format!("bad-{i}")), *ct)
            .await;
        // Good messages interleaved: bad input must not hold them up.
        broker
            .publish(&queue, good.as_bytes(), Some(&format!("good-{i}")), None)
            .await;
    }
    let dead = format!("{queue}.dead");
    eventually(
        Duration::from_secs(30),
        "all parked and delivered",
        || async {
            broker.depth(&dead).await as usize >= cases.len() && receiver.count() >= cases.len()
        },
    )
    .await;
    eventually(Duration::from_secs(10), "queue drained", || async {
        broker.depth(&queue).await == 0
    })
    .await;
    bridge.stop().await;

    let parked: HashMap<String, _> = broker
        .drain(&dead)
        .await
        .into_iter()
        .map(|g| (g.message_id.clone().unwrap(), g))
        .collect();
    assert_eq!(
        parked.len(),
        cases.len(),
        "nothing good was parked, nothing bad dropped"
    );
    for (i, (code, body, _)) in cases.iter().enumerate() {
        let got = &parked[&format!("bad-{i}")];
        let reason = &got.headers["x-notify-error"];
        assert!(
            reason.starts_with(&format!("{code}: ")),
            "case {i}: {reason}"
        );
        assert_eq!(&got.body, body, "case {i}: the original body is kept");
    }
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.headers["x-notify-id"].clone())
        .collect();
    assert_eq!(
        ids.len(),
        cases.len(),
        "each good message delivered exactly once"
    );
    assert!(ids.iter().all(|id| id.starts_with("good-")));
    broker.cleanup(&queue).await;
}

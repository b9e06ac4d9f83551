//! The Redis store: what one replica accepted, every replica knows (SET NX semantics).

use serde_json::{json, Value};

use super::signing::{self, YzmRequest};
use super::{redis_url, Harness, Options};

const JSON: (&str, &str) = ("content-type", "application/json");

fn redis() -> Options {
    Options {
        store: redis_url(),
        ..Options::default()
    }
}

#[tokio::test]
async fn with_redis_a_nonce_used_on_one_replica_is_refused_on_another() {
    let mut h = Harness::start_with(&signing::yzm_receiver(), "#", redis()).await;
    let (other, other_stats) = h.replica().await;
    let dir = tempfile::tempdir().unwrap();
    let body = json!({"waybillNo": format!("W{}", signing::nonce()), "driver": {"idCard": signing::yzm_encrypt(dir.path(), "1101")}})
        .to_string();
    let request = YzmRequest::sign(dir.path(), &body, signing::now_ms(), &signing::nonce());

    assert_eq!(
        h.post(&request.body, &request.headers()).await,
        (200, "success".into())
    );
    assert_eq!(
        h.post_to(other, &request.body, &request.headers()).await,
        (401, "error: replayed nonce".into())
    );
    assert_eq!(other_stats.snapshot().replayed, 1);

    // The same event with a fresh nonce on the other replica: known there too, not republished.
    let retry = YzmRequest::sign(dir.path(), &body, signing::now_ms(), &signing::nonce());
    assert_eq!(
        h.post_to(other, &retry.body, &retry.headers()).await,
        (200, "success".into())
    );
    assert_eq!(other_stats.snapshot().duplicates, 1);
    assert_eq!(h.take().await.len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn with_redis_a_repeated_em_push_is_published_once_across_replicas() {
    let mut h = Harness::start_with(
        "preset = \"em\"\nsigner = { secret = \"k\" }",
        "em.*",
        redis(),
    )
    .await;
    let (other, _) = h.replica().await;
    let data =
        json!({"notify_type": "OUT_TRADE_AUDIT", "trade_no": format!("DD{}", signing::nonce())});
    let first = Value::Object(signing::em("KEY_A", &data, "100", "k")).to_string();
    let second = Value::Object(signing::em("KEY_A", &data, "130", "k")).to_string();

    assert_eq!(h.post(&first, &[JSON]).await, (200, "SUCCESS".into()));
    assert_eq!(
        h.post_to(other, &second, &[JSON]).await,
        (200, "SUCCESS".into())
    );
    assert_eq!(h.post(&second, &[JSON]).await, (200, "SUCCESS".into()));
    let events = h.take().await;
    assert_eq!(events.len(), 1, "{events:?}");
    h.stop().await;
}

#[tokio::test]
async fn concurrent_pushes_of_one_event_publish_it_once() {
    let h = Harness::start_with(
        "preset = \"em\"\nsigner = { secret = \"k\" }",
        "em.*",
        redis(),
    )
    .await;
    let data =
        json!({"notify_type": "OUT_TRADE_AUDIT", "trade_no": format!("DD{}", signing::nonce())});
    let bodies: Vec<String> = (0..20)
        .map(|i| {
            Value::Object(signing::em("KEY_A", &data, &format!("{}", 100 + i), "k")).to_string()
        })
        .collect();
    let answers = futures_util::future::join_all(bodies.iter().map(|b| h.post(b, &[JSON]))).await;
    // Each is SUCCESS (published or already published) or 503 (being published right now).
    for (status, text) in &answers {
        assert!(
            (*status == 200 && text == "SUCCESS") || *status == 503,
            "{status} {text}"
        );
    }
    assert_eq!(h.take().await.len(), 1);
    let stats = h.stats.snapshot();
    assert_eq!(stats.published, 1);
    assert_eq!(stats.published + stats.duplicates + stats.unavailable, 20);
    h.stop().await;
}

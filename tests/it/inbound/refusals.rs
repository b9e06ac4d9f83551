//! Callbacks that must be refused are refused with a short reason, counted, and never
//! published: tampered bodies, wrong keys, stale timestamps, reused nonces, huge bodies.

use serde_json::{json, Value};

use super::signing::{self, YzmRequest};
use super::{Harness, Options};

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test]
async fn tampered_or_wrongly_signed_shangzhan_and_em_callbacks_are_refused() {
    let sz = Harness::start(
        "preset = \"shangzhan\"\nsigner = { secret = \"sz-right\" }",
        "#",
    )
    .await;
    let fields = json!({"orderno": "B1", "customer_order_no": "c1", "status": "failed"});
    let good = Value::Object(signing::shangzhan(&fields, "sz-right")).to_string();
    let tampered = good.replace("failed", "success");
    let wrong_key = Value::Object(signing::shangzhan(&fields, "sz-wrong")).to_string();
    for body in [&tampered, &wrong_key] {
        assert_eq!(
            sz.post(body, &[JSON]).await,
            (401, "fail: bad signature".into())
        );
    }
    let unsigned = fields.to_string();
    assert_eq!(
        sz.post(&unsigned, &[JSON]).await,
        (400, "fail: missing field".into())
    );
    assert!(sz.take().await.is_empty(), "nothing refused is published");
    let stats = sz.stats.snapshot();
    assert_eq!(
        (stats.bad_signature, stats.malformed, stats.published),
        (2, 1, 0)
    );
    sz.stop().await;

    let em = Harness::start("preset = \"em\"\nsigner = { secret = \"em-right\" }", "#").await;
    let data = json!({"notify_type": "OUT_TRADE_AUDIT", "trade_no": "DD1", "trade_status": 2});
    let good = Value::Object(signing::em("KEY_A", &data, "1727324523", "em-right")).to_string();
    let tampered = good.replace("DD1", "DD2");
    let wrong_key =
        Value::Object(signing::em("KEY_A", &data, "1727324523", "em-wrong")).to_string();
    for body in [&tampered, &wrong_key] {
        let (status, text) = em.post(body, &[JSON]).await;
        assert_eq!((status, text.as_str()), (401, "ERROR: bad signature"));
        assert!(!text.contains("em-right"), "never echoes the secret");
    }
    assert!(em.take().await.is_empty());
    assert_eq!(em.stats.snapshot().bad_signature, 2);
    em.stop().await;
}

#[tokio::test]
async fn yunzhimeng_refuses_bad_signatures_stale_timestamps_and_reused_nonces() {
    let h = Harness::start(&signing::yzm_receiver(), "#").await;
    let dir = tempfile::tempdir().unwrap();
    let body =
        json!({"waybillNo": "W1", "driver": {"idCard": signing::yzm_encrypt(dir.path(), "1101")}})
            .to_string();
    let now = signing::now_ms();

    // Tampered body; a signature by another key (b3072 is ours, not the provider's).
    let good = YzmRequest::sign(dir.path(), &body, now, &signing::nonce());
    let tampered = body.replace("W1", "W2");
    assert_eq!(
        h.post(&tampered, &good.headers()).await,
        (401, "error: bad signature".into())
    );
    let forged =
        YzmRequest::sign_with("b3072_pkcs1.pem", dir.path(), &body, now, &signing::nonce());
    assert_eq!(h.post(&body, &forged.headers()).await.0, 401);

    // Outside ±5 minutes either way.
    for ts in [now - 6 * 60_000, now + 6 * 60_000] {
        let stale = YzmRequest::sign(dir.path(), &body, ts, &signing::nonce());
        assert_eq!(
            h.post(&body, &stale.headers()).await,
            (401, "error: stale timestamp".into())
        );
    }
    assert!(h.take().await.is_empty(), "nothing refused is published");

    // Accepted once; the very same request again is a replay.
    assert_eq!(
        h.post(&body, &good.headers()).await,
        (200, "success".into())
    );
    assert_eq!(
        h.post(&body, &good.headers()).await,
        (401, "error: replayed nonce".into())
    );
    assert_eq!(h.take().await.len(), 1);

    let stats = h.stats.snapshot();
    assert_eq!(
        (stats.bad_signature, stats.replayed, stats.published),
        (2, 3, 1)
    );
    h.stop().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let options = Options {
        max_body_bytes: 1024,
        ..Options::default()
    };
    let h = Harness::start_with("preset = \"em\"\nsigner = { secret = \"k\" }", "#", options).await;
    let data = json!({"notify_type": "X", "pad": "x".repeat(2048)});
    let body = Value::Object(signing::em("KEY_A", &data, "1", "k")).to_string();
    let (status, _) = h.post(&body, &[JSON]).await;
    assert_eq!(status, 413);
    assert_eq!(h.stats.snapshot().too_large, 1);
    assert!(h.take().await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn an_event_no_queue_takes_answers_failure_so_the_provider_retries() {
    // Bound for other events only: the mandatory publish comes back unroutable.
    let h = Harness::start(
        "preset = \"em\"\nsigner = { secret = \"k\" }",
        "em.IN_STOCK_AUDIT",
    )
    .await;
    let data = json!({"notify_type": "OUT_TRADE_AUDIT", "trade_no": "DD9"});
    let body = Value::Object(signing::em("KEY_A", &data, "1", "k")).to_string();
    assert_eq!(
        h.post(&body, &[JSON]).await,
        (503, "ERROR: not accepted, retry later".into())
    );
    // Not remembered as published: the retry is tried again (and fails again).
    assert_eq!(h.post(&body, &[JSON]).await.0, 503);
    let stats = h.stats.snapshot();
    assert_eq!(
        (stats.unavailable, stats.published, stats.duplicates),
        (2, 0, 0)
    );
    h.stop().await;
}

//! Business keys and deferrals, on both backends: a message is found by its order number
//! (a prefix too), with every attempt; deferrals are counted apart from attempts; the
//! console's figures come from the same tables.

use notify_bridge::clock::now_ms;
use notify_bridge::journal::{Filter, Journal, JournalOutcome, JournalReader, JournalUrl};

use super::{entry, settings, PATIENCE};

/// A queue message whose bizContent carries `order`, as WHALE sends it (JSON text).
fn body(order: &str) -> Vec<u8> {
    let whale =
        format!(r#"{{"appId":"W","bizContent":{{"orderNo":"{order}","codeNo":"C-{order}"}}}}"#);
    serde_json::to_vec(&serde_json::json!({
        "channelId": "shop",
        "notifyUrl": "https://brand.example/notify",
        "notifyType": "MakeCode",
        "messageType": "ebuy",
        "whaleMessage": whale,
    }))
    .unwrap()
}

pub async fn keys_find_every_attempt(url: &str) {
    let (journal, task) = Journal::start(&settings(url, 10_000));
    let base = now_ms() - 60_000;
    // WO2025-1: deferred once, two retries, then delivered. WO2025-2 and WO2026-1: one each.
    let mut first = entry("k1", base);
    first.outcome = JournalOutcome::Deferred;
    first.status = None;
    first.message.as_mut().unwrap().body = body("WO2025-1");
    journal.record(first);
    for (attempt, outcome) in [
        (1, JournalOutcome::Retry),
        (2, JournalOutcome::Retry),
        (3, JournalOutcome::Delivered),
    ] {
        let mut e = entry("k1", base + 10 * attempt as u64);
        e.attempt = attempt;
        e.outcome = outcome;
        if outcome == JournalOutcome::Retry {
            e.error = Some(format!("HTTP 503 on attempt {attempt}"));
        }
        // Only the first record carries the original; a later one would be ignored.
        e.message = None;
        journal.record(e);
    }
    for (id, order, at) in [
        ("k2", "WO2025-2", base + 100),
        ("k3", "WO2026-1", base + 200),
    ] {
        let mut e = entry(id, at);
        e.message.as_mut().unwrap().body = body(order);
        journal.record(e);
    }
    assert_eq!(task.shutdown(PATIENCE).await, 0);

    let reader = JournalReader::open(&JournalUrl::parse(url).unwrap())
        .await
        .unwrap();
    let by_key = |key: &str| {
        let filter = Filter::default().with_key(key).unwrap();
        let reader = reader.clone();
        async move { reader.list(&filter).await.unwrap() }
    };
    let one = by_key("orderNo=WO2025-1").await;
    assert_eq!(one.len(), 3, "three attempts, the deferral not among them");
    assert!(one.iter().all(|r| r.message_id == "k1"));
    assert_eq!(one[0].attempt, 3, "newest first");
    let prefix: Vec<String> = by_key("orderNo=WO2025")
        .await
        .into_iter()
        .map(|r| r.message_id)
        .collect();
    assert_eq!(prefix, ["k2", "k1", "k1", "k1"]);
    assert_eq!(by_key("codeNo=C-WO2026").await.len(), 1);
    assert!(by_key("orderNo=XX").await.is_empty());
    assert!(by_key("outOrderNo=WO2025").await.is_empty());

    assert_eq!(reader.deferrals("k1").await.unwrap(), (1, Some(base)));
    let figures = reader.channels(base - 1).await.unwrap();
    let shop = &figures["shop"];
    assert_eq!(
        (shop.delivered, shop.retried, shop.deferred),
        (3, 2, 1),
        "{shop:?}"
    );
    assert_eq!(shop.p50_ms, Some(42));
    assert_eq!(
        shop.last_error,
        Some(("HTTP 503 on attempt 2".to_owned(), base + 20))
    );
    reader.close().await;
}

/// `check-config` counts, from the journal, the messages waiting for a channel the new
/// configuration drops: they would be parked as unknown-channel when they come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_counts_messages_waiting_for_a_removed_channel() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let url = format!("sqlite://{}", db.display());
    let (journal, task) = Journal::start(&settings(&url, 100));
    let at = now_ms();
    // "gone": one message waiting for a retry, one deferred; one delivered (not waiting).
    let mut retried = entry("w1", at);
    retried.channel = Some("gone".into());
    retried.outcome = JournalOutcome::Retry;
    journal.record(retried);
    let mut deferred = entry("w2", at);
    deferred.channel = Some("gone".into());
    deferred.outcome = JournalOutcome::Deferred;
    journal.record(deferred);
    let mut done = entry("w3", at);
    done.channel = Some("gone".into());
    journal.record(done);
    assert_eq!(task.shutdown(PATIENCE).await, 0);

    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[journal]\nurl = \"{url}\"\n\n[channels.shop]\napp_id = \"A\"\nsigner = {{ secret = \"s\" }}\n"
        ),
    )
    .unwrap();
    let out = crate::support::process::bridge_cli(&[
        "check-config",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(out.contains("config OK"), "{out}");
    assert!(
        out.contains("warning: 2 message(s) wait for channel `gone`"),
        "{out}"
    );
}

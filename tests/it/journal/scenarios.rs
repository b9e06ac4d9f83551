//! The scenarios both backends run: batched writes then every query, and retention.

use std::time::Duration;

use bench_harness::load::{message, Target};
use notify_bridge::clock::now_ms;
use notify_bridge::journal::{
    Filter, Journal, JournalError, JournalOutcome, JournalReader, JournalUrl, MAX_LIMIT,
};
use notify_bridge::message::NotifyType;

use super::{entry, settings, with_order_no, DAY_MS, PATIENCE};
use crate::support::eventually;

/// Batches of mixed attempts, then every query and filter.
pub async fn batches_and_queries(url: &str) {
    let (journal, task) = Journal::start(&settings(url, 10_000));
    let base = now_ms() - 1000 * 1000;
    let channels = ["shop", "brand-a"];
    let types = [
        NotifyType::MakeCode,
        NotifyType::Verify,
        NotifyType::CodeExpire,
    ];
    let outcomes = JournalOutcome::ALL;
    // 1200 attempts: more than two full batches, one millisecond apart.
    for i in 0..1200u64 {
        let mut e = entry(&format!("m{i}"), base + i);
        e.channel = Some(channels[i as usize % 2].into());
        e.notify_type = Some(types[i as usize % 3]);
        e.outcome = outcomes[i as usize % 4];
        journal.record(e);
    }
    // Three attempts of one message, recorded out of order; each carries a different
    // "original" so we can tell which one was kept.
    for (attempt, at) in [(2, base + 5000), (1, base + 4000), (3, base + 6000)] {
        let mut e = entry("retried", at);
        e.attempt = attempt;
        e.outcome = if attempt == 3 {
            JournalOutcome::Delivered
        } else {
            JournalOutcome::Retry
        };
        e.status = Some(if attempt == 3 { 200 } else { 503 });
        e.message.as_mut().unwrap().body = format!("body of attempt {attempt}").into_bytes();
        journal.record(e);
    }
    let mut long = entry("long-answer", base + 7000);
    long.response = Some(format!("{}{}", "a", "商".repeat(1000)));
    long.error = Some("x".repeat(10_000));
    journal.record(long);
    assert_eq!(
        task.shutdown(PATIENCE).await,
        0,
        "everything flushed at shutdown"
    );
    assert_eq!(journal.written(), 1204);
    assert_eq!(journal.dropped(), 0);

    let reader = JournalReader::open(&JournalUrl::parse(url).unwrap())
        .await
        .unwrap();
    let list = |filter: Filter| {
        let reader = reader.clone();
        async move { reader.list(&filter).await.unwrap() }
    };

    let newest = list(Filter::default()).await;
    assert_eq!(newest.len(), 100, "default limit");
    assert_eq!(newest[0].message_id, "long-answer");
    assert!(newest.windows(2).all(|w| w[0].at_ms >= w[1].at_ms));

    let all = list(Filter {
        limit: Some(MAX_LIMIT),
        ..Filter::default()
    })
    .await;
    assert_eq!(all.len(), 1000);
    assert!(matches!(
        reader
            .list(&Filter {
                limit: Some(MAX_LIMIT + 1),
                ..Filter::default()
            })
            .await,
        Err(JournalError::Limit(1001))
    ));

    let shop = list(Filter {
        channel: Some("brand-a".into()),
        limit: Some(1000),
        ..Filter::default()
    })
    .await;
    assert_eq!(shop.len(), 600);
    assert!(shop.iter().all(|r| r.channel.as_deref() == Some("brand-a")));

    let verify = list(Filter {
        notify_type: Some(NotifyType::Verify),
        limit: Some(1000),
        ..Filter::default()
    })
    .await;
    assert_eq!(verify.len(), 400);

    let parked = list(Filter {
        outcome: Some(JournalOutcome::Parked),
        limit: Some(1000),
        ..Filter::default()
    })
    .await;
    assert_eq!(parked.len(), 300);
    assert!(parked.iter().all(|r| r.outcome == JournalOutcome::Parked));

    let recent = list(Filter {
        since_ms: Some(base + 1100),
        limit: Some(1000),
        ..Filter::default()
    })
    .await;
    // m1100..m1199, the three attempts of "retried", and "long-answer".
    assert_eq!(recent.len(), 104);

    let combined = list(Filter {
        channel: Some("shop".into()),
        notify_type: Some(NotifyType::MakeCode),
        outcome: Some(JournalOutcome::Delivered),
        since_ms: Some(base),
        limit: Some(5),
        ..Filter::default()
    })
    .await;
    // The two newest match, then i ≡ 0 (mod 2, 3 and 4): multiples of 12, newest first.
    let ids: Vec<&str> = combined.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(ids, ["long-answer", "retried", "m1188", "m1176", "m1164"]);

    let attempts = reader.attempts("retried").await.unwrap();
    let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3], "oldest first");
    assert_eq!(attempts[0].status, Some(503));
    assert_eq!(attempts[2].outcome, JournalOutcome::Delivered);
    assert_eq!(attempts[0].latency_ms, Some(42));
    assert_eq!(
        attempts[0].url.as_deref(),
        Some("https://brand.example/notify")
    );
    assert!(reader.attempts("never-seen").await.unwrap().is_empty());

    // Stored once: the first recorded original (attempt 2's) is kept, later ones ignored.
    let original = reader.message("retried").await.unwrap().unwrap();
    assert_eq!(original.body, b"body of attempt 2");
    assert_eq!(original.content_type.as_deref(), Some("application/json"));
    assert_eq!(original.received_at_ms, base + 5000);
    assert!(reader.message("never-seen").await.unwrap().is_none());

    let long = &reader.attempts("long-answer").await.unwrap()[0];
    let response = long.response.as_deref().unwrap();
    assert_eq!(
        response.len(),
        1 + 682 * 3,
        "cut to 2 KiB on a character boundary"
    );
    assert!(response.ends_with('商'));
    assert_eq!(long.error.as_deref().map(str::len), Some(2048));
    reader.close().await;
}

/// Old attempts go at start; a message goes once it has no attempts left, and its business
/// keys with it.
pub async fn retention_prunes(url: &str) {
    let now = now_ms();
    // Written under a 30-day retention, so this journal keeps them all...
    let mut long = settings(url, 1000);
    long.retention = Duration::from_secs(30 * 24 * 3600);
    let (journal, task) = Journal::start(&long);
    journal.record(with_order_no("old", now - 8 * DAY_MS, "WO-OLD"));
    journal.record(entry("fresh", now));
    journal.record(with_order_no("mixed", now - 9 * DAY_MS, "WO-MIXED"));
    let mut later = entry("mixed", now - DAY_MS);
    later.attempt = 2;
    journal.record(later);
    assert_eq!(task.shutdown(PATIENCE).await, 0);

    let reader = JournalReader::open(&JournalUrl::parse(url).unwrap())
        .await
        .unwrap();
    assert_eq!(reader.list(&Filter::default()).await.unwrap().len(), 4);

    // ...and a journal started with the 7-day default prunes at start.
    let (_journal, task) = Journal::start(&settings(url, 1000));
    eventually(PATIENCE, "old attempts pruned", || async {
        reader.list(&Filter::default()).await.unwrap().len() == 2
    })
    .await;
    eventually(PATIENCE, "the orphaned message pruned", || async {
        reader.message("old").await.unwrap().is_none()
    })
    .await;
    assert!(reader.message("fresh").await.unwrap().is_some());
    let mixed = reader.attempts("mixed").await.unwrap();
    assert_eq!(mixed.len(), 1, "its 9-day-old attempt went");
    assert_eq!(mixed[0].attempt, 2);
    assert!(
        reader.message("mixed").await.unwrap().is_some(),
        "kept while an attempt is left"
    );
    let by_key = |order: &str| {
        let filter = Filter::default()
            .with_key(&format!("orderNo={order}"))
            .unwrap();
        let reader = &reader;
        async move { reader.list(&filter).await.unwrap().len() }
    };
    assert_eq!(by_key("WO-MIXED").await, 1, "its key kept with it");
    task.shutdown(PATIENCE).await;
    assert_eq!(
        key_rows(url).await,
        1,
        "the pruned message's key went with it"
    );
    reader.close().await;
}

/// Business key rows in the journal at `url`, counted directly.
async fn key_rows(url: &str) -> i64 {
    const SQL: &str = "SELECT COUNT(*) FROM journal_keys";
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let n = sqlx::query_scalar(SQL).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let n = sqlx::query_scalar(SQL).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }
}

/// Fifty messages of one channel with bodies like WHALE's (the bench's), each read back
/// byte for byte; returns the bodies' total length, to compare with what was stored.
pub async fn bodies_come_back_whole(url: &str) -> usize {
    let (journal, task) = Journal::start(&settings(url, 1000));
    let now = now_ms();
    // The bench's message: WHALE's shape, its order and code numbers varying.
    let target = Target {
        channel: "shop".into(),
        url: "https://brand.example/notify".into(),
        third: false,
    };
    let body = |i: usize| message(&target, i).into_bytes();
    for i in 0..50 {
        let mut e = entry(&format!("b-{i}"), now);
        e.message.as_mut().unwrap().body = body(i);
        journal.record(e);
    }
    assert_eq!(task.shutdown(PATIENCE).await, 0);
    let reader = JournalReader::open(&JournalUrl::parse(url).unwrap())
        .await
        .unwrap();
    for i in 0..50 {
        let stored = reader.message(&format!("b-{i}")).await.unwrap().unwrap();
        assert_eq!(stored.body, body(i), "b-{i}");
    }
    reader.close().await;
    (0..50).map(|i| body(i).len()).sum()
}

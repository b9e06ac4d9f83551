//! The delivery journal against real SQLite files and the real local PostgreSQL: batched
//! writes, every query, retention, and faults that make the database refuse writes.
//!
//! Fixtures and the fault scenario live here, the query scenarios in `scenarios.rs`; both
//! run on each backend. `sqlite.rs` and `postgres.rs` hold the backend's own fixtures and
//! the faults each can really suffer.

mod keys;
mod postgres;
mod scenarios;
mod sqlite;
mod upgrade;

use std::time::{Duration, Instant};

use notify_bridge::clock::now_ms;
use notify_bridge::journal::{
    Entry, Journal, JournalConfig, JournalOutcome, JournalReader, JournalUrl, KeySpec, Mask,
    Original,
};
use notify_bridge::message::NotifyType;

use crate::support::eventually;
use keys::keys_find_every_attempt;
use scenarios::{batches_and_queries, bodies_come_back_whole, retention_prunes};

/// Generous: the writer's backoff is capped at 5 s, and two cores are shared.
const PATIENCE: Duration = Duration::from_secs(30);
const DAY_MS: u64 = 24 * 3600 * 1000;

/// The writer's warnings in the test output (shown when a test fails).
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,notify_bridge::journal=debug,lapin=warn")
        .with_test_writer()
        .try_init();
}

pub fn settings(url: &str, buffer: usize) -> JournalConfig {
    JournalConfig {
        url: JournalUrl::parse(url).unwrap(),
        retention: Duration::from_secs(7 * 24 * 3600),
        buffer,
        keys: KeySpec::default(),
        mask: Mask::default(),
    }
}

/// A delivered first attempt of message `id`, carrying its original.
pub fn entry(id: &str, at_ms: u64) -> Entry {
    Entry {
        message_id: id.into(),
        channel: Some("shop".into()),
        notify_type: Some(NotifyType::MakeCode),
        url: Some("https://brand.example/notify".into()),
        attempt: 1,
        status: Some(200),
        latency_ms: Some(42),
        response: Some("SUCCESS".into()),
        error: None,
        outcome: JournalOutcome::Delivered,
        at_ms,
        message: Some(Original {
            body: format!(r#"{{"channelId":"shop","id":"{id}"}}"#).into_bytes(),
            content_type: Some("application/json".into()),
        }),
    }
}

/// [`entry`] whose original is a WHALE message with order number `order_no`, the key the
/// journal indexes by default.
pub fn with_order_no(id: &str, at_ms: u64, order_no: &str) -> Entry {
    let mut e = entry(id, at_ms);
    let whale = serde_json::json!({ "appId": "W", "bizContent": { "orderNo": order_no } });
    let body = serde_json::json!({
        "channelId": "shop",
        "notifyUrl": "https://brand.example/notify",
        "notifyType": "MakeCode",
        "messageType": "ebuy",
        "whaleMessage": whale.to_string(),
    });
    e.message.as_mut().unwrap().body = serde_json::to_vec(&body).unwrap();
    e
}

/// Waits until the writer has nothing left and has written `count` in all.
pub async fn written(journal: &Journal, count: u64) {
    eventually(PATIENCE, &format!("{count} entries written"), || async {
        journal.written() == count && journal.lag() == 0
    })
    .await;
}

/// Waits until the writer has failed (and so retried) at least `times`.
pub async fn failing(journal: &Journal, times: u64) {
    eventually(PATIENCE, &format!("{times} journal errors"), || async {
        journal.errors() >= times
    })
    .await;
}

/// Records `count` entries as fast as possible; returns how long `record` took in all.
pub fn record_many(journal: &Journal, prefix: &str, count: usize) -> Duration {
    let entries: Vec<Entry> = (0..count)
        .map(|i| entry(&format!("{prefix}-{i}"), now_ms()))
        .collect();
    let started = Instant::now();
    for e in entries {
        journal.record(e);
    }
    started.elapsed()
}

/// Every entry is written, dropped, or still buffered: none vanish, none are counted twice.
pub fn accounted(journal: &Journal, recorded: u64) {
    assert_eq!(
        journal.written() + journal.dropped() + journal.lag(),
        recorded,
        "written {} + dropped {} + lag {}",
        journal.written(),
        journal.dropped(),
        journal.lag()
    );
}

/// A real way to make the journal's database refuse writes, and to undo it.
trait Fault {
    async fn induce(&mut self);
    async fn clear(&mut self);
}

/// The database fails mid-run: `record` stays instant, the writer keeps retrying without
/// writing, overflow is dropped and counted; once the fault clears the writer catches up
/// by itself. Returns the entries written in all, for the caller to count in the database.
async fn mid_run_fault(url: &str, fault: &mut impl Fault) -> u64 {
    logs();
    let buffer = 1000;
    let (journal, task) = Journal::start(&settings(url, buffer));
    record_many(&journal, "before", 100);
    written(&journal, 100).await;

    fault.induce().await;
    let during = 50_000;
    let took = record_many(&journal, "during", during);
    eprintln!("{url}: record() x {during} during the fault took {took:?}");
    assert!(
        took < Duration::from_millis(500),
        "record() waited: {took:?}"
    );
    // Three failures: the writer keeps retrying (with backoff), and nothing lands meanwhile.
    failing(&journal, 3).await;
    assert_eq!(journal.written(), 100);
    let recorded = 100 + during as u64;
    accounted(&journal, recorded);
    let most_buffered = buffer as u64 + 500; // the channel, and the batch in hand
    assert!(journal.lag() <= most_buffered, "lag {}", journal.lag());
    assert!(
        journal.dropped() >= during as u64 - most_buffered,
        "beyond the buffer is dropped: {}",
        journal.dropped()
    );

    fault.clear().await;
    eventually(PATIENCE, "the backlog written after the fault", || async {
        journal.lag() == 0
    })
    .await;
    record_many(&journal, "after", 10);
    written(&journal, recorded + 10 - journal.dropped()).await;
    accounted(&journal, recorded + 10);
    assert_eq!(task.shutdown(PATIENCE).await, 0);
    let reader = JournalReader::open(&JournalUrl::parse(url).unwrap())
        .await
        .unwrap();
    assert_eq!(reader.attempts("after-9").await.unwrap().len(), 1);
    assert_eq!(reader.attempts("before-99").await.unwrap().len(), 1);
    reader.close().await;
    journal.written()
}

/// Starts a journal, records `count` entries and measures: `record` cost per call and
/// entries written per second (from the first `record` to the last commit).
pub async fn throughput(url: &str, label: &str, count: usize) -> f64 {
    let (journal, task) = Journal::start(&settings(url, count));
    let started = Instant::now();
    let recording = record_many(&journal, label, count);
    written(&journal, count as u64).await;
    let elapsed = started.elapsed();
    let rate = count as f64 / elapsed.as_secs_f64();
    eprintln!(
        "journal {label}: {count} entries written in {elapsed:?} = {rate:.0} entries/s; \
         record() {:.0} ns/call",
        recording.as_nanos() as f64 / count as f64
    );
    task.shutdown(PATIENCE).await;
    rate
}

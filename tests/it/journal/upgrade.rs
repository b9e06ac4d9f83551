//! Upgrading in place: a journal written by the first schema (before business keys,
//! deferrals and pauses), holding a delivered message, is migrated when a bridge starts on
//! it; the old rows stay readable, and keys and pauses work on the upgraded journal.

use notify_bridge::clock::now_ms;
use notify_bridge::journal::{Filter, Journal, JournalReader, JournalUrl};

use super::{entry, settings, with_order_no, written, PATIENCE};

/// The versions recorded, in order.
pub const VERSIONS: &str = "SELECT version FROM journal_migrations ORDER BY version";

/// What the first schema's bookkeeping and one delivered message looked like, a minute
/// old, beside a retry of a message whose original this journal never stored; `body` is
/// the backend's literal for the two bytes `{}`.
pub fn version_1_rows(body: &str) -> String {
    let at = now_ms() - 60_000;
    format!(
        "CREATE TABLE journal_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL);
         INSERT INTO journal_migrations VALUES (1, 'journal', {at});
         INSERT INTO journal_messages VALUES ('old-1', 'application/json', {body}, {at});
         INSERT INTO journal_attempts (message_id, channel, notify_type, url, attempt, status, latency_ms, response, error, outcome, at_ms)
             VALUES ('old-1', 'shop', 'MakeCode', 'https://brand.example/n', 1, 200, 12, 'SUCCESS', NULL, 'delivered', {at}),
                    ('old-2', 'shop', 'MakeCode', 'https://brand.example/n', 2, 503, 9, 'busy', 'HTTP 503', 'retry', {at});"
    )
}

/// Starts a journal on `url` (holding [`version_1_rows`]), writes a message with an order
/// number, and reads both back.
pub async fn is_upgraded_in_place(url: &str) {
    let (journal, task) = Journal::start(&settings(url, 100));
    let new = with_order_no("new-1", now_ms(), "WO-UP-1");
    let body = new.message.as_ref().unwrap().body.clone();
    journal.record(new);
    written(&journal, 1).await;
    assert_eq!(task.shutdown(PATIENCE).await, 0);

    let reader = JournalReader::open(&JournalUrl::parse(url).unwrap())
        .await
        .unwrap();
    let old = reader.attempts("old-1").await.unwrap();
    assert_eq!(
        old.len(),
        1,
        "the attempt written before the upgrade is still there"
    );
    assert_eq!(old[0].status, Some(200));
    let orphan = reader.attempts("old-2").await.unwrap();
    assert_eq!(
        (orphan.len(), orphan[0].attempt, orphan[0].status),
        (1, 2, Some(503)),
        "an attempt whose original was never stored is kept"
    );
    assert!(
        reader.message("old-2").await.unwrap().is_none(),
        "a message never stored has no body to replay"
    );
    let old_body = reader.message("old-1").await.unwrap().unwrap().body;
    assert_eq!(
        old_body, b"{}",
        "a body stored before the upgrade reads as it was"
    );
    let new_body = reader.message("new-1").await.unwrap().unwrap().body;
    assert_eq!(new_body, body, "a body stored after it comes back whole");
    let found = found_by_key(&reader, "orderNo=WO-UP-1").await;
    assert_eq!(
        found,
        ["new-1"],
        "a message written after the upgrade is found by key"
    );
    assert!(reader.pause("shop").await.unwrap());
    let paused = reader.paused_channels().await.unwrap();
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0].0, "shop");
    reader.close().await;
}

/// Rows as the fourth schema stored them (bodies deflated, keys and deferrals by text id),
/// a minute old: a delivered message with an order number, a retry and a deferral of two
/// messages whose originals this journal never stored. `body` is the backend's literal
/// for the two bytes `{}`.
pub fn version_4_rows(body: &str) -> String {
    let at = now_ms() - 60_000;
    format!(
        "CREATE TABLE journal_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL);
         INSERT INTO journal_migrations VALUES (1, 'journal', {at}), (2, 'keys and deferrals', {at}),
             (3, 'channel pauses', {at}), (4, 'compact bodies', {at});
         INSERT INTO journal_messages (message_id, content_type, body, received_at_ms, dictionary)
             VALUES ('v4-1', 'application/json', {body}, {at}, NULL);
         INSERT INTO journal_keys VALUES ('orderNo', 'WO-V4-1', 'v4-1', {at});
         INSERT INTO journal_attempts (message_id, channel, notify_type, url, attempt, status, latency_ms, response, error, outcome, at_ms)
             VALUES ('v4-1', 'shop', 'MakeCode', 'https://brand.example/n', 1, 200, 12, 'SUCCESS', NULL, 'delivered', {at}),
                    ('v4-2', 'shop', 'MakeCode', 'https://brand.example/n', 2, 503, 9, 'busy', 'HTTP 503', 'retry', {at});
         INSERT INTO journal_deferrals (message_id, channel, attempt, error, at_ms)
             VALUES ('v4-3', 'shop', 1, 'channel paused', {at});"
    )
}

/// Opens a journal on `url` (holding [`version_4_rows`]) and finds every old row where an
/// operator looks for it: by key, by message, among the waiting.
pub async fn version_4_is_upgraded_in_place(url: &str) {
    let (journal, task) = Journal::start(&settings(url, 100));
    journal.record(entry("v5-1", now_ms()));
    written(&journal, 1).await;
    assert_eq!(task.shutdown(PATIENCE).await, 0);

    let reader = JournalReader::open(&JournalUrl::parse(url).unwrap())
        .await
        .unwrap();
    let found = found_by_key(&reader, "orderNo=WO-V4").await;
    assert_eq!(
        found,
        ["v4-1"],
        "a key stored before the upgrade still finds its message"
    );
    let body = reader.message("v4-1").await.unwrap().unwrap().body;
    assert_eq!(body, b"{}");
    let retry = reader.attempts("v4-2").await.unwrap();
    assert_eq!((retry.len(), retry[0].attempt), (1, 2));
    assert!(reader.message("v4-2").await.unwrap().is_none());
    let (deferred, last) = reader.deferrals("v4-3").await.unwrap();
    assert_eq!(deferred, 1);
    assert!(last.is_some());
    let waiting = reader.waiting().await.unwrap();
    assert_eq!(
        waiting.get("shop"),
        Some(&2),
        "the retry and the deferral still count as waiting: {waiting:?}"
    );
    assert_eq!(reader.attempts("v5-1").await.unwrap().len(), 1);
    reader.close().await;
}

/// The message ids of the attempts listed for business key `key` (`name=prefix`).
async fn found_by_key(reader: &JournalReader, key: &str) -> Vec<String> {
    let filter = Filter::default().with_key(key).unwrap();
    let rows = reader.list(&filter).await.unwrap();
    rows.into_iter().map(|r| r.message_id).collect()
}

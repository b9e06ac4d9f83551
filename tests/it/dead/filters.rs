//! `dead list`, `dead replay --dry-run` and `dead purge` with filters, and a replay run
//! meeting its own stamp, on lots filled by hand with the headers the park step writes
//! (and one parked before `x-notify-parked-at` existed).

use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;
use notify_bridge::broker::dead_letters::{self, Filter};
use notify_bridge::clock::now_ms;
use serde_json::json;

use super::{cli, stdout};
use crate::support::broker::TestBroker;
use crate::support::process::config_file;
use crate::support::unique_queue;
use crate::CONFIG;

/// Parks a message directly, as the bridge would have.
async fn park(broker: &TestBroker, dead: &str, id: &str, headers: &[(&str, AMQPValue)]) {
    let mut table = FieldTable::default();
    for (name, value) in headers {
        table.insert((*name).into(), value.clone());
    }
    let props = BasicProperties::default()
        .with_message_id(id.into())
        .with_delivery_mode(2)
        .with_headers(table);
    let body = json!({"channelId": "x", "id": id}).to_string();
    broker.publish_with(dead, body.as_bytes(), props).await;
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

/// Fills a lot with: a-0..a-2 `shop`, failed, parked now; b-0, b-1 `em-like`, bad input,
/// parked three hours ago; c-0 `shop`, failed, parked before parked-at existed.
async fn fill(broker: &TestBroker, dead: &str) {
    let now = i64::try_from(now_ms()).unwrap();
    for i in 0..3 {
        let headers = [
            ("x-notify-channel", text("shop")),
            ("x-notify-error", text("delivery-failed: HTTP 502")),
            ("x-notify-parked-at", AMQPValue::LongLongInt(now)),
        ];
        park(broker, dead, &format!("a-{i}"), &headers).await;
    }
    for i in 0..2 {
        let headers = [
            ("x-notify-channel", text("em-like")),
            ("x-notify-error", text("not-json: expected value")),
            (
                "x-notify-parked-at",
                AMQPValue::LongLongInt(now - 3 * 3_600_000),
            ),
        ];
        park(broker, dead, &format!("b-{i}"), &headers).await;
    }
    let headers = [
        ("x-notify-channel", text("shop")),
        ("x-notify-error", text("delivery-failed: HTTP 500")),
    ];
    park(broker, dead, "c-0", &headers).await;
}

/// The ids `dead list` shows, in the lot's order.
async fn listed(cfg: &str, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["dead", "list", "--config", cfg];
    args.extend_from_slice(filters);
    let out = stdout(&cli(&args).await);
    out.lines()
        .skip(1)
        .filter(|l| !l.contains("parked message(s) shown"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_and_filters_leave_the_lot_as_it_was() {
    let queue = unique_queue("dead-filters");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let dead = format!("{queue}.dead");
    broker.declare(&dead).await;
    fill(&broker, &dead).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), CONFIG, &queue);
    let cfg = cfg.to_str().unwrap();

    let everything = ["a-0", "a-1", "a-2", "b-0", "b-1", "c-0"];
    assert_eq!(listed(cfg, &[]).await, everything);
    assert_eq!(listed(cfg, &["--reason", "not-json"]).await, ["b-0", "b-1"]);
    assert_eq!(listed(cfg, &["--since", "2h"]).await, ["a-0", "a-1", "a-2"]);
    assert_eq!(
        listed(cfg, &["--channel", "shop"]).await,
        ["a-0", "a-1", "a-2", "c-0"]
    );
    let rfc3339 =
        humantime::format_rfc3339(std::time::SystemTime::now() - Duration::from_secs(4 * 3600));
    let since = rfc3339.to_string();
    assert_eq!(
        listed(cfg, &["--since", &since, "--channel", "em-like"]).await,
        ["b-0", "b-1"]
    );

    let dry = stdout(&cli(&["dead", "replay", "--config", cfg, "--dry-run"]).await);
    assert!(dry.contains("would replay 6 message(s)"), "{dry}");
    let dry = stdout(
        &cli(&[
            "dead",
            "replay",
            "--config",
            cfg,
            "--channel",
            "shop",
            "--since",
            "1h",
            "--dry-run",
        ])
        .await,
    );
    assert!(
        dry.contains("would replay 3 message(s)") && dry.contains("a-2"),
        "{dry}"
    );
    assert_eq!(
        listed(cfg, &[]).await,
        everything,
        "a dry run moves nothing"
    );
    assert_eq!(broker.depth(&queue).await, 0);

    let out = stdout(
        &cli(&[
            "dead",
            "replay",
            "--config",
            cfg,
            "--reason",
            "delivery-failed",
            "--channel",
            "shop",
            "--limit",
            "2",
        ])
        .await,
    );
    assert!(out.contains("replayed 2 message(s)"), "{out}");
    assert_eq!(listed(cfg, &[]).await, ["a-2", "b-0", "b-1", "c-0"]);
    let moved = broker.drain(&queue).await;
    let moved_ids: Vec<_> = moved.iter().filter_map(|m| m.message_id.clone()).collect();
    assert_eq!(moved_ids, ["a-0", "a-1"]);
    for m in &moved {
        assert!(m.headers.contains_key("x-notify-replay-run"), "{m:?}");
        assert!(
            !m.headers.contains_key("x-notify-error"),
            "fresh history: {m:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_removes_only_the_count_the_operator_confirms() {
    let queue = unique_queue("dead-purge");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let dead = format!("{queue}.dead");
    broker.declare(&dead).await;
    fill(&broker, &dead).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), CONFIG, &queue);
    let cfg = cfg.to_str().unwrap();
    let purge = |extra: &'static [&'static str]| {
        let mut args = vec![
            "dead",
            "purge",
            "--config",
            cfg,
            "--reason",
            "delivery-failed",
        ];
        args.extend_from_slice(extra);
        async move { cli(&args).await }
    };

    for refused in [purge(&[]).await, purge(&["--yes", "3"]).await] {
        assert_eq!(refused.status.code(), Some(1));
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(
            err.contains("4 message(s) would be purged") && err.contains("--yes 4"),
            "{err}"
        );
    }
    let dry = stdout(&purge(&["--dry-run", "--yes", "4"]).await);
    assert!(
        dry.contains("would purge 4 message(s)") && dry.contains("c-0"),
        "{dry}"
    );
    assert_eq!(
        broker.depth(&dead).await,
        6,
        "refusals and dry runs purge nothing"
    );

    let done = stdout(&purge(&["--yes", "4"]).await);
    assert!(done.contains("purged 4 message(s)"), "{done}");
    for id in ["a-0", "a-1", "a-2", "c-0"] {
        assert!(done.contains(id), "{id} printed: {done}");
    }
    assert_eq!(listed(cfg, &[]).await, ["b-0", "b-1"]);
    assert_eq!(broker.depth(&queue).await, 0, "purged, not moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_meeting_its_own_stamp_puts_that_message_at_the_tail_and_stops() {
    let queue = unique_queue("dead-own-run");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let dead = format!("{queue}.dead");
    broker.declare(&dead).await;
    let failed = || ("x-notify-error", text("delivery-failed: HTTP 502"));
    for id in ["a-0", "a-1"] {
        park(&broker, &dead, id, &[failed()]).await;
    }
    // As if this run had moved it already and the bridge had parked it again at once.
    let own = [failed(), ("x-notify-replay-run", text("run-7"))];
    park(&broker, &dead, "own", &own).await;
    park(&broker, &dead, "z-0", &[failed()]).await;
    let settings = crate::support::settings(CONFIG, &queue);

    let moved = dead_letters::replay_run(&settings.broker, &Filter::default(), "run-7")
        .await
        .unwrap();
    let ids: Vec<&str> = moved.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["a-0", "a-1"], "the run stops at its own message");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), CONFIG, &queue);
    assert_eq!(
        listed(cfg.to_str().unwrap(), &[]).await,
        ["z-0", "own"],
        "its own message went back to the tail, confirmed, nothing lost"
    );
    assert_eq!(broker.depth(&queue).await, 2);
}

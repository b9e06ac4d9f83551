//! Scale-out on a real 3-node RabbitMQ cluster (`scripts/rabbitmq-cluster`, nodes nb1..nb3
//! on 127.0.0.1:5681..5683) with quorum queues: node, replica and connection faults.
//!
//! The cluster is started once per test run, by the first test that needs it, and left
//! running for the next; CI stops it (`scripts/rabbitmq-cluster stop`) when the run ends.

mod brand;
mod faults;
mod fleet;
mod journal;
mod verdict;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};

use crate::support::broker::{bridge_queues, DeleteOnDrop};

/// The AMQP URL of node `n` (1..=3).
pub fn node_url(n: usize) -> String {
    format!("amqp://guest:guest@127.0.0.1:{}/%2f", 5680 + n)
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/rabbitmq-cluster")
}

/// Runs `scripts/rabbitmq-cluster args…` off the async runtime; returns its stdout.
pub async fn cluster(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || run_script(&args))
        .await
        .unwrap()
}

fn run_script(args: &[String]) -> String {
    let out = Command::new(script()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "rabbitmq-cluster {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts the cluster unless this test run already did (the script is idempotent too).
pub async fn ensure_cluster() {
    static STARTED: OnceLock<()> = OnceLock::new();
    tokio::task::spawn_blocking(|| {
        STARTED.get_or_init(|| {
            run_script(&["start".into()]);
        });
    })
    .await
    .unwrap();
}

/// The node (1..=3) leading `queue`'s Raft group, asked of node `via`.
pub async fn leader_of(queue: &str, via: usize) -> usize {
    let out = cluster(&[
        "ctl",
        &via.to_string(),
        "-q",
        "list_queues",
        "--no-table-headers",
        "name",
        "leader",
    ])
    .await;
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(queue))
        .unwrap_or_else(|| panic!("{queue} not listed: {out}"));
    let leader = line.split_whitespace().nth(1).unwrap_or_default();
    leader
        .strip_prefix("nb")
        .and_then(|rest| rest.split('@').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no leader in `{line}`"))
}

/// `(name, type, arguments)` of every queue whose name starts with `prefix`.
pub async fn queue_types(prefix: &str, via: usize) -> Vec<(String, String, String)> {
    let via = via.to_string();
    let columns = ["name", "type", "arguments"];
    let mut args = vec!["ctl", &via, "-q", "list_queues", "--no-table-headers"];
    args.extend(columns);
    cluster(&args)
        .await
        .lines()
        .filter_map(|l| {
            let mut words = l.splitn(3, char::is_whitespace);
            let (name, kind) = (words.next()?.to_owned(), words.next()?.to_owned());
            Some((name, kind, words.next().unwrap_or_default().to_owned()))
        })
        .filter(|(name, _, _)| name.starts_with(prefix))
        .collect()
}

/// Publishes `bodies` (id, body) to `queue` through node `n`, confirms pipelined in batches.
pub async fn publish_all(n: usize, queue: &str, messages: &[(String, String)]) {
    let connection = Connection::connect(&node_url(n), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for batch in messages.chunks(500) {
        let mut confirms = Vec::with_capacity(batch.len());
        for (id, body) in batch {
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(id.as_str().into());
            let options = BasicPublishOptions::default();
            let confirm = channel
                .basic_publish("".into(), queue.into(), options, body.as_bytes(), props)
                .await
                .unwrap();
            confirms.push(confirm);
        }
        for confirm in confirms {
            assert!(
                confirm.await.unwrap().is_ack(),
                "the cluster took the message"
            );
        }
    }
    let _ = connection.close(200, "published".into()).await;
}

/// Deletes `queue` and its derived queues from the cluster when dropped, on failure too.
pub fn delete_on_drop(queue: &str) -> DeleteOnDrop {
    DeleteOnDrop {
        urls: (1..=3).map(node_url).collect(),
        queues: bridge_queues(queue),
    }
}

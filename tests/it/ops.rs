//! What operators deploy beside the bridge: the alert rules pass promtool, and every metric
//! the rules and the Grafana dashboard name is one a running bridge exports.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::queue_message;
use crate::support::broker::TestBroker;
use crate::support::receiver::Receiver;
use crate::support::{eventually, settings, unique_queue, Bridge};

const CONFIG: &str = r#"
[broker]
url = "{amqp}"
queue = "{queue}"
shutdown_grace = "2s"

[admin]
listen = "127.0.0.1:{port}"

[channels.shop]
app_id = "APP_SHOP"
url_policy = { schemes = ["http"], hosts = ["127.0.0.1"], allow_private = true }
signer = { secret = "it-secret-shop" }

[inbound]
listen = "127.0.0.1:0"

[receivers.sz]
preset = "shangzhan"
path = "/callbacks/shangzhan"
signer = { secret = "it-secret-sz" }
publish = { exchange = "{queue}.x", routing_key = "sz", declare = true }
"#;

fn deploy_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `notify_…` names in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("notify_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

/// Sample names the exposition can hold, from its `# TYPE` lines.
fn exported(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    names
}

/// The Kubernetes example's config block is a config the bridge accepts.
#[test]
fn the_kubernetes_example_config_is_valid() {
    let manifest = deploy_file("kubernetes/notify-bridge.yaml");
    let block: String = manifest
        .lines()
        .skip_while(|line| !line.trim_end().ends_with("notify-bridge.toml: |"))
        .skip(1)
        .take_while(|line| line.starts_with("    ") || line.is_empty())
        .map(|line| format!("{}\n", line.get(4..).unwrap_or("")))
        .collect();
    assert!(block.contains("[broker]"), "{block}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k8s.toml");
    std::fs::write(&path, block).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
        .args(["check-config", "--config"])
        .arg(&path)
        .envs([
            ("AMQP_PASSWORD", "a"),
            ("PG_PASSWORD", "p"),
            ("ADMIN_TOKEN", "t"),
            ("BRAND_A_SECRET", "s"),
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{printed}");
}

#[test]
fn the_alert_rules_pass_promtool() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/alerts.yml");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .expect("promtool runs");
    let printed = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("SUCCESS"), "{printed}");
}

#[tokio::test]
async fn alerts_and_dashboard_name_only_metrics_the_bridge_exports() {
    let queue = unique_queue("ops");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut settings = settings(&CONFIG.replace("{port}", &port.to_string()), &queue);
    settings.admin.listen = format!("127.0.0.1:{port}").parse().unwrap();
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::ok().await;
    let bridge = Bridge::start(settings);
    let good = queue_message(
        "shop",
        &receiver.url("/n"),
        "Verify",
        &json!({"bizContent": "{}"}),
    );
    broker
        .publish(&queue, good.as_bytes(), Some("ok-1"), None)
        .await;
    broker
        .publish(&queue, b"not json", Some("bad-1"), None)
        .await;

    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let scrape = || async {
        match reqwest::get(&metrics).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    };
    // The parking lot's depth is read every few seconds; the delivery stamps its channel.
    eventually(
        Duration::from_secs(20),
        "parked and delivered in the metrics",
        || async {
            let text = scrape().await;
            text.contains("notify_parked_messages 1")
                && text.contains("notify_last_success_timestamp_seconds{channel=\"shop\"}")
                && text.contains("notify_channel_stalled{channel=\"shop\"} 0")
        },
    )
    .await;
    let exported = exported(&scrape().await);
    bridge.stop().await;

    for file in ["prometheus/alerts.yml", "grafana/notify-bridge.json"] {
        let named = metric_names(&deploy_file(file));
        assert!(!named.is_empty(), "{file} names no metric");
        let unknown: Vec<&String> = named.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{file} names metrics the bridge does not export: {unknown:?}"
        );
    }
}

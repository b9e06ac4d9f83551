//! Brand templates at start and at delivery: a template for fields the built-in samples
//! lack starts and delivers; a message lacking one is parked naming it; syntax errors and
//! unknown filters are still refused at start, with file and line; a channel's own sample
//! makes the start check strict.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::broker::TestBroker;
use crate::support::process::config_file;
use crate::support::receiver::Receiver;
use crate::support::{eventually, settings, unique_queue, Bridge};

const CONFIG: &str = r#"
[broker]
url = "{amqp}"
queue = "{queue}"
shutdown_grace = "5s"

[channels.brand]
message_types = ["third"]
template_file = "TEMPLATE"
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "tpl-secret" }
retry = { schedule = ["0s"] }
"#;

/// The real WHALE field names, which the built-in samples do not have.
const WHALE_FIELDS: &str = r#"{
  "card": {{ biz.card | tojson }},
  "orderno": {{ biz.orderno | tojson }},
  "action": {{ action }}
}"#;

fn third(url: &str, biz: &Value) -> String {
    let whale = json!({"appId": "APP", "bizContent": biz.to_string()});
    json!({
        "channelId": "brand",
        "notifyUrl": url,
        "notifyType": "Verify",
        "messageType": "third",
        "whaleMessage": whale.to_string(),
    })
    .to_string()
}

/// A config in `dir` whose channel renders `template` (written beside it), plus `extra` keys.
fn config_with(dir: &Path, template: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("brand.json.j2");
    std::fs::write(&path, template).unwrap();
    let text = CONFIG.replace("TEMPLATE", path.to_str().unwrap()) + extra;
    config_file(dir, &text, "it.templates.unused")
}

fn check_config(config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
        .args(["check-config", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_the_samples_lack_deliver_and_a_message_lacking_one_is_parked_naming_it() {
    let queue = unique_queue("templates");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::start(|_| (200, "ok".into())).await;
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("brand.json.j2");
    std::fs::write(&template, WHALE_FIELDS).unwrap();
    let config = CONFIG.replace("TEMPLATE", template.to_str().unwrap());
    let bridge = Bridge::start(settings(&config, &queue));

    let url = receiver.url("/n");
    let whole = third(&url, &json!({"card": "CARD-1", "orderno": "ORD-1"}));
    broker
        .publish(&queue, whole.as_bytes(), Some("tpl-ok"), None)
        .await;
    let lacking = third(&url, &json!({"orderno": "ORD-2"}));
    broker
        .publish(&queue, lacking.as_bytes(), Some("tpl-lacking"), None)
        .await;
    let dead = format!("{queue}.dead");
    eventually(
        Duration::from_secs(20),
        "one delivered, one parked",
        || async { receiver.count() == 1 && broker.depth(&dead).await == 1 },
    )
    .await;
    bridge.stop().await;

    let body: Value = serde_json::from_str(&receiver.received()[0].body).unwrap();
    assert_eq!(body["card"], "CARD-1");
    assert_eq!(body["orderno"], "ORD-1");
    assert_eq!(body["action"], "VerifyNotify");
    assert!(body["sign"].is_string(), "{body}");
    let parked = broker.drain(&dead).await;
    assert_eq!(parked[0].message_id.as_deref(), Some("tpl-lacking"));
    let reason = &parked[0].headers["x-notify-error"];
    assert!(reason.starts_with("unformattable: "), "{reason}");
    assert!(
        reason.contains("line 2: undefined value: the message has no field `biz.card`"),
        "{reason}"
    );
    assert_eq!(receiver.count(), 1);
}

#[test]
fn syntax_errors_and_unknown_filters_are_refused_at_start_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (template, line, what) in [
        ("{\n  \"a\": 1,\n  \"b\": {{ biz. }}\n}", 3, "syntax error"),
        (
            "{\n  \"card\": {{ biz.card | nofilter }}\n}",
            2,
            "unknown filter",
        ),
    ] {
        let config = config_with(dir.path(), template, "");
        let out = check_config(&config);
        assert!(!out.status.success(), "{template}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("channels.brand.template_file"), "{err}");
        assert!(err.contains("brand.json.j2"), "{err}");
        assert!(err.contains(&format!("at line {line}: {what}")), "{err}");
    }
    let fine = check_config(&config_with(dir.path(), WHALE_FIELDS, ""));
    assert!(
        fine.status.success(),
        "{}",
        String::from_utf8_lossy(&fine.stderr)
    );
}

#[test]
fn a_channels_own_sample_makes_the_start_check_strict() {
    let dir = tempfile::tempdir().unwrap();
    let sample = |biz: Value| third("http://127.0.0.1/n", &biz);
    let extra = "template_sample = \"sample.json\"\n";
    let config = config_with(dir.path(), WHALE_FIELDS, extra);
    std::fs::write(
        dir.path().join("sample.json"),
        sample(json!({"orderno": "O"})),
    )
    .unwrap();
    let out = check_config(&config);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("channels.brand.template_sample"), "{err}");
    assert!(
        err.contains("line 2: undefined value: the message has no field `biz.card`"),
        "{err}"
    );
    assert!(err.contains("sample.json"), "{err}");

    let whole = sample(json!({"card": "C", "orderno": "O"}));
    std::fs::write(dir.path().join("sample.json"), whole).unwrap();
    let out = check_config(&config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

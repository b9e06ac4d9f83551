//! The command line: `sign --explain`, `verify`, `check-config`, `publish`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Map, Value};

use crate::support::broker::TestBroker;
use crate::support::{amqp_url, unique_queue};
use crate::{independent_sign, queue_message};

const SECRET: &str = "cli-Secret-9f2";

fn bridge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
        .args(args)
        .env("RUST_LOG", "trace")
        .env("CLI_SECRET", SECRET)
        .output()
        .expect("the binary runs")
}

fn config(dir: &Path, queue: &str) -> PathBuf {
    let path = dir.join("cli.toml");
    let text = format!(
        r#"
[broker]
url = "{amqp}"
queue = "{queue}"

[channels.brand-a]
app_id = "APP_A"
url_policy = {{ schemes = ["https"], hosts = ["notify.brand-a.example"] }}
signer = {{ secret = "${{CLI_SECRET}}" }}
"#,
        amqp = amqp_url()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn message_file(dir: &Path) -> PathBuf {
    let path = dir.join("message.json");
    let whale = json!({"bizContent": {"codeNo": "C1", "amount": "10.00"}});
    let text = queue_message(
        "whoever",
        "https://notify.brand-a.example/cb",
        "MakeCode",
        &whale,
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn sign_explain_prints_the_request_and_masks_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "unused");
    let msg = message_file(dir.path());
    let out = bridge(&[
        "sign",
        "--config",
        cfg.to_str().unwrap(),
        "--channel",
        "brand-a",
        "--message",
        msg.to_str().unwrap(),
        "--at",
        "1700000000123",
        "--explain",
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "the secret leaked"
    );

    let printed: Map<String, Value> = serde_json::from_str(&stdout).unwrap();
    let keys: Vec<&str> = printed.keys().map(String::as_str).collect();
    assert_eq!(keys, ["method", "url", "headers", "body", "string_to_sign"]);
    assert_eq!(printed["method"], "POST");
    assert_eq!(printed["url"], "https://notify.brand-a.example/cb");
    let body: Map<String, Value> = serde_json::from_str(printed["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["timestamp"], "1700000000123", "--at pins the clock");
    assert_eq!(body["sign"], independent_sign(&body, SECRET, true));
    assert_eq!(
        printed["string_to_sign"],
        format!(
            "action=MakeCodeNotify&appId=APP_A&bizContent={}&timestamp=1700000000123&version=1.0&key=******",
            body["bizContent"].as_str().unwrap()
        )
    );
    assert!(printed["headers"]["X-Notify-Id"].is_string());

    // The same input signs the same way: the output is reproducible.
    let again = bridge(&[
        "sign",
        "--config",
        cfg.to_str().unwrap(),
        "--channel",
        "brand-a",
        "--message",
        msg.to_str().unwrap(),
        "--at",
        "1700000000123",
        "--explain",
    ]);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), stdout);

    // verify accepts what sign produced and refuses a tampered copy.
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, printed["body"].as_str().unwrap()).unwrap();
    let ok = bridge(&[
        "verify",
        "--config",
        cfg.to_str().unwrap(),
        "--channel",
        "brand-a",
        "--body",
        body_file.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    std::fs::write(
        &body_file,
        printed["body"].as_str().unwrap().replace("C1", "C2"),
    )
    .unwrap();
    let bad = bridge(&[
        "verify",
        "--config",
        cfg.to_str().unwrap(),
        "--channel",
        "brand-a",
        "--body",
        body_file.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("does not match"));
}

#[test]
fn sign_refuses_a_url_outside_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "unused");
    let msg = dir.path().join("m.json");
    let text = queue_message(
        "x",
        "https://169.254.169.254/latest",
        "MakeCode",
        &json!({"bizContent": "{}"}),
    );
    std::fs::write(&msg, text).unwrap();
    let out = bridge(&[
        "sign",
        "--config",
        cfg.to_str().unwrap(),
        "--channel",
        "brand-a",
        "--message",
        msg.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("url-refused"));
}

#[test]
fn check_config_names_the_channel_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "unused");
    let ok = bridge(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("brand-a"));

    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        "[channels.brand-z]\nsigner = { secret = \"k\", case = \"title\" }\n",
    )
    .unwrap();
    let bad = bridge(&["check-config", "--config", broken.to_str().unwrap()]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("channels.brand-z.signer.case"), "{stderr}");

    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/notify-bridge.example.toml"
    );
    assert!(bridge(&["check-config", "--config", example])
        .status
        .success());
}

/// The quickstart's files agree: every shipped example message signs for its channel in the
/// example config, and that config works copied anywhere (its keys are inline).
#[test]
fn example_messages_sign_with_the_example_config_copied_elsewhere() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("copied.toml");
    std::fs::copy(root.join("config/notify-bridge.example.toml"), &config).unwrap();
    let messages = std::fs::read_dir(root.join("examples/messages")).unwrap();
    let mut signed = 0;
    for entry in messages {
        let path = entry.unwrap().path();
        let channel = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let out = bridge(&[
            "sign",
            "--config",
            config.to_str().unwrap(),
            "--channel",
            &channel,
            "--message",
            path.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{channel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let request: Value = serde_json::from_slice(&out.stdout).unwrap();
        let message: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(request["url"], message["notifyUrl"], "{channel}");
        signed += 1;
    }
    assert!(
        signed >= 4,
        "examples/messages holds a message per example channel"
    );
}

/// A relative key path is read from the config file's directory, and the error says so.
#[test]
fn a_missing_key_file_names_the_resolved_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        "[channels.y]\npreset = \"yunzhimeng\"\nmessage_types = [\"third\"]\n\
         signer = { private_key_file = \"keys/ours.pem\", peer_public_key_file = \"keys/theirs.pem\" }\n",
    )
    .unwrap();
    let out = bridge(&["check-config", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let resolved = dir.path().join("keys/ours.pem");
    assert!(stderr.contains(&resolved.display().to_string()), "{stderr}");
    assert!(stderr.contains("config file's directory"), "{stderr}");
}

#[tokio::test]
async fn publish_puts_count_messages_on_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let queue = unique_queue("publish");
    let cfg = config(dir.path(), &queue);
    let msg = message_file(dir.path());
    let out = bridge(&[
        "publish",
        "--config",
        cfg.to_str().unwrap(),
        "--message",
        msg.to_str().unwrap(),
        "--count",
        "3",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let broker = TestBroker::connect().await;
    let got = broker.drain(&queue).await;
    assert_eq!(got.len(), 3);
    let ids: std::collections::HashSet<_> =
        got.iter().map(|g| g.message_id.clone().unwrap()).collect();
    assert_eq!(ids.len(), 3, "each copy has its own id");
    assert_eq!(got[0].body, std::fs::read(&msg).unwrap());
    broker.cleanup(&queue).await;
}

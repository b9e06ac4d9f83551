//! Secrets never leave the process (SPEC §7). A full run of the binary with trace logs in
//! JSON, the CLI, config errors, the parking lot, the requests brands receive and /metrics
//! are searched for every configured secret and for pieces of the private keys.

mod config_errors;
mod needles;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::queue_message;
use crate::support::broker::TestBroker;
use crate::support::process::{terminate, Reaped};
use crate::support::receiver::{Received, Receiver};
use crate::support::{amqp_url, eventually, unique_queue};
use needles::{assert_clean, env, Haystacks, SECRET_FILE, SECRET_INLINE, TOKEN};

/// Channels of every signer kind, secrets inline, from `${ENV}` and from files.
fn config(dir: &Path, queue: &str, port: u16) -> PathBuf {
    std::fs::write(dir.join("sc.secret"), format!("{SECRET_FILE}\n")).unwrap();
    let channel = |id: &str, signer: &str| {
        format!(
            "[channels.{id}]\napp_id = \"APP\"\nurl_policy = {{ schemes = [\"http\", \"https\"], hosts = [\"127.0.0.1\"], allow_private = true }}\nretry = {{ schedule = [\"0s\"] }}\nsigner = {signer}\n"
        )
    };
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rsa");
    let text = [
        format!(
            "[broker]\nurl = \"{}\"\nqueue = \"{queue}\"\nshutdown_grace = \"3s\"\n\n[admin]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"${{NB_TEST_ADMIN_TOKEN}}\"\n",
            amqp_url()
        ),
        channel("sp-inline", &format!("{{ secret = \"{SECRET_INLINE}\" }}")),
        channel(
            "sp-env",
            "{ secret = \"${NB_TEST_SP_SECRET}\", hash = \"hmac-sha256\", template = \"{params}\" }",
        ),
        channel(
            "sc-file",
            "{ kind = \"sorted-chars-md5\", secret_file = \"sc.secret\" }",
        ),
        channel(
            "rsa-file",
            &format!("{{ kind = \"rsa\", private_key_file = \"{fixtures}/a2048_pkcs8.pem\", event_codes = {{ Verify = \"E_VERIFY\" }} }}"),
        ),
        channel(
            "rsa-env",
            &format!("{{ kind = \"rsa\", private_key = \"${{NB_TEST_RSA_KEY}}\", peer_public_key_file = \"{fixtures}/a2048_pub_spki.pem\", encrypt_fields = [\"/bizContent\"], event_codes = {{ Verify = \"E_VERIFY\", CodeDelay = \"E_DELAY\" }} }}"),
        ),
    ]
    .join("\n");
    let path = dir.join("bridge.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const CHANNELS: [&str; 5] = ["sp-inline", "sp-env", "sc-file", "rsa-file", "rsa-env"];

/// Runs the binary with the secrets' environment and trace logs; returns stdout + stderr.
fn cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
        .args(["--log-format", "json"])
        .args(args)
        .envs(env())
        .env("RUST_LOG", "trace")
        .output()
        .expect("the binary runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// What a hostile brand answers: 500 and the whole request echoed back.
fn echo(r: &Received) -> (u16, String) {
    (500, format!("ECHO {:?} {}", r.headers, r.body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_cli_output_parked_headers_requests_or_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let queue = unique_queue("secrets");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let ok = Receiver::ok().await;
    let hostile = Receiver::start(echo).await;
    let port = free_port();
    let cfg = config(dir.path(), &queue, port);
    let cfg_arg = cfg.to_str().unwrap();
    let mut seen = Haystacks::default();

    let log = dir.path().join("run.log");
    let mut bridge = Reaped(
        Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
            .args(["--log-format", "json", "run", "--config", cfg_arg])
            .envs(env())
            .env("RUST_LOG", "trace")
            .stdout(std::fs::File::create(dir.path().join("run.out")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let whale = json!({"appId": "WHALE", "bizContent": {"codeNo": "C1", "codePwd": "P1"}});
    let publish = |channel: &str, url: &str, kind: &str| {
        queue_message(channel, url, kind, &whale).into_bytes()
    };
    for ch in CHANNELS {
        let good = publish(ch, &ok.url("/ok"), "Verify");
        broker
            .publish(&queue, &good, Some(&format!("good-{ch}")), None)
            .await;
        let failing = publish(ch, &hostile.url("/echo"), "Verify");
        broker
            .publish(&queue, &failing, Some(&format!("fail-{ch}")), None)
            .await;
        let refused = publish(ch, "https://10.0.0.1/x", "Verify");
        broker
            .publish(&queue, &refused, Some(&format!("bad-{ch}")), None)
            .await;
    }
    let unsignable = publish("rsa-file", &ok.url("/ok"), "CodeDelay");
    broker
        .publish(&queue, &unsignable, Some("unsignable"), None)
        .await;
    let unknown = publish("nobody", &ok.url("/ok"), "Verify");
    broker
        .publish(&queue, &unknown, Some("unknown"), None)
        .await;

    let dead = format!("{queue}.dead");
    let expected_dead = 2 * CHANNELS.len() + 2;
    eventually(Duration::from_secs(60), "every message settled", || async {
        ok.count() == CHANNELS.len()
            && hostile.count() == CHANNELS.len()
            && broker.depth(&dead).await as usize == expected_dead
    })
    .await;

    // Admin: metrics with the token, a refusal without it, a refused reload of a config
    // whose syntax error (a repeated key) sits on the line holding a secret.
    let http = reqwest::Client::new();
    let admin = format!("http://127.0.0.1:{port}");
    let metrics = http
        .get(format!("{admin}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("notify_bad_input"), "{metrics}");
    seen.add("/metrics", metrics);
    let refused = http.get(format!("{admin}/metrics")).send().await.unwrap();
    seen.add("/metrics without token", refused.text().await.unwrap());
    let good_config = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        good_config.replace(
            &format!("\"{SECRET_INLINE}\" }}"),
            &format!("\"{SECRET_INLINE}\", secret = \"{SECRET_INLINE}\" }}"),
        ),
    )
    .unwrap();
    let reload = http
        .post(format!("{admin}/admin/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 422);
    let reload_text = reload.text().await.unwrap();
    assert!(reload_text.contains("duplicate key"), "{reload_text}");
    seen.add("refused reload", reload_text);
    std::fs::write(&cfg, &good_config).unwrap();

    let (listed, text) = cli(&["dead", "list", "--config", cfg_arg]);
    assert!(listed, "{text}");
    assert!(
        text.contains("delivery-failed") && text.contains("url-refused"),
        "{text}"
    );
    seen.add("dead list", text);

    terminate(&bridge);
    eventually(Duration::from_secs(20), "the bridge exits", || {
        let exited = bridge.try_wait().unwrap();
        async move { exited.is_some() }
    })
    .await;
    assert!(bridge.wait().unwrap().success());
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.lines().count() > 100, "trace logs were written");
    assert!(log_text.contains("url-refused") && log_text.contains("unsignable"));
    seen.add("run log", log_text);
    seen.add(
        "run stdout",
        std::fs::read_to_string(dir.path().join("run.out")).unwrap(),
    );

    for got in broker.drain(&dead).await {
        let headers: Vec<String> = got
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        seen.add(
            "parked message",
            format!("{:?} {}", got.message_id, headers.join("\n")),
        );
    }
    for r in ok.received().into_iter().chain(hostile.received()) {
        seen.add(
            "request a brand received",
            format!("{:?} {}", r.headers, r.body),
        );
    }

    cli_runs(dir.path(), cfg_arg, &ok.received(), &mut seen);
    assert_clean(&seen);
    broker.cleanup(&queue).await;
}

/// `check-config`, `sign --explain` and `verify` for every channel.
fn cli_runs(dir: &Path, cfg: &str, received: &[Received], seen: &mut Haystacks) {
    let (ok, text) = cli(&["check-config", "--config", cfg]);
    assert!(ok && text.contains("config OK"), "{text}");
    seen.add("check-config", text);
    let message = dir.join("message.json");
    let whale = json!({"bizContent": {"codeNo": "C1"}});
    std::fs::write(
        &message,
        queue_message("x", "http://127.0.0.1/n", "Verify", &whale),
    )
    .unwrap();
    for ch in CHANNELS {
        let args = [
            "sign",
            "--config",
            cfg,
            "--channel",
            ch,
            "--message",
            message.to_str().unwrap(),
            "--at",
            "1700000000000",
            "--nonce",
            "123456789012345678",
            "--explain",
        ];
        let (ok, text) = cli(&args);
        assert!(ok && text.contains("string_to_sign"), "{ch}: {text}");
        seen.add("sign --explain", text);

        let request = received
            .iter()
            .find(|r| r.headers["x-notify-id"] == format!("good-{ch}"))
            .unwrap();
        let body = dir.join(format!("{ch}.body"));
        std::fs::write(&body, &request.body).unwrap();
        let mut args = vec![
            "verify",
            "--config",
            cfg,
            "--channel",
            ch,
            "--body",
            body.to_str().unwrap(),
        ];
        let headers: Vec<String> = ["x-timestamp", "x-nonce", "x-signature", "x-eventcode"]
            .iter()
            .filter_map(|h| request.headers.get(*h).map(|v| format!("{h}: {v}")))
            .collect();
        for h in &headers {
            args.extend(["--header", h]);
        }
        let (_, text) = cli(&args);
        assert!(text.contains("signature"), "{ch}: {text}");
        seen.add("verify", text);
    }
}

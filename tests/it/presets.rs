//! Signer presets end to end through the broker, checked by implementations we did not write:
//! the seed's own PHP for 商战, the `openssl` command line for 运之盟.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::queue_message;
use crate::support::broker::TestBroker;
use crate::support::receiver::Receiver;
use crate::support::{eventually, settings, unique_queue, Bridge};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

const CONFIG: &str = r#"
[broker]
url = "{amqp}"
queue = "{queue}"
shutdown_grace = "5s"

[channels.sz]
preset = "shangzhan"
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "538bdb67540d81fabaab1ef3d26f6257" }

[channels.yzm]
preset = "yunzhimeng"
app_id = "YZM"
url_policy = { schemes = ["http"], allow_private = true }
signer = { private_key_file = "FIXTURES/rsa/b3072_pkcs8.pem", peer_public_key_file = "FIXTURES/rsa/a2048_pub_spki.pem", encrypt_fields = ["/bizContent"], event_codes = { MakeCode = "CREATE_ORDER" } }
"#;

fn run(cmd: &mut Command, stdin: &[u8]) -> (bool, String) {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command is installed (.ci/run installs php-cli and openssl)");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn shangzhan_and_yunzhimeng_callbacks_verify_with_independent_tools() {
    let queue = unique_queue("presets");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::start(|_| (200, "success".into())).await;
    let bridge = Bridge::start(settings(&CONFIG.replace("FIXTURES", FIXTURES), &queue));

    let biz =
        json!({"orderno": "B2C2208041455471000499115", "memo": "测试/\"引号\"", "amount": "10.00"});
    let whale = json!({"appId": "SZ", "bizContent": biz});
    for (id, channel, kind) in [
        ("sz-1", "sz", "MakeCode"),
        ("yzm-1", "yzm", "MakeCode"),
        ("yzm-void", "yzm", "MakeVoid"),
    ] {
        let body = queue_message(channel, &receiver.url(&format!("/{id}")), kind, &whale);
        broker
            .publish(&queue, body.as_bytes(), Some(id), None)
            .await;
    }
    let dead = format!("{queue}.dead");
    eventually(
        Duration::from_secs(20),
        "two delivered, one parked",
        || async { receiver.count() >= 2 && broker.depth(&dead).await >= 1 },
    )
    .await;
    bridge.stop().await;

    let got = receiver.received();
    let sz = got.iter().find(|r| r.path == "/sz-1").unwrap();
    let body: Map<String, Value> = serde_json::from_str(&sz.body).unwrap();
    let (ok, php_sign) = run(
        Command::new("php")
            .arg(format!("{FIXTURES}/php/shangzhan_sign.php"))
            .arg("538bdb67540d81fabaab1ef3d26f6257"),
        sz.body.as_bytes(),
    );
    assert!(ok, "php ran");
    assert_eq!(
        body["sign"],
        php_sign.trim(),
        "the seed's PHP agrees with our sign"
    );

    let yzm = got.iter().find(|r| r.path == "/yzm-1").unwrap();
    assert_eq!(yzm.headers["x-eventcode"], "CREATE_ORDER");
    let nonce = &yzm.headers["x-nonce"];
    assert!(
        nonce.len() == 18 && nonce.bytes().all(|b| b.is_ascii_digit()),
        "{nonce}"
    );
    let dir = scratch("yzm");
    std::fs::write(
        dir.join("signed.txt"),
        format!("{}{}{}", yzm.headers["x-timestamp"], nonce, yzm.body),
    )
    .unwrap();
    std::fs::write(
        dir.join("sig.bin"),
        STANDARD.decode(&yzm.headers["x-signature"]).unwrap(),
    )
    .unwrap();
    let public = dir.join("ours.pub");
    let (ok, _) = run(
        Command::new("openssl")
            .args([
                "pkey",
                "-pubout",
                "-in",
                &format!("{FIXTURES}/rsa/b3072_pkcs8.pem"),
                "-out",
            ])
            .arg(&public),
        b"",
    );
    assert!(ok);
    let (verified, _) = run(
        Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(&public)
            .arg("-signature")
            .arg(dir.join("sig.bin"))
            .arg(dir.join("signed.txt")),
        b"",
    );
    assert!(
        verified,
        "openssl verifies X-Signature over timestamp+nonce+body"
    );

    let body: Map<String, Value> = serde_json::from_str(&yzm.body).unwrap();
    let cipher = STANDARD
        .decode(body["bizContent"].as_str().unwrap())
        .unwrap();
    let mut plain = Vec::new();
    for block in cipher.chunks(256) {
        let (ok, text) = run(
            Command::new("openssl").args([
                "pkeyutl",
                "-decrypt",
                "-inkey",
                &format!("{FIXTURES}/rsa/a2048_pkcs1.pem"),
            ]),
            block,
        );
        assert!(ok, "openssl decrypts each block");
        plain.extend_from_slice(text.as_bytes());
    }
    let plain: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(plain, biz, "the brand's key recovers bizContent");

    let parked = broker.drain(&dead).await;
    assert_eq!(parked[0].message_id.as_deref(), Some("yzm-void"));
    assert!(
        parked[0].headers["x-notify-error"].starts_with("unsignable: "),
        "{:?}",
        parked[0].headers
    );
    assert!(parked[0].headers["x-notify-error"].contains("MakeVoid"));
    broker.cleanup(&queue).await;
}

#[test]
fn verify_accepts_a_signature_openssl_produced() {
    let dir = scratch("cli-verify");
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[channels.yzm]\npreset = \"yunzhimeng\"\nsigner = {{ private_key_file = \"{FIXTURES}/rsa/b3072_pkcs8.pem\", peer_public_key_file = \"{FIXTURES}/rsa/a2048_pub_spki.pem\" }}\n"
        ),
    )
    .unwrap();
    let body = r#"{"eventCode":"CREATE_WAYBILL","waybillNo":"W1"}"#;
    std::fs::write(dir.join("body.json"), body).unwrap();
    std::fs::write(
        dir.join("signed.txt"),
        format!("1712345678901987654321098765432{body}"),
    )
    .unwrap();
    let (ok, _) = run(
        Command::new("openssl")
            .args([
                "dgst",
                "-sha256",
                "-sign",
                &format!("{FIXTURES}/rsa/a2048_pkcs1.pem"),
                "-out",
            ])
            .arg(dir.join("sig.bin"))
            .arg(dir.join("signed.txt")),
        b"",
    );
    assert!(ok);
    let signature = STANDARD.encode(std::fs::read(dir.join("sig.bin")).unwrap());
    let verify = |body_file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
            .args(["verify", "--config"])
            .arg(&cfg)
            .args(["--channel", "yzm", "--body"])
            .arg(body_file)
            .args([
                "--header",
                "X-Timestamp: 1712345678901",
                "--header",
                "X-Nonce: 987654321098765432",
            ])
            .arg("--header")
            .arg(format!("X-Signature: {signature}"))
            .status()
            .unwrap()
    };
    assert!(verify(&dir.join("body.json")).success());
    std::fs::write(dir.join("tampered.json"), body.replace("W1", "W2")).unwrap();
    assert_eq!(verify(&dir.join("tampered.json")).code(), Some(1));
}

const THIRD: &str = r#"
[broker]
url = "{amqp}"
queue = "{queue}"
shutdown_grace = "5s"

[channels.em]
preset = "em"
app_id = "KEY_AAAAAA"
message_types = ["third"]
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "SECRET_AAAAAA" }

[channels.sz]
preset = "shangzhan"
message_types = ["third"]
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "538bdb67540d81fabaab1ef3d26f6257" }
"#;

#[tokio::test]
async fn brand_formats_from_preset_templates_arrive_signed() {
    let queue = unique_queue("third");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::start(|r| match r.path.as_str() {
        "/em" => (200, "SUCCESS".into()),
        _ => (200, "success".into()),
    })
    .await;
    let bridge = Bridge::start(settings(THIRD, &queue));
    let biz = json!({"orderNo": "DD202409250002", "codeNo": "C-1", "codePwd": "p/w\"1", "amount": "0.10"});
    for (channel, path) in [("em", "/em"), ("sz", "/sz")] {
        let mut doc: Value = serde_json::from_str(&queue_message(
            channel,
            &receiver.url(path),
            "MakeCode",
            &json!({"appId": "W", "bizContent": biz}),
        ))
        .unwrap();
        doc["messageType"] = json!("third");
        broker
            .publish(&queue, doc.to_string().as_bytes(), Some(channel), None)
            .await;
    }
    eventually(Duration::from_secs(20), "two deliveries", || async {
        receiver.count() >= 2
    })
    .await;
    eventually(Duration::from_secs(10), "both acked", || async {
        broker.depth(&queue).await == 0
    })
    .await;
    bridge.stop().await;
    assert_eq!(
        broker.depth(&format!("{queue}.dead")).await,
        0,
        "both answers met the presets' rules"
    );

    let got = receiver.received();
    let em = got.iter().find(|r| r.path == "/em").unwrap();
    let body: Map<String, Value> = serde_json::from_str(&em.body).unwrap();
    let keys: Vec<&str> = body.keys().map(String::as_str).collect();
    assert_eq!(keys, ["appid", "request_data", "timestamp", "sign"]);
    assert_eq!(body["appid"], "KEY_AAAAAA");
    let request: Value = serde_json::from_str(body["request_data"].as_str().unwrap()).unwrap();
    assert_eq!(request["notify_type"], "MakeCode");
    assert_eq!(request["orderNo"], "DD202409250002");
    // Seed 003's receiver: sorted appid, request_data, timestamp; &key=secret; md5 lower.
    assert_eq!(
        body["sign"],
        crate::independent_sign(&body, "SECRET_AAAAAA", false)
    );

    let sz = got.iter().find(|r| r.path == "/sz").unwrap();
    let body: Map<String, Value> = serde_json::from_str(&sz.body).unwrap();
    assert_eq!(body["orderno"], "DD202409250002");
    assert_eq!(body["status"], "success");
    assert_eq!(body["card"][0]["card_password"], "p/w\"1");
    let (ok, php_sign) = run(
        Command::new("php")
            .arg(format!("{FIXTURES}/php/shangzhan_sign.php"))
            .arg("538bdb67540d81fabaab1ef3d26f6257"),
        sz.body.as_bytes(),
    );
    assert!(ok);
    assert_eq!(body["sign"], php_sign.trim(), "the seed's PHP agrees");
    broker.cleanup(&queue).await;
}

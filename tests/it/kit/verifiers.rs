//! The verifiers in examples/verify, every language and preset, on callbacks the bridge
//! delivered through the real broker: all accept them, all refuse a tampered body and a
//! wrong secret or key. Java and Go are compiled once per run into a scratch folder.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::docs::{PRESETS, ROOT};
use crate::support::broker::TestBroker;
use crate::support::receiver::{Received, Receiver};
use crate::support::{eventually, settings, unique_queue, Bridge};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Java,
    Php,
    Python,
    Go,
}

pub const LANGS: [Lang; 4] = [Lang::Java, Lang::Php, Lang::Python, Lang::Go];

/// The verifiers, ready to run: Java and Go built, PHP and Python run from source.
pub struct Verifiers {
    built: PathBuf,
}

fn spawn(cmd: &mut Command, what: &str) -> Child {
    cmd.spawn().unwrap_or_else(|e| {
        panic!("{what} cannot start ({e}); .ci/run installs what the verifiers need")
    })
}

fn wait_ok(child: Child, what: &str) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Verifiers {
    /// Compiles the Java and Go verifiers, all at once.
    pub fn build() -> Self {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let built = tmp.join(format!("kit-verifiers-{:08x}", rand::random::<u32>()));
        // Kept between runs so Go compiles only what changed; no network is ever needed.
        let go_home = tmp.join("kit-go");
        let mut jobs = Vec::new();
        for preset in PRESETS {
            let src = Path::new(ROOT).join("examples/verify");
            let mut javac = Command::new("javac");
            javac
                .arg("-d")
                .arg(built.join("java").join(preset))
                .arg(src.join(format!("java/{preset}/Verify.java")));
            jobs.push((spawn(&mut javac, "javac"), format!("javac {preset}")));
            let mut go = Command::new("go");
            go.arg("build")
                .arg("-o")
                .arg(built.join("go").join(preset))
                .arg(src.join(format!("go/{preset}/verify.go")))
                .env("GOCACHE", go_home.join("cache"))
                .env("GOPATH", go_home.join("path"))
                .env("GO111MODULE", "off")
                .env("GOPROXY", "off")
                .env("GOTOOLCHAIN", "local");
            jobs.push((spawn(&mut go, "go"), format!("go build {preset}")));
        }
        for (child, what) in jobs {
            wait_ok(child, &what);
        }
        Self { built }
    }

    /// Runs one verifier with `args` (options, then request files).
    pub fn run(&self, lang: Lang, preset: &str, args: &[String]) -> Output {
        let src = Path::new(ROOT).join("examples/verify");
        let mut cmd = match lang {
            Lang::Java => {
                let mut c = Command::new("java");
                c.arg("-cp").arg(self.built.join("java").join(preset));
                c.arg("Verify");
                c
            }
            Lang::Php => {
                let mut c = Command::new("php");
                c.arg(src.join(format!("php/{preset}/verify.php")));
                c
            }
            Lang::Python => {
                let mut c = Command::new("python3");
                c.arg(src.join(format!("python/{preset}/verify.py")));
                c
            }
            Lang::Go => Command::new(self.built.join("go").join(preset)),
        };
        cmd.args(args)
            .output()
            .unwrap_or_else(|e| panic!("{lang:?} verifier for {preset} cannot start: {e}"))
    }
}

/// The options that make `preset`'s verifier check with the demo secret or keys.
pub fn credentials(preset: &str, right: bool) -> Vec<String> {
    let keys = Path::new(ROOT).join("docs/integrators/keys");
    let key = |name: &str| keys.join(name).display().to_string();
    let secret = match preset {
        "ebuy" => "demo-secret-ebuy",
        "shangzhan" => "demo-secret-shangzhan",
        "em" => "SECRET_AAAAAA",
        _ => {
            // The wrong key: the brand's own public key instead of ours.
            let public = if right {
                "bridge-demo-public.pem"
            } else {
                "brand-demo-public.pem"
            };
            return vec![
                "--public-key".into(),
                key(public),
                "--private-key".into(),
                key("brand-demo-private.pem"),
                "--decrypt".into(),
                "/codePwd".into(),
            ];
        }
    };
    let secret = if right {
        secret.to_owned()
    } else {
        format!("{secret}x")
    };
    vec!["--secret".into(), secret]
}

const CONFIG: &str = r#"
[broker]
url = "{amqp}"
queue = "{queue}"
shutdown_grace = "5s"

[channels.ebuy-demo]
preset = "ebuy"
app_id = "APP_DEMO"
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "demo-secret-ebuy" }

[channels.shangzhan-demo]
preset = "shangzhan"
message_types = ["third"]
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "demo-secret-shangzhan" }

[channels.em-demo]
preset = "em"
app_id = "KEY_AAAAAA"
message_types = ["third"]
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "SECRET_AAAAAA" }

[channels.yunzhimeng-demo]
preset = "yunzhimeng"
message_types = ["third"]
url_policy = { schemes = ["http"], allow_private = true }
signer = { private_key_file = "KEYS/bridge-demo-private.pem", peer_public_key_file = "KEYS/brand-demo-public.pem", encrypt_fields = ["/codePwd"], event_codes = { MakeCode = "MAKE_CODE", MakeVoid = "MAKE_VOID", UpdateCodeStatus = "UPDATE_CODE_STATUS", CodeDelay = "CODE_DELAY", CodeExpire = "CODE_EXPIRE", Verify = "VERIFY", VerifyVoid = "VERIFY_VOID" } }
"#;

const NOTIFY_TYPES: [&str; 7] = [
    "MakeCode",
    "MakeVoid",
    "UpdateCodeStatus",
    "CodeDelay",
    "CodeExpire",
    "Verify",
    "VerifyVoid",
];

/// The request file a receiver's view of a request makes (the kit's format).
pub fn request_file(r: &Received) -> String {
    let mut text = format!("POST {} HTTP/1.1\n", r.path);
    let mut headers: Vec<_> = r.headers.iter().collect();
    headers.sort();
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\n"));
    }
    text.push('\n');
    text.push_str(&r.body);
    text
}

/// Delivers every preset × notify type through the broker; returns the saved request files.
async fn deliver_all(dir: &Path) -> Vec<(String, PathBuf)> {
    let queue = unique_queue("kit");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::start(|r| match r.path.split('/').nth(1) {
        Some("em") => (200, "SUCCESS".into()),
        Some("shangzhan") => (200, "success".into()),
        _ => (200, "ok".into()),
    })
    .await;
    let keys = format!("{ROOT}/docs/integrators/keys");
    let bridge = Bridge::start(settings(&CONFIG.replace("KEYS", &keys), &queue));
    for preset in PRESETS {
        let text =
            std::fs::read_to_string(format!("{ROOT}/docs/integrators/messages/{preset}.json"))
                .unwrap();
        let mut message: Map<String, Value> = serde_json::from_str(&text).unwrap();
        for kind in NOTIFY_TYPES {
            message.insert("notifyType".into(), kind.into());
            message.insert(
                "notifyUrl".into(),
                receiver.url(&format!("/{preset}/{kind}")).into(),
            );
            let body = serde_json::to_vec(&message).unwrap();
            let id = format!("kit-{preset}-{kind}");
            broker.publish(&queue, &body, Some(&id), None).await;
        }
    }
    let expected = PRESETS.len() * NOTIFY_TYPES.len();
    eventually(
        Duration::from_secs(30),
        "every callback delivered",
        || async { receiver.count() >= expected },
    )
    .await;
    eventually(Duration::from_secs(10), "every message acked", || async {
        broker.depth(&queue).await == 0
    })
    .await;
    bridge.stop().await;
    assert_eq!(
        broker.depth(&format!("{queue}.dead")).await,
        0,
        "every answer met its preset's success rule"
    );
    broker.cleanup(&queue).await;

    let mut files = Vec::new();
    for r in receiver.received() {
        let preset = r.path.split('/').nth(1).unwrap().to_owned();
        let file = dir.join(format!(
            "{}.http",
            r.path.trim_start_matches('/').replace('/', "-")
        ));
        std::fs::write(&file, request_file(&r)).unwrap();
        files.push((preset, file));
    }
    files
}

/// The seed's own getSign() (tests/fixtures/php) over `body`.
fn php_get_sign(body: &str, secret: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("php")
        .arg(format!("{ROOT}/tests/fixtures/php/shangzhan_sign.php"))
        .arg(secret)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("php is installed (.ci/run installs php-cli)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn stdout(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A copy of `file` whose body says another order number.
fn tampered(file: &Path) -> PathBuf {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("WO202501150001"), "{text}");
    let path = file.with_extension("tampered.http");
    std::fs::write(&path, text.replace("WO202501150001", "WO202501150002")).unwrap();
    path
}

#[tokio::test]
async fn every_verifier_accepts_delivered_callbacks_and_refuses_forgeries() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (verifiers, files) = tokio::join!(
        tokio::task::spawn_blocking(Verifiers::build),
        deliver_all(dir.path())
    );
    let verifiers = verifiers.unwrap();
    assert_eq!(files.len(), PRESETS.len() * NOTIFY_TYPES.len());
    for preset in PRESETS {
        let mut mine: Vec<String> = files
            .iter()
            .filter(|(p, _)| p == preset)
            .map(|(_, f)| f.display().to_string())
            .collect();
        mine.sort();
        mine.push(format!("{ROOT}/examples/verify/samples/{preset}.http"));
        let first = PathBuf::from(&mine[0]);
        for lang in LANGS {
            let mut args = credentials(preset, true);
            args.extend(mine.iter().cloned());
            let out = verifiers.run(lang, preset, &args);
            let text = stdout(&out);
            assert_eq!(out.status.code(), Some(0), "{lang:?} {preset}: {text}");
            assert_eq!(
                text.matches("signature OK").count(),
                mine.len(),
                "{lang:?} {preset}: {text}"
            );
            if preset == "yunzhimeng" {
                assert_eq!(
                    text.matches("/codePwd = 8391-2047/xk").count(),
                    mine.len(),
                    "{lang:?} decrypts: {text}"
                );
            }

            let mut args = credentials(preset, true);
            args.push(tampered(&first).display().to_string());
            let out = verifiers.run(lang, preset, &args);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{lang:?} {preset} tampered: {}",
                stdout(&out)
            );

            let mut args = credentials(preset, false);
            args.push(first.display().to_string());
            let out = verifiers.run(lang, preset, &args);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{lang:?} {preset} wrong key: {}",
                stdout(&out)
            );
        }
    }
    tough_shangzhan_body(&verifiers, dir.path());
    form_encoded_ebuy(&verifiers, dir.path());
    eprintln!("kit verifiers: {:?}", started.elapsed());
}

/// An ebuy channel may post `application/x-www-form-urlencoded`; the verifiers decode it.
fn form_encoded_ebuy(verifiers: &Verifiers, dir: &Path) {
    let config = dir.join("form.toml");
    std::fs::write(
        &config,
        "[channels.ebuy-demo]\nbody_format = \"form\"\nurl_policy = { schemes = [\"https\"] }\nsigner = { secret = \"demo-secret-ebuy\" }\n",
    )
    .unwrap();
    let out = super::docs::bridge(&[
        "sign",
        "--config",
        config.to_str().unwrap(),
        "--channel",
        "ebuy-demo",
        "--message",
        "docs/integrators/messages/ebuy.json",
        "--http",
    ]);
    assert!(out.status.success(), "{}", stdout(&out));
    let file = dir.join("form.http");
    std::fs::write(&file, &out.stdout).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("x-www-form-urlencoded"));
    for lang in LANGS {
        let mut args = credentials("ebuy", true);
        args.push(file.display().to_string());
        let out = verifiers.run(lang, "ebuy", &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{lang:?} form: {}",
            stdout(&out)
        );
    }
}

/// The PHP rules the Java, Python and Go verifiers reproduce, on a body that exercises them:
/// floats PHP prints its own way, big integers, escapes, U+2028, emoji, a list-like object.
fn tough_shangzhan_body(verifiers: &Verifiers, dir: &Path) {
    let secret = "demo-secret-shangzhan";
    let fields = r#"{"orderno":"Api2020123012121232234","customer_order_no":"商户/订单\"1\"","card":[{"card_type":1,"card_no":"卡号/No.1","card_password":"p\"w\\d","card_rect":""},{"card_type":4,"card_no":"https://x.example/c?id=1&t=2","card_password":"","card_rect":"赠品😀"}],"amount":10.0,"rate":0.10,"big":12345678901234567890,"tiny":0.00001,"huge":1e17,"neg":-0.0,"note":"a\u2028b\nc\u0001\t/","meta":{"0":"a","1":"b"},"empty":{},"status":"success"}"#;
    let map: Map<String, Value> = serde_json::from_str(fields).unwrap();
    let sign = notify_bridge::sign::sorted_chars::sign(&map, "sign", secret).unwrap();
    let body = format!("{},\"sign\":\"{sign}\"}}", &fields[..fields.len() - 1]);
    // The seed's own PHP agrees with the bridge on this body.
    assert_eq!(php_get_sign(&body, secret), sign, "the seed's PHP getSign");
    let file = dir.join("tough.http");
    std::fs::write(
        &file,
        format!("POST /tough HTTP/1.1\nContent-Type: application/json\n\n{body}"),
    )
    .unwrap();
    for lang in LANGS {
        let mut args = credentials("shangzhan", true);
        args.push(file.display().to_string());
        let out = verifiers.run(lang, "shangzhan", &args);
        assert_eq!(out.status.code(), Some(0), "{lang:?}: {}", stdout(&out));
    }
}

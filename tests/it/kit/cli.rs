//! `verify --explain` beside an integrator's own string or sign, and `send-test` against a
//! real receiver; secrets never appear in what either prints.

use std::process::Output;

use super::docs::{bridge, ROOT};
use crate::support::receiver::Receiver;

const CONFIG: &str = "docs/integrators/config.toml";
const SECRETS: [&str; 3] = ["demo-secret-ebuy", "demo-secret-shangzhan", "SECRET_AAAAAA"];

fn text(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in SECRETS {
        assert!(!text.contains(secret), "a secret was printed:\n{text}");
    }
    text
}

fn sample(preset: &str) -> String {
    format!("{ROOT}/examples/verify/samples/{preset}.http")
}

fn explain(preset: &str, extra: &[&str]) -> (Option<i32>, String) {
    let channel = format!("{preset}-demo");
    let request = sample(preset);
    let mut args = vec![
        "verify",
        "--config",
        CONFIG,
        "--channel",
        &channel,
        "--request",
        &request,
    ];
    args.extend(extra);
    let out = bridge(&args);
    (out.status.code(), text(&out))
}

/// Our string to sign for the sample, with `secret` where the mask is.
fn our_string(preset: &str, secret: &str) -> String {
    let out = bridge(&[
        "sign",
        "--config",
        CONFIG,
        "--channel",
        &format!("{preset}-demo"),
        "--message",
        &format!("docs/integrators/messages/{preset}.json"),
        "--at",
        "1736906400000",
        "--explain",
    ]);
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    printed["string_to_sign"]
        .as_str()
        .unwrap()
        .replace("******", secret)
}

#[test]
fn explain_points_at_the_first_difference_in_the_params() {
    let right = our_string("ebuy", "demo-secret-ebuy");
    // A usual mistake: the JSON value URL-encoded.
    let theirs = right.replacen("{\"orderNo\"", "%7B%22orderNo%22", 1);
    let (code, out) = explain("ebuy", &["--their-string", &theirs]);
    assert_eq!(code, Some(0), "the callback itself is fine: {out}");
    assert!(out.contains("signature OK"), "{out}");
    assert!(out.contains("first difference at character 49"), "{out}");
    assert!(
        out.contains("hint: use values as they are, not URL-encoded"),
        "{out}"
    );
    assert!(out.contains("&key=******"), "{out}");
}

#[test]
fn explain_says_only_that_the_secret_differs() {
    let near_miss = our_string("em", "SECRET_AAAAAB");
    let (code, out) = explain("em", &["--their-string", &near_miss]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("the same as ours up to the secret"), "{out}");
    assert!(
        !out.contains("SECRET_AAAAA"),
        "not even their near miss: {out}"
    );

    let (_, out) = explain(
        "em",
        &["--their-string", &our_string("em", "SECRET_AAAAAA")],
    );
    assert!(out.contains("identical to ours, secret included"), "{out}");
}

#[test]
fn explain_compares_their_sign_and_flags_php_escaping() {
    let request = std::fs::read_to_string(sample("ebuy")).unwrap();
    let sign = request.rsplit_once("\"sign\":\"").unwrap().1;
    let sign = sign.trim_end_matches("\"}").to_ascii_lowercase();
    let (_, out) = explain("ebuy", &["--their-sign", &sign]);
    assert!(out.contains("apart from letter case"), "{out}");

    // json_encode without JSON_UNESCAPED_SLASHES sorts a backslash in for every `/`.
    let right = our_string("shangzhan", "demo-secret-shangzhan");
    let theirs = right.replacen('/', "\\/", 1);
    let (code, out) = explain("shangzhan", &["--their-string", &theirs]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("first difference"), "{out}");
    assert!(out.contains("hint: json_encode with flags 320"), "{out}");
}

#[test]
fn explain_shows_the_rsa_string_and_refuses_a_tampered_body() {
    let (code, out) = explain("yunzhimeng", &["--explain"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("string to sign (ours"), "{out}");
    assert!(out.contains("1736906400000123456789012345678{"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let tampered = dir.path().join("t.http");
    let original = std::fs::read_to_string(sample("yunzhimeng")).unwrap();
    std::fs::write(&tampered, original.replace("WO2025", "WO2026")).unwrap();
    let out = bridge(&[
        "verify",
        "--config",
        CONFIG,
        "--channel",
        "yunzhimeng-demo",
        "--request",
        tampered.to_str().unwrap(),
        "--explain",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("signature INVALID"));
}

const SEND_CONFIG: &str = r#"
[channels.sz]
preset = "shangzhan"
message_types = ["third"]
url_policy = { schemes = ["http"], hosts = ["127.0.0.1"], allow_private = true }
signer = { secret = "demo-secret-shangzhan" }

[channels.em]
preset = "em"
app_id = "KEY_AAAAAA"
message_types = ["third"]
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "SECRET_AAAAAA" }

[channels.public-only]
url_policy = { schemes = ["https"] }
signer = { secret = "demo-secret-ebuy" }
"#;

async fn send_test(config: &std::path::Path, args: &[&str]) -> Output {
    let mut all = vec![
        "send-test".to_owned(),
        "--config".to_owned(),
        config.display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        bridge(&refs)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn send_test_reports_whether_the_success_rule_held() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("send.toml");
    std::fs::write(&config, SEND_CONFIG).unwrap();
    let receiver = Receiver::start(|r| match r.path.as_str() {
        "/ok" => (200, " Success\n".into()),
        "/em" => (200, "SUCCESS".into()),
        _ => (200, "fail".into()),
    })
    .await;

    let out = send_test(&config, &["--channel", "sz", "--to", &receiver.url("/ok")]).await;
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(printed.contains("> POST http://127.0.0.1"), "{printed}");
    assert!(printed.contains("< 200"), "{printed}");
    assert!(printed.contains("HELD"), "{printed}");
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].headers["x-notify-id"].starts_with("send-test-"));
    // What arrived is a real, verifiable callback.
    let saved = dir.path().join("got.http");
    std::fs::write(&saved, super::verifiers::request_file(&got[0])).unwrap();
    let verified = bridge(&[
        "verify",
        "--config",
        config.to_str().unwrap(),
        "--channel",
        "sz",
        "--request",
        saved.to_str().unwrap(),
    ]);
    assert!(verified.status.success(), "{}", text(&verified));

    let out = send_test(&config, &["--channel", "sz", "--to", &receiver.url("/no")]).await;
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(printed.contains("NOT HELD"), "{printed}");
    assert!(printed.contains("\"success\" or \"ok\""), "{printed}");

    let out = send_test(
        &config,
        &[
            "--channel",
            "em",
            "--to",
            &receiver.url("/em"),
            "--type",
            "Verify",
        ],
    )
    .await;
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(
        printed.contains(r#"\"notify_type\":\"Verify\""#),
        "{printed}"
    );
    assert_eq!(receiver.count(), 3);
}

#[tokio::test]
async fn send_test_keeps_to_the_url_policy() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("send.toml");
    std::fs::write(&config, SEND_CONFIG).unwrap();
    for (channel, url, reason) in [
        (
            "public-only",
            "https://169.254.169.254/latest/meta-data",
            "private",
        ),
        (
            "sz",
            "http://169.254.169.254/latest/meta-data",
            "refused by `channels.sz.url_policy`: host `169.254.169.254` is not in `hosts`",
        ),
        (
            "public-only",
            "http://notify.brand.example/cb",
            "scheme `http`",
        ),
    ] {
        let out = send_test(&config, &["--channel", channel, "--to", url]).await;
        let printed = text(&out);
        assert_eq!(out.status.code(), Some(2), "{channel} {url}: {printed}");
        assert!(printed.contains("url-refused"), "{printed}");
        assert!(printed.contains(reason), "{printed}");
        assert!(!printed.contains("> POST"), "nothing was sent: {printed}");
    }
    let out = send_test(
        &config,
        &[
            "--channel",
            "sz",
            "--to",
            "http://127.0.0.1:9/x",
            "--type",
            "Nope",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("unknown --type `Nope`"));
}

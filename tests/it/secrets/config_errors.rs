//! Config errors (check-config, and every command that loads the config) never quote a
//! secret: not on a TOML syntax error, a type mismatch, a bad key or a bad environment value.

use std::process::Command;

use super::cli;
use super::needles::{assert_clean, Haystacks, SECRET_INLINE};

#[test]
fn config_errors_never_quote_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Haystacks::default();
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rsa/a2048_pkcs8.pem"
    ))
    .unwrap();
    // One character of the key changed: its base64 no longer decodes to a valid key.
    let corrupt = pem.replacen('A', "*", 1).replace('\n', "\\n");
    let broken = [
        format!("[channels.a]\nsigner = {{ secret = \"{SECRET_INLINE} }}\n"),
        format!("[channels.a]\nsigner = {{ secret = \"x\", secret = \"{SECRET_INLINE}\" }}\n"),
        format!("[channels.a]\nsigner = \"{SECRET_INLINE}\"\n"),
        format!("[channels.a]\nsigner = {{ secrte = \"{SECRET_INLINE}\" }}\n"),
        format!("[channels.a]\nsigner = {{ secret = [\"{SECRET_INLINE}\"] }}\n"),
        format!("[channels.a]\nsigner = {{ secret = \"{SECRET_INLINE}\", case = \"title\" }}\n"),
        "[channels.a]\nsigner = { secret = \"${NB_TEST_UNSET_SECRET}\" }\n".to_owned(),
        "[channels.a]\nsigner = { secret_file = \"/nonexistent/secret\" }\n".to_owned(),
        format!("[channels.a]\nsigner = {{ kind = \"rsa\", private_key = \"{corrupt}\" }}\n"),
        format!(
            "[channels.a]\nsigner = {{ kind = \"rsa\", private_key = \"-----BEGIN PRIVATE KEY-----\\n{SECRET_INLINE}\\n-----END PRIVATE KEY-----\\n\" }}\n"
        ),
        format!("[admin]\nlisten = \"0.0.0.0:9464\"\n[channels.a]\nsigner = {{ secret = \"{SECRET_INLINE}\" }}\n"),
        format!("[broker]\nurl = \"http://user:{SECRET_INLINE}@host/\"\n"),
        format!("[broker]\nprefetch = \"{SECRET_INLINE}\"\n"),
    ];
    for (i, text) in broken.iter().enumerate() {
        let path = dir.path().join(format!("broken-{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let (ok, out) = cli(&["check-config", "--config", path.to_str().unwrap()]);
        assert!(!ok, "case {i} should be refused: {out}");
        assert!(out.contains("error: config"), "case {i}: {out}");
        seen.add("config error", out);
    }
    // A secret in an environment override of a key of the wrong type.
    let path = dir.path().join("ok.toml");
    std::fs::write(&path, "[channels.a]\nsigner = { secret = \"k\" }\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
        .args(["check-config", "--config", path.to_str().unwrap()])
        .env("NOTIFY_BRIDGE__BROKER__PREFETCH", SECRET_INLINE)
        .output()
        .unwrap();
    assert!(!out.status.success());
    seen.add(
        "env override error",
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_clean(&seen);
}

//! Callbacks signed the way each provider signs them, by code we did not write: the seed's
//! PHP (商战), an MD5 written here (EM), the openssl command line (运之盟).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

use super::RSA;

const PHP_SIGN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/php/shangzhan_sign.php"
);

/// 商战: `fields` plus the `sign` the seed's PHP `getSign()` computes for them.
pub fn shangzhan(fields: &Value, secret: &str) -> Map<String, Value> {
    let mut child = Command::new("php")
        .arg(PHP_SIGN)
        .arg(secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("php-cli is installed (.ci/run installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(fields.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "php ran");
    let mut signed = fields.as_object().unwrap().clone();
    signed.insert(
        "sign".into(),
        Value::String(String::from_utf8(out.stdout).unwrap()),
    );
    signed
}

/// EM: `{appid, request_data, timestamp, sign}` signed as seed 003's receiver checks it.
pub fn em(appid: &str, request_data: &Value, timestamp: &str, secret: &str) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("appid".into(), appid.into());
    fields.insert("request_data".into(), request_data.to_string().into());
    fields.insert("timestamp".into(), timestamp.into());
    let sign = crate::independent_sign(&fields, secret, false);
    fields.insert("sign".into(), sign.into());
    fields
}

/// Form-urlencodes `fields` (values as text), as a provider posting a form would.
pub fn form(fields: &Map<String, Value>) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        form.append_pair(key, &text);
    }
    form.finish()
}

/// A 运之盟 request: headers signed by openssl with the provider's key (a2048).
pub struct YzmRequest {
    pub body: String,
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
}

impl YzmRequest {
    pub fn sign(dir: &Path, body: &str, timestamp_ms: u64, nonce: &str) -> Self {
        Self::sign_with("a2048_pkcs1.pem", dir, body, timestamp_ms, nonce)
    }

    /// Signed with fixture `key` instead of the provider's.
    pub fn sign_with(key: &str, dir: &Path, body: &str, timestamp_ms: u64, nonce: &str) -> Self {
        let timestamp = timestamp_ms.to_string();
        let message = dir.join("message");
        let signature = dir.join("signature");
        std::fs::write(&message, format!("{timestamp}{nonce}{body}")).unwrap();
        openssl(&[
            "dgst",
            "-sha256",
            "-sign",
            &format!("{RSA}/{key}"),
            "-out",
            signature.to_str().unwrap(),
            message.to_str().unwrap(),
        ]);
        Self {
            body: body.to_owned(),
            timestamp,
            nonce: nonce.to_owned(),
            signature: STANDARD.encode(std::fs::read(signature).unwrap()),
        }
    }

    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("content-type", "application/json"),
            ("X-Timestamp", &self.timestamp),
            ("X-Nonce", &self.nonce),
            ("X-EventCode", "CREATE_WAYBILL"),
            ("X-Signature", &self.signature),
        ]
    }
}

/// base64 of `plain` encrypted (PKCS#1 v1.5) by openssl for our public key (b3072).
pub fn yzm_encrypt(dir: &Path, plain: &str) -> String {
    let (input, output) = (dir.join("plain"), dir.join("cipher"));
    std::fs::write(&input, plain).unwrap();
    openssl(&[
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        &format!("{RSA}/b3072_pub_spki.pem"),
        "-in",
        input.to_str().unwrap(),
        "-out",
        output.to_str().unwrap(),
    ]);
    STANDARD.encode(std::fs::read(output).unwrap())
}

/// The receiver table of a 运之盟 receiver: our key b3072, the provider's a2048.
pub fn yzm_receiver() -> String {
    format!(
        "preset = \"yunzhimeng\"\nsigner = {{ private_key_file = \"{RSA}/b3072_pkcs8.pem\", \
         peer_public_key_file = \"{RSA}/a2048_pub_spki.pem\", encrypt_fields = [\"/driver/idCard\"] }}"
    )
}

/// A fresh 18-digit nonce.
pub fn nonce() -> String {
    (rand::random::<u64>() % 900_000_000_000_000_000 + 100_000_000_000_000_000).to_string()
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command line is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! Integration tests: the real RabbitMQ on 127.0.0.1:5672, real HTTP receivers, and (for
//! the journal) the real PostgreSQL on 127.0.0.1:5432.

mod admin;
mod bad_input;
mod bench_smoke;
mod blip;
mod cli;
mod cluster;
mod console;
mod dead;
mod delivery;
mod demo;
mod faults;
mod hostile;
mod inbound;
mod isolation;
mod journal;
mod kit;
mod layers;
mod limits;
mod ops;
mod presets;
mod publishers;
mod retry;
mod rsa_interop;
mod secrets;
mod support;
mod templates;
mod topology;

/// A channel `shop` that may call receivers on 127.0.0.1 over http.
pub const CONFIG: &str = r#"
[broker]
url = "{amqp}"
queue = "{queue}"
prefetch = 32
shutdown_grace = "5s"

[channels.shop]
app_id = "APP_SHOP"
url_policy = { schemes = ["http"], hosts = ["127.0.0.1"], allow_private = true }
signer = { secret = "it-secret-shop" }
retry = { schedule = ["0s", "200ms", "400ms"], park_on = [401] }

[channels.em-like]
preset = "em"
app_id = "APP_EM"
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "it-secret-em" }
retry = { schedule = ["0s"] }
"#;

/// A queue message (SPEC §1) as WHALE publishes it.
pub fn queue_message(
    channel: &str,
    url: &str,
    notify_type: &str,
    whale: &serde_json::Value,
) -> String {
    serde_json::json!({
        "channelId": channel,
        "notifyUrl": url,
        "notifyType": notify_type,
        "messageType": "ebuy",
        "whaleMessage": whale.to_string(),
    })
    .to_string()
}

/// The sorted-params MD5 signature, computed here independently of the bridge's signer.
pub fn independent_sign(
    body: &serde_json::Map<String, serde_json::Value>,
    secret: &str,
    upper: bool,
) -> String {
    use md5::Digest;
    let mut keys: Vec<&String> = body.keys().filter(|k| k.as_str() != "sign").collect();
    keys.sort();
    let mut text = String::new();
    for key in keys {
        let value = match &body[key] {
            serde_json::Value::String(s) if s.is_empty() => continue,
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        text.push_str(&format!("{key}={value}&"));
    }
    text.push_str(&format!("key={secret}"));
    let hex = hex::encode(md5::Md5::digest(text.as_bytes()));
    if upper {
        hex.to_uppercase()
    } else {
        hex
    }
}

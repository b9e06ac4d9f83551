//! The demo's own files: a configuration with one channel per preset, the demo keys, and
//! one queue message per preset and notifyType, written to a directory of the demo's own.

use std::path::{Path, PathBuf};

/// The presets the demo runs, each as a channel `demo-<preset>`.
pub const PRESETS: [&str; 4] = ["ebuy", "shangzhan", "em", "yunzhimeng"];

/// Every notifyType WHALE publishes.
pub const NOTIFY_TYPES: [&str; 7] = [
    "MakeCode",
    "MakeVoid",
    "UpdateCodeStatus",
    "CodeDelay",
    "CodeExpire",
    "Verify",
    "VerifyVoid",
];

/// Demo secrets and keys only: the same the integrator pages are written with.
pub const EBUY_SECRET: &str = "demo-secret-ebuy";
pub const SHANGZHAN_SECRET: &str = "demo-secret-shangzhan";
pub const EM_SECRET: &str = "SECRET_AAAAAA";
pub const BRIDGE_PUBLIC_KEY: &str =
    include_str!("../../../docs/integrators/keys/bridge-demo-public.pem");
pub const BRAND_PRIVATE_KEY: &str =
    include_str!("../../../docs/integrators/keys/brand-demo-private.pem");
const BRIDGE_PRIVATE_KEY: &str =
    include_str!("../../../docs/integrators/keys/bridge-demo-private.pem");
const BRAND_PUBLIC_KEY: &str = include_str!("../../../docs/integrators/keys/brand-demo-public.pem");

/// The field the 运之盟 channel encrypts for the brand.
pub const ENCRYPTED_FIELD: &str = "codePwd";
/// What WHALE puts in it, so the brand side can check what it decrypts.
pub const CODE_PASSWORD: &str = "8391-2047/xk";

const CONFIG: &str = r#"# notify-bridge demo: one channel per preset, all delivering to the demo's own receiver.
[broker]
url = "{amqp}"
queue = "{queue}"
shutdown_grace = "5s"

[admin]
listen = "127.0.0.1:0"

[journal]
url = "sqlite://{dir}/journal.db"

[channels.demo-ebuy]
preset = "ebuy"
app_id = "APP_DEMO"
url_policy = { schemes = ["http"], hosts = ["127.0.0.1"], allow_private = true }
signer = { secret = "{ebuy_secret}" }
retry = { schedule = ["0s"] }

[channels.demo-shangzhan]
preset = "shangzhan"
message_types = ["third"]
url_policy = { schemes = ["http"], hosts = ["127.0.0.1"], allow_private = true }
signer = { secret = "{shangzhan_secret}" }
retry = { schedule = ["0s"] }

[channels.demo-em]
preset = "em"
app_id = "KEY_AAAAAA"
message_types = ["third"]
url_policy = { schemes = ["http"], hosts = ["127.0.0.1"], allow_private = true }
signer = { secret = "{em_secret}" }
retry = { schedule = ["0s"] }

[channels.demo-yunzhimeng]
preset = "yunzhimeng"
message_types = ["third"]
url_policy = { schemes = ["http"], hosts = ["127.0.0.1"], allow_private = true }
signer = { private_key_file = "bridge-private.pem", peer_public_key_file = "brand-public.pem", encrypt_fields = ["/{field}"], event_codes = { MakeCode = "MAKE_CODE", MakeVoid = "MAKE_VOID", UpdateCodeStatus = "UPDATE_CODE_STATUS", CodeDelay = "CODE_DELAY", CodeExpire = "CODE_EXPIRE", Verify = "VERIFY", VerifyVoid = "VERIFY_VOID" } }
retry = { schedule = ["0s"] }
"#;

/// Writes the config and keys into `dir`; returns the config's path.
pub fn write_config(dir: &Path, amqp: &str, queue: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("bridge-private.pem"), BRIDGE_PRIVATE_KEY)?;
    std::fs::write(dir.join("brand-public.pem"), BRAND_PUBLIC_KEY)?;
    let text = CONFIG
        .replace("{amqp}", amqp)
        .replace("{queue}", queue)
        .replace("{dir}", &dir.display().to_string())
        .replace("{ebuy_secret}", EBUY_SECRET)
        .replace("{shangzhan_secret}", SHANGZHAN_SECRET)
        .replace("{em_secret}", EM_SECRET)
        .replace("{field}", ENCRYPTED_FIELD);
    let path = dir.join("demo.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The queue message WHALE would publish for `preset` and `notify_type`, addressed to the
/// demo receiver at `base` (`http://127.0.0.1:<port>`).
pub fn queue_message(base: &str, preset: &str, notify_type: &str) -> String {
    let biz = serde_json::json!({
        "orderNo": "WO202501150001",
        "outOrderNo": "BRAND-20250115-0001",
        "codeNo": "C2025011500000001",
        ENCRYPTED_FIELD: CODE_PASSWORD,
        "codeRect": "赠品：\"随行杯\"",
        "status": "ACTIVE",
        "faceValue": "50.00",
        "productName": "星巴克 中杯/大杯 兑换券",
        "startTime": "2025-01-15 10:00:00",
        "expireTime": "2025-12-31 23:59:59",
    });
    let whale = serde_json::json!({
        "appId": "WHALE",
        "bizContent": biz.to_string(),
        "version": "1.0",
    });
    let message_type = if preset == "ebuy" { "ebuy" } else { "third" };
    serde_json::json!({
        "channelId": format!("demo-{preset}"),
        "notifyUrl": format!("{base}/{preset}/{notify_type}"),
        "notifyType": notify_type,
        "messageType": message_type,
        "whaleMessage": whale.to_string(),
    })
    .to_string()
}

/// Writes one message file per preset and notifyType (for `publish` by hand).
pub fn write_messages(dir: &Path, base: &str) -> std::io::Result<PathBuf> {
    let messages = dir.join("messages");
    std::fs::create_dir_all(&messages)?;
    for preset in PRESETS {
        for notify_type in NOTIFY_TYPES {
            let body = queue_message(base, preset, notify_type);
            std::fs::write(messages.join(format!("{preset}-{notify_type}.json")), body)?;
        }
    }
    Ok(messages)
}

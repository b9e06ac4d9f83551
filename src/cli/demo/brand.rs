//! The demo receiver's checks, written from the integrator pages as a brand's developer
//! would write them — on purpose not by calling the bridge's signer modules: a check that
//! reuses the code under test proves nothing.

use base64::Engine;
use md5::{Digest, Md5};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{Pkcs1v15Encrypt, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde_json::{Map, Value};
use sha2::Sha256;

use super::setup;

/// One callback as the receiver saw it.
pub struct Callback<'a> {
    pub body: &'a [u8],
    pub header: &'a dyn Fn(&str) -> Option<String>,
}

/// Checks `callback` the way `preset`'s integrator page says; `Err` says what failed.
pub fn verify(preset: &str, callback: &Callback) -> Result<(), String> {
    let fields: Map<String, Value> =
        serde_json::from_slice(callback.body).map_err(|e| format!("body is not JSON: {e}"))?;
    match preset {
        "ebuy" => sorted_params(&fields, setup::EBUY_SECRET, true),
        "em" => sorted_params(&fields, setup::EM_SECRET, false),
        "shangzhan" => sorted_chars(&fields),
        "yunzhimeng" => rsa_headers(callback, &fields),
        other => Err(format!("no check for preset {other}")),
    }
}

/// What the brand answers when the signature holds, as each page asks.
pub fn success_answer(preset: &str) -> &'static str {
    match preset {
        "shangzhan" => "success",
        "em" => "SUCCESS",
        _ => "ok",
    }
}

/// ebuy and EM: fields but `sign`, empty ones left out, sorted by name, `k=v` joined with
/// `&`, `&key=` + secret, md5, upper-case hex for ebuy and lower-case for EM.
fn sorted_params(fields: &Map<String, Value>, secret: &str, upper: bool) -> Result<(), String> {
    let mut names: Vec<&String> = fields.keys().filter(|k| *k != "sign").collect();
    names.sort();
    let mut text = String::new();
    for name in names {
        let value = match &fields[name] {
            Value::Null => continue,
            Value::String(s) if s.is_empty() => continue,
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        text.push_str(&format!("{name}={value}&"));
    }
    text.push_str("key=");
    text.push_str(secret);
    let mut expected = hex::encode(Md5::digest(text.as_bytes()));
    if upper {
        expected = expected.to_uppercase();
    }
    compare(fields, &expected)
}

/// 商战网络: PHP `json_encode($fields, 320)` of the fields but `sign`, its characters sorted
/// by code point, the secret appended, md5, lower-case hex.
fn sorted_chars(fields: &Map<String, Value>) -> Result<(), String> {
    let mut rest = fields.clone();
    rest.shift_remove("sign");
    let mut json = String::new();
    php_json(&Value::Object(rest), &mut json);
    let mut chars: Vec<char> = json.chars().collect();
    chars.sort_unstable();
    let mut text: String = chars.into_iter().collect();
    text.push_str(setup::SHANGZHAN_SECRET);
    compare(fields, &hex::encode(Md5::digest(text.as_bytes())))
}

fn compare(fields: &Map<String, Value>, expected: &str) -> Result<(), String> {
    match fields.get("sign").and_then(Value::as_str) {
        Some(given) if given == expected => Ok(()),
        Some(_) => Err("sign does not match".into()),
        None => Err("no sign field".into()),
    }
}

/// PHP's `json_encode($v, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES)`: no spaces,
/// non-ASCII and `/` as they are, U+2028/U+2029 still escaped, integers as written.
fn php_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => php_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                php_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                php_string(key, out);
                out.push(':');
                php_json(item, out);
            }
            out.push('}');
        }
    }
}

fn php_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// 运之盟: `X-Signature` is SHA256withRSA by the bridge's key over `X-Timestamp` +
/// `X-Nonce` + the body bytes; then the encrypted field decrypts with the brand's key.
fn rsa_headers(callback: &Callback, fields: &Map<String, Value>) -> Result<(), String> {
    let header = |name: &str| (callback.header)(name).ok_or(format!("no {name} header"));
    let (timestamp, nonce) = (header("X-Timestamp")?, header("X-Nonce")?);
    let signature = base64::engine::general_purpose::STANDARD
        .decode(header("X-Signature")?)
        .map_err(|_| "X-Signature is not base64".to_string())?;
    header("X-EventCode")?;
    let mut signed = format!("{timestamp}{nonce}").into_bytes();
    signed.extend_from_slice(callback.body);
    let public = RsaPublicKey::from_public_key_pem(setup::BRIDGE_PUBLIC_KEY)
        .map_err(|e| format!("bridge public key: {e}"))?;
    public
        .verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(&signed),
            &signature,
        )
        .map_err(|_| "X-Signature does not verify".to_string())?;
    let encrypted = fields
        .get(setup::ENCRYPTED_FIELD)
        .and_then(Value::as_str)
        .ok_or(format!("no {} field", setup::ENCRYPTED_FIELD))?;
    let plain = decrypt(encrypted)?;
    match plain == setup::CODE_PASSWORD {
        true => Ok(()),
        false => Err(format!(
            "{} decrypts to something else",
            setup::ENCRYPTED_FIELD
        )),
    }
}

/// base64-decode, cut into blocks of the key's size, decrypt each, join.
fn decrypt(text: &str) -> Result<String, String> {
    let key = RsaPrivateKey::from_pkcs8_pem(setup::BRAND_PRIVATE_KEY)
        .map_err(|e| format!("brand private key: {e}"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| "encrypted field is not base64".to_string())?;
    let block = rsa::traits::PublicKeyParts::size(&key);
    let mut plain = Vec::new();
    for chunk in bytes.chunks(block) {
        let part = key
            .decrypt(Pkcs1v15Encrypt, chunk)
            .map_err(|_| "encrypted field does not decrypt".to_string())?;
        plain.extend(part);
    }
    String::from_utf8(plain).map_err(|_| "decrypted field is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example on the 商战网络 integrator page, byte for byte.
    #[test]
    fn the_shangzhan_page_example_verifies() {
        let body = r#"{"orderno":"WO202501150001","customer_order_no":"BRAND-20250115-0001","card":[{"card_type":1,"card_no":"C2025011500000001","card_password":"8391-2047/xk","card_rect":"赠品：\"随行杯\""}],"status":"success","sign":"d1c002f63401c100e36d2c44ac6fbf8b"}"#;
        let none = |_: &str| None;
        let callback = Callback {
            body: body.as_bytes(),
            header: &none,
        };
        assert_eq!(verify("shangzhan", &callback), Ok(()));
        let forged = body.replace("success\",\"sign", "failed\",\"sign");
        let callback = Callback {
            body: forged.as_bytes(),
            header: &none,
        };
        assert!(verify("shangzhan", &callback).is_err());
    }

    /// The example on the ebuy integrator page, byte for byte.
    #[test]
    fn the_ebuy_page_example_verifies() {
        let body = r#"{"appId":"APP_DEMO","action":"MakeCodeNotify","bizContent":"{\"orderNo\":\"WO202501150001\",\"outOrderNo\":\"BRAND-20250115-0001\",\"codeNo\":\"C2025011500000001\",\"codePwd\":\"8391-2047/xk\",\"codeRect\":\"赠品：\\\"随行杯\\\"\",\"status\":\"ACTIVE\",\"faceValue\":\"50.00\",\"productName\":\"星巴克 中杯/大杯 兑换券\",\"startTime\":\"2025-01-15 10:00:00\",\"expireTime\":\"2025-12-31 23:59:59\"}","version":"1.0","timestamp":"1736906400000","sign":"3A2224F2B4964E0606E594325CCE55B7"}"#;
        let none = |_: &str| None;
        let callback = Callback {
            body: body.as_bytes(),
            header: &none,
        };
        assert_eq!(verify("ebuy", &callback), Ok(()));
    }
}

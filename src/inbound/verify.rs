//! Checks one callback exactly as its provider's seed says, and reads the event out of it.
//!
//! Pure and synchronous; RSA costs about 0.25 ms per decrypted block, so the caller runs
//! this on the blocking pool. Nothing here touches the store or the broker: the nonce is
//! returned for the caller to claim.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::{replay, CallbackError, Provider, Receiver};
use crate::format::{field_text, BodyEncoding, DecodeError};
use crate::sign::rsa::{HEADER_EVENT_CODE, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::sign::{digests_match, Signer};

/// The fields of EM's string to sign (seed 003's `dataMap`); anything else it sends is not signed.
const EM_SIGNED: [&str; 3] = ["appid", "request_data", "timestamp"];

/// One received request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub body: &'a [u8],
    pub headers: &'a HeaderMap,
    pub now_ms: u64,
}

/// A callback whose signature held.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The event as published: the body's fields, decrypted for 运之盟.
    pub body: Map<String, Value>,
    /// What else a routing key may name: EM's `request_data` fields, 运之盟's `eventCode`.
    pub extra: Map<String, Value>,
    /// The provider's word for what happened: `status`, `notify_type`, `X-EventCode`.
    pub event: Option<String>,
    /// What stays the same when the provider pushes this event again (see `callback`).
    pub identity: String,
    /// Request headers kept as AMQP headers.
    pub headers: Vec<(&'static str, String)>,
    /// 运之盟's `X-Nonce`, to be claimed before the event is accepted.
    pub nonce: Option<String>,
}

/// Verifies `request` for `receiver`'s provider.
pub fn verify(receiver: &Receiver, request: &Request<'_>) -> Result<Verified, CallbackError> {
    let text = std::str::from_utf8(request.body).map_err(|_| CallbackError::NotUtf8)?;
    match receiver.provider {
        Provider::ShangZhan => shangzhan(&receiver.signer, text, request.headers),
        Provider::Em => em(&receiver.signer, text, request.headers),
        Provider::YunZhiMeng => yunzhimeng(receiver, text, request),
    }
}

/// Seed 001: sorted-chars MD5 over every field but `sign` (SPEC §3.2).
fn shangzhan(signer: &Signer, text: &str, headers: &HeaderMap) -> Result<Verified, CallbackError> {
    let Signer::SortedChars { field, .. } = signer else {
        return Err(CallbackError::CannotVerify);
    };
    let body = encoding(headers, text).decode(text)?;
    signer.verify_fields(&body)?;
    let mut unsigned = body.clone();
    unsigned.remove(field);
    Ok(Verified {
        event: text_of(&body, "status"),
        identity: canonical(&Value::Object(unsigned)),
        body,
        extra: Map::new(),
        headers: Vec::new(),
        nonce: None,
    })
}

/// Seed 003: sorted-params over `appid`, `request_data`, `timestamp` only.
fn em(signer: &Signer, text: &str, headers: &HeaderMap) -> Result<Verified, CallbackError> {
    let Signer::SortedParams { signer, field } = signer else {
        return Err(CallbackError::CannotVerify);
    };
    let body = encoding(headers, text).decode(text)?;
    let mut signed = Map::new();
    for name in EM_SIGNED {
        let value = body
            .get(name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| CallbackError::MissingField(name.to_owned()))?;
        signed.insert(name.to_owned(), value.clone());
    }
    let given = text_of(&body, field).ok_or_else(|| CallbackError::MissingField(field.clone()))?;
    if !digests_match(&signer.sign(&signed, field), &given) {
        return Err(CallbackError::BadSignature);
    }
    // `request_data` is JSON text; a body that signs but does not parse is still published.
    let request_data = field_text(&signed["request_data"]).into_owned();
    let extra = match serde_json::from_str(&request_data) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    Ok(Verified {
        event: text_of(&extra, "notify_type"),
        // The timestamp and sign change with every push; the event is the data.
        identity: format!("{}\n{request_data}", field_text(&signed["appid"])),
        body,
        extra,
        headers: Vec::new(),
        nonce: None,
    })
}

/// Seed 000: `X-Signature` over `{X-Timestamp}{X-Nonce}{body}` with the provider's key,
/// the timestamp window, then (only then) our private key decrypts the fields.
fn yunzhimeng(
    receiver: &Receiver,
    text: &str,
    request: &Request<'_>,
) -> Result<Verified, CallbackError> {
    let Signer::Rsa(rsa) = &receiver.signer else {
        return Err(CallbackError::CannotVerify);
    };
    let wanted = [HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE];
    let headers: Vec<(String, String)> = wanted
        .iter()
        .filter_map(|name| header(request.headers, name).map(|v| (name.to_string(), v)))
        .collect();
    rsa.verify(text, &headers)?;
    let timestamp = header(request.headers, HEADER_TIMESTAMP).unwrap_or_default();
    let nonce = header(request.headers, HEADER_NONCE).unwrap_or_default();
    replay::check_timestamp(&timestamp, request.now_ms, receiver.replay_window)?;
    replay::check_nonce(&nonce)?;
    let mut value: Value = serde_json::from_str(text).map_err(|_| DecodeError::NotJsonObject)?;
    if !value.is_object() {
        return Err(DecodeError::NotJsonObject.into());
    }
    rsa.decrypt_fields(&mut value)
        .map_err(CallbackError::Undecryptable)?;
    let event = header(request.headers, HEADER_EVENT_CODE);
    let mut extra = Map::new();
    let mut kept = vec![("x-timestamp", timestamp), ("x-nonce", nonce.clone())];
    if let Some(code) = &event {
        extra.insert("eventCode".into(), Value::String(code.clone()));
        kept.push(("x-event-code", code.clone()));
    }
    Ok(Verified {
        // Ciphertexts differ on every push (random padding): identify by the plaintext.
        identity: format!("{}\n{}", event.as_deref().unwrap_or(""), canonical(&value)),
        body: match value {
            Value::Object(map) => map,
            _ => Map::new(),
        },
        extra,
        event,
        headers: kept,
        nonce: Some(nonce),
    })
}

/// Form when the provider says so, or when the body cannot be JSON; JSON otherwise.
/// EM's sample receiver accepts both (`getJsonStrByQueryUrl`); 商战 documents JSON.
fn encoding(headers: &HeaderMap, text: &str) -> BodyEncoding {
    let content_type = header(headers, "content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.contains("application/x-www-form-urlencoded") {
        BodyEncoding::Form
    } else if content_type.contains("json") || text.trim_start().starts_with('{') {
        BodyEncoding::Json
    } else {
        BodyEncoding::Form
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn text_of(fields: &Map<String, Value>, name: &str) -> Option<String> {
    match fields.get(name)? {
        Value::Null => None,
        value => Some(field_text(value).into_owned()),
    }
}

/// Compact JSON with every object's keys sorted: the same event gives the same text
/// whatever order the provider wrote its keys in this time.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests;

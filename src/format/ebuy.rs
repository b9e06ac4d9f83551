//! The ebuy standard message (易百标准报文, SPEC §2), built from `whaleMessage`.

use serde_json::{Map, Value};

use crate::json::{self, MAX_DEPTH};
use crate::message::{excerpt, QueueMessage};
use crate::parse::{refused, BadInput};
use crate::schema::Schemas;

/// The fields in the order brands see them; fields WHALE adds beyond these follow unchanged.
const ORDER: [&str; 5] = ["appId", "action", "bizContent", "version", "timestamp"];

/// Builds the standard message without its `sign` (the signer adds ours).
///
/// `app_id` is the channel's, which wins over WHALE's; `now_ms` fills a missing timestamp.
pub fn standard_message(
    message: &QueueMessage,
    app_id: Option<&str>,
    now_ms: u64,
    schemas: &Schemas,
) -> Result<Map<String, Value>, BadInput> {
    let doc = json::parse_strict(message.whale_message.as_bytes())
        .map_err(|e| refused("whaleMessage", e, BadInput::WhaleMessageNotJson))?;
    // Checked in place, not on a copy: copying the map cost ~5k instructions a message.
    if doc.is_object() {
        schemas.check_standard_message(&doc)?;
    }
    let Value::Object(mut given) = doc else {
        return Err(BadInput::WhaleMessageNotObject);
    };
    // WHALE's own signature is over its credentials, never the channel's: always re-signed.
    given.remove("sign");

    let expected = message.notify_type.action();
    match given.get("action").and_then(Value::as_str) {
        Some(action) if !action.is_empty() && action != expected => {
            return Err(BadInput::ActionConflict {
                action: excerpt(action),
                notify_type: message.notify_type,
            })
        }
        _ => {}
    }
    let app_id = match app_id {
        Some(id) => id.to_owned(),
        None => match given.get("appId").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => return Err(BadInput::MissingField("whaleMessage.appId".into())),
        },
    };
    let biz_content = match given.remove("bizContent") {
        // Compact text; preserve_order and arbitrary_precision keep keys and numbers as sent.
        Some(Value::Object(obj)) => Value::String(Value::Object(obj).to_string()),
        // Brands parse it: held to the same depth as everything else we accept.
        Some(Value::String(text)) if json::nesting_depth(text.as_bytes()) > MAX_DEPTH => {
            return Err(BadInput::TooDeep {
                part: "whaleMessage.bizContent",
            })
        }
        Some(other) => other,
        None => return Err(BadInput::MissingField("whaleMessage.bizContent".into())),
    };
    let version = match given.get("version").and_then(Value::as_str) {
        Some(v) => v.to_owned(),
        None => "1.0".to_owned(),
    };
    let timestamp = match given.get("timestamp") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => now_ms.to_string(),
    };

    let mut out = Map::with_capacity(given.len() + ORDER.len());
    out.insert("appId".into(), Value::String(app_id));
    out.insert("action".into(), Value::String(expected.to_owned()));
    out.insert("bizContent".into(), biz_content);
    out.insert("version".into(), Value::String(version));
    out.insert("timestamp".into(), Value::String(timestamp));
    for (key, value) in given {
        if !ORDER.contains(&key.as_str()) {
            out.insert(key, value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageType, NotifyType};

    fn msg(whale: &str) -> QueueMessage {
        QueueMessage {
            channel_id: "c".into(),
            notify_url: "https://x".into(),
            notify_type: NotifyType::CodeDelay,
            message_type: MessageType::Ebuy,
            whale_message: whale.into(),
        }
    }

    fn build(whale: &str, app_id: Option<&str>) -> Result<String, BadInput> {
        standard_message(&msg(whale), app_id, 1700000000123, &Schemas::load())
            .map(|m| Value::Object(m).to_string())
    }

    #[test]
    fn fills_defaults_and_serialises_biz_content_compactly() {
        let got = build(r#"{"bizContent":{"amount":0.10,"b":[1, 2]}}"#, Some("APP")).unwrap();
        assert_eq!(
            got,
            r#"{"appId":"APP","action":"CodeDelayNotify","bizContent":"{\"amount\":0.10,\"b\":[1,2]}","version":"1.0","timestamp":"1700000000123"}"#
        );
    }

    #[test]
    fn keeps_given_fields_and_drops_whale_sign() {
        let got = build(
            r#"{"sign":"OLD","extra":1,"timestamp":1690000000000,"version":"2.0","appId":"W","action":"CodeDelayNotify","bizContent":"{}"}"#,
            None,
        )
        .unwrap();
        assert_eq!(
            got,
            r#"{"appId":"W","action":"CodeDelayNotify","bizContent":"{}","version":"2.0","timestamp":"1690000000000","extra":1}"#
        );
    }

    #[test]
    fn rejects_conflicts_and_bad_shapes() {
        assert_eq!(
            build(r#"{"action":"VerifyNotify","bizContent":"{}"}"#, Some("A")).unwrap_err(),
            BadInput::ActionConflict {
                action: "VerifyNotify".into(),
                notify_type: NotifyType::CodeDelay
            }
        );
        assert_eq!(
            build("[]", Some("A")).unwrap_err(),
            BadInput::WhaleMessageNotObject
        );
        assert_eq!(
            build("{", Some("A")).unwrap_err().code(),
            "whale-message-not-json"
        );
        assert_eq!(
            build(r#"{"bizContent":"{}"}"#, None).unwrap_err(),
            BadInput::MissingField("whaleMessage.appId".into())
        );
    }

    #[test]
    fn deep_or_repeated_whale_messages_are_refused() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let deep_biz = format!(r#"{{"bizContent":{{"a":{}}}}}"#, nest(10_000));
        assert_eq!(
            build(&deep_biz, Some("A")).unwrap_err(),
            BadInput::TooDeep {
                part: "whaleMessage"
            }
        );
        let deep_text = Value::String(format!(r#"{{"a":{}}}"#, nest(MAX_DEPTH)));
        let whale = format!(r#"{{"bizContent":{deep_text}}}"#);
        assert_eq!(
            build(&whale, Some("A")).unwrap_err(),
            BadInput::TooDeep {
                part: "whaleMessage.bizContent"
            }
        );
        // As deep as allowed is fine, whichever form bizContent takes.
        let ok = format!(r#"{{"bizContent":{{"a":{}}}}}"#, nest(MAX_DEPTH - 2));
        assert!(build(&ok, Some("A")).is_ok());
        let dup = r#"{"bizContent":{"a":1},"bizContent":"{}"}"#;
        assert_eq!(build(dup, Some("A")).unwrap_err().code(), "duplicate-key");
    }
}

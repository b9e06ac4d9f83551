//! `parse::queue_message`: any bytes give a message or a reason, never a panic; what it
//! accepts carries exactly the fields the body held.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::{json, text, SCHEMAS};
use crate::message::{MessageType, NotifyType};
use crate::parse::{queue_message, Declared};

const LIMIT: usize = 64 * 1024;

const GOOD: &str = r#"{"channelId":"c","notifyUrl":"https://x.example/n","notifyType":"Verify","messageType":"ebuy","whaleMessage":"{\"bizContent\":\"{}\"}"}"#;

/// A field value: usually the right type and a valid value, sometimes anything at all.
fn field(valid: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => prop::sample::select(valid).prop_map(|v| Some(json!(v))),
        2 => text().prop_map(|s| Some(json!(s))),
        1 => json().prop_map(Some),
        1 => Just(None),
    ]
}

/// Queue messages built field by field, most nearly right.
fn message() -> impl Strategy<Value = Value> {
    (
        field(&["c", "shop"]),
        field(&["https://x.example/n", "http://127.0.0.1/"]),
        field(&["MakeCode", "Verify", "VerifyVoid"]),
        field(&["ebuy", "third"]),
        field(&["{\"bizContent\":\"{}\"}", "{}"]),
    )
        .prop_map(|(c, u, t, m, w)| {
            let names = [
                "channelId",
                "notifyUrl",
                "notifyType",
                "messageType",
                "whaleMessage",
            ];
            let fields = names.into_iter().zip([c, u, t, m, w]);
            Value::Object(
                fields
                    .filter_map(|(k, v)| Some((k.to_owned(), v?)))
                    .collect(),
            )
        })
}

/// A good message with a few bytes overwritten, inserted or cut off.
fn mangled() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((0..GOOD.len(), any::<u8>()), 0..4),
        0..=GOOD.len(),
    )
        .prop_map(|(edits, cut)| {
            let mut bytes = GOOD.as_bytes().to_vec();
            for (at, byte) in edits {
                bytes[at] = byte;
            }
            bytes.truncate(cut.max(1));
            bytes
        })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = queue_message(&bytes, Declared::default(), LIMIT, &SCHEMAS);
    }

    #[test]
    fn mangled_messages_never_panic(
        bytes in mangled(),
        ct in prop::option::of(text()),
        encoding in prop::option::of(text()),
    ) {
        let declared = Declared { content_type: ct.as_deref(), content_encoding: encoding.as_deref() };
        let _ = queue_message(&bytes, declared, LIMIT, &SCHEMAS);
    }

    #[test]
    fn accepted_messages_hold_exactly_their_fields(doc in message()) {
        let body = doc.to_string();
        let Ok(m) = queue_message(body.as_bytes(), Declared::default(), LIMIT, &SCHEMAS) else {
            return Ok(());
        };
        prop_assert_eq!(&doc["channelId"], &json!(m.channel_id));
        prop_assert_eq!(&doc["notifyUrl"], &json!(m.notify_url));
        // A nested object is carried as its compact text; a string as it was.
        let whale = match &doc["whaleMessage"] {
            Value::Object(_) => serde_json::from_str(&m.whale_message).unwrap_or_default(),
            _ => json!(m.whale_message),
        };
        prop_assert_eq!(&doc["whaleMessage"], &whale);
        prop_assert_eq!(Some(m.notify_type), doc["notifyType"].as_str().and_then(NotifyType::parse));
        prop_assert_eq!(Some(m.message_type), doc["messageType"].as_str().and_then(MessageType::parse));
    }

    #[test]
    fn refusals_are_short_single_lines(doc in message(), extra in text()) {
        let mut doc = doc;
        if let Some(map) = doc.as_object_mut() {
            map.insert("channelId".into(), json!(extra.repeat(50)));
        }
        if let Err(bad) = queue_message(doc.to_string().as_bytes(), Declared::default(), LIMIT, &SCHEMAS) {
            let header = bad.header_value();
            prop_assert!(header.starts_with(bad.code()));
            prop_assert!(!header.contains(['\r', '\n']));
            prop_assert!(header.chars().count() <= crate::parse::MAX_REASON_CHARS + 1);
        }
    }
}

//! `format::standard_message`: any whaleMessage text gives the standard message or a
//! reason; what it builds always has the ebuy shape.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::{json, object, text, SCHEMAS};
use crate::format::standard_message;
use crate::message::{MessageType, NotifyType, QueueMessage};

fn queue_message(whale: String, notify_type: NotifyType) -> QueueMessage {
    QueueMessage {
        channel_id: "c".into(),
        notify_url: "https://x.example/n".into(),
        notify_type,
        message_type: MessageType::Ebuy,
        whale_message: whale,
    }
}

/// whaleMessage objects: the standard fields, usually of the right type, plus extras.
fn whale() -> impl Strategy<Value = Map<String, Value>> {
    let biz = prop_oneof![
        3 => object().prop_map(Value::Object),
        3 => object().prop_map(|o| json!(Value::Object(o).to_string())),
        1 => json(),
    ];
    let string_or_any = || prop_oneof![4 => text().prop_map(Value::String), 1 => json()];
    let often = |p: BoxedStrategy<Value>| prop::option::weighted(0.8, p);
    (
        often(prop_oneof![Just(json!("WHALE_APP")), string_or_any()].boxed()),
        often(prop_oneof![Just(json!("VerifyNotify")), string_or_any()].boxed()),
        prop::option::weighted(0.95, biz),
        often(string_or_any().boxed()),
        often(prop_oneof![Just(json!(1700000000000u64)), string_or_any()].boxed()),
        object(),
    )
        .prop_map(|(app_id, action, biz, version, timestamp, extra)| {
            let mut m = extra;
            let given = [
                ("appId", app_id),
                ("action", action),
                ("bizContent", biz),
                ("version", version),
                ("timestamp", timestamp),
            ];
            for (k, v) in given {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            m
        })
}

proptest! {
    #[test]
    fn any_text_gives_a_message_or_a_reason(whale in text()) {
        let _ = standard_message(&queue_message(whale, NotifyType::Verify), None, 1, &SCHEMAS);
    }

    #[test]
    fn built_messages_have_the_ebuy_shape(whale in whale(), app in prop::option::of("[A-Z]{1,6}")) {
        let text = Value::Object(whale.clone()).to_string();
        let built = standard_message(&queue_message(text, NotifyType::Verify), app.as_deref(), 7, &SCHEMAS);
        let Ok(out) = built else { return Ok(()) };
        let keys: Vec<&str> = out.keys().take(5).map(String::as_str).collect();
        prop_assert_eq!(keys, ["appId", "action", "bizContent", "version", "timestamp"]);
        prop_assert_eq!(&out["action"], "VerifyNotify");
        prop_assert!(out["bizContent"].is_string());
        prop_assert!(out["appId"].as_str().is_some_and(|a| !a.is_empty()));
        prop_assert!(!out.contains_key("sign"));
        if let Some(app) = app {
            prop_assert_eq!(&out["appId"], &json!(app));
        }
        // Every field WHALE added beyond the standard ones is passed on unchanged.
        for (k, v) in &whale {
            if !["appId", "action", "bizContent", "version", "timestamp", "sign"].contains(&k.as_str()) {
                prop_assert_eq!(out.get(k), Some(v));
            }
        }
    }
}

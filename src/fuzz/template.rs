//! The preset templates on arbitrary standard messages: a JSON object or a clean error,
//! never a panic, never a body over the limit, never a message value in the error.

use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::{json, number, text};
use crate::format::template::PRESETS;
use crate::format::{TemplateContext, TemplateFormatter};
use crate::message::NotifyType;

/// Planted in message values: an error that quotes a value would show it.
const MARKER: &str = "Zq9MarkerZq9";

const MAX_OUTPUT: usize = 16 * 1024;

static FORMATTERS: LazyLock<Vec<TemplateFormatter>> = LazyLock::new(|| {
    PRESETS
        .iter()
        .map(|(name, source)| {
            TemplateFormatter::new(name, source)
                .expect("presets compile")
                .with_max_output(MAX_OUTPUT)
        })
        .collect()
});

/// Values for the bizContent fields the presets read: right, wrong or missing.
fn biz_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(|s| json!(format!("{MARKER}{s}"))),
        number().prop_map(Value::Number),
        json(),
    ]
}

/// bizContent field names the presets read; the first six are a code's own fields.
const NAMES: [&str; 9] = [
    "orderNo",
    "outOrderNo",
    "codeNo",
    "codePwd",
    "codeUrl",
    "codeRect",
    "codes",
    "notify_type",
    "amount",
];

/// A bizContent object using the field names the presets know, plus others.
fn biz() -> impl Strategy<Value = Map<String, Value>> {
    let card = prop::collection::vec((prop::sample::select(&NAMES[..6]), biz_value()), 0..5)
        .prop_map(|f| Value::Object(f.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
    let codes = prop_oneof![
        prop::collection::vec(card, 0..4).prop_map(Value::Array),
        biz_value(),
    ];
    (
        prop::collection::vec((prop::sample::select(&NAMES[..]), biz_value()), 0..8),
        prop::option::of(codes),
    )
        .prop_map(|(fields, codes)| {
            let mut m: Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            if let Some(codes) = codes {
                m.insert("codes".into(), codes);
            }
            m
        })
}

/// A standard message: mostly as `standard_message` builds them, sometimes odder.
fn standard() -> impl Strategy<Value = Map<String, Value>> {
    let biz_content = prop_oneof![
        4 => biz().prop_map(|b| json!(Value::Object(b).to_string())),
        1 => biz().prop_map(Value::Object),
        1 => json(),
    ];
    let field = || prop_oneof![3 => text().prop_map(Value::String), 1 => json()];
    (biz_content, field(), field(), field(), field()).prop_map(
        |(biz, app_id, action, version, timestamp)| {
            let mut m = Map::new();
            m.insert("appId".into(), app_id);
            m.insert("action".into(), action);
            m.insert("bizContent".into(), biz);
            m.insert("version".into(), version);
            m.insert("timestamp".into(), timestamp);
            m
        },
    )
}

proptest! {
    #[test]
    fn presets_render_an_object_or_a_clean_error(
        standard in standard(),
        which in 0..PRESETS.len(),
        notify_type in prop::sample::select(NotifyType::ALL.to_vec()),
        now_ms in any::<u64>(),
    ) {
        let formatter = &FORMATTERS[which];
        let ctx = TemplateContext {
            standard: &standard,
            notify_type: notify_type.as_str(),
            channel_id: "fuzz",
            now_ms,
        };
        match formatter.render(&ctx) {
            Ok(body) => {
                let text = Value::Object(body).to_string();
                prop_assert!(text.len() <= MAX_OUTPUT + MAX_OUTPUT / 2, "{} bytes", text.len());
                prop_assert!(serde_json::from_str::<Map<String, Value>>(&text).is_ok());
            }
            Err(e) => {
                let shown = e.to_string();
                prop_assert!(!shown.contains(MARKER), "an error quoted a value: {}", shown);
                prop_assert!(shown.len() < 2000, "{}", shown);
            }
        }
    }
}

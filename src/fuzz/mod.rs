//! Property tests ("fuzzing") of the code that reads input from outside: the queue-message
//! parser, the standard-message builder, the PHP JSON encoder and the brand templates.
//!
//! Each property runs 256 cases in `cargo test`; `PROPTEST_CASES=100000 cargo test --lib
//! fuzz` runs a long session (see README, "Security"). The properties are: no input makes
//! these functions panic or hang, and what they accept or produce keeps its contract.

mod parse;
mod php_json;
mod standard;
mod template;

use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

use crate::schema::Schemas;

/// Compiling the schemas takes a while; every case shares one copy.
static SCHEMAS: LazyLock<Schemas> = LazyLock::new(Schemas::load);

/// Number texts as JSON allows them: integers of any size, `-0`, decimals, exponents.
fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<u64>().prop_map(|u| u.to_string()),
        Just("-0".to_owned()),
        "-?(0|[1-9][0-9]{0,30})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
    ]
    .prop_map(|text| serde_json::from_str(&text).expect("the pattern is JSON number syntax"))
}

/// Strings with what breaks encoders: quotes, backslashes, controls, line separators,
/// astral characters, placeholders and template syntax; or anything at all.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 \"\\\\/\\x00-\\x1f\\x7f\u{2028}\u{2029}é中😀{}%<>&'.:-]{0,16}",
        any::<String>(),
        Just("{secret}".to_owned()),
        Just("{{ biz }}".to_owned()),
    ]
}

/// Any JSON value, up to a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Object keys: often list-like (`"0"`, `"1"`), which PHP treats specially.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u8..4).prop_map(|i| i.to_string()),
        "[a-zA-Z_]{1,8}",
        text(),
    ]
}

/// A JSON object.
fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), json()), 0..8).prop_map(|pairs| pairs.into_iter().collect())
}

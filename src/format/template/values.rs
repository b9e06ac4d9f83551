//! Carries serde_json values into templates and back out as JSON text, number text intact.
//!
//! `minijinja::Value::from_serialize` is not usable here: with serde_json's
//! `arbitrary_precision` a number serialises as a private one-field struct, so `0.10` arrives
//! as the map `{"$serde_json::private::Number": "0.10"}`. And minijinja's own numbers are
//! `i64`/`u64`/`i128`/`u128`/`f64`, so a float would print `0.10` as `0.1`. So numbers are
//! converted by hand: integers that fit a native type (and whose text would not change)
//! become native, so arithmetic and comparisons work; every other number becomes a
//! [`RawNumber`] object that prints and serialises as its original text.
//!
//! Output goes through [`to_json`] (our `tojson` and the `{{ }}` formatter), never through
//! minijinja's `Serialize` impl, which would write a `RawNumber` as a quoted string.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, ValueKind};
use minijinja::{Error, ErrorKind, Value};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// A JSON number kept as its exact text (decimals, `-0`, integers beyond 128 bits).
///
/// It renders as that text, so `{{ "¥" ~ biz.amount }}` shows `¥0.10`; it has no arithmetic:
/// convert with `yuan_to_fen` (exact) or `float` (lossy) first.
#[derive(Debug)]
pub struct RawNumber(serde_json::Number);

impl RawNumber {
    /// The number's text as received.
    pub fn text(&self) -> &str {
        self.0.as_str()
    }
}

impl Object for RawNumber {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// Converts a JSON value; objects keep their key order (minijinja's `preserve_order`).
pub fn from_json(value: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match value {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => from_number(n),
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => items.iter().map(from_json).collect(),
        J::Object(map) => map
            .iter()
            .map(|(k, v)| (Value::from(k.as_str()), from_json(v)))
            .collect(),
    }
}

/// A native integer when that keeps the text, else a [`RawNumber`].
pub fn from_number(n: &serde_json::Number) -> Value {
    let text = n.as_str();
    // JSON integers have no leading zeros or `+`, so parsing round-trips except for `-0`.
    let plain_integer = text != "-0" && !text.contains(['.', 'e', 'E']);
    if plain_integer {
        if let Ok(i) = text.parse::<i64>() {
            return Value::from(i);
        }
        if let Ok(u) = text.parse::<u64>() {
            return Value::from(u);
        }
        if let Ok(i) = text.parse::<i128>() {
            return Value::from(i);
        }
        if let Ok(u) = text.parse::<u128>() {
            return Value::from(u);
        }
    }
    Value::from_object(RawNumber(n.clone()))
}

/// Parses `text` as one JSON number (no whitespace, no sign `+`, no `NaN`) into a value.
pub fn number_from_text(text: &str) -> Option<Value> {
    let trimmed = text.len() == text.trim().len();
    let n: serde_json::Number = serde_json::from_str(text).ok().filter(|_| trimmed)?;
    Some(from_number(&n))
}

/// The exact text of a numeric value: native numbers, [`RawNumber`]s; `None` otherwise.
pub fn number_text(value: &Value) -> Option<String> {
    if let Some(raw) = value.downcast_object_ref::<RawNumber>() {
        return Some(raw.text().to_owned());
    }
    if value.kind() != ValueKind::Number {
        return None;
    }
    if value.is_integer() {
        return Some(value.to_string());
    }
    // A float only arises from template arithmetic or `float`; Rust prints it in the shortest
    // text that reads back to the same float, never in exponent form.
    let f = f64::try_from(value.clone()).ok()?;
    f.is_finite().then(|| f.to_string())
}

/// Compact JSON text of a value: no HTML escaping, non-ASCII as is, numbers exact.
pub fn to_json(value: &Value) -> Result<String, Error> {
    serde_json::to_string(&Json(value, 0)).map_err(|e| {
        // Our own messages name the offending kind, never the value.
        Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot write JSON: {e}"),
        )
    })
}

/// How deep [`to_json`] goes: message values are held to `MAX_DEPTH` before they reach a
/// template, which may wrap them in a few levels of its own. Anything deeper (a value a
/// template built recursively) is refused rather than risk the stack.
const MAX_OUTPUT_DEPTH: usize = 2 * crate::json::MAX_DEPTH;

/// Serialises a minijinja value the way JSON needs it, at a nesting depth; see the module
/// docs for why.
struct Json<'a>(&'a Value, usize);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (value, depth) = (self.0, self.1);
        if depth > MAX_OUTPUT_DEPTH {
            return Err(S::Error::custom(format!(
                "a value nests deeper than {MAX_OUTPUT_DEPTH} levels"
            )));
        }
        if let Some(raw) = value.downcast_object_ref::<RawNumber>() {
            return raw.0.serialize(s);
        }
        match value.kind() {
            ValueKind::None => s.serialize_unit(),
            ValueKind::Bool => s.serialize_bool(value.is_true()),
            ValueKind::String => s.serialize_str(value.as_str().unwrap_or_default()),
            ValueKind::Number => serialize_number(value, s),
            ValueKind::Seq | ValueKind::Iterable => {
                let items = value.try_iter().map_err(S::Error::custom)?;
                let mut seq = s.serialize_seq(None)?;
                for item in items {
                    seq.serialize_element(&Json(&item, depth + 1))?;
                }
                seq.end()
            }
            ValueKind::Map => {
                let keys = value.try_iter().map_err(S::Error::custom)?;
                let mut map = s.serialize_map(None)?;
                for key in keys {
                    let item = value.get_item(&key).map_err(S::Error::custom)?;
                    match key.kind() {
                        ValueKind::String | ValueKind::Number => {
                            map.serialize_entry(&key.to_string(), &Json(&item, depth + 1))?
                        }
                        other => {
                            return Err(S::Error::custom(format!(
                                "a map key is a {other}, JSON keys are strings"
                            )))
                        }
                    }
                }
                map.end()
            }
            // Jinja prints undefined as nothing, which would leave a hole in the JSON.
            ValueKind::Undefined => Err(S::Error::custom("undefined value")),
            other => Err(S::Error::custom(format!("a {other} has no JSON form"))),
        }
    }
}

fn serialize_number<S: Serializer>(value: &Value, s: S) -> Result<S::Ok, S::Error> {
    if let Some(i) = value.as_i64() {
        return s.serialize_i64(i);
    }
    if let Ok(u) = u128::try_from(value.clone()) {
        return s.serialize_u128(u);
    }
    if let Ok(i) = i128::try_from(value.clone()) {
        return s.serialize_i128(i);
    }
    match f64::try_from(value.clone()) {
        // serde_json would write NaN and infinities as `null`: refuse instead.
        Ok(f) if f.is_finite() => s.serialize_f64(f),
        _ => Err(S::Error::custom(
            "a number that is not finite has no JSON form",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        to_json(&from_json(&json)).unwrap()
    }

    #[test]
    fn numbers_keep_their_text() {
        for text in [
            "0.10",
            "10.00",
            "-0",
            "-0.0",
            "12345678901234567890",
            "-9223372036854775809",
            "123456789012345678901234567890123456789012",
            "1.5e+300",
            "3",
            "-3",
        ] {
            assert_eq!(round_trip(text), text, "number {text}");
        }
    }

    #[test]
    fn integers_are_native_and_decimals_raw() {
        let n = |t: &str| from_number(&serde_json::from_str(t).unwrap());
        assert_eq!(n("42").as_i64(), Some(42));
        assert_eq!(n("12345678901234567890").kind(), ValueKind::Number);
        assert!(n("0.10").downcast_object_ref::<RawNumber>().is_some());
        assert!(n("-0").downcast_object_ref::<RawNumber>().is_some());
        assert_eq!(n("0.10").to_string(), "0.10");
    }

    #[test]
    fn structures_keep_key_order_and_strings_are_not_html_escaped() {
        let text = r#"{"z":1,"a":[true,null,"</script>&'\"\\\n中文😀"],"m":{"y":0.10,"b":{}}}"#;
        assert_eq!(round_trip(text), text);
    }

    #[test]
    fn parses_number_text_strictly() {
        assert_eq!(number_from_text("10.50").unwrap().to_string(), "10.50");
        assert_eq!(number_from_text("7").unwrap().as_i64(), Some(7));
        for bad in [
            "", " 1", "1 ", "+1", "01", "1.", ".5", "NaN", "1e", "0x10", "1,0",
        ] {
            assert!(number_from_text(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn refuses_values_nested_past_the_output_depth() {
        let mut v = Value::from(1);
        for _ in 0..MAX_OUTPUT_DEPTH {
            v = Value::from(vec![v]);
        }
        assert!(to_json(&v).is_ok());
        let deeper = Value::from(vec![v]);
        let err = to_json(&deeper).unwrap_err();
        assert!(err.to_string().contains("deeper than"), "{err}");
    }

    #[test]
    fn refuses_values_json_cannot_hold() {
        assert!(to_json(&Value::UNDEFINED).is_err());
        assert!(to_json(&Value::from(f64::NAN)).is_err());
        assert!(to_json(&Value::from(f64::INFINITY)).is_err());
        let list_key: Value = [(Value::from(vec![1]), Value::from(1))]
            .into_iter()
            .collect();
        assert!(to_json(&list_key).is_err());
        assert_eq!(to_json(&Value::from(1.5)).unwrap(), "1.5");
    }
}

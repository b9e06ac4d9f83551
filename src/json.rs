//! Guards for JSON from outside: how deep it may nest, and that no object repeats a key.
//!
//! serde_json stops parsing at 128 levels, but everything after the parser walks values
//! recursively too (schema validation, the PHP encoder, template values), each with its own
//! stack cost. So input is held to [`MAX_DEPTH`] levels before it is parsed, by a scan that
//! does not recurse, and the recursive walkers check the same bound for values built any
//! other way.
//!
//! Duplicate keys: JSON leaves their meaning open and parsers differ (first wins, last wins,
//! error), so WHALE and the bridge could read different values from one message. They are
//! refused.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The deepest nesting of arrays and objects accepted (`[]` is depth 1).
pub const MAX_DEPTH: usize = 64;

/// Why text from outside was not accepted as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Nested deeper than [`MAX_DEPTH`]; found before parsing.
    TooDeep,
    /// Not JSON: serde_json's message.
    Syntax(String),
    /// An object repeats a key: which one.
    DuplicateKey(String),
}

/// Parses JSON from outside: depth bounded before parsing, duplicate keys refused after.
pub fn parse_strict(text: &[u8]) -> Result<Value, Refusal> {
    let shape = scan(text);
    if shape.depth > MAX_DEPTH {
        return Err(Refusal::TooDeep);
    }
    let doc = serde_json::from_slice(text).map_err(|e| Refusal::Syntax(e.to_string()))?;
    // The parsed objects keep one entry per distinct key: as many entries as the text has
    // keys means no key repeats. The keyed walk of the text (a set of owned keys per
    // object) cost a quarter of a message's parse → format → sign, so it runs only when
    // the counts differ, and gives the verdict then.
    if entries(&doc) == shape.keys {
        return Ok(doc);
    }
    match duplicate_key(text) {
        Some(key) => Err(Refusal::DuplicateKey(key)),
        None => Ok(doc),
    }
}

/// How many object keys `text` holds at any depth (strings followed by `:`). Exact for
/// valid JSON.
pub fn key_count(text: &[u8]) -> usize {
    scan(text).keys
}

/// What one pass over the bytes tells of a document.
struct Shape {
    /// As [`nesting_depth`].
    depth: usize,
    /// Object keys: strings followed by `:`. Exact for valid JSON.
    keys: usize,
}

/// The deepest nesting of `[` and `{` in `text`, outside strings. Exact for valid JSON;
/// for anything else an estimate, which is fine: it is refused either way.
pub fn nesting_depth(text: &[u8]) -> usize {
    scan(text).depth
}

fn scan(text: &[u8]) -> Shape {
    let (mut depth, mut deepest, mut keys) = (0usize, 0usize, 0usize);
    let mut after_string = false;
    let mut at = 0;
    while let Some(&byte) = text.get(at) {
        at += 1;
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => continue,
            b':' if after_string => keys += 1,
            b'"' => {
                // To the closing quote: only a backslash needs a look (it hides the next byte).
                while let Some(&byte) = text.get(at) {
                    at += 1;
                    match byte {
                        b'"' => break,
                        b'\\' => at += 1,
                        _ => {}
                    }
                }
                after_string = true;
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        after_string = false;
    }
    Shape {
        depth: deepest,
        keys,
    }
}

/// Entries of every object in a parsed value, without recursion.
fn entries(value: &Value) -> usize {
    let mut count = 0;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => {
                count += map.len();
                pending.extend(map.values());
            }
            _ => {}
        }
    }
    count
}

/// The nesting depth of a parsed value (a scalar is 0), without recursion.
pub fn value_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 0usize)];
    while let Some((value, depth)) = pending.pop() {
        match value {
            Value::Array(items) => {
                deepest = deepest.max(depth + 1);
                pending.extend(items.iter().map(|v| (v, depth + 1)));
            }
            Value::Object(map) => {
                deepest = deepest.max(depth + 1);
                pending.extend(map.values().map(|v| (v, depth + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// The first key that appears twice in one object of `text` (already known to be valid
/// JSON), shortened for display. Keys compare after unescaping: `"a"` and `"\u0061"` clash.
pub fn duplicate_key(text: &[u8]) -> Option<String> {
    let mut de = serde_json::Deserializer::from_slice(text);
    match de.deserialize_any(Unique) {
        Ok(()) => None,
        Err(e) => Some(
            e.to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_owned(),
        ),
    }
}

/// Walks a document, keeping each object's keys, failing on the first repeated one.
struct Unique;

impl<'de> de::Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Unique).map(|()| Unique)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(())
    }

    // With serde_json's `arbitrary_precision`, a number arrives as a one-entry map too.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                let shown = crate::message::excerpt(&key);
                return Err(de::Error::custom(format!("key `{shown}` appears twice")));
            }
            map.next_value::<Unique>()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_counted_outside_strings() {
        assert_eq!(nesting_depth(br#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(nesting_depth(br#"{"a":"[[[[\"[[[","b":{}}"#), 2);
        assert_eq!(nesting_depth(b"7"), 0);
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(nesting_depth(deep.as_bytes()), 10_000);
        let v: Value = serde_json::from_str(r#"{"a":[1,{"b":[]}],"c":{}}"#).unwrap();
        assert_eq!(value_depth(&v), 4);
        assert_eq!(value_depth(&Value::Null), 0);
    }

    #[test]
    fn a_deep_value_is_measured_without_recursion() {
        let mut v = Value::Null;
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(value_depth(&v), 100_000);
        // Dropping it would recurse; unwrap it level by level instead.
        while let Value::Array(mut items) = v {
            v = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn strict_parsing_counts_keys_to_find_repeats() {
        assert_eq!(scan(br#"{"a" : 1, "b":{"c":[":",{"d":"e"}]}}"#).keys, 4);
        assert_eq!(scan(br#"["a", "b"]"#).keys, 0);
        assert_eq!(scan(br#"{"k\":":1}"#).keys, 1);
        assert!(parse_strict(br#"{"a":1,"b":{"c":[1.50,{"d":2}]}}"#).is_ok());
        for repeated in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"x":[{"k":1,"\u006b":2}]}"#,
            br#"{"o":{"p":{"q":1,"q":1}}}"#,
        ] {
            assert!(
                matches!(parse_strict(repeated), Err(Refusal::DuplicateKey(_))),
                "{}",
                String::from_utf8_lossy(repeated)
            );
        }
        // Fewer entries than keys for another reason: the keyed walk decides, and accepts.
        let number = br#"{"$serde_json::private::Number":"1"}"#;
        assert_eq!(
            parse_strict(number).is_ok(),
            duplicate_key(number).is_none()
        );
    }

    #[test]
    fn repeated_keys_are_found_at_any_level() {
        assert_eq!(duplicate_key(br#"{"a":1,"b":{"c":[1.50,{"d":2}]}}"#), None);
        assert_eq!(
            duplicate_key(br#"{"a":1,"a":2}"#).as_deref(),
            Some("key `a` appears twice")
        );
        assert!(duplicate_key(br#"{"x":[{"k":1,"\u006b":2}]}"#).is_some());
        assert_eq!(duplicate_key(br#"[{"a":1},{"a":1}]"#), None);
    }
}

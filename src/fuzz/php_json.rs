//! `php_json_encode`: never panics, prints valid JSON, and that JSON reads back as the
//! value PHP would hold after `json_decode($text, true)`.

use proptest::prelude::*;
use serde_json::Value;

use super::json;
use crate::sign::php_json::{php_json_encode, PhpJsonError};

/// A value as PHP sees it once decoded into arrays: numbers are integers (when the text is
/// an integer that fits i64) or doubles; objects with keys "0".."n-1" in order are lists.
#[derive(Debug)]
enum Php {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Php>),
    Map(Vec<(String, Php)>),
}

impl PartialEq for Php {
    fn eq(&self, other: &Self) -> bool {
        use Php::*;
        match (self, other) {
            (Null, Null) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            // PHP prints an integral double without a fraction (`1e3` → `1000`), which
            // then reads back as an integer: the same number.
            (Float(a), Float(b)) => a == b,
            (Int(i), Float(f)) | (Float(f), Int(i)) => *i as f64 == *f,
            (Str(a), Str(b)) => a == b,
            (List(a), List(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            _ => false,
        }
    }
}

fn php(value: &Value) -> Php {
    match value {
        Value::Null => Php::Null,
        Value::Bool(b) => Php::Bool(*b),
        Value::Number(n) => {
            let text = n.as_str();
            match text.parse::<i64>() {
                Ok(i) if !text.contains(['.', 'e', 'E']) => Php::Int(i),
                _ => Php::Float(text.parse().unwrap_or(f64::NAN)),
            }
        }
        Value::String(s) => Php::Str(s.clone()),
        Value::Array(items) => Php::List(items.iter().map(php).collect()),
        Value::Object(map) => {
            let is_list = map.keys().enumerate().all(|(i, k)| *k == i.to_string());
            if is_list {
                Php::List(map.values().map(php).collect())
            } else {
                Php::Map(map.iter().map(|(k, v)| (k.clone(), php(v))).collect())
            }
        }
    }
}

fn has_non_finite(value: &Value) -> bool {
    match value {
        Value::Number(n) => !n.as_str().parse::<f64>().is_ok_and(f64::is_finite),
        Value::Array(items) => items.iter().any(has_non_finite),
        Value::Object(map) => map.values().any(has_non_finite),
        _ => false,
    }
}

proptest! {
    #[test]
    fn encodes_to_json_that_reads_back_as_php_would_hold_it(value in json()) {
        let mut out = String::new();
        match php_json_encode(&value, &mut out) {
            Ok(()) => {
                prop_assert!(!has_non_finite(&value));
                let back: Value = serde_json::from_str(&out)
                    .map_err(|e| TestCaseError::fail(format!("{e}: {out}")))?;
                prop_assert_eq!(php(&back), php(&value), "printed {}", out);
                let raw_control = out.chars().any(|c| c < ' ' || c == '\u{2028}' || c == '\u{2029}');
                prop_assert!(!raw_control, "controls are escaped: {:?}", out);
            }
            Err(PhpJsonError::NonFiniteNumber(_)) => prop_assert!(has_non_finite(&value)),
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
    }
}

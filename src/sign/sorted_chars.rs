//! `sorted-chars-md5` signer (商战网络, seed 001; SPEC §3.2).
//!
//! `sign = lower(md5(sort_by_code_point(chars(json)) + secret))`, where `json` is the body
//! minus its sign field, serialised exactly as the provider's PHP receiver would:
//! `json_encode(json_decode($body, true) minus sign, 320)`. (The seed's sample passes the
//! raw body string to `getSign`, which cannot work; a decoded associative array, as PHP
//! frameworks hand over, is the assumption here.) Any byte we print differently
//! from PHP changes the hash, so the encoder mirrors PHP 8's `json_encode` rather than
//! serde_json's serialiser:
//!
//! * Strings: `"` `\` escaped; `\b \f \n \r \t`; other controls below U+0020 as `\u00xx`
//!   (lowercase hex); U+2028/U+2029 as `\u2028`/`\u2029` (PHP ≥ 7.1 without
//!   `JSON_UNESCAPED_LINE_TERMINATORS`). Everything else raw: `/`, non-ASCII, emoji, DEL.
//! * Integers that fit in `i64` are printed as integers (`-0` → `0`). Anything else
//!   (a fraction, an exponent, or an integer outside `i64`) becomes a PHP float and is
//!   printed the way PHP does with `serialize_precision = -1` and no
//!   `JSON_PRESERVE_ZERO_FRACTION`: shortest round-trip digits, no `.0` on integral
//!   values (`10.0` → `10`, `0.10` → `0.1`, `1e3` → `1000`, `-0.0` → `-0`), and
//!   exponent form `d.ddde±x` only when the value is below 1e-4 or at least 1e17
//!   (`0.00001` → `1.0e-5`, `9223372036854775808` → `9.223372036854776e+18`).
//!   A number that overflows a double (`1e400`) makes PHP's `json_encode` fail, so it
//!   is an error here instead of a signature over an empty string.
//! * Objects: `json_decode(.., true)` turns them into PHP arrays, so an object whose
//!   keys are exactly `"0","1",…,"n-1"` in that order, and in particular the empty
//!   object `{}`, comes back out as a JSON list: `{}` → `[]`, `{"0":"a"}` → `["a"]`.
//!   This also applies to the top-level field set after the sign field is removed.
//!
//! Code-point order equals PHP's `sort()` of the UTF-8 characters: single characters
//! compare bytewise (digits numerically, which is the same order).
//! The expected strings in the tests came from PHP 8.2.36's `json_encode(.., 320)`, and
//! the float printing matched PHP on ~320k random doubles during development.

use md5::{Digest, Md5};
use serde_json::{Map, Value};

use super::explain::{Canonical, Part};
use crate::secret::Secret;
use std::fmt::Write as _;
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error)]
pub enum SortedCharsError {
    #[error("body is not a JSON object")]
    NotAnObject,
    #[error("number {0} overflows a PHP float; PHP's json_encode would fail on it")]
    NonFiniteNumber(String),
    /// PHP's own `json_encode` depth limit is 512; ours is lower, and keeps the stack safe.
    #[error("the fields nest deeper than {} levels", crate::json::MAX_DEPTH)]
    TooDeep,
}

/// The signable field set of a received or outgoing body.
pub fn fields(body: &Value) -> Result<&Map<String, Value>, SortedCharsError> {
    body.as_object().ok_or(SortedCharsError::NotAnObject)
}

/// Appends `value` to `out` as PHP's `json_encode(json_decode($v, true), 320)` prints it.
/// Values nested deeper than [`crate::json::MAX_DEPTH`] are refused, not recursed into.
pub fn php_json_encode(value: &Value, out: &mut String) -> Result<(), SortedCharsError> {
    encode(value, 0, out)
}

/// `depth` is how many arrays and objects enclose `value`.
fn encode(value: &Value, depth: usize, out: &mut String) -> Result<(), SortedCharsError> {
    let inner = depth + 1;
    if matches!(value, Value::Array(_) | Value::Object(_)) && inner > crate::json::MAX_DEPTH {
        return Err(SortedCharsError::TooDeep);
    }
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => php_number(&n.to_string(), out)?,
        Value::String(s) => php_string(s, out),
        Value::Array(items) => php_list(items.iter(), inner, out)?,
        Value::Object(map) => php_array(map.iter(), inner, out)?,
    }
    Ok(())
}

/// The exact string that is hashed: the sorted characters followed by `secret`.
pub fn string_to_sign(
    fields: &Map<String, Value>,
    sign_field: &str,
    secret: &str,
) -> Result<String, SortedCharsError> {
    let mut s = sorted_chars(fields, sign_field)?;
    s.push_str(secret);
    Ok(s)
}

/// [`string_to_sign`] in parts, for `verify --explain`.
pub fn canonical(
    fields: &Map<String, Value>,
    sign_field: &str,
    secret: &Secret,
) -> Result<Canonical, SortedCharsError> {
    Ok(Canonical::new(vec![
        Part::Data(sorted_chars(fields, sign_field)?),
        Part::Secret(secret.clone()),
    ]))
}

/// The PHP JSON text of the fields minus the sign, its characters sorted by code point.
fn sorted_chars(fields: &Map<String, Value>, sign_field: &str) -> Result<String, SortedCharsError> {
    let mut json = String::new();
    php_array(
        fields.iter().filter(|(k, _)| *k != sign_field),
        1,
        &mut json,
    )?;
    let mut chars: Vec<char> = json.chars().collect();
    chars.sort_unstable();
    Ok(chars.into_iter().collect())
}

/// Lowercase hex md5 of [`string_to_sign`].
pub fn sign(
    fields: &Map<String, Value>,
    sign_field: &str,
    secret: &str,
) -> Result<String, SortedCharsError> {
    let s = string_to_sign(fields, sign_field, secret)?;
    Ok(hex::encode(Md5::digest(s.as_bytes())))
}

/// True when `fields[sign_field]` is a string equal to [`sign`]. Case-sensitive, like the
/// seed's PHP receiver; a missing or non-string sign, or an unsignable body, is false.
pub fn verify(fields: &Map<String, Value>, sign_field: &str, secret: &str) -> bool {
    let Some(Value::String(given)) = fields.get(sign_field) else {
        return false;
    };
    match sign(fields, sign_field, secret) {
        Ok(expected) => expected.as_bytes().ct_eq(given.as_bytes()).into(),
        Err(_) => false,
    }
}

/// [`string_to_sign`] with `mask` in place of the secret; safe to print or log because
/// the secret is only ever appended after the sorted characters, never mixed into them.
pub fn explain(
    fields: &Map<String, Value>,
    sign_field: &str,
    mask: &str,
) -> Result<String, SortedCharsError> {
    string_to_sign(fields, sign_field, mask)
}

/// `depth` counts this list.
fn php_list<'a>(
    items: impl Iterator<Item = &'a Value>,
    depth: usize,
    out: &mut String,
) -> Result<(), SortedCharsError> {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        encode(item, depth, out)?;
    }
    out.push(']');
    Ok(())
}

/// A JSON object after a round trip through a PHP associative array.
fn php_array<'a, I>(entries: I, depth: usize, out: &mut String) -> Result<(), SortedCharsError>
where
    I: Iterator<Item = (&'a String, &'a Value)> + Clone,
{
    // PHP stores the key "3" as the integer 3, and json_encode prints any array whose
    // keys are 0..n in order as a list; "03" or "+3" stay string keys.
    let is_list = entries
        .clone()
        .enumerate()
        .all(|(i, (k, _))| *k == i.to_string());
    if is_list {
        return php_list(entries.map(|(_, v)| v), depth, out);
    }
    out.push('{');
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        php_string(k, out);
        out.push(':');
        encode(v, depth, out)?;
    }
    out.push('}');
    Ok(())
}

fn php_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0}'..='\u{1f}' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// `text` is the literal as received (serde_json's `arbitrary_precision` keeps it).
fn php_number(text: &str, out: &mut String) -> Result<(), SortedCharsError> {
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(i) = text.parse::<i64>() {
            let _ = write!(out, "{i}");
            return Ok(());
        }
    }
    let f: f64 = text
        .parse()
        .map_err(|_| SortedCharsError::NonFiniteNumber(text.to_owned()))?;
    if !f.is_finite() {
        return Err(SortedCharsError::NonFiniteNumber(text.to_owned()));
    }
    php_float(f, out);
    Ok(())
}

/// PHP's `php_gcvt(f, 17, '.', 'e')` over the shortest round-trip digits.
fn php_float(f: f64, out: &mut String) {
    if f.is_sign_negative() {
        out.push('-');
    }
    if f == 0.0 {
        out.push('0');
        return;
    }
    // zend_dtoa mode 0 picks, among the shortest round-trip digit strings, the one
    // nearest to `f`; Rust's `{:e}` gives the shortest length but not always the
    // nearest last digit (…775.3 for …775.2), so re-round to that length exactly.
    let shortest = format!("{:e}", f.abs());
    let len = shortest.find('e').expect("LowerExp has an exponent");
    let precision = len.saturating_sub(2); // "d.ddd" has len - 2 fraction digits
    let nearest = format!("{:.*e}", precision, f.abs());
    let sci = if nearest.parse() == Ok(f.abs()) {
        nearest
    } else {
        shortest
    };
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("LowerExp always has an exponent");
    let digits = mantissa.replace('.', "");
    // Position of the decimal point relative to the digits, as zend_dtoa reports it.
    let decpt = exp.parse::<i32>().expect("LowerExp exponent is an integer") + 1;
    if !(-3..=17).contains(&decpt) {
        let (first, rest) = digits.split_at(1);
        let sign = if decpt > 0 { '+' } else { '-' };
        let rest = if rest.is_empty() { "0" } else { rest };
        let _ = write!(out, "{first}.{rest}e{sign}{}", (decpt - 1).abs());
    } else if decpt <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', decpt.unsigned_abs() as usize));
        out.push_str(&digits);
    } else {
        let decpt = decpt as usize;
        if digits.len() <= decpt {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', decpt - digits.len()));
        } else {
            let _ = write!(out, "{}.{}", &digits[..decpt], &digits[decpt..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    fn enc(json: &str) -> String {
        let mut out = String::new();
        php_json_encode(&serde_json::from_str(json).unwrap(), &mut out).unwrap();
        out
    }

    #[test]
    fn seed_001_example() {
        let f = obj(
            r#"{"orderno":"B2C2208041455471000499115","customer_order_no":"42ertdgsfsfsf","status":"failed"}"#,
        );
        let secret = "538bdb67540d81fabaab1ef3d26f6257";
        // The seed's "string before md5", without its claimed leading space (SPEC §3.2).
        let expected = concat!(
            r#""""""""""""",,0000011112222444445557899:::BC__aacddddeeeeeffff"#,
            "gilmnnooooorrrrrrssssssttttuu{}538bdb67540d81fabaab1ef3d26f6257"
        );
        assert_eq!(string_to_sign(&f, "sign", secret).unwrap(), expected);
        assert_eq!(
            sign(&f, "sign", secret).unwrap(),
            "a118bd1cfd00f92d5452121fb3d26c73"
        );
    }

    // Pairs of lines: an input, then what PHP 8.2.36 printed for
    // `json_encode(json_decode($input, true), 320)`. `//` lines are comments.
    const PHP_CASES: &str = r#"
{"name":"张三/李四","url":"https://a.example/x?y=1&z=<2>"}
{"name":"张三/李四","url":"https://a.example/x?y=1&z=<2>"}
"say \"hi\" C:\\dir \ud83d\ude00 \u2028\u2029 é\n\u0001\u001f\t\b\f\r"
"say \"hi\" C:\\dir 😀 \u2028\u2029 é\n\u0001\u001f\t\b\f\r"
[1,-5,0,-0,10.0,0.10,1e3,1E+2,-2.50,1.5e-7,0.0001,0.00001,1e-400,3.0000000000000004]
[1,-5,0,0,10,0.1,1000,100,-2.5,1.5e-7,0.0001,1.0e-5,0,3.0000000000000004]
// …775.2 and …775.3 both round-trip; PHP takes the nearer one.
[-0.0,1e16,1e17,-1267860061485775.2,123456789012345678,9223372036854775807]
[-0,10000000000000000,1.0e+17,-1267860061485775.2,123456789012345678,9223372036854775807]
[9223372036854775808,-9223372036854775808,-9223372036854775809,18446744073709551615]
[9.223372036854776e+18,-9223372036854775808,-9.223372036854776e+18,1.8446744073709552e+19]
[true,false,null,"",{},[],{"a":{}},[[]]]
[true,false,null,"",[],[],{"a":[]},[[]]]
{"orderno":"B1","card":[{"card_type":1,"card_no":"No.1"},{"card_type":2,"card_password":"密码"}]}
{"orderno":"B1","card":[{"card_type":1,"card_no":"No.1"},{"card_type":2,"card_password":"密码"}]}
{"0":"a","1":"b","x":{"0":"c"}}
{"0":"a","1":"b","x":["c"]}
{"1":"a","0":"b","00":"c","-0":"d"}
{"1":"a","0":"b","00":"c","-0":"d"}
{"0":"a","2":"b"}
{"0":"a","2":"b"}
"#;

    #[test]
    fn encodes_like_php_json_encode_320() {
        let mut lines = PHP_CASES
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with("//"));
        while let (Some(input), Some(php)) = (lines.next(), lines.next()) {
            assert_eq!(enc(input), php, "input: {input}");
        }
        // DEL is not a JSON control character: PHP leaves it raw.
        assert_eq!(enc(r#""a\u007fb""#), "\"a\u{7f}b\"");
    }

    #[test]
    fn overflowing_number_is_an_error() {
        let mut out = String::new();
        let v: Value = serde_json::from_str("[1e400]").unwrap();
        // serde_json normalises the literal's exponent to `1e+400`; only the kind matters.
        assert!(matches!(
            php_json_encode(&v, &mut out),
            Err(SortedCharsError::NonFiniteNumber(_))
        ));
        assert!(!verify(&obj(r#"{"a":1e400,"sign":"x"}"#), "sign", "k"));
    }

    // Expected values from the seed's PHP getSign() run on PHP 8.2.36.
    #[test]
    fn rich_body_matches_php_get_sign() {
        let f = obj(
            r#"{"orderno":"Api2020123012121232234","customer_order_no":"2020123012121232234","card":[{"card_type":1,"card_no":"卡号/No.1","card_password":"p\"w","card_rect":""},{"card_type":4,"card_no":"https://x.example/c?id=1","card_password":"","card_rect":"赠品😀"}],"amount":10.0,"rate":0.10,"note":"a\u2028b\nc","status":"success","sign":"0bcf574f07798623a2d380ceb602fc3d"}"#,
        );
        let secret = "995f731ba29dc9ffece09e4c346e3900";
        assert_eq!(
            sign(&f, "sign", secret).unwrap(),
            "0bcf574f07798623a2d380ceb602fc3d"
        );
        assert!(verify(&f, "sign", secret));
        assert!(!verify(&f, "sign", "wrong-secret"));

        let masked = explain(&f, "sign", "***").unwrap();
        assert!(masked.ends_with("卡号品赠😀***"), "{masked}");
        assert!(!masked.contains(secret));
    }

    #[test]
    fn top_level_list_rule_applies_after_removing_sign() {
        // PHP: unset($p['sign']) leaves keys 0,1 → json_encode prints a list.
        let f = obj(r#"{"0":"a","sign":"x","1":"b"}"#);
        assert_eq!(string_to_sign(&f, "sign", "").unwrap(), r#""""",[]ab"#);
        assert_eq!(
            sign(&f, "sign", "k").unwrap(),
            "845c31c633297255ccdd536d172a14a7"
        );
    }

    #[test]
    fn verify_rejects_missing_tampered_or_uppercase_sign() {
        let secret = "538bdb67540d81fabaab1ef3d26f6257";
        let good = r#"{"orderno":"B2C2208041455471000499115","customer_order_no":"42ertdgsfsfsf","status":"failed","sign":"a118bd1cfd00f92d5452121fb3d26c73"}"#;
        let ok = |body: &str| verify(&obj(body), "sign", secret);
        assert!(ok(good));
        assert!(!ok(&good.replace("failed", "success")));
        assert!(!ok(&good.replace("a118bd1c", "A118BD1C")));
        assert!(!ok(r#"{"status":"failed"}"#));
        assert!(!ok(r#"{"status":"failed","sign":1}"#));
    }

    #[test]
    fn nesting_is_bounded_without_recursing_past_it() {
        let nest = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        let mut out = String::new();
        let ok: Value = serde_json::from_str(&nest(crate::json::MAX_DEPTH)).unwrap();
        php_json_encode(&ok, &mut out).unwrap();
        assert_eq!(out, nest(crate::json::MAX_DEPTH));
        let deep: Value = serde_json::from_str(&nest(crate::json::MAX_DEPTH + 1)).unwrap();
        assert!(matches!(
            php_json_encode(&deep, &mut String::new()),
            Err(SortedCharsError::TooDeep)
        ));
        // The field set is itself the first level.
        let f = obj(&format!(r#"{{"a":{}}}"#, nest(crate::json::MAX_DEPTH - 1)));
        assert!(string_to_sign(&f, "sign", "").is_ok());
        let f = obj(&format!(r#"{{"a":{}}}"#, nest(crate::json::MAX_DEPTH)));
        assert!(matches!(
            string_to_sign(&f, "sign", ""),
            Err(SortedCharsError::TooDeep)
        ));
    }

    #[test]
    fn fields_requires_an_object() {
        assert!(fields(&serde_json::json!({"a": 1})).is_ok());
        assert!(matches!(
            fields(&serde_json::json!([1])),
            Err(SortedCharsError::NotAnObject)
        ));
    }
}

//! PHP 8's `json_encode($value, 320)` (`JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES`)
//! after `json_decode($body, true)`, byte for byte: what `sorted-chars-md5` sorts and hashes.
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
//!
//! The expected strings in the tests came from PHP 8.2.36's `json_encode(.., 320)`, and
//! the float printing matched PHP on ~320k random doubles during development.

use serde_json::Value;
use std::fmt::Write as _;

/// Why a value has no PHP JSON text.
#[derive(Debug, thiserror::Error)]
pub enum PhpJsonError {
    #[error("number {0} overflows a PHP float; PHP's json_encode would fail on it")]
    NonFiniteNumber(String),
    /// PHP's own `json_encode` depth limit is 512; ours is lower, and keeps the stack safe.
    #[error("the fields nest deeper than {} levels", crate::json::MAX_DEPTH)]
    TooDeep,
}

/// Appends `value` to `out` as PHP's `json_encode(json_decode($v, true), 320)` prints it.
/// Values nested deeper than [`crate::json::MAX_DEPTH`] are refused, not recursed into.
pub fn php_json_encode(value: &Value, out: &mut String) -> Result<(), PhpJsonError> {
    encode(value, 0, out)
}

/// `depth` is how many arrays and objects enclose `value`.
fn encode(value: &Value, depth: usize, out: &mut String) -> Result<(), PhpJsonError> {
    let inner = depth + 1;
    if matches!(value, Value::Array(_) | Value::Object(_)) && inner > crate::json::MAX_DEPTH {
        return Err(PhpJsonError::TooDeep);
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

/// `depth` counts this list.
fn php_list<'a>(
    items: impl Iterator<Item = &'a Value>,
    depth: usize,
    out: &mut String,
) -> Result<(), PhpJsonError> {
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
pub(super) fn php_array<'a, I>(
    entries: I,
    depth: usize,
    out: &mut String,
) -> Result<(), PhpJsonError>
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
fn php_number(text: &str, out: &mut String) -> Result<(), PhpJsonError> {
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(i) = text.parse::<i64>() {
            let _ = write!(out, "{i}");
            return Ok(());
        }
    }
    let f: f64 = text
        .parse()
        .map_err(|_| PhpJsonError::NonFiniteNumber(text.to_owned()))?;
    if !f.is_finite() {
        return Err(PhpJsonError::NonFiniteNumber(text.to_owned()));
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

    fn enc(json: &str) -> String {
        let mut out = String::new();
        php_json_encode(&serde_json::from_str(json).unwrap(), &mut out).unwrap();
        out
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
            Err(PhpJsonError::NonFiniteNumber(_))
        ));
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
            Err(PhpJsonError::TooDeep)
        ));
    }
}

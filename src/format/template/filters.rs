//! Filters brand templates need: exact JSON, Shanghai times, fen/yuan amounts.
//!
//! | filter | in | out |
//! |---|---|---|
//! | `tojson` | any | JSON text, emitted as is (replaces minijinja's, which HTML-escapes `<>&'`) |
//! | `json_string` | any | JSON text as a string value, so `{{ }}` quotes it: a field holding JSON |
//! | `as_number` | number or numeric string | a bare JSON number, text unchanged (`"10.50"` → `10.50`) |
//! | `merge(other)` | map | a new map: ours, then `other`'s keys (which win, keeping our position) |
//! | `shanghai_compact(unit="ms")` | epoch ms (or `"s"`) | `yyyyMMddHHmmss` in Asia/Shanghai |
//! | `shanghai_datetime(unit="ms")` | epoch ms (or `"s"`) | `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai |
//! | `epoch_s` / `epoch_ms` | epoch ms / epoch s | epoch s (floored) / epoch ms, integers |
//! | `fen_to_yuan` | integer fen | yuan string with two decimals: `1005` → `"10.05"`, `-5` → `"-0.05"` |
//! | `yuan_to_fen` | yuan, number or string | integer fen: `"10.5"` → `1050`; refuses `"10.055"` |
//!
//! Epochs and amounts may be integers or strings of digits. Amounts are done on decimal
//! text and integers, never floats. Error messages name the filter and the expected input,
//! never the value: messages can be large and hold codes that must not reach the logs.
//! The time filters live in `time.rs`, which also says why a fixed UTC+8 is exact.

use minijinja::value::ValueKind;
use minijinja::{Environment, Error, ErrorKind, Value};

use super::time;
use super::values::{number_from_text, number_text, to_json};

/// Adds every filter above to `env`.
///
/// Each passes an undefined input (a field the message lacks) through unchanged rather than
/// failing on it: a delivery's render then refuses it where it is written, naming the field,
/// and the start-up check, where it stands for a field the samples lack, writes a stand-in.
pub fn register(env: &mut Environment<'static>) {
    env.add_filter("tojson", passing(tojson));
    env.add_filter("json_string", passing(json_string));
    env.add_filter("as_number", passing(as_number));
    env.add_filter("merge", passing_with_value(merge));
    env.add_filter(
        "shanghai_compact",
        passing_with_unit(time::shanghai_compact),
    );
    env.add_filter(
        "shanghai_datetime",
        passing_with_unit(time::shanghai_datetime),
    );
    env.add_filter("epoch_s", passing(time::epoch_s));
    env.add_filter("epoch_ms", passing(time::epoch_ms));
    env.add_filter("fen_to_yuan", passing(fen_to_yuan));
    env.add_filter("yuan_to_fen", passing(yuan_to_fen));
}

type Filtered = Result<Value, Error>;

fn passing<R: Into<Value> + 'static>(
    filter: fn(&Value) -> Result<R, Error>,
) -> impl Fn(&Value) -> Filtered + Send + Sync + 'static {
    move |value| match value.is_undefined() {
        true => Ok(Value::UNDEFINED),
        false => filter(value).map(Into::into),
    }
}

fn passing_with_unit(
    filter: fn(&Value, Option<&str>) -> Result<String, Error>,
) -> impl Fn(&Value, Option<&str>) -> Filtered + Send + Sync + 'static {
    move |value, unit| match value.is_undefined() {
        true => Ok(Value::UNDEFINED),
        false => filter(value, unit).map(Into::into),
    }
}

fn passing_with_value(
    filter: fn(&Value, &Value) -> Filtered,
) -> impl Fn(&Value, &Value) -> Filtered + Send + Sync + 'static {
    move |value, other| match value.is_undefined() || other.is_undefined() {
        true => Ok(Value::UNDEFINED),
        false => filter(value, other),
    }
}

pub(super) fn invalid(message: &'static str) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

fn tojson(value: &Value) -> Result<Value, Error> {
    to_json(value).map(Value::from_safe_string)
}

fn json_string(value: &Value) -> Result<String, Error> {
    to_json(value)
}

fn as_number(value: &Value) -> Result<Value, Error> {
    let number = match value.as_str() {
        Some(text) => number_from_text(text),
        None => number_text(value).is_some().then(|| value.clone()),
    };
    number.ok_or_else(|| invalid("as_number: expected a number or a string holding a JSON number"))
}

fn merge(ours: &Value, theirs: &Value) -> Result<Value, Error> {
    if ours.kind() != ValueKind::Map || theirs.kind() != ValueKind::Map {
        return Err(invalid("merge: both sides must be maps"));
    }
    let mut pairs = Vec::new();
    for map in [ours, theirs] {
        for key in map.try_iter()? {
            let item = map.get_item(&key)?;
            pairs.push((key, item));
        }
    }
    // minijinja's map is an IndexMap: a repeated key keeps its first position, last value.
    Ok(pairs.into_iter().collect())
}

/// The decimal text of an integer-like value: a native integer or a string of digits.
pub(super) fn integer_text(value: &Value) -> Option<String> {
    let text = match value.as_str() {
        Some(s) => s.to_owned(),
        None if value.is_integer() => value.to_string(),
        None => return None,
    };
    let digits = text.strip_prefix('-').unwrap_or(&text);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(text)
}

fn fen_to_yuan(value: &Value) -> Result<String, Error> {
    let text = integer_text(value)
        .ok_or_else(|| invalid("fen_to_yuan: expected integer fen (a number or digits)"))?;
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let digits = digits.trim_start_matches('0');
    let padded = format!("{digits:0>3}");
    let (yuan, fen) = padded.split_at(padded.len() - 2);
    let sign = if negative && !digits.is_empty() {
        "-"
    } else {
        ""
    };
    Ok(format!("{sign}{yuan}.{fen}"))
}

fn yuan_to_fen(value: &Value) -> Result<Value, Error> {
    const EXPECTED: &str = "yuan_to_fen: expected a plain decimal amount in yuan";
    let text = match value.as_str() {
        Some(s) => s.to_owned(),
        None => number_text(value).ok_or_else(|| invalid(EXPECTED))?,
    };
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (whole, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let frac_ok = !unsigned.ends_with('.') && is_digits(frac);
    if whole.is_empty() || !is_digits(whole) || !frac_ok {
        return Err(invalid(EXPECTED));
    }
    // Zeros past the fen are exact ("10.050"); any other digit there would be rounded away.
    let (fen_digits, rest) = frac.split_at(frac.len().min(2));
    if rest.bytes().any(|b| b != b'0') {
        return Err(invalid("yuan_to_fen: more than two decimal places"));
    }
    let out_of_range = || invalid("yuan_to_fen: amount out of range");
    let whole: i128 = whole.parse().map_err(|_| out_of_range())?;
    let fen: i128 = format!("{fen_digits:0<2}")
        .parse()
        .map_err(|_| out_of_range())?;
    let total = whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(fen))
        .ok_or_else(out_of_range)?;
    let total = if negative { -total } else { total };
    Ok(i64::try_from(total).map_or_else(|_| Value::from(total), Value::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::template::values::from_number;

    fn num(text: &str) -> Value {
        from_number(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn fen_to_yuan_edges() {
        for (fen, yuan) in [
            (Value::from(1005), "10.05"),
            (Value::from(5), "0.05"),
            (Value::from(-5), "-0.05"),
            (Value::from(0), "0.00"),
            (Value::from(100), "1.00"),
            (Value::from(-120), "-1.20"),
            (Value::from("0007"), "0.07"),
            (Value::from("-0"), "0.00"),
            (num("12345678901234567890"), "123456789012345678.90"),
            (
                Value::from("123456789012345678901234567890123456789012"),
                "1234567890123456789012345678901234567890.12",
            ),
        ] {
            assert_eq!(fen_to_yuan(&fen).unwrap(), yuan, "{fen:?}");
        }
        for bad in [
            num("10.5"),
            Value::from("10.5"),
            Value::from(""),
            Value::from("-"),
            Value::from("+5"),
            Value::from(()),
            Value::from(true),
            num("1e3"),
        ] {
            assert!(fen_to_yuan(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn yuan_to_fen_edges() {
        for (yuan, fen) in [
            (Value::from("10.05"), 1005),
            (Value::from("10.5"), 1050),
            (Value::from("10"), 1000),
            (Value::from("0.01"), 1),
            (Value::from("-0.05"), -5),
            (Value::from("-0.00"), 0),
            (Value::from("10.050"), 1005),
            (num("0.10"), 10),
            (Value::from(7), 700),
            (Value::from(10.25), 1025),
        ] {
            assert_eq!(yuan_to_fen(&yuan).unwrap().as_i64(), Some(fen), "{yuan:?}");
        }
        let big = yuan_to_fen(&Value::from("123456789012345678901.23")).unwrap();
        assert_eq!(big.to_string(), "12345678901234567890123");
        for bad in [
            "10.055", "10.001", "", "-", ".5", "10.", "1e3", "+1", "1,5", " 1", "abc", "1.2.3",
        ] {
            assert!(yuan_to_fen(&Value::from(bad)).is_err(), "{bad:?}");
        }
        assert!(yuan_to_fen(&Value::from(0.1 + 0.2)).is_err());
        assert!(yuan_to_fen(&Value::from(())).is_err());
        let huge = "9".repeat(40);
        assert!(yuan_to_fen(&Value::from(huge)).is_err());
    }

    #[test]
    fn merge_keeps_order_and_lets_the_right_side_win() {
        let ours: Value = [("b", Value::from(1)), ("a", Value::from(2))]
            .into_iter()
            .collect();
        let theirs: Value = [("c", Value::from(3)), ("b", num("0.10"))]
            .into_iter()
            .collect();
        let merged = merge(&ours, &theirs).unwrap();
        assert_eq!(to_json(&merged).unwrap(), r#"{"b":0.10,"a":2,"c":3}"#);
        assert!(merge(&ours, &Value::from(1)).is_err());
    }

    #[test]
    fn as_number_validates_and_keeps_text() {
        assert_eq!(
            to_json(&as_number(&Value::from("10.50")).unwrap()).unwrap(),
            "10.50"
        );
        assert_eq!(to_json(&as_number(&num("0.10")).unwrap()).unwrap(), "0.10");
        assert_eq!(as_number(&Value::from(3)).unwrap().as_i64(), Some(3));
        assert!(as_number(&Value::from("1; DROP")).is_err());
        assert!(as_number(&Value::from(())).is_err());
    }
}

//! Epoch and Asia/Shanghai wall-clock filters: `shanghai_compact`, `shanghai_datetime`,
//! `epoch_s`, `epoch_ms`.
//!
//! Asia/Shanghai is a fixed UTC+8 here, so no time-zone database is needed: the IANA zone has
//! been UTC+8 without daylight saving since September 1991 (China used DST 1986–1991), and
//! the times a notification carries are current ones. Dates are proleptic Gregorian.

use minijinja::{Error, Value};

use super::filters::{integer_text, invalid};

const SHANGHAI_OFFSET_S: i64 = 8 * 3600;

fn epoch_integer(value: &Value, filter: &'static str) -> Result<i64, Error> {
    integer_text(value)
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| invalid(filter))
}

fn epoch_seconds(value: &Value, unit: Option<&str>, filter: &'static str) -> Result<i64, Error> {
    let n = epoch_integer(value, filter)?;
    match unit.unwrap_or("ms") {
        "ms" => Ok(n.div_euclid(1000)),
        "s" => Ok(n),
        _ => Err(invalid("shanghai_*: unit must be \"ms\" or \"s\"")),
    }
}

/// Calendar fields in Asia/Shanghai: (year, month, day, hour, minute, second).
fn shanghai_fields(epoch_s: i64) -> Result<[i64; 6], Error> {
    let local = epoch_s
        .checked_add(SHANGHAI_OFFSET_S)
        .ok_or_else(|| invalid("shanghai_*: time out of range"))?;
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return Err(invalid("shanghai_*: year outside 0000-9999"));
    }
    Ok([y, m, d, secs / 3600, secs % 3600 / 60, secs % 60])
}

/// Howard Hinnant's `civil_from_days`: proleptic Gregorian date of a day count from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

const EPOCH_EXPECTED: &str = "shanghai_*: expected an epoch as an integer or a string of digits";

pub(super) fn shanghai_compact(value: &Value, unit: Option<&str>) -> Result<String, Error> {
    let [y, mo, d, h, mi, s] = shanghai_fields(epoch_seconds(value, unit, EPOCH_EXPECTED)?)?;
    Ok(format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}"))
}

pub(super) fn shanghai_datetime(value: &Value, unit: Option<&str>) -> Result<String, Error> {
    let [y, mo, d, h, mi, s] = shanghai_fields(epoch_seconds(value, unit, EPOCH_EXPECTED)?)?;
    Ok(format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"))
}

pub(super) fn epoch_s(value: &Value) -> Result<i64, Error> {
    let ms = epoch_integer(value, "epoch_s: expected epoch ms as an integer or digits")?;
    Ok(ms.div_euclid(1000))
}

pub(super) fn epoch_ms(value: &Value) -> Result<i64, Error> {
    epoch_integer(value, "epoch_ms: expected epoch s as an integer or digits")?
        .checked_mul(1000)
        .ok_or_else(|| invalid("epoch_ms: time out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::template::values::from_number;

    fn num(text: &str) -> Value {
        from_number(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn shanghai_formats() {
        // 2024-09-26 04:22:03 UTC is 12:22:03 in Shanghai.
        let ms = Value::from(1_727_324_523_000_i64);
        assert_eq!(shanghai_compact(&ms, None).unwrap(), "20240926122203");
        assert_eq!(
            shanghai_datetime(&ms, Some("ms")).unwrap(),
            "2024-09-26 12:22:03"
        );
        let s = Value::from("1727324523");
        assert_eq!(
            shanghai_datetime(&s, Some("s")).unwrap(),
            "2024-09-26 12:22:03"
        );
        // 16:00 UTC is already tomorrow in Shanghai, across a year and a leap day.
        let new_year = Value::from(1_735_660_800_i64); // 2024-12-31T16:00:00Z
        assert_eq!(
            shanghai_compact(&new_year, Some("s")).unwrap(),
            "20250101000000"
        );
        let leap = Value::from(951_782_400_i64); // 2000-02-29T00:00:00Z
        assert_eq!(
            shanghai_datetime(&leap, Some("s")).unwrap(),
            "2000-02-29 08:00:00"
        );
        assert_eq!(
            shanghai_datetime(&Value::from(0), None).unwrap(),
            "1970-01-01 08:00:00"
        );
        // Before the epoch: floored, not truncated.
        let before = Value::from(-1);
        assert_eq!(
            shanghai_datetime(&before, None).unwrap(),
            "1970-01-01 07:59:59"
        );
        for bad in [
            Value::from("1.5"),
            Value::from(""),
            num("1.7e12"),
            Value::from(()),
        ] {
            assert!(shanghai_compact(&bad, None).is_err(), "{bad:?}");
        }
        assert!(shanghai_compact(&ms, Some("us")).is_err());
        assert!(shanghai_compact(&Value::from(i64::MAX), Some("s")).is_err());
        assert!(shanghai_compact(&Value::from(253_402_271_999_i64 + 1), Some("s")).is_err());
    }

    #[test]
    fn epoch_conversions() {
        assert_eq!(
            epoch_s(&Value::from(1_727_324_523_999_i64)).unwrap(),
            1_727_324_523
        );
        assert_eq!(epoch_s(&Value::from("-1")).unwrap(), -1);
        assert_eq!(
            epoch_ms(&Value::from("1727324523")).unwrap(),
            1_727_324_523_000
        );
        assert!(epoch_ms(&Value::from(i64::MAX)).is_err());
        assert!(epoch_s(&Value::from("12a")).is_err());
    }
}

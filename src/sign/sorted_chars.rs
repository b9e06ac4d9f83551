//! `sorted-chars-md5` signer (商战网络, seed 001; SPEC §3.2).
//!
//! `sign = lower(md5(sort_by_code_point(chars(json)) + secret))`, where `json` is the body
//! minus its sign field, serialised exactly as the provider's PHP receiver would:
//! `json_encode(json_decode($body, true) minus sign, 320)`. (The seed's sample passes the
//! raw body string to `getSign`, which cannot work; a decoded associative array, as PHP
//! frameworks hand over, is the assumption here.) Any byte we print differently
//! from PHP changes the hash, so the encoder ([`super::php_json`]) mirrors PHP 8's
//! `json_encode` rather than serde_json's serialiser.
//!
//! Code-point order equals PHP's `sort()` of the UTF-8 characters: single characters
//! compare bytewise (digits numerically, which is the same order).
//! The expected signatures in the tests came from the seed's PHP `getSign()` on PHP 8.2.36.

use md5::{Digest, Md5};
use serde_json::{Map, Value};

use super::explain::{Canonical, Part};
use super::php_json::{php_array, PhpJsonError};
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum SortedCharsError {
    #[error("number {0} overflows a PHP float; PHP's json_encode would fail on it")]
    NonFiniteNumber(String),
    /// PHP's own `json_encode` depth limit is 512; ours is lower, and keeps the stack safe.
    #[error("the fields nest deeper than {} levels", crate::json::MAX_DEPTH)]
    TooDeep,
}

impl From<PhpJsonError> for SortedCharsError {
    fn from(e: PhpJsonError) -> Self {
        match e {
            PhpJsonError::NonFiniteNumber(n) => SortedCharsError::NonFiniteNumber(n),
            PhpJsonError::TooDeep => SortedCharsError::TooDeep,
        }
    }
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

/// [`string_to_sign`] with `mask` in place of the secret; safe to print or log because
/// the secret is only ever appended after the sorted characters, never mixed into them.
pub fn explain(
    fields: &Map<String, Value>,
    sign_field: &str,
    mask: &str,
) -> Result<String, SortedCharsError> {
    string_to_sign(fields, sign_field, mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
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
        assert_ne!(
            sign(&f, "sign", "wrong-secret").unwrap(),
            "0bcf574f07798623a2d380ceb602fc3d"
        );

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
    fn the_field_set_is_the_first_nesting_level() {
        let nest = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        let f = obj(&format!(r#"{{"a":{}}}"#, nest(crate::json::MAX_DEPTH - 1)));
        assert!(string_to_sign(&f, "sign", "").is_ok());
        let f = obj(&format!(r#"{{"a":{}}}"#, nest(crate::json::MAX_DEPTH)));
        assert!(matches!(
            string_to_sign(&f, "sign", ""),
            Err(SortedCharsError::TooDeep)
        ));
    }
}

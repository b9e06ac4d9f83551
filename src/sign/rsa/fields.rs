//! Encryption of the configured sensitive fields of a JSON body, and its inverse.
//!
//! Policy for each configured pointer:
//! - absent, or `null`: skipped. Optional fields are normal and there is no
//!   value to leak.
//! - a string: replaced by its ciphertext (outbound) or plaintext (inbound).
//! - anything else (number, bool, object, array): an error for the whole body.
//!   A sensitive field must never go out in clear because it had an unexpected
//!   type, and the provider documents ciphertexts as strings.
//!
//! Types are checked for every pointer before any field is touched, so a type
//! error leaves the body unchanged. A cipher failure part-way (possible only
//! inbound, on bad ciphertext) leaves it half-done; callers discard it then.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use super::cipher::Padding;
use super::error::{CipherFailure, RsaError};
use super::keys::{PrivateKey, PublicKey};

/// The validated list of JSON pointers (RFC 6901) a channel encrypts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptedFields {
    pointers: Vec<String>,
}

impl EncryptedFields {
    /// Validates the pointers: each starts with `/`, uses only `~0`/`~1`
    /// escapes, and appears once (a repeat would encrypt a value twice).
    pub fn new<I, S>(pointers: I) -> Result<Self, RsaError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut valid: Vec<String> = Vec::new();
        for pointer in pointers.into_iter().map(Into::into) {
            if !is_member_pointer(&pointer) {
                return Err(RsaError::InvalidPointer(pointer));
            }
            if valid.contains(&pointer) {
                return Err(RsaError::DuplicatePointer(pointer));
            }
            valid.push(pointer);
        }
        Ok(Self { pointers: valid })
    }

    /// The configured pointers, in configuration order.
    pub fn pointers(&self) -> &[String] {
        &self.pointers
    }

    /// Replaces each configured string with base64 ciphertext for `key`.
    pub fn encrypt(
        &self,
        body: &mut Value,
        key: &PublicKey,
        padding: Padding,
    ) -> Result<(), RsaError> {
        self.transform(body, |pointer, value| {
            key.encrypt_blocks(padding, value.as_bytes())
                .map(|ciphertext| STANDARD.encode(ciphertext))
                .map_err(|reason| field_error(pointer, reason))
        })
    }

    /// Replaces each configured string with its plaintext, decrypted with `key`.
    pub fn decrypt(
        &self,
        body: &mut Value,
        key: &PrivateKey,
        padding: Padding,
    ) -> Result<(), RsaError> {
        self.transform(body, |pointer, value| {
            let bytes = key
                .decrypt_blocks(padding, value)
                .map_err(|reason| field_error(pointer, reason))?;
            String::from_utf8(bytes).map_err(|_| field_error(pointer, CipherFailure::NotUtf8))
        })
    }

    fn transform<F>(&self, body: &mut Value, mut f: F) -> Result<(), RsaError>
    where
        F: FnMut(&str, &str) -> Result<String, RsaError>,
    {
        let present = self.strings_present(body)?;
        for pointer in present {
            if let Some(Value::String(value)) = body.pointer_mut(pointer) {
                *value = f(pointer, value)?;
            }
        }
        Ok(())
    }

    /// The pointers that hold strings, or the first that holds a non-string.
    fn strings_present(&self, body: &Value) -> Result<Vec<&str>, RsaError> {
        let mut present = Vec::with_capacity(self.pointers.len());
        for pointer in &self.pointers {
            match body.pointer(pointer) {
                None | Some(Value::Null) => {}
                Some(Value::String(_)) => present.push(pointer.as_str()),
                Some(other) => {
                    return Err(RsaError::FieldNotString {
                        pointer: pointer.clone(),
                        found: json_type(other),
                    });
                }
            }
        }
        Ok(present)
    }
}

fn field_error(pointer: &str, reason: CipherFailure) -> RsaError {
    RsaError::Field {
        pointer: pointer.to_owned(),
        reason,
    }
}

/// `""` (the whole document) is refused: a body is an object, never a string.
fn is_member_pointer(pointer: &str) -> bool {
    let Some(tokens) = pointer.strip_prefix('/') else {
        return false;
    };
    let mut chars = tokens.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return false;
        }
    }
    true
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys() -> (PrivateKey, PublicKey) {
        let private =
            PrivateKey::from_pem(include_str!("../../../tests/fixtures/rsa/a2048_pkcs8.pem"))
                .unwrap();
        let public = private.public_key();
        (private, public)
    }

    fn fields(pointers: &[&str]) -> EncryptedFields {
        EncryptedFields::new(pointers.iter().copied()).unwrap()
    }

    #[test]
    fn pointers_are_validated() {
        for bad in ["", "driver/idCard", "/a~2b", "/a~"] {
            assert_eq!(
                EncryptedFields::new([bad]),
                Err(RsaError::InvalidPointer(bad.into()))
            );
        }
        assert_eq!(
            EncryptedFields::new(["/a", "/b", "/a"]),
            Err(RsaError::DuplicatePointer("/a".into()))
        );
        assert_eq!(fields(&["/a~1b", "/x/0/y"]).pointers(), ["/a~1b", "/x/0/y"]);
    }

    #[test]
    fn round_trip_touches_only_configured_strings() {
        let (private, public) = keys();
        let original = json!({
            "orderNo": "A1",
            "driver": { "name": "张三", "idCard": "110101199003074211", "phone": null },
            "list": [{ "bank": "6222".repeat(80) }],
            "a/b": "slash",
        });
        let config = fields(&[
            "/driver/idCard",
            "/driver/phone",
            "/driver/missing",
            "/list/0/bank",
            "/a~1b",
        ]);
        for padding in [Padding::Pkcs1, Padding::OaepSha256] {
            let mut body = original.clone();
            config.encrypt(&mut body, &public, padding).unwrap();
            assert_eq!(body["orderNo"], "A1");
            assert_eq!(body["driver"]["name"], "张三");
            assert_eq!(body["driver"]["phone"], Value::Null);
            assert!(body["driver"].get("missing").is_none());
            for p in ["/driver/idCard", "/list/0/bank", "/a~1b"] {
                assert_ne!(body.pointer(p), original.pointer(p), "{p}");
            }
            config.decrypt(&mut body, &private, padding).unwrap();
            assert_eq!(body, original);
        }
    }

    #[test]
    fn a_non_string_sensitive_field_is_an_error_and_nothing_changes() {
        let (_, public) = keys();
        let original = json!({ "a": "secret", "driver": { "idCard": 110101199003074211u64 } });
        let mut body = original.clone();
        let err = fields(&["/a", "/driver/idCard"])
            .encrypt(&mut body, &public, Padding::Pkcs1)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field /driver/idCard holds a number, not a string; refusing to send it unencrypted"
        );
        assert_eq!(body, original);
    }

    #[test]
    fn decrypt_errors_name_the_field() {
        let (private, _) = keys();
        let mut body = json!({ "x": "@@@" });
        let err = fields(&["/x"])
            .decrypt(&mut body, &private, Padding::Pkcs1)
            .unwrap_err();
        assert_eq!(err.to_string(), "field /x: ciphertext is not valid base64");
    }
}

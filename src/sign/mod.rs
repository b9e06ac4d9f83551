//! Signers (SPEC §3): shared modules any channel may use, for outbound and inbound alike.
//!
//! A signer takes the body's fields and produces the exact bytes sent plus any headers;
//! `verify` checks a received body the same way, and `explain` shows the string signed.

pub mod sorted_params;

use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::format::{BodyEncoding, DecodeError};
pub use sorted_params::SortedParams;

/// The configured signer of a channel; a closed set chosen at start-up.
#[derive(Debug, Clone)]
pub enum Signer {
    SortedParams {
        signer: SortedParams,
        /// The body field carrying the signature, usually `sign`.
        field: String,
    },
}

/// A signed request body, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The exact body text.
    pub body: String,
    /// Headers the signer adds (none for body-field signers).
    pub headers: Vec<(String, String)>,
    /// The string that was hashed or signed, secret masked; only when asked for.
    pub string_to_sign: Option<String>,
}

/// Why a received callback's signature does not hold.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the body: {0}")]
    Decode(#[from] DecodeError),
    #[error("the signature field `{0}` is missing or not a string")]
    MissingSignature(String),
    #[error("the signature does not match")]
    Mismatch,
}

impl Signer {
    /// Signs `fields` and encodes them; `explain` also returns the masked string to sign.
    pub fn sign(
        &self,
        mut fields: Map<String, Value>,
        encoding: BodyEncoding,
        explain: bool,
    ) -> Signed {
        match self {
            Signer::SortedParams { signer, field } => {
                let string_to_sign = explain.then(|| signer.explain(&fields, field));
                let sign = signer.sign(&fields, field);
                fields.insert(field.clone(), Value::String(sign));
                Signed {
                    body: encoding.encode(&fields),
                    headers: Vec::new(),
                    string_to_sign,
                }
            }
        }
    }

    /// Checks a received body (and headers, for header signers) in constant time.
    pub fn verify(
        &self,
        body: &str,
        _headers: &[(String, String)],
        encoding: BodyEncoding,
    ) -> Result<(), VerifyError> {
        match self {
            Signer::SortedParams { signer, field } => {
                let fields = encoding.decode(body)?;
                let given = fields
                    .get(field)
                    .and_then(Value::as_str)
                    .ok_or_else(|| VerifyError::MissingSignature(field.clone()))?;
                let ours = signer.sign(&fields, field);
                // Hex case is presentation, not part of the secret check.
                let same = ours
                    .to_ascii_lowercase()
                    .as_bytes()
                    .ct_eq(given.to_ascii_lowercase().as_bytes());
                if same.into() {
                    Ok(())
                } else {
                    Err(VerifyError::Mismatch)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Secret;
    use sorted_params::{Case, Hash};

    fn signer() -> Signer {
        Signer::SortedParams {
            signer: SortedParams {
                secret: Secret::new("K3Y"),
                template: "{params}&key={secret}".into(),
                hash: Hash::Md5,
                case: Case::Upper,
            },
            field: "sign".into(),
        }
    }

    #[test]
    fn sign_then_verify_round_trips_in_both_encodings() {
        let fields: Map<String, Value> =
            serde_json::from_str(r#"{"appId":"A","bizContent":"{\"x\":1}"}"#).unwrap();
        for enc in [BodyEncoding::Json, BodyEncoding::Form] {
            let signed = signer().sign(fields.clone(), enc, true);
            assert_eq!(
                signed.string_to_sign.as_deref(),
                Some(r#"appId=A&bizContent={"x":1}&key=******"#)
            );
            signer().verify(&signed.body, &[], enc).unwrap();
            let tampered = signed.body.replacen("A", "B", 1);
            assert!(matches!(
                signer().verify(&tampered, &[], enc),
                Err(VerifyError::Mismatch)
            ));
        }
    }

    #[test]
    fn verify_reports_a_missing_signature() {
        let err = signer()
            .verify(r#"{"a":"1"}"#, &[], BodyEncoding::Json)
            .unwrap_err();
        assert!(matches!(err, VerifyError::MissingSignature(f) if f == "sign"));
    }
}

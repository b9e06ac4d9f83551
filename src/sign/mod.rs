//! Signers (SPEC §3): shared modules any channel may use, for outbound and inbound alike.
//!
//! A signer takes the body's fields and produces the exact bytes sent plus any headers;
//! `verify` checks a received body the same way, and `explain` shows the string signed.

pub mod explain;
pub mod php_json;
pub mod rsa;
pub mod sorted_chars;
pub mod sorted_params;

use std::sync::Arc;

use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::format::{BodyEncoding, DecodeError};
use crate::message::NotifyType;
use crate::secret::Secret;
use explain::Canonical;
use rsa::{RsaChannel, RsaError, HEADER_SIGNATURE};
use sorted_chars::SortedCharsError;
pub use sorted_params::SortedParams;

/// The configured signer of a channel; a closed set chosen at start-up.
#[derive(Debug, Clone)]
pub enum Signer {
    SortedParams {
        signer: SortedParams,
        /// The body field carrying the signature, usually `sign`.
        field: String,
    },
    /// 商战网络 (seed 001): MD5 of the sorted characters of the PHP JSON text, plus the secret.
    SortedChars { secret: Secret, field: String },
    /// 运之盟 (seed 000): RSA signature headers and RSA field encryption.
    Rsa(Arc<RsaChannel>),
}

/// What a signer may need besides the body: the clock, a nonce, the notification kind.
#[derive(Debug, Clone, Copy)]
pub struct SignContext<'a> {
    pub now_ms: u64,
    /// Pinned nonce; a fresh random one when `None`.
    pub nonce: Option<&'a str>,
    pub notify_type: NotifyType,
}

/// Why a body could not be signed; each is about this message, not the channel's keys.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no event code configured for notifyType `{0}` (signer.event_codes)")]
    NoEventCode(NotifyType),
    #[error("fields are to be encrypted but no peer_public_key is configured")]
    NoPeerKey,
    #[error(transparent)]
    Rsa(#[from] RsaError),
    #[error(transparent)]
    SortedChars(#[from] SortedCharsError),
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
    #[error("header `{0}` is missing")]
    MissingHeader(String),
    #[error("no peer_public_key is configured to verify with")]
    NoPeerKey,
    #[error("cannot recompute the signature: {0}")]
    Unsignable(#[from] SortedCharsError),
    #[error("the signature does not match")]
    Mismatch,
}

/// Who signed a callback. It matters only for `rsa`, whose two sides sign with different
/// keys; the shared-secret signers check the same way either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A callback we sent, as the brand received it: checked with our own key.
    Ours,
    /// A callback a provider sent us (SPEC §10): checked with the peer's public key.
    Peer,
}

/// What `verify --explain` shows: the string we check against and the verdict.
#[derive(Debug)]
pub struct VerifyExplained {
    /// The string hashed (body-field signers) or signed (rsa), secret kept apart.
    pub canonical: Canonical,
    /// Our signature for this body, for body-field signers (rsa signs with the peer's key).
    pub expected: Option<String>,
    /// The signature that came with the callback: the sign field, or `X-Signature`.
    pub received: Option<String>,
    /// Whether it holds, as [`Signer::verify`] says.
    pub verdict: Result<(), VerifyError>,
}

impl Signer {
    /// Signs `fields` and encodes them; `explain` also returns the masked string to sign.
    pub fn sign(
        &self,
        mut fields: Map<String, Value>,
        encoding: BodyEncoding,
        ctx: &SignContext<'_>,
        explain: bool,
    ) -> Result<Signed, SignError> {
        let (field, sign, string_to_sign) = match self {
            Signer::SortedParams { signer, field } => {
                let explained = explain.then(|| signer.explain(&fields, field));
                (field, signer.sign(&fields, field), explained)
            }
            Signer::SortedChars { secret, field } => {
                let explained = match explain {
                    true => Some(sorted_chars::explain(&fields, field, sorted_params::MASK)?),
                    false => None,
                };
                (
                    field,
                    sorted_chars::sign(&fields, field, secret.expose())?,
                    explained,
                )
            }
            Signer::Rsa(rsa) => return rsa.sign(fields, encoding, ctx, explain),
        };
        fields.insert(field.clone(), Value::String(sign));
        Ok(Signed {
            body: encoding.encode(&fields),
            headers: Vec::new(),
            string_to_sign,
        })
    }

    /// Whether signing costs enough CPU (RSA) to run off the async runtime's threads.
    pub fn is_expensive(&self) -> bool {
        matches!(self, Signer::Rsa(_))
    }

    /// [`Self::verify`], plus the canonical string and both signatures, for a person
    /// working out why a signature does not hold. Fails only when the callback cannot be
    /// read at all (not the encoding, a header missing, an unsignable value).
    pub fn explain_verify(
        &self,
        body: &str,
        headers: &[(String, String)],
        encoding: BodyEncoding,
        origin: Origin,
    ) -> Result<VerifyExplained, VerifyError> {
        let verdict = match (self, origin) {
            (Signer::Rsa(rsa), Origin::Ours) => rsa.verify_own(body, headers),
            _ => self.verify(body, headers, encoding),
        };
        let (canonical, expected, received) = match self {
            Signer::SortedParams { signer, field } => {
                let fields = encoding.decode(body)?;
                let canonical = signer.canonical(&fields, field);
                let expected = signer.sign_canonical(&canonical);
                (canonical, Some(expected), text_field(&fields, field))
            }
            Signer::SortedChars { secret, field } => {
                let fields = encoding.decode(body)?;
                let canonical = sorted_chars::canonical(&fields, field, secret)?;
                let expected = sorted_chars::sign(&fields, field, secret.expose())?;
                (canonical, Some(expected), text_field(&fields, field))
            }
            Signer::Rsa(rsa) => {
                let canonical = rsa.canonical(body, headers)?;
                let received = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(HEADER_SIGNATURE))
                    .map(|(_, v)| v.clone());
                (canonical, None, received)
            }
        };
        Ok(VerifyExplained {
            canonical,
            expected,
            received,
            verdict,
        })
    }

    /// Checks a received body (and headers, for header signers) in constant time.
    pub fn verify(
        &self,
        body: &str,
        headers: &[(String, String)],
        encoding: BodyEncoding,
    ) -> Result<(), VerifyError> {
        match self {
            Signer::Rsa(rsa) => rsa.verify(body, headers),
            _ => self.verify_fields(&encoding.decode(body)?),
        }
    }

    /// Checks already decoded fields against a digest signer's sign field. `rsa` signs the
    /// raw body and headers instead: decoded fields never match it.
    pub fn verify_fields(&self, fields: &Map<String, Value>) -> Result<(), VerifyError> {
        let (field, ours) = match self {
            Signer::SortedParams { signer, field } => (field, signer.sign(fields, field)),
            Signer::SortedChars { secret, field } => {
                (field, sorted_chars::sign(fields, field, secret.expose())?)
            }
            Signer::Rsa(_) => return Err(VerifyError::Mismatch),
        };
        let given = fields
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| VerifyError::MissingSignature(field.clone()))?;
        if digests_match(&ours, given) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}

/// Whether a received hex digest is ours, compared in constant time. Hex case is
/// presentation, not part of the secret check.
pub(crate) fn digests_match(ours: &str, given: &str) -> bool {
    ours.to_ascii_lowercase()
        .as_bytes()
        .ct_eq(given.to_ascii_lowercase().as_bytes())
        .into()
}

fn text_field(fields: &Map<String, Value>, field: &str) -> Option<String> {
    fields.get(field).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// 商战网络's `sign`: the hex digest is compared case-insensitively (hex case is
    /// presentation), so an uppercase `sign` is accepted; anything else that differs is not.
    #[test]
    fn shangzhan_verify_accepts_either_hex_case_and_nothing_else() {
        let signer = Signer::SortedChars {
            secret: Secret::new("538bdb67540d81fabaab1ef3d26f6257"),
            field: "sign".into(),
        };
        let good = r#"{"orderno":"B2C2208041455471000499115","customer_order_no":"42ertdgsfsfsf","status":"failed","sign":"a118bd1cfd00f92d5452121fb3d26c73"}"#;
        let check = |body: &str| signer.verify(body, &[], BodyEncoding::Json);
        assert!(check(good).is_ok());
        let upper = good.replace(
            "a118bd1cfd00f92d5452121fb3d26c73",
            "A118BD1CFD00F92D5452121FB3D26C73",
        );
        assert!(check(&upper).is_ok());
        assert!(matches!(
            check(&good.replace("failed", "success")),
            Err(VerifyError::Mismatch)
        ));
        for missing in [r#"{"status":"failed"}"#, r#"{"status":"failed","sign":1}"#] {
            assert!(matches!(
                check(missing),
                Err(VerifyError::MissingSignature(_))
            ));
        }
        assert!(matches!(
            check(r#"{"a":1e400,"sign":"x"}"#),
            Err(VerifyError::Unsignable(_))
        ));
    }

    #[test]
    fn sign_then_verify_round_trips_in_both_encodings() {
        let fields: Map<String, Value> =
            serde_json::from_str(r#"{"appId":"A","bizContent":"{\"x\":1}"}"#).unwrap();
        for enc in [BodyEncoding::Json, BodyEncoding::Form] {
            let ctx = SignContext {
                now_ms: 0,
                nonce: None,
                notify_type: NotifyType::Verify,
            };
            let signed = signer().sign(fields.clone(), enc, &ctx, true).unwrap();
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
    fn explain_verify_shows_the_masked_string_and_both_signs() {
        let body = r#"{"appId":"A","bizContent":"{}","sign":"nope"}"#;
        let e = signer()
            .explain_verify(body, &[], BodyEncoding::Json, Origin::Ours)
            .unwrap();
        assert_eq!(e.canonical.masked(), "appId=A&bizContent={}&key=******");
        // echo -n 'appId=A&bizContent={}&key=K3Y' | md5sum
        assert_eq!(
            e.expected.as_deref(),
            Some("D2EFF8AC3514DCDA14D78AD14C755C16")
        );
        assert_eq!(e.received.as_deref(), Some("nope"));
        assert!(matches!(e.verdict, Err(VerifyError::Mismatch)));
        assert_eq!(
            e.canonical.compare("appId=A&bizContent={}&key=K3Y"),
            explain::Comparison::Same
        );
    }

    #[test]
    fn verify_reports_a_missing_signature() {
        let err = signer()
            .verify(r#"{"a":"1"}"#, &[], BodyEncoding::Json)
            .unwrap_err();
        assert!(matches!(err, VerifyError::MissingSignature(f) if f == "sign"));
    }
}

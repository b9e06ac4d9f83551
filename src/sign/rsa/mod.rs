//! The `rsa` signer (运之盟, seed 000; SPEC §3.3 and §10): RSA-SHA256 request signatures and RSA field encryption.
//!
//! Outbound, we sign `{timestamp}{nonce}{body}` with our private key and encrypt
//! the configured sensitive fields with the brand's public key. Inbound, the
//! same pieces run the other way: verify with the provider's public key, then
//! decrypt the fields with our private key. Everything here is pure: timestamp
//! and nonce are inputs, so signatures are reproducible in tests.
//!
//! Which library does what: signing, verification, encryption and decryption
//! (both paddings) run in aws-lc-rs, which is constant-time and 6-7x faster
//! than the `rsa` crate; the `rsa` crate only supplies its PEM document types.
//!
//! Costs (RSA-2048, one core, `examples/bench_sign.rs`): sign and decrypt
//! about 240 µs each, verify and encrypt about 17 µs. A sign blocks for that
//! long, so callers run it off the async runtime's worker threads.
//!
//! Inbound, verify before decrypting: PKCS#1 v1.5 decryption of attacker-chosen
//! ciphertexts is the setting of Bleichenbacher's attack, and a valid provider
//! signature means the ciphertexts are not the attacker's.
//!
//! Layout: `keys` (PEM loading, sign, verify), `template` (string to sign),
//! `cipher` (block-wise RSA encryption), `fields` (JSON pointer policy),
//! `channel` ([`RsaChannel`]: all of it applied to one channel's requests), `error`.

mod channel;
mod cipher;
mod error;
mod fields;
mod keys;
mod template;

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;

pub use channel::RsaChannel;
pub use cipher::Padding;
pub use error::{CipherFailure, KeyRole, RsaError};
pub use fields::EncryptedFields;
pub use keys::{PrivateKey, PublicKey};
pub use template::{SigningParts, Template, DEFAULT_TEMPLATE};

/// Request header carrying the epoch-millisecond timestamp.
pub const HEADER_TIMESTAMP: &str = "X-Timestamp";
/// Request header carrying the 18-digit nonce.
pub const HEADER_NONCE: &str = "X-Nonce";
/// Request header carrying the base64 signature.
pub const HEADER_SIGNATURE: &str = "X-Signature";
/// Request header carrying the event code.
pub const HEADER_EVENT_CODE: &str = "X-EventCode";

/// Signs outgoing requests with our private key.
#[derive(Debug)]
pub struct RsaSigner {
    template: Template,
    key: PrivateKey,
}

impl RsaSigner {
    /// A signer over `template` with our `key`.
    pub fn new(template: Template, key: PrivateKey) -> Self {
        Self { template, key }
    }

    /// The `X-Signature` value for `parts`.
    pub fn sign(&self, parts: &SigningParts<'_>) -> Result<String, RsaError> {
        self.key.sign(&self.template.render(parts))
    }

    /// The exact string [`Self::sign`] signs (it holds no secret to mask).
    pub fn explain(&self, parts: &SigningParts<'_>) -> String {
        self.template.explain(parts)
    }
}

/// Verifies incoming requests with the peer's public key.
#[derive(Debug)]
pub struct RsaVerifier {
    template: Template,
    key: PublicKey,
}

impl RsaVerifier {
    /// A verifier over `template` with the peer's `key`.
    pub fn new(template: Template, key: PublicKey) -> Self {
        Self { template, key }
    }

    /// Whether `signature_b64` (the `X-Signature` value) signs `parts`.
    pub fn verify(&self, parts: &SigningParts<'_>, signature_b64: &str) -> bool {
        self.key.verify(&self.template.render(parts), signature_b64)
    }

    /// The exact string [`Self::verify`] checks the signature against.
    pub fn explain(&self, parts: &SigningParts<'_>) -> String {
        self.template.explain(parts)
    }
}

/// A fresh `X-Nonce`: a uniformly random 18-digit positive integer, which
/// fits the Java `long` the seed names.
pub fn new_nonce<R: Rng + ?Sized>(rng: &mut R) -> String {
    rng.random_range(100_000_000_000_000_000_u64..=999_999_999_999_999_999)
        .to_string()
}

/// The `X-Timestamp` text for `now`: epoch milliseconds.
pub fn timestamp_ms(now: SystemTime) -> String {
    now.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    const KAT_MESSAGE: &str = include_str!("../../../tests/fixtures/rsa/kat_message.txt");
    const KAT_SIG_A2048: &str = include_str!("../../../tests/fixtures/rsa/kat_a2048.sig.b64");
    const KAT_SIG_B3072: &str = include_str!("../../../tests/fixtures/rsa/kat_b3072.sig.b64");
    const KAT_PARTS: SigningParts<'static> = SigningParts {
        timestamp: "1700000000000",
        nonce: "123456789012345678",
        body: r#"{"orderNo":"A1","driver":{"name":"张三","idCard":"110101199003074211"}}"#
            .as_bytes(),
    };

    fn signer(pem: &str) -> RsaSigner {
        RsaSigner::new(Template::default(), PrivateKey::from_pem(pem).unwrap())
    }

    #[test]
    fn explain_is_the_kat_message() {
        let signer = signer(include_str!("../../../tests/fixtures/rsa/a2048_pkcs1.pem"));
        assert_eq!(signer.explain(&KAT_PARTS), KAT_MESSAGE);
    }

    #[test]
    fn signatures_match_openssl_for_both_pem_forms() {
        // Expected values: `openssl dgst -sha256 -sign KEY kat_message.txt | base64 -w0`.
        let cases = [
            (
                "a2048_pkcs1",
                include_str!("../../../tests/fixtures/rsa/a2048_pkcs1.pem"),
                KAT_SIG_A2048,
            ),
            (
                "a2048_pkcs8",
                include_str!("../../../tests/fixtures/rsa/a2048_pkcs8.pem"),
                KAT_SIG_A2048,
            ),
            (
                "b3072_pkcs1",
                include_str!("../../../tests/fixtures/rsa/b3072_pkcs1.pem"),
                KAT_SIG_B3072,
            ),
            (
                "b3072_pkcs8",
                include_str!("../../../tests/fixtures/rsa/b3072_pkcs8.pem"),
                KAT_SIG_B3072,
            ),
        ];
        for (name, pem, expected) in cases {
            assert_eq!(
                signer(pem).sign(&KAT_PARTS).unwrap(),
                expected.trim(),
                "{name}"
            );
        }
    }

    #[test]
    fn verify_accepts_the_kat_and_refuses_tampering() {
        let verifier = RsaVerifier::new(
            Template::default(),
            PublicKey::from_pem(include_str!(
                "../../../tests/fixtures/rsa/a2048_pub_spki.pem"
            ))
            .unwrap(),
        );
        assert!(verifier.verify(&KAT_PARTS, KAT_SIG_A2048));
        let body = String::from_utf8(KAT_PARTS.body.to_vec()).unwrap();
        let tampered = body.replace("4211", "4212");
        let cases = [
            SigningParts {
                body: tampered.as_bytes(),
                ..KAT_PARTS
            },
            SigningParts {
                timestamp: "1700000000001",
                ..KAT_PARTS
            },
            SigningParts {
                nonce: "123456789012345679",
                ..KAT_PARTS
            },
        ];
        for parts in cases {
            assert!(!verifier.verify(&parts, KAT_SIG_A2048));
        }
        assert!(
            !verifier.verify(&KAT_PARTS, KAT_SIG_B3072),
            "another key's signature"
        );
        assert!(!verifier.verify(&KAT_PARTS, "not base64!"));
        assert!(!verifier.verify(&KAT_PARTS, ""));
    }

    #[test]
    fn nonces_are_18_digit_positive_integers() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..10_000 {
            let nonce = new_nonce(&mut rng);
            assert_eq!(nonce.len(), 18, "{nonce}");
            assert!(nonce.bytes().all(|b| b.is_ascii_digit()) && !nonce.starts_with('0'));
            assert!(nonce.parse::<i64>().is_ok(), "fits a Java long");
        }
        assert_ne!(new_nonce(&mut rand::rng()), new_nonce(&mut rand::rng()));
    }

    #[test]
    fn keys_and_signers_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PrivateKey>();
        assert_send_sync::<PublicKey>();
        assert_send_sync::<RsaSigner>();
        assert_send_sync::<RsaVerifier>();
        assert_send_sync::<EncryptedFields>();
        assert_send_sync::<RsaError>();
    }

    #[test]
    fn timestamps_are_epoch_milliseconds() {
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(timestamp_ms(now), "1700000000123");
    }
}

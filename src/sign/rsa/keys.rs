//! RSA keys loaded from PEM (PKCS#1 or PKCS#8/SPKI), signing and verifying.
//!
//! All private-key arithmetic goes through aws-lc-rs, which is constant-time;
//! the `rsa` crate is only used for its PEM/DER document types (its private-key
//! operations are not constant-time, RUSTSEC-2023-0071).

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair, UnparsedPublicKey};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs8::{Document, SecretDocument};

use super::error::{key_rejected, KeyRole, RsaError};

const PRIVATE_LABELS: &str = "`RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8)";
const PUBLIC_LABELS: &str = "`RSA PUBLIC KEY` (PKCS#1) or `PUBLIC KEY` (SPKI)";

/// Our RSA private key: signs outgoing requests, decrypts inbound fields.
///
/// `Debug` shows only the size, so the key can sit inside logged config.
pub struct PrivateKey {
    signing: RsaKeyPair,
    pub(super) pkcs1: Pkcs1PrivateDecryptingKey,
    pub(super) oaep: OaepPrivateDecryptingKey,
}

/// The peer's RSA public key: verifies its signatures, encrypts fields for it.
pub struct PublicKey {
    // aws-lc-rs's verifier is given PKCS#1 `RSAPublicKey` DER, whatever the PEM was.
    pkcs1_der: Box<[u8]>,
    pub(super) pkcs1: Pkcs1PublicEncryptingKey,
    pub(super) oaep: OaepPublicEncryptingKey,
}

impl PrivateKey {
    /// Loads a PEM private key, `BEGIN RSA PRIVATE KEY` or `BEGIN PRIVATE KEY`.
    pub fn from_pem(pem: &str) -> Result<Self, RsaError> {
        check_armour(KeyRole::Private, pem)?;
        // OpenSSL's legacy encrypted PKCS#1 keeps the label and adds headers,
        // which the strict PEM decoder would report as a mere format error.
        if pem.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(RsaError::EncryptedKey);
        }
        // SecretDocument zeroes the decoded DER when dropped.
        let (label, der) = SecretDocument::from_pem(pem).map_err(|e| RsaError::Pem {
            role: KeyRole::Private,
            detail: e.to_string(),
        })?;
        let reject = |e| key_rejected(KeyRole::Private, e);
        let signing = match label {
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(der.as_bytes()).map_err(reject)?,
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(reject)?,
            "ENCRYPTED PRIVATE KEY" => return Err(RsaError::EncryptedKey),
            other => return Err(unsupported(KeyRole::Private, other, PRIVATE_LABELS)),
        };
        // The decrypting key types only read PKCS#8, so re-encode once here.
        let pkcs8 = signing.as_der().map_err(|_| unusable(KeyRole::Private))?;
        let decrypting = PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref()).map_err(reject)?;
        let pkcs1 = Pkcs1PrivateDecryptingKey::new(decrypting.clone())
            .map_err(|_| unusable(KeyRole::Private))?;
        let oaep =
            OaepPrivateDecryptingKey::new(decrypting).map_err(|_| unusable(KeyRole::Private))?;
        Ok(Self {
            signing,
            pkcs1,
            oaep,
        })
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.signing.public_modulus_len() * 8
    }

    /// The matching public key (for self-checks and tests).
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_der(KeyRole::Private, self.signing.public_key().as_ref())
            .expect("a loaded key pair has a valid public half")
    }

    /// base64 RSASSA-PKCS1-v1_5 SHA-256 signature of `message`.
    ///
    /// PKCS#1 v1.5 signatures are deterministic, so equal input gives equal output.
    pub fn sign(&self, message: &[u8]) -> Result<String, RsaError> {
        let mut sig = vec![0u8; self.signing.public_modulus_len()];
        // aws-lc-rs ignores this RNG (it is there for ring API compatibility);
        // AWS-LC blinds the private-key operation with its own.
        self.signing
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut sig,
            )
            .map_err(|_| RsaError::Sign)?;
        Ok(STANDARD.encode(sig))
    }
}

impl PublicKey {
    /// Loads a PEM public key, `BEGIN RSA PUBLIC KEY` or `BEGIN PUBLIC KEY`.
    pub fn from_pem(pem: &str) -> Result<Self, RsaError> {
        check_armour(KeyRole::Public, pem)?;
        let (label, der) = Document::from_pem(pem).map_err(|e| RsaError::Pem {
            role: KeyRole::Public,
            detail: e.to_string(),
        })?;
        match label {
            // aws-lc-rs tells the two encodings apart by content, so one call serves both.
            "RSA PUBLIC KEY" | "PUBLIC KEY" => Self::from_der(KeyRole::Public, der.as_bytes()),
            other => Err(unsupported(KeyRole::Public, other, PUBLIC_LABELS)),
        }
    }

    fn from_der(role: KeyRole, der: &[u8]) -> Result<Self, RsaError> {
        let reject = |e| key_rejected(role, e);
        let parsed = aws_lc_rs::rsa::PublicKey::from_der(der).map_err(reject)?;
        let spki = parsed.as_der().map_err(|_| unusable(role))?;
        let encrypting = PublicEncryptingKey::from_der(spki.as_ref()).map_err(reject)?;
        let pkcs1 =
            Pkcs1PublicEncryptingKey::new(encrypting.clone()).map_err(|_| unusable(role))?;
        let oaep = OaepPublicEncryptingKey::new(encrypting).map_err(|_| unusable(role))?;
        Ok(Self {
            pkcs1_der: parsed.as_ref().into(),
            pkcs1,
            oaep,
        })
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.pkcs1.key_size_bits()
    }

    /// Whether `signature_b64` is a valid RSASSA-PKCS1-v1_5 SHA-256 signature of
    /// `message`. Malformed base64 is simply an invalid signature.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(sig) = STANDARD.decode(signature_b64.trim()) else {
            return false;
        };
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.pkcs1_der)
            .verify(message, &sig)
            .is_ok()
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(RSA-{}, **REDACTED**)", self.bits())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(RSA-{})", self.bits())
    }
}

/// The PEM decoder's own message for missing armour ("preamble contains invalid
/// data") would send an operator looking in the wrong place.
fn check_armour(role: KeyRole, pem: &str) -> Result<(), RsaError> {
    if pem.contains("-----BEGIN ") {
        Ok(())
    } else {
        Err(RsaError::NotPem(role))
    }
}

fn unsupported(role: KeyRole, label: &str, expected: &'static str) -> RsaError {
    // pem-rfc7468 already limits labels to printable ASCII; the cap keeps a
    // pasted-in garbage line from flooding the log.
    let label = label.chars().take(40).collect();
    RsaError::UnsupportedLabel {
        role,
        label,
        expected,
    }
}

fn unusable(role: KeyRole) -> RsaError {
    RsaError::KeyRejected {
        role,
        reason: "not a usable RSA key",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../tests/fixtures/rsa/", $name))
        };
    }

    #[test]
    fn both_pem_forms_load_the_same_key() {
        let a1 = PrivateKey::from_pem(fixture!("a2048_pkcs1.pem")).unwrap();
        let a8 = PrivateKey::from_pem(fixture!("a2048_pkcs8.pem")).unwrap();
        let spki = PublicKey::from_pem(fixture!("a2048_pub_spki.pem")).unwrap();
        let pkcs1 = PublicKey::from_pem(fixture!("a2048_pub_pkcs1.pem")).unwrap();
        assert_eq!(a1.bits(), 2048);
        assert_eq!(spki.bits(), 2048);
        for public in [a1.public_key(), a8.public_key(), pkcs1] {
            assert_eq!(public.pkcs1_der, spki.pkcs1_der);
        }
        let b = PrivateKey::from_pem(fixture!("b3072_pkcs1.pem")).unwrap();
        assert_eq!(b.bits(), 3072);
    }

    #[test]
    fn debug_never_shows_key_material() {
        let private = PrivateKey::from_pem(fixture!("a2048_pkcs1.pem")).unwrap();
        assert_eq!(format!("{private:?}"), "PrivateKey(RSA-2048, **REDACTED**)");
        assert_eq!(format!("{:?}", private.public_key()), "PublicKey(RSA-2048)");
    }

    #[test]
    fn unusable_keys_are_refused_with_operator_messages() {
        let private = |pem: &str| PrivateKey::from_pem(pem).unwrap_err().to_string();
        let public = |pem: &str| PublicKey::from_pem(pem).unwrap_err().to_string();
        assert_eq!(
            private(fixture!("a2048_pub_spki.pem")),
            "private key: PEM label `PUBLIC KEY` is not supported \
             (expected `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8))"
        );
        assert_eq!(
            public(fixture!("a2048_pkcs1.pem")),
            "public key: PEM label `RSA PRIVATE KEY` is not supported \
             (expected `RSA PUBLIC KEY` (PKCS#1) or `PUBLIC KEY` (SPKI))"
        );
        for encrypted in [
            fixture!("a2048_pkcs8_encrypted.pem"),
            fixture!("a2048_pkcs1_encrypted.pem"),
        ] {
            assert_eq!(
                PrivateKey::from_pem(encrypted).unwrap_err(),
                RsaError::EncryptedKey
            );
        }
        assert_eq!(
            private(fixture!("c1024_pkcs8.pem")),
            "private key rejected: RSA keys must be at least 2048 bits"
        );
        assert_eq!(
            public(fixture!("c1024_pub_spki.pem")),
            "public key rejected: RSA keys must be at least 2048 bits"
        );
        assert!(private(fixture!("ec_p256_pkcs8.pem")).starts_with("private key rejected: "));
        assert!(public(fixture!("ec_p256_pub_spki.pem")).starts_with("public key rejected: "));
        assert_eq!(
            PrivateKey::from_pem("MIIEowIBAAKCAQEA").unwrap_err(),
            RsaError::NotPem(KeyRole::Private)
        );
        assert_eq!(
            PublicKey::from_pem("").unwrap_err(),
            RsaError::NotPem(KeyRole::Public)
        );
        let bad_base64 = "-----BEGIN PUBLIC KEY-----\n@@@@\n-----END PUBLIC KEY-----\n";
        assert!(public(bad_base64).starts_with("public key: not a valid PEM document ("));
    }

    #[test]
    fn errors_on_corrupted_keys_quote_no_key_text() {
        let pem = fixture!("a2048_pkcs1.pem");
        let lines: Vec<&str> = pem.lines().collect();
        // Damage the DER but keep the base64 valid, then a line that is not base64.
        let mut swapped = lines.clone();
        swapped.swap(3, 4);
        let mut truncated = lines.clone();
        truncated[5] = "@@@@";
        for broken in [swapped.join("\n"), truncated.join("\n")] {
            let message = PrivateKey::from_pem(&broken).unwrap_err().to_string();
            for line in &lines[1..lines.len() - 1] {
                for window in line.as_bytes().windows(8) {
                    let needle = std::str::from_utf8(window).unwrap();
                    assert!(!message.contains(needle), "{message}");
                }
            }
        }
    }
}

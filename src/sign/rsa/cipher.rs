//! Block-wise RSA encryption of field values, as Java's "RSA 分段加密" does it.
//!
//! A value longer than one RSA block is cut into blocks at byte boundaries (a
//! UTF-8 character may straddle two blocks), each block is encrypted on its own,
//! and the ciphertexts, each exactly the key size long, are concatenated before
//! base64. The receiver splits into key-sized blocks, decrypts, concatenates and
//! only then decodes UTF-8. Both paddings run in aws-lc-rs.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::error::{CipherFailure, RsaError};
use super::keys::{PrivateKey, PublicKey};

/// RSA encryption padding for field encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Padding {
    /// RSAES-PKCS1-v1_5, the seed's default (`pkcs1`).
    #[default]
    Pkcs1,
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256 (`oaep-sha256`).
    OaepSha256,
}

impl Padding {
    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Padding::Pkcs1 => "pkcs1",
            Padding::OaepSha256 => "oaep-sha256",
        }
    }

    /// Largest plaintext block for a key of `key_bytes` bytes (RFC 8017 §7.1.1, §7.2.1).
    pub fn max_block(self, key_bytes: usize) -> usize {
        match self {
            Padding::Pkcs1 => key_bytes - 11,
            Padding::OaepSha256 => key_bytes - 2 * 32 - 2,
        }
    }
}

impl FromStr for Padding {
    type Err = RsaError;

    fn from_str(s: &str) -> Result<Self, RsaError> {
        match s {
            "pkcs1" => Ok(Padding::Pkcs1),
            "oaep-sha256" => Ok(Padding::OaepSha256),
            other => Err(RsaError::UnknownPadding(other.to_owned())),
        }
    }
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PublicKey {
    /// base64 of the concatenated per-block ciphertexts of `plaintext`.
    ///
    /// An empty plaintext still yields one block, so an empty value is not told
    /// apart from a short one by its ciphertext.
    pub fn encrypt(&self, padding: Padding, plaintext: &[u8]) -> Result<String, RsaError> {
        self.encrypt_blocks(padding, plaintext)
            .map(|ciphertext| STANDARD.encode(ciphertext))
            .map_err(RsaError::Cipher)
    }

    pub(super) fn encrypt_blocks(
        &self,
        padding: Padding,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CipherFailure> {
        let block = self.block_bytes();
        let max = padding.max_block(block);
        let chunks: Vec<&[u8]> = if plaintext.is_empty() {
            vec![plaintext]
        } else {
            plaintext.chunks(max).collect()
        };
        let mut out = vec![0u8; chunks.len() * block];
        for (chunk, dest) in chunks.iter().zip(out.chunks_mut(block)) {
            let written = match padding {
                Padding::Pkcs1 => self.pkcs1.encrypt(chunk, dest),
                Padding::OaepSha256 => {
                    self.oaep
                        .encrypt(&OAEP_SHA256_MGF1SHA256, chunk, dest, None)
                }
            }
            .map_err(|_| CipherFailure::Encrypt)?;
            // Blocks are only separable on the other side if each is exactly k bytes.
            if written.len() != block {
                return Err(CipherFailure::Encrypt);
            }
        }
        Ok(out)
    }

    fn block_bytes(&self) -> usize {
        self.pkcs1.key_size_bytes()
    }
}

impl PrivateKey {
    /// Decrypts base64 ciphertext made of key-sized blocks (see the module doc).
    ///
    /// ASCII whitespace is ignored because older Java base64 encoders wrap
    /// lines at 76 characters. An empty ciphertext is an empty plaintext,
    /// which is what a Java block loop produces for an empty value.
    pub fn decrypt(&self, padding: Padding, ciphertext_b64: &str) -> Result<Vec<u8>, RsaError> {
        self.decrypt_blocks(padding, ciphertext_b64)
            .map_err(RsaError::Cipher)
    }

    pub(super) fn decrypt_blocks(
        &self,
        padding: Padding,
        ciphertext_b64: &str,
    ) -> Result<Vec<u8>, CipherFailure> {
        let compact: Vec<u8> = ciphertext_b64
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let ciphertext = STANDARD
            .decode(compact)
            .map_err(|_| CipherFailure::NotBase64)?;
        let block = self.pkcs1.key_size_bytes();
        if ciphertext.len() % block != 0 {
            return Err(CipherFailure::Length {
                len: ciphertext.len(),
                block,
            });
        }
        let mut plaintext = Vec::with_capacity(ciphertext.len());
        let mut buf = vec![0u8; block];
        for chunk in ciphertext.chunks(block) {
            let clear = match padding {
                Padding::Pkcs1 => self.pkcs1.decrypt(chunk, &mut buf),
                Padding::OaepSha256 => {
                    self.oaep
                        .decrypt(&OAEP_SHA256_MGF1SHA256, chunk, &mut buf, None)
                }
            }
            .map_err(|_| CipherFailure::Decrypt)?;
            plaintext.extend_from_slice(clear);
        }
        buf.fill(0);
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (PrivateKey, PublicKey) {
        let private =
            PrivateKey::from_pem(include_str!("../../../tests/fixtures/rsa/a2048_pkcs1.pem"))
                .unwrap();
        let public = private.public_key();
        (private, public)
    }

    #[test]
    fn block_limits_follow_rfc_8017() {
        assert_eq!(Padding::Pkcs1.max_block(256), 245);
        assert_eq!(Padding::OaepSha256.max_block(256), 190);
        assert_eq!(Padding::OaepSha256.max_block(384), 318);
    }

    #[test]
    fn padding_names_round_trip() {
        for padding in [Padding::Pkcs1, Padding::OaepSha256] {
            assert_eq!(padding.as_str().parse::<Padding>(), Ok(padding));
        }
        assert_eq!(
            "oaep".parse::<Padding>().unwrap_err().to_string(),
            "unknown RSA padding `oaep` (expected `pkcs1` or `oaep-sha256`)"
        );
        assert_eq!(Padding::default(), Padding::Pkcs1);
    }

    #[test]
    fn round_trips_at_every_block_boundary() {
        let (private, public) = keys();
        for padding in [Padding::Pkcs1, Padding::OaepSha256] {
            let max = padding.max_block(256);
            for len in [0, 1, max - 1, max, max + 1, 2 * max, 2 * max + 1] {
                let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let ciphertext = public.encrypt(padding, &plaintext).unwrap();
                let blocks = len.div_ceil(max).max(1);
                assert_eq!(STANDARD.decode(&ciphertext).unwrap().len(), blocks * 256);
                assert_eq!(private.decrypt(padding, &ciphertext).unwrap(), plaintext);
            }
        }
    }

    #[test]
    fn empty_ciphertext_is_empty_plaintext() {
        let (private, _) = keys();
        assert_eq!(private.decrypt(Padding::Pkcs1, "").unwrap(), b"");
    }

    #[test]
    fn wrapped_base64_is_accepted() {
        let (private, public) = keys();
        let ciphertext = public.encrypt(Padding::Pkcs1, b"hello").unwrap();
        let wrapped = format!("{}\r\n{}", &ciphertext[..76], &ciphertext[76..]);
        assert_eq!(private.decrypt(Padding::Pkcs1, &wrapped).unwrap(), b"hello");
    }

    #[test]
    fn malformed_ciphertexts_fail_with_a_reason() {
        let (private, public) = keys();
        let cipher = |f| Err(RsaError::Cipher(f));
        assert_eq!(
            private.decrypt(Padding::Pkcs1, "not base64!"),
            cipher(CipherFailure::NotBase64)
        );
        assert_eq!(
            private.decrypt(Padding::Pkcs1, &STANDARD.encode([0u8; 100])),
            cipher(CipherFailure::Length {
                len: 100,
                block: 256
            })
        );
        let oaep = public.encrypt(Padding::OaepSha256, b"x").unwrap();
        assert_eq!(
            private.decrypt(Padding::Pkcs1, &oaep),
            cipher(CipherFailure::Decrypt)
        );
    }

    #[test]
    fn another_key_cannot_decrypt() {
        let (_, public) = keys();
        let other =
            PrivateKey::from_pem(include_str!("../../../tests/fixtures/rsa/b3072_pkcs8.pem"))
                .unwrap();
        let ciphertext = public.encrypt(Padding::Pkcs1, &[7u8; 300]).unwrap();
        // 2 blocks of 256 bytes is not a whole number of 384-byte blocks.
        assert!(other.decrypt(Padding::Pkcs1, &ciphertext).is_err());
        let ciphertext = public.encrypt(Padding::Pkcs1, &[7u8; 600]).unwrap();
        // 3 blocks of 256 = 2 blocks of 384: the length passes, the plaintext must
        // not (random data passes a v1.5 padding check about once in 2^16 tries).
        assert_ne!(
            other.decrypt(Padding::Pkcs1, &ciphertext).ok(),
            Some(vec![7u8; 600])
        );
    }
}

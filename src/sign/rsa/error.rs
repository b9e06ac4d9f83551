//! The one error type of the `rsa` signer; no variant can carry key material.

use std::fmt;

/// Which of the two keys a key-loading error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// Our private key (signing, inbound decryption).
    Private,
    /// The peer's public key (verification, outbound field encryption).
    Public,
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyRole::Private => "private key",
            KeyRole::Public => "public key",
        })
    }
}

/// Why a block-wise RSA encryption or decryption failed.
///
/// Decryption failures deliberately do not say which block or why the padding
/// was wrong: detailed padding errors are what a Bleichenbacher oracle feeds on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherFailure {
    /// The library refused to encrypt; with a validated key this means a bug.
    Encrypt,
    /// The ciphertext text is not standard base64.
    NotBase64,
    /// The decoded ciphertext is not a whole number of key-sized blocks.
    Length {
        /// Decoded length in bytes.
        len: usize,
        /// Key size in bytes, the length of every block.
        block: usize,
    },
    /// A block did not decrypt (wrong key, wrong padding or tampered data).
    Decrypt,
    /// The decrypted bytes are not UTF-8, so they cannot go back into JSON.
    NotUtf8,
}

impl fmt::Display for CipherFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CipherFailure::Encrypt => f.write_str("RSA encryption failed"),
            CipherFailure::NotBase64 => f.write_str("ciphertext is not valid base64"),
            CipherFailure::Length { len, block } => write!(
                f,
                "ciphertext is {len} bytes, not a multiple of the {block}-byte key size"
            ),
            CipherFailure::Decrypt => {
                f.write_str("RSA decryption failed (wrong key, padding or data)")
            }
            CipherFailure::NotUtf8 => f.write_str("decrypted value is not UTF-8 text"),
        }
    }
}

/// Everything that can go wrong in the `rsa` signer.
///
/// Messages are stable and meant for operators: they name the key role, the
/// PEM label, the JSON pointer or the template, never bytes of a key.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RsaError {
    /// No PEM armour at all, typically a bare base64 key pasted from a portal.
    #[error(
        "{0}: no `-----BEGIN` line; keys must be PEM (wrap a bare base64 key in BEGIN/END lines)"
    )]
    NotPem(KeyRole),
    /// The PEM armour or the DER inside it is malformed.
    #[error("{role}: not a valid PEM document ({detail})")]
    Pem {
        /// Which key.
        role: KeyRole,
        /// The decoder's description of the defect (never the data).
        detail: String,
    },
    /// A well-formed PEM document of a kind we do not load.
    #[error("{role}: PEM label `{label}` is not supported (expected {expected})")]
    UnsupportedLabel {
        /// Which key.
        role: KeyRole,
        /// The label found after `BEGIN`.
        label: String,
        /// The labels we accept.
        expected: &'static str,
    },
    /// Password-protected keys would need the password in config too.
    #[error(
        "private key: encrypted PEM keys are not supported; store it decrypted in the secret store"
    )]
    EncryptedKey,
    /// The DER parsed but the key is unusable (wrong algorithm, size, encoding).
    #[error("{role} rejected: {reason}")]
    KeyRejected {
        /// Which key.
        role: KeyRole,
        /// A fixed description of the reason.
        reason: &'static str,
    },
    /// A template placeholder other than `{timestamp}`, `{nonce}`, `{body}`.
    #[error("signing template: unknown placeholder `{{{0}}}` (allowed: {{timestamp}}, {{nonce}}, {{body}})")]
    UnknownPlaceholder(String),
    /// A `{` without its `}` or a `}` without its `{`.
    #[error("signing template: unbalanced braces in `{0}`")]
    UnbalancedBraces(String),
    /// A signature that does not cover the body protects nothing.
    #[error("signing template `{0}` must contain {{body}}")]
    TemplateWithoutBody(String),
    /// A field-encryption padding name other than `pkcs1` or `oaep-sha256`.
    #[error("unknown RSA padding `{0}` (expected `pkcs1` or `oaep-sha256`)")]
    UnknownPadding(String),
    /// The library refused to sign; with a validated key this means a bug.
    #[error("RSA signing failed")]
    Sign,
    /// A field pointer that is not an RFC 6901 JSON pointer to a member.
    #[error("field pointer `{0}` must be a JSON pointer starting with '/'")]
    InvalidPointer(String),
    /// The same pointer listed twice would be encrypted twice.
    #[error("field pointer `{0}` is listed twice")]
    DuplicatePointer(String),
    /// A configured sensitive field holds something other than a string.
    #[error("field {pointer} holds a {found}, not a string; refusing to send it unencrypted")]
    FieldNotString {
        /// The configured pointer.
        pointer: String,
        /// JSON type found there.
        found: &'static str,
    },
    /// Encrypting or decrypting a configured field failed.
    #[error("field {pointer}: {reason}")]
    Field {
        /// The configured pointer.
        pointer: String,
        /// What went wrong.
        reason: CipherFailure,
    },
    /// Encrypting or decrypting raw bytes failed.
    #[error("{0}")]
    Cipher(CipherFailure),
}

/// Turns aws-lc-rs's fixed reason codes into sentences an operator can act on.
pub(crate) fn key_rejected(role: KeyRole, e: aws_lc_rs::error::KeyRejected) -> RsaError {
    let reason = match e.description_() {
        "TooSmall" => "RSA keys must be at least 2048 bits",
        "TooLarge" => "RSA keys must be at most 8192 bits",
        "WrongAlgorithm" => "not an RSA key",
        "InvalidEncoding" => "not a valid RSA key encoding",
        "InconsistentComponents" => "RSA key components are inconsistent",
        _ => "not a usable RSA key",
    };
    RsaError::KeyRejected { role, reason }
}

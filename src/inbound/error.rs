//! Why a callback was not accepted, and the HTTP status each reason answers with.
//!
//! Two families: the request is at fault (4xx: the provider's retry would fail the same
//! way, and nothing is published), or we are (5xx: the provider retries, nothing is lost).
//! The answer body carries only [`CallbackError::reason`], a fixed short text: never a
//! secret, never a detail an attacker could use as an oracle.

use axum::http::StatusCode;

use super::publish::PublishError;
use super::store::StoreError;
use crate::format::DecodeError;
use crate::sign::rsa::RsaError;
use crate::sign::sorted_chars::SortedCharsError;
use crate::sign::VerifyError;

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error("cannot read the body: {0}")]
    Unreadable(#[from] DecodeError),
    #[error("field `{0}` is missing or not text")]
    MissingField(String),
    #[error("header `{0}` is missing")]
    MissingHeader(String),
    /// PHP's `json_encode` would fail on this body (seed 001), so no signature can match.
    #[error("cannot recompute the signature: {0}")]
    Unsignable(#[from] SortedCharsError),
    #[error("the signature does not match")]
    BadSignature,
    #[error("X-Timestamp is not epoch milliseconds")]
    BadTimestamp,
    #[error("X-Timestamp is {skew_ms} ms from our clock, outside the window")]
    StaleTimestamp { skew_ms: i128 },
    #[error("X-Nonce is not 1 to 64 letters or digits")]
    BadNonce,
    #[error("X-Nonce was already used within the window")]
    ReplayedNonce,
    /// Settings guarantee a verifying key; this is the honest answer should they not.
    #[error("no key to verify with")]
    CannotVerify,
    /// The signature held, so the ciphertext is the provider's: our key or config is wrong.
    #[error("cannot decrypt a field: {0}")]
    Undecryptable(RsaError),
    #[error("too many callbacks in flight")]
    Busy,
    /// Another request (or replica) is publishing this same event right now.
    #[error("the same event is being published by another request")]
    InProgress,
    #[error("replay/idempotency store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// Which counter a failed callback increments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Unreadable or incomplete request.
    Malformed,
    /// The signature is missing or wrong.
    Signature,
    /// A stale timestamp or a reused nonce.
    Replay,
    /// Our side failed; the provider will retry.
    Unavailable,
}

impl CallbackError {
    pub fn status(&self) -> StatusCode {
        match self.kind() {
            Kind::Malformed => StatusCode::BAD_REQUEST,
            Kind::Signature | Kind::Replay => StatusCode::UNAUTHORIZED,
            Kind::Unavailable => match self {
                CallbackError::CannotVerify | CallbackError::Undecryptable(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                _ => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    pub fn kind(&self) -> Kind {
        use CallbackError::*;
        match self {
            NotUtf8 | Unreadable(_) | MissingField(_) | MissingHeader(_) | Unsignable(_)
            | BadTimestamp | BadNonce => Kind::Malformed,
            BadSignature => Kind::Signature,
            StaleTimestamp { .. } | ReplayedNonce => Kind::Replay,
            CannotVerify | Undecryptable(_) | Busy | InProgress | Store(_) | Publish(_) => {
                Kind::Unavailable
            }
        }
    }

    /// The short text after the provider's failure word in the answer.
    pub fn reason(&self) -> &'static str {
        use CallbackError::*;
        match self {
            NotUtf8 | Unreadable(_) | Unsignable(_) => "unreadable body",
            MissingField(_) => "missing field",
            MissingHeader(_) => "missing header",
            BadSignature => "bad signature",
            BadTimestamp => "bad timestamp",
            StaleTimestamp { .. } => "stale timestamp",
            BadNonce => "bad nonce",
            ReplayedNonce => "replayed nonce",
            CannotVerify => "cannot verify",
            Undecryptable(_) => "cannot decrypt",
            Busy => "busy, retry later",
            InProgress => "in progress, retry later",
            Store(_) | Publish(_) => "not accepted, retry later",
        }
    }
}

impl From<VerifyError> for CallbackError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Decode(e) => CallbackError::Unreadable(e),
            VerifyError::MissingSignature(field) => CallbackError::MissingField(field),
            VerifyError::MissingHeader(name) => CallbackError::MissingHeader(name),
            VerifyError::NoPeerKey => CallbackError::CannotVerify,
            VerifyError::Unsignable(e) => CallbackError::Unsignable(e),
            VerifyError::Mismatch => CallbackError::BadSignature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_4xx_and_our_failures_5xx() {
        assert_eq!(CallbackError::BadSignature.status(), 401);
        assert_eq!(CallbackError::ReplayedNonce.status(), 401);
        assert_eq!(CallbackError::StaleTimestamp { skew_ms: 1 }.status(), 401);
        assert_eq!(CallbackError::MissingHeader("X-Nonce".into()).status(), 400);
        assert_eq!(CallbackError::InProgress.status(), 503);
        let e = CallbackError::Undecryptable(RsaError::Sign);
        assert_eq!(e.status(), 500);
        assert_eq!(e.reason(), "cannot decrypt");
    }
}

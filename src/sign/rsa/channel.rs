//! The `rsa` signer as a channel uses it: encrypt fields, sign into headers, verify callbacks.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{
    new_nonce, EncryptedFields, Padding, PrivateKey, PublicKey, RsaError, RsaSigner, RsaVerifier,
    SigningParts, Template, HEADER_EVENT_CODE, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use crate::format::BodyEncoding;
use crate::message::NotifyType;
use crate::sign::explain::{Canonical, Part};
use crate::sign::{SignContext, SignError, Signed, VerifyError};

/// One channel's RSA setup: our key signs, the brand's key encrypts and verifies.
#[derive(Debug)]
pub struct RsaChannel {
    signer: RsaSigner,
    /// The peer's public key, twice: aws-lc-rs keeps verification and encryption keys apart.
    verifier: Option<RsaVerifier>,
    /// Our own public key: checks a callback we sent, as the brand received it.
    own: RsaVerifier,
    peer_key: Option<PublicKey>,
    fields: EncryptedFields,
    padding: Padding,
    event_codes: HashMap<NotifyType, String>,
}

impl RsaChannel {
    /// Builds it from validated parts; `peer_public_pem` is needed for encryption and verify.
    pub fn new(
        template: Template,
        private_key: PrivateKey,
        peer_public_pem: Option<&str>,
        fields: EncryptedFields,
        padding: Padding,
        event_codes: HashMap<NotifyType, String>,
    ) -> Result<Self, RsaError> {
        let (verifier, peer_key) = match peer_public_pem {
            Some(pem) => (
                Some(RsaVerifier::new(
                    template.clone(),
                    PublicKey::from_pem(pem)?,
                )),
                Some(PublicKey::from_pem(pem)?),
            ),
            None => (None, None),
        };
        Ok(Self {
            own: RsaVerifier::new(template.clone(), private_key.public_key()),
            signer: RsaSigner::new(template, private_key),
            verifier,
            peer_key,
            fields,
            padding,
            event_codes,
        })
    }

    /// Encrypts the configured fields, encodes the body, and signs it into headers.
    pub fn sign(
        &self,
        fields: Map<String, Value>,
        encoding: BodyEncoding,
        ctx: &SignContext<'_>,
        explain: bool,
    ) -> Result<Signed, SignError> {
        let event_code = self
            .event_codes
            .get(&ctx.notify_type)
            .ok_or(SignError::NoEventCode(ctx.notify_type))?;
        let mut body = Value::Object(fields);
        if !self.fields.pointers().is_empty() {
            let key = self.peer_key.as_ref().ok_or(SignError::NoPeerKey)?;
            self.fields.encrypt(&mut body, key, self.padding)?;
        }
        let Value::Object(fields) = body else {
            unreachable!("encryption replaces strings inside the object, never the object")
        };
        let body = encoding.encode(&fields);
        let timestamp = ctx.now_ms.to_string();
        let nonce = match ctx.nonce {
            Some(n) => n.to_owned(),
            None => new_nonce(&mut rand::rng()),
        };
        let parts = SigningParts {
            timestamp: &timestamp,
            nonce: &nonce,
            body: body.as_bytes(),
        };
        let signature = self.signer.sign(&parts)?;
        let string_to_sign = explain.then(|| self.signer.explain(&parts));
        Ok(Signed {
            headers: vec![
                (HEADER_TIMESTAMP.to_owned(), timestamp),
                (HEADER_NONCE.to_owned(), nonce),
                (HEADER_EVENT_CODE.to_owned(), event_code.clone()),
                (HEADER_SIGNATURE.to_owned(), signature),
            ],
            body,
            string_to_sign,
        })
    }

    /// Inbound: replaces the configured fields with their plaintext, decrypted with our
    /// private key. Call it only once [`Self::verify`] held (Bleichenbacher; module doc).
    pub fn decrypt_fields(&self, body: &mut Value) -> Result<(), RsaError> {
        self.fields.decrypt(body, &self.signer.key, self.padding)
    }

    /// Checks a callback signed by the peer: `X-Signature` over the template.
    pub fn verify(&self, body: &str, headers: &[(String, String)]) -> Result<(), VerifyError> {
        let verifier = self.verifier.as_ref().ok_or(VerifyError::NoPeerKey)?;
        Self::verify_with(verifier, body, headers)
    }

    /// Checks a callback we sent (as the brand received it) against our own public key.
    pub fn verify_own(&self, body: &str, headers: &[(String, String)]) -> Result<(), VerifyError> {
        Self::verify_with(&self.own, body, headers)
    }

    fn verify_with(
        verifier: &RsaVerifier,
        body: &str,
        headers: &[(String, String)],
    ) -> Result<(), VerifyError> {
        let parts = SigningParts {
            timestamp: header(headers, HEADER_TIMESTAMP)?,
            nonce: header(headers, HEADER_NONCE)?,
            body: body.as_bytes(),
        };
        if verifier.verify(&parts, header(headers, HEADER_SIGNATURE)?) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    /// The string `X-Signature` must sign for this body and these headers (no secret in it).
    pub fn canonical(
        &self,
        body: &str,
        headers: &[(String, String)],
    ) -> Result<Canonical, VerifyError> {
        let parts = SigningParts {
            timestamp: header(headers, HEADER_TIMESTAMP)?,
            nonce: header(headers, HEADER_NONCE)?,
            body: body.as_bytes(),
        };
        Ok(Canonical::new(vec![Part::Data(
            self.signer.explain(&parts),
        )]))
    }
}

/// A header's value by case-insensitive name.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Result<&'a str, VerifyError> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| VerifyError::MissingHeader(name.to_owned()))
}

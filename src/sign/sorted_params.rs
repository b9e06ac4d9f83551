//! `sorted-params` (ebuy default, EM; SPEC §3.1): hash of the sorted `k=v` pairs and the secret.

use hmac::{Hmac, Mac};
use md5::Md5;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::explain::{Canonical, Part};
use crate::format::field_text;
use crate::secret::Secret;

/// The digest applied to the string to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Md5,
    Sha256,
    /// HMAC-SHA256 keyed with the secret.
    HmacSha256,
}

/// Hex case of the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Lower,
    Upper,
}

/// A configured `sorted-params` signer.
#[derive(Debug, Clone)]
pub struct SortedParams {
    pub secret: Secret,
    /// Over `{params}` and `{secret}`, e.g. `{params}&key={secret}`.
    pub template: String,
    pub hash: Hash,
    pub case: Case,
}

/// What `explain` shows in place of the secret.
pub use super::explain::MASK;

impl SortedParams {
    /// The signature of `fields` (the field named `sign_field` is left out).
    pub fn sign(&self, fields: &Map<String, Value>, sign_field: &str) -> String {
        // The string hashed, built in one pass; the parts list is only for showing it.
        let mut text = String::new();
        self.fill(fields, sign_field, |piece| match piece {
            Piece::Params(params) if text.is_empty() => text = params,
            Piece::Params(params) => text.push_str(&params),
            Piece::Secret => text.push_str(self.secret.expose()),
            Piece::Literal(literal) => text.push_str(literal),
        });
        self.digest(&text)
    }

    /// The signature over an already built canonical string.
    pub fn sign_canonical(&self, canonical: &Canonical) -> String {
        self.digest(&canonical.exposed())
    }

    fn digest(&self, text: &str) -> String {
        let digest = match self.hash {
            Hash::Md5 => Md5::digest(text.as_bytes()).to_vec(),
            Hash::Sha256 => Sha256::digest(text.as_bytes()).to_vec(),
            Hash::HmacSha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes())
                    .expect("HMAC takes keys of any length");
                mac.update(text.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
        };
        match self.case {
            Case::Lower => hex::encode(digest),
            Case::Upper => hex::encode_upper(digest),
        }
    }

    /// The exact string that is hashed, with the secret masked.
    pub fn explain(&self, fields: &Map<String, Value>, sign_field: &str) -> String {
        self.canonical(fields, sign_field).masked()
    }

    /// The string that is hashed, in parts.
    pub fn canonical(&self, fields: &Map<String, Value>, sign_field: &str) -> Canonical {
        let mut parts = Vec::new();
        self.fill(fields, sign_field, |piece| {
            parts.push(match piece {
                Piece::Params(params) => Part::Data(params),
                Piece::Secret => Part::Secret(self.secret.clone()),
                Piece::Literal(literal) => Part::Literal(literal.to_owned()),
            })
        });
        Canonical::new(parts)
    }

    /// The template filled in one pass, piece by piece in order: a body value that happens
    /// to contain `{secret}` stays text and never pulls the secret in.
    fn fill<'t>(
        &'t self,
        fields: &Map<String, Value>,
        sign_field: &str,
        mut emit: impl FnMut(Piece<'t>),
    ) {
        let template = self.template.as_str();
        let (mut literal_from, mut at) = (0, 0);
        while let Some(c) = template[at..].chars().next() {
            let rest = &template[at..];
            let (piece, len) = if rest.starts_with(PARAMS) {
                (Piece::Params(params(fields, sign_field)), PARAMS.len())
            } else if rest.starts_with(SECRET) {
                (Piece::Secret, SECRET.len())
            } else {
                at += c.len_utf8();
                continue;
            };
            if literal_from < at {
                emit(Piece::Literal(&template[literal_from..at]));
            }
            emit(piece);
            at += len;
            literal_from = at;
        }
        if literal_from < at {
            emit(Piece::Literal(&template[literal_from..]));
        }
    }
}

const PARAMS: &str = "{params}";
const SECRET: &str = "{secret}";

/// One piece of a filled template.
enum Piece<'t> {
    Params(String),
    Secret,
    Literal(&'t str),
}

/// `k=v&…` over the non-empty fields except the signature, keys in byte order.
pub fn params(fields: &Map<String, Value>, sign_field: &str) -> String {
    let mut pairs: Vec<(&str, std::borrow::Cow<'_, str>)> = fields
        .iter()
        .filter(|(k, v)| k.as_str() != sign_field && !is_empty(v))
        .map(|(k, v)| (k.as_str(), field_text(v)))
        .collect();
    pairs.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    fn signer(hash: Hash, case: Case) -> SortedParams {
        SortedParams {
            secret: Secret::new("K3Y"),
            template: "{params}&key={secret}".into(),
            hash,
            case,
        }
    }

    #[test]
    fn params_sort_skip_empty_and_keep_raw_values() {
        let f = fields(
            r#"{"b":"2","a":"x y","sign":"S","e":"","n":null,"o":{"z":1,"a":[0.10]},"t":true}"#,
        );
        assert_eq!(
            params(&f, "sign"),
            r#"a=x y&b=2&o={"z":1,"a":[0.10]}&t=true"#
        );
    }

    #[test]
    fn md5_upper_known_answer() {
        let f = fields(r#"{"appId":"A","bizContent":"{}"}"#);
        // echo -n 'appId=A&bizContent={}&key=K3Y' | md5sum
        assert_eq!(
            signer(Hash::Md5, Case::Upper).sign(&f, "sign"),
            "D2EFF8AC3514DCDA14D78AD14C755C16"
        );
        assert_eq!(
            signer(Hash::Md5, Case::Upper).explain(&f, "sign"),
            "appId=A&bizContent={}&key=******"
        );
    }

    #[test]
    fn a_value_spelling_the_placeholder_stays_text() {
        let f = fields(r#"{"memo":"{secret}"}"#);
        let s = signer(Hash::Md5, Case::Lower);
        assert_eq!(s.explain(&f, "sign"), "memo={secret}&key=******");
        // echo -n 'memo={secret}&key=K3Y' | md5sum
        assert_eq!(s.sign(&f, "sign"), "f95e925421d68fd958fabd3d24a0ab1e");
    }

    #[test]
    fn placeholders_inside_field_values_stay_literal() {
        let f = fields(r#"{"a":"{secret}","b":"{params}"}"#);
        let s = signer(Hash::Md5, Case::Lower);
        assert_eq!(s.explain(&f, "sign"), "a={secret}&b={params}&key=******");
        let braces = SortedParams {
            template: "{{params}}|{secret".into(),
            ..s
        };
        assert_eq!(
            braces.explain(&f, "sign"),
            "{a={secret}&b={params}}|{secret"
        );
    }

    #[test]
    fn sha256_and_hmac_known_answers() {
        let f = fields(r#"{"appId":"A","bizContent":"{}"}"#);
        // echo -n 'appId=A&bizContent={}&key=K3Y' | sha256sum
        assert_eq!(
            signer(Hash::Sha256, Case::Lower).sign(&f, "sign"),
            "74b31b076c74c1c17fdbec36103f3008be775245505be391967bc1b3f5c05e12"
        );
        // echo -n 'appId=A&bizContent={}&key=K3Y' | openssl dgst -sha256 -hmac K3Y
        assert_eq!(
            signer(Hash::HmacSha256, Case::Lower).sign(&f, "sign"),
            "c79b1817232d038f92f5a0dd9516ba16c0da6e85200dd54e76edaf9d19d274ab"
        );
    }
}

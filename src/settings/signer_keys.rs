//! A `signer` table, preset already merged in, read as the keys of its kind: one serde
//! struct per kind, so a key is either one that kind reads or an error naming the kind
//! it belongs to.
//!
//! The table stays untyped until here because its kind may come from the preset while
//! its other keys come from the channel (`signer = { secret = … }` on a `shangzhan`
//! channel is a `sorted-chars-md5` signer).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::{Table, Value};

use super::channel::not_one_of;
use super::{invalid, load_error, SettingsError};
use crate::secret::REDACTED;

/// The kinds, as `kind = …` names them.
pub const KINDS: &str = "sorted-params, sorted-chars-md5, rsa";

/// `kind = "sorted-params"` (the default): a hash over the sorted body parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SortedParamsKeys {
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// The body field that carries the signature (default `sign`).
    pub field: Option<String>,
    pub template: Option<String>,
    pub hash: Option<String>,
    pub case: Option<String>,
}

/// `kind = "sorted-chars-md5"`: 商战's MD5 over the body's sorted characters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SortedCharsKeys {
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub field: Option<String>,
}

/// `kind = "rsa"`: RSA signature headers, optionally with encrypted fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RsaKeys {
    /// Our private key (PEM, PKCS#1 or PKCS#8), inline or as a file.
    pub private_key: Option<String>,
    pub private_key_file: Option<PathBuf>,
    /// The brand's public key, for field encryption and verifying its callbacks.
    pub peer_public_key: Option<String>,
    pub peer_public_key_file: Option<PathBuf>,
    /// JSON pointers of the fields to encrypt.
    pub encrypt_fields: Option<Vec<String>>,
    /// `pkcs1` (default) or `oaep-sha256`.
    pub padding: Option<String>,
    /// The signed string over `{timestamp}`, `{nonce}`, `{body}`.
    pub string_to_sign: Option<String>,
    /// notifyType → `X-EventCode`.
    pub event_codes: Option<BTreeMap<String, String>>,
}

/// What `Debug` shows for an inline secret: whether it is set, never the value.
fn redacted(value: &Option<String>) -> Option<&'static str> {
    value.as_ref().map(|_| REDACTED)
}

impl fmt::Debug for SortedParamsKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SortedParamsKeys")
            .field("secret", &redacted(&self.secret))
            .field("secret_file", &self.secret_file)
            .field("field", &self.field)
            .field("template", &self.template)
            .field("hash", &self.hash)
            .field("case", &self.case)
            .finish()
    }
}

impl fmt::Debug for SortedCharsKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SortedCharsKeys")
            .field("secret", &redacted(&self.secret))
            .field("secret_file", &self.secret_file)
            .field("field", &self.field)
            .finish()
    }
}

impl fmt::Debug for RsaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKeys")
            .field("private_key", &redacted(&self.private_key))
            .field("private_key_file", &self.private_key_file)
            .field("peer_public_key", &self.peer_public_key)
            .field("peer_public_key_file", &self.peer_public_key_file)
            .field("encrypt_fields", &self.encrypt_fields)
            .field("padding", &self.padding)
            .field("string_to_sign", &self.string_to_sign)
            .field("event_codes", &self.event_codes)
            .finish()
    }
}

/// A signer table read as its kind's keys.
#[derive(Debug)]
pub enum SignerKeys {
    /// `sorted-params`.
    SortedParams(SortedParamsKeys),
    /// `sorted-chars-md5`.
    SortedChars(SortedCharsKeys),
    /// `rsa`.
    Rsa(RsaKeys),
}

#[derive(Clone, Copy)]
enum Kind {
    SortedParams,
    SortedChars,
    Rsa,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::SortedParams, Kind::SortedChars, Kind::Rsa];

    fn name(self) -> &'static str {
        match self {
            Kind::SortedParams => "sorted-params",
            Kind::SortedChars => "sorted-chars-md5",
            Kind::Rsa => "rsa",
        }
    }

    /// The keys this kind reads besides `kind`, as its struct names them.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::SortedParams => &["secret", "secret_file", "field", "template", "hash", "case"],
            Kind::SortedChars => &["secret", "secret_file", "field"],
            Kind::Rsa => &[
                "private_key",
                "private_key_file",
                "peer_public_key",
                "peer_public_key_file",
                "encrypt_fields",
                "padding",
                "string_to_sign",
                "event_codes",
            ],
        }
    }
}

/// Reads `table` (at `key`, e.g. `channels.a.signer`) as the keys of its `kind`
/// (default `sorted-params`).
pub fn decode(key: &str, mut table: Table) -> Result<SignerKeys, SettingsError> {
    as_text(&mut table);
    let name = match table.remove("kind") {
        None => Kind::SortedParams.name().to_owned(),
        Some(Value::String(name)) => name,
        Some(other) => {
            return Err(invalid(
                format!("{key}.kind"),
                format!("invalid type: {}, expected a string", other.type_str()),
            ))
        }
    };
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| not_one_of(format!("{key}.kind"), &name, KINDS))?;
    if let Some(other) = table.keys().find(|k| !kind.keys().contains(&k.as_str())) {
        return Err(foreign(key, other, kind));
    }
    Ok(match kind {
        Kind::SortedParams => SignerKeys::SortedParams(typed(key, table)?),
        Kind::SortedChars => SignerKeys::SortedChars(typed(key, table)?),
        Kind::Rsa => SignerKeys::Rsa(typed(key, table)?),
    })
}

/// A key `kind` does not read: a `secret` on an `rsa` signer is a mistake to report, not
/// a value to ignore; a key no kind reads is a typo, answered with the keys `kind` takes.
fn foreign(key: &str, name: &str, kind: Kind) -> SettingsError {
    let owners: Vec<&str> = Kind::ALL
        .into_iter()
        .filter(|k| k.keys().contains(&name))
        .map(Kind::name)
        .collect();
    let reason = if owners.is_empty() {
        format!(
            "unknown field `{name}`: signer kind {} takes kind, {}",
            kind.name(),
            kind.keys().join(", ")
        )
    } else {
        format!(
            "`{name}` belongs to signer kind {}, not {}",
            owners.join("/"),
            kind.name()
        )
    };
    invalid(format!("{key}.{name}"), reason)
}

fn typed<T: DeserializeOwned>(key: &str, table: Table) -> Result<T, SettingsError> {
    serde_path_to_error::deserialize(table).map_err(|e| {
        invalid(
            format!("{key}.{}", e.path()),
            load_error::without_excerpt(&e.inner().to_string()),
        )
    })
}

/// Every signer value is text (or a list or table of text). An environment override
/// arrives as a number or boolean when it looks like one (`…__SECRET=123456`), so such
/// values are read back as text; the file's own types are checked by [`text_only`].
fn as_text(table: &mut Table) {
    fn walk(value: &mut Value) {
        match value {
            Value::Integer(n) => *value = Value::String(n.to_string()),
            Value::Float(x) => *value = Value::String(x.to_string()),
            Value::Boolean(b) => *value = Value::String(b.to_string()),
            Value::Array(items) => items.iter_mut().for_each(walk),
            Value::Table(table) => table.iter_mut().for_each(|(_, v)| walk(v)),
            Value::String(_) | Value::Datetime(_) => {}
        }
    }
    table.iter_mut().for_each(|(_, v)| walk(v));
}

/// Refuses a number, boolean or date in a signer table of the file itself (`secret = 7`):
/// the file's values keep their TOML types, as everywhere else in it.
pub fn text_only(key: &str, table: &Table) -> Result<(), SettingsError> {
    fn walk(key: String, value: &Value) -> Result<(), SettingsError> {
        match value {
            Value::String(_) => Ok(()),
            Value::Array(items) => items.iter().try_for_each(|v| walk(key.clone(), v)),
            Value::Table(table) => table
                .iter()
                .try_for_each(|(name, v)| walk(format!("{key}.{name}"), v)),
            other => Err(SettingsError::Load(format!(
                "{key}: invalid type: {}, expected a string",
                other.type_str()
            ))),
        }
    }
    table
        .iter()
        .try_for_each(|(name, v)| walk(format!("{key}.{name}"), v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        text.parse().unwrap()
    }

    fn error(text: &str) -> String {
        decode("channels.x.signer", table(text))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn each_kind_reads_every_key_it_lists() {
        let all = "secret = \"s\"\nsecret_file = \"f\"\nfield = \"sign\"\ntemplate = \"t\"\n\
                   hash = \"md5\"\ncase = \"upper\"\nprivate_key = \"k\"\nprivate_key_file = \"f\"\n\
                   peer_public_key = \"p\"\npeer_public_key_file = \"f\"\nencrypt_fields = [\"/a\"]\n\
                   padding = \"pkcs1\"\nstring_to_sign = \"{body}\"\nevent_codes = { MakeCode = \"1\" }\n";
        let all = table(all);
        for kind in Kind::ALL {
            let mut own: Table = all
                .iter()
                .filter(|(k, _)| kind.keys().contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(own.len(), kind.keys().len(), "{}", kind.name());
            own.insert("kind".into(), kind.name().into());
            decode("k", own).unwrap();
        }
    }

    #[test]
    fn a_foreign_key_is_refused_with_the_kind_it_belongs_to() {
        assert_eq!(
            error("private_key = \"k\"\nsecret = \"s\""),
            "channels.x.signer.private_key: `private_key` belongs to signer kind rsa, \
             not sorted-params"
        );
        assert_eq!(
            error("kind = \"rsa\"\nfield = \"sign\""),
            "channels.x.signer.field: `field` belongs to signer kind \
             sorted-params/sorted-chars-md5, not rsa"
        );
        assert_eq!(
            error("kind = \"sorted-chars-md5\"\nsecrte = \"Hunter2\""),
            "channels.x.signer.secrte: unknown field `secrte`: signer kind sorted-chars-md5 \
             takes kind, secret, secret_file, field"
        );
    }

    #[test]
    fn type_errors_name_the_key_not_the_value() {
        let got = error("secret = [\"Hunter2\"]");
        assert!(
            got.starts_with("channels.x.signer.secret: invalid type"),
            "{got}"
        );
        assert!(!got.contains("Hunter2"), "{got}");
        let got = error("kind = \"rsa\"\nevent_codes = { MakeCode = [\"Hunter2\"] }");
        assert!(
            got.starts_with("channels.x.signer.event_codes.MakeCode: invalid type"),
            "{got}"
        );
        assert!(!got.contains("Hunter2"), "{got}");
        assert_eq!(
            error("kind = \"dsa\""),
            "channels.x.signer.kind: `dsa` is not one of sorted-params, sorted-chars-md5, rsa"
        );
    }

    #[test]
    fn debug_shows_no_secret_or_private_key() {
        for (kind, text) in [
            ("sorted-params", "secret = \"Hunter2-sp\"\nfield = \"sign\""),
            ("sorted-chars-md5", "secret = \"Hunter2-sc\""),
            ("rsa", "private_key = \"Hunter2-rsa\"\npadding = \"pkcs1\""),
        ] {
            let keys = decode("k", table(&format!("kind = \"{kind}\"\n{text}"))).unwrap();
            let shown = format!("{keys:?}");
            assert!(!shown.contains("Hunter2"), "{kind}: {shown}");
            assert!(shown.contains(REDACTED), "{kind}: {shown}");
        }
    }

    #[test]
    fn numbers_from_the_environment_are_text_but_not_in_the_file() {
        let SignerKeys::SortedParams(keys) =
            decode("k", table("secret = 123456\ncase = true")).unwrap()
        else {
            panic!("expected sorted-params keys")
        };
        assert_eq!(keys.secret.as_deref(), Some("123456"));
        let got = text_only("channels.x.signer", &table("secret = 123456"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            got,
            "cannot read config: channels.x.signer.secret: invalid type: integer, \
             expected a string"
        );
    }
}

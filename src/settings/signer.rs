//! The `signer` table of a channel → a ready [`Signer`] (keys parsed, secrets resolved).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::channel::not_one_of;
use super::secret;
use super::signer_keys::{self, RsaKeys, SignerKeys, SortedParamsKeys};
use super::{invalid, relative_to, SettingsError};
use crate::message::NotifyType;
use crate::secret::Secret;
use crate::sign::rsa::{EncryptedFields, Padding, PrivateKey, RsaChannel, Template};
use crate::sign::sorted_params::{Case, Hash};
use crate::sign::{Signer, SortedParams};

/// The body field that carries the signature unless `field` names another.
const DEFAULT_FIELD: &str = "sign";

/// Validates `channels.<id>.signer` (`key` is that prefix), the preset's table merged in.
pub fn signer(
    key: &str,
    raw: toml::Table,
    env: &HashMap<String, String>,
    base: &Path,
) -> Result<Signer, SettingsError> {
    match signer_keys::decode(key, raw)? {
        SignerKeys::SortedParams(keys) => sorted_params(key, keys, env, base),
        SignerKeys::SortedChars(keys) => Ok(Signer::SortedChars {
            secret: required_secret(
                key,
                "secret",
                keys.secret.as_deref(),
                keys.secret_file.as_deref(),
                env,
                base,
            )?,
            field: keys.field.unwrap_or_else(|| DEFAULT_FIELD.into()),
        }),
        SignerKeys::Rsa(keys) => rsa(key, keys, env, base),
    }
}

fn sorted_params(
    key: &str,
    raw: SortedParamsKeys,
    env: &HashMap<String, String>,
    base: &Path,
) -> Result<Signer, SettingsError> {
    let secret = required_secret(
        key,
        "secret",
        raw.secret.as_deref(),
        raw.secret_file.as_deref(),
        env,
        base,
    )?;
    let template = raw
        .template
        .unwrap_or_else(|| "{params}&key={secret}".into());
    if !template.contains("{params}") {
        return Err(invalid(format!("{key}.template"), "must contain {params}"));
    }
    let hash = match raw.hash.as_deref().unwrap_or("md5") {
        "md5" => Hash::Md5,
        "sha256" => Hash::Sha256,
        "hmac-sha256" => Hash::HmacSha256,
        other => {
            return Err(not_one_of(
                format!("{key}.hash"),
                other,
                "md5, sha256, hmac-sha256",
            ))
        }
    };
    if hash != Hash::HmacSha256 && !template.contains("{secret}") {
        return Err(invalid(
            format!("{key}.template"),
            "must contain {secret} unless hash is hmac-sha256",
        ));
    }
    let case = match raw.case.as_deref().unwrap_or("upper") {
        "lower" => Case::Lower,
        "upper" => Case::Upper,
        other => return Err(not_one_of(format!("{key}.case"), other, "lower, upper")),
    };
    Ok(Signer::SortedParams {
        signer: SortedParams {
            secret,
            template,
            hash,
            case,
        },
        field: raw.field.unwrap_or_else(|| DEFAULT_FIELD.into()),
    })
}

fn rsa(
    key: &str,
    raw: RsaKeys,
    env: &HashMap<String, String>,
    base: &Path,
) -> Result<Signer, SettingsError> {
    let at = |name: &str| format!("{key}.{name}");
    let private_pem = required_secret(
        key,
        "private_key",
        raw.private_key.as_deref(),
        raw.private_key_file.as_deref(),
        env,
        base,
    )?;
    let private_key = PrivateKey::from_pem(private_pem.expose())
        .map_err(|e| invalid(at("private_key"), e.to_string()))?;
    let peer_file = raw
        .peer_public_key_file
        .as_deref()
        .map(|p| relative_to(base, p));
    let peer_pem = secret::resolve(raw.peer_public_key.as_deref(), peer_file.as_deref(), env)
        .map_err(|source| SettingsError::Secret {
            key: at("peer_public_key"),
            source,
        })?;
    let template: Template = raw
        .string_to_sign
        .as_deref()
        .unwrap_or(crate::sign::rsa::DEFAULT_TEMPLATE)
        .parse()
        .map_err(|e: crate::sign::rsa::RsaError| invalid(at("string_to_sign"), e.to_string()))?;
    let padding: Padding = raw
        .padding
        .as_deref()
        .unwrap_or("pkcs1")
        .parse()
        .map_err(|e: crate::sign::rsa::RsaError| invalid(at("padding"), e.to_string()))?;
    let fields = EncryptedFields::new(raw.encrypt_fields.unwrap_or_default())
        .map_err(|e| invalid(at("encrypt_fields"), e.to_string()))?;
    if !fields.pointers().is_empty() && peer_pem.is_none() {
        return Err(SettingsError::Missing {
            key: at("peer_public_key"),
        });
    }
    let mut event_codes = HashMap::new();
    for (name, code) in raw.event_codes.unwrap_or_default() {
        // Env overrides lower-case keys, so notify types match without case.
        let kind = NotifyType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(&name))
            .ok_or_else(|| not_one_of(at("event_codes"), &name, "a notifyType such as MakeCode"))?;
        // Sent as the X-EventCode header: what HTTP refuses would fail every message.
        if reqwest::header::HeaderValue::from_str(&code).is_err() {
            return Err(invalid(
                format!("{}.{name}", at("event_codes")),
                "must be printable ASCII (it is sent as a header)",
            ));
        }
        event_codes.insert(kind, code);
    }
    let request = RsaChannel::new(
        template,
        private_key,
        peer_pem.as_ref().map(Secret::expose),
        fields,
        padding,
        event_codes,
    )
    .map_err(|e| invalid(at("peer_public_key"), e.to_string()))?;
    Ok(Signer::Rsa(Arc::new(request)))
}

/// A non-empty secret from `<name>` or `<name>_file`, or an error naming the key.
fn required_secret(
    key: &str,
    name: &str,
    inline: Option<&str>,
    file: Option<&Path>,
    env: &HashMap<String, String>,
    base: &Path,
) -> Result<Secret, SettingsError> {
    let file = file.map(|p| relative_to(base, p));
    secret::resolve(inline, file.as_deref(), env)
        .map_err(|source| SettingsError::Secret {
            key: format!("{key}.{name}"),
            source,
        })?
        .filter(|s| !s.expose().is_empty())
        .ok_or_else(|| SettingsError::Missing {
            key: format!("{key}.{name}"),
        })
}

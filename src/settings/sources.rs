//! The config file and the `NOTIFY_BRIDGE__…` environment, read so that an error says
//! which of them is at fault.
//!
//! The `config` crate merges both and converts as it goes: a file's `max_in_flight = "32"`
//! becomes 32 and `allow_private = "yes"` becomes true, silently. So the file is first read
//! on its own, strictly (TOML types as written), naming the key and line of a mistake.
//! Environment values are text by nature and keep the lenient conversion; when the merged
//! result fails where the file alone did not, the variable responsible is named.

use std::collections::HashMap;
use std::path::Path;

use super::raw::RawSettings;
use super::{load_error, signer_keys, SettingsError, ENV_PREFIX};

/// The file at `path` with the overrides in `env` applied, as serde reads it.
pub fn read(path: &Path, env: &HashMap<String, String>) -> Result<RawSettings, SettingsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError::Load(format!("{}: {e}", path.display())))?;
    strict(&text)?;
    let overrides: Vec<(&String, &String)> = {
        let mut vars: Vec<_> = env
            .iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        vars.sort();
        vars
    };
    merged(&text, &overrides).map_err(|e| blame(&text, &overrides, &e))
}

/// The file alone, with TOML's own types: a quoted number or boolean is refused.
fn strict(text: &str) -> Result<(), SettingsError> {
    let document = toml::Deserializer::parse(text)
        .map_err(|e| SettingsError::Load(load_error::without_excerpt(&e.to_string())))?;
    let raw = serde_path_to_error::deserialize::<_, RawSettings>(document).map_err(|e| {
        let why = load_error::without_excerpt(&e.inner().to_string());
        SettingsError::Load(match e.path().to_string().as_str() {
            "." => why,
            key => format!("{key}: {why}"),
        })
    })?;
    // Signer tables are typed only later, per kind, when a number there may also have
    // come from the environment; the file's own must be text already.
    let channels = raw
        .channels
        .iter()
        .map(|(id, c)| ("channels", id, &c.signer));
    let receivers = raw
        .receivers
        .iter()
        .map(|(id, r)| ("receivers", id, &r.signer));
    for (section, id, table) in channels.chain(receivers) {
        if let Some(table) = table {
            signer_keys::text_only(&format!("{section}.{id}.signer"), table)?;
        }
    }
    Ok(())
}

/// The file with `overrides` on top, converted leniently by the `config` crate.
fn merged(
    text: &str,
    overrides: &[(&String, &String)],
) -> Result<RawSettings, config::ConfigError> {
    let overrides: config::Map<String, String> = overrides
        .iter()
        .map(|(k, v)| ((*k).clone(), (*v).clone()))
        .collect();
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(overrides)),
        )
        .build()
        .and_then(config::Config::try_deserialize)
}

/// `error`, described, and prefixed with the first environment variable that causes it on
/// its own (the file alone is known to be good).
fn blame(
    text: &str,
    overrides: &[(&String, &String)],
    error: &config::ConfigError,
) -> SettingsError {
    let why = load_error::describe(error);
    let culprit = overrides
        .iter()
        .find(|var| merged(text, std::slice::from_ref(var)).is_err());
    SettingsError::Load(match culprit {
        Some((name, _)) => format!("environment variable {name}: {why}"),
        None => why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<RawSettings, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("local.toml");
        std::fs::write(&path, text).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        read(&path, &env).map_err(|e| e.to_string())
    }

    #[test]
    fn a_mistyped_environment_key_names_the_variable() {
        let env = [
            ("NOTIFY_BRIDGE__BROKER__PREFETCH", "4"),
            ("NOTIFY_BRIDGE__BROKER__PREFECH", "3"),
        ];
        let got = load("[broker]\nqueue = \"q\"\n", &env).unwrap_err();
        assert!(
            got.starts_with(
                "cannot read config: environment variable NOTIFY_BRIDGE__BROKER__PREFECH: "
            ),
            "{got}"
        );
        assert!(got.contains("unknown field `prefech`"), "{got}");
        let bad = [("NOTIFY_BRIDGE__BROKER__PREFETCH", "many")];
        let got = load("", &bad).unwrap_err();
        assert!(
            got.contains("environment variable NOTIFY_BRIDGE__BROKER__PREFETCH: broker.prefetch"),
            "{got}"
        );
        assert!(!got.contains("many"), "{got}");
    }

    #[test]
    fn environment_values_may_stay_text() {
        let env = [
            ("NOTIFY_BRIDGE__BROKER__PREFETCH", "3"),
            ("NOTIFY_BRIDGE__CHANNELS__A__MAX_IN_FLIGHT", "32"),
            ("NOTIFY_BRIDGE__CHANNELS__A__NOTIFY_ID_HEADER", "false"),
        ];
        let raw = load("[channels.a]\napp_id = \"A\"\n", &env).unwrap();
        assert_eq!(raw.broker.prefetch, Some(3));
        assert_eq!(raw.channels["a"].max_in_flight, Some(32));
        assert_eq!(raw.channels["a"].notify_id_header, Some(false));
    }

    #[test]
    fn a_value_of_the_wrong_type_in_the_file_is_refused() {
        let got = load("[channels.a]\nmax_in_flight = \"32\"\n", &[]).unwrap_err();
        assert_eq!(
            got,
            "cannot read config: channels.a.max_in_flight: TOML parse error at line 2, \
             column 17: invalid type: a string, expected usize"
        );
        let policy = "[channels.a]\nurl_policy = { allow_private = \"yes\" }\n";
        let got = load(policy, &[]).unwrap_err();
        assert!(
            got.contains("channels.a.url_policy.allow_private: TOML parse error at line 2"),
            "{got}"
        );
        assert!(got.contains("expected a boolean"), "{got}");
        assert!(!got.contains("yes"), "{got}");
    }

    #[test]
    fn file_errors_never_quote_a_secret() {
        let got = load("[admin]\ntoken = 7\n[x\n", &[]).unwrap_err();
        assert!(got.contains("line 3"), "{got}");
        let got = load("[channels.a]\nsigner = \"Hunter2\"\n", &[]).unwrap_err();
        assert!(got.contains("channels.a.signer"), "{got}");
        assert!(!got.contains("Hunter2"), "{got}");
        let got = load("[channels.a]\nsigner = { secret = 7 }\n", &[]).unwrap_err();
        assert!(
            got.contains("channels.a.signer.secret: invalid type: integer"),
            "{got}"
        );
    }
}

//! Secrets in the configuration: `${ENV}` references and `*_file` paths, resolved once
//! into a [`Secret`].

use std::collections::HashMap;
use std::path::Path;

use crate::secret::Secret;

/// Why a secret reference could not be resolved. Never carries the secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    /// `${NAME}` names a variable that is not set.
    #[error("environment variable `{0}` is not set")]
    MissingEnv(String),
    /// `${` without a closing `}`.
    #[error("unterminated `${{` reference")]
    Unterminated,
    /// A `*_file` path could not be read.
    #[error(
        "cannot read secret file `{path}`: {reason} (a relative path is read from the config \
         file's directory)"
    )]
    File { path: String, reason: String },
    /// Both the inline value and the `*_file` form were given.
    #[error("set either the value or the `_file` form, not both")]
    Ambiguous,
}

/// Replaces every `${NAME}` in `text` with the variable's value from `env`.
///
/// The environment is passed in so callers (and tests) decide where it comes from.
pub fn expand_env(text: &str, env: &HashMap<String, String>) -> Result<String, ResolveError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(ResolveError::Unterminated)?;
        let name = &after[..end];
        let value = env
            .get(name)
            .ok_or_else(|| ResolveError::MissingEnv(name.to_owned()))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Resolves a secret given inline (with `${ENV}` references) or as a file path.
pub fn resolve(
    inline: Option<&str>,
    file: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<Option<Secret>, ResolveError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(ResolveError::Ambiguous),
        (Some(text), None) => expand_env(text, env).map(|s| Some(Secret::new(s))),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|s| Some(Secret::new(s.trim_end_matches(['\r', '\n']))))
            .map_err(|e| ResolveError::File {
                path: path.display().to_string(),
                reason: e.kind().to_string(),
            }),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_env_references() {
        let env = HashMap::from([("A".to_owned(), "x1".to_owned())]);
        assert_eq!(expand_env("pre-${A}-post", &env).unwrap(), "pre-x1-post");
        assert_eq!(
            expand_env("${B}", &env),
            Err(ResolveError::MissingEnv("B".into()))
        );
        assert_eq!(expand_env("${A", &env), Err(ResolveError::Unterminated));
    }

    #[test]
    fn reads_file_without_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "s3cret\n").unwrap();
        let got = resolve(None, Some(&path), &HashMap::new())
            .unwrap()
            .unwrap();
        assert_eq!(got.expose(), "s3cret");
        assert_eq!(
            resolve(Some("x"), Some(&path), &HashMap::new()),
            Err(ResolveError::Ambiguous)
        );
    }

    #[test]
    fn file_error_does_not_leak_contents() {
        let err = resolve(None, Some(Path::new("/nonexistent/x")), &HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x"));
    }
}

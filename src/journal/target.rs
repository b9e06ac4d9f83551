//! Where the journal lives: `journal.url` parsed once into typed connect options.
//!
//! Parsing does no I/O, so a database that is down at start is not a config error; a URL
//! that can never work is.

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

/// The journal database: embedded SQLite (a file) or a PostgreSQL server.
#[derive(Clone)]
pub enum JournalUrl {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

/// Why `journal.url` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("must start with sqlite:// or postgres://")]
    Scheme,
    #[error("names no database file (e.g. sqlite://notify-bridge.db)")]
    NoFile,
    #[error("is not a valid database URL: {0}")]
    Invalid(sqlx::Error),
}

impl JournalUrl {
    /// Parses `sqlite://path[?…]` or `postgres://user[:password]@host[:port]/db[?…]`.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        if let Some(rest) = url.strip_prefix("sqlite://") {
            let file = rest.split('?').next().unwrap_or_default();
            if file.is_empty() {
                return Err(UrlError::NoFile);
            }
            let options = SqliteConnectOptions::from_str(url).map_err(UrlError::Invalid)?;
            Ok(JournalUrl::Sqlite(options))
        } else if url.starts_with("postgres://") {
            let options = PgConnectOptions::from_str(url).map_err(UrlError::Invalid)?;
            Ok(JournalUrl::Postgres(options))
        } else {
            Err(UrlError::Scheme)
        }
    }

    /// `sqlite` or `postgres`, for logs and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            JournalUrl::Sqlite(_) => "sqlite",
            JournalUrl::Postgres(_) => "postgres",
        }
    }
}

/// Shows where the journal is without the password a PostgreSQL URL may carry.
impl fmt::Display for JournalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalUrl::Sqlite(o) => write!(f, "sqlite://{}", o.get_filename().display()),
            JournalUrl::Postgres(o) => write!(
                f,
                "postgres://{}@{}:{}/{}",
                o.get_username(),
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or_default()
            ),
        }
    }
}

impl fmt::Debug for JournalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JournalUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_file() {
        let url = JournalUrl::parse("sqlite://notify-bridge.db").unwrap();
        assert_eq!(url.kind(), "sqlite");
        assert_eq!(url.to_string(), "sqlite://notify-bridge.db");
        let url = JournalUrl::parse("sqlite:///var/lib/nb/journal.db?mode=rwc").unwrap();
        assert_eq!(url.to_string(), "sqlite:///var/lib/nb/journal.db");
        assert!(matches!(
            JournalUrl::parse("sqlite://"),
            Err(UrlError::NoFile)
        ));
    }

    #[test]
    fn postgres_passwords_never_show() {
        let url = JournalUrl::parse("postgres://bridge:s3cret@db.internal:6432/journal").unwrap();
        assert_eq!(url.kind(), "postgres");
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("bridge@db.internal:6432/journal"), "{shown}");
    }

    #[test]
    fn other_schemes_and_broken_urls_are_refused() {
        assert!(matches!(
            JournalUrl::parse("mysql://x/y"),
            Err(UrlError::Scheme)
        ));
        assert!(matches!(
            JournalUrl::parse("postgres://h:notaport/db"),
            Err(UrlError::Invalid(_))
        ));
        assert!(matches!(
            JournalUrl::parse("postgres://h/db?sslmode=sometimes"),
            Err(UrlError::Invalid(_))
        ));
    }
}

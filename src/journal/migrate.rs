//! A tiny migration runner: ordered SQL files embedded in the binary, applied once each,
//! recorded in `journal_migrations`.
//!
//! All pending migrations run in one transaction (DDL is transactional in both SQLite and
//! PostgreSQL), so a crash half-way leaves the schema as it was.

/// One schema step.
#[derive(Debug, Clone, Copy)]
pub(super) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Both backends' steps from one list: the same versions and names, each backend's own SQL
/// (`migrations/sqlite/`, `migrations/postgres/`).
macro_rules! steps {
    ($(($version:literal, $name:literal, $file:literal)),* $(,)?) => {
        /// SQLite's steps, in order.
        pub(super) const SQLITE: &[Migration] = &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../migrations/sqlite/", $file)),
        }),*];
        /// PostgreSQL's steps, in order.
        pub(super) const POSTGRES: &[Migration] = &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../migrations/postgres/", $file)),
        }),*];
    };
}

steps![
    (1, "journal", "0001_journal.sql"),
    (2, "keys and deferrals", "0002_keys_and_deferrals.sql"),
    (3, "channel pauses", "0003_channel_pauses.sql"),
    (4, "compact bodies", "0004_compact_bodies.sql"),
    (5, "message numbers", "0005_message_numbers.sql"),
];

/// Creates the bookkeeping table; the same text works on both backends.
pub(super) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS journal_migrations (
    version       BIGINT PRIMARY KEY,
    name          TEXT   NOT NULL,
    applied_at_ms BIGINT NOT NULL
)";

pub(super) const APPLIED: &str = "SELECT version FROM journal_migrations";

pub(super) const RECORD: &str =
    "INSERT INTO journal_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)";

/// The migrations not yet applied, in version order.
pub(super) fn pending(all: &'static [Migration], applied: &[i64]) -> Vec<Migration> {
    let mut todo: Vec<Migration> = all
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .copied()
        .collect();
    todo.sort_by_key(|m| m.version);
    todo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_unique_and_both_backends_have_the_same_steps() {
        for all in [SQLITE, POSTGRES] {
            let mut versions: Vec<i64> = all.iter().map(|m| m.version).collect();
            versions.dedup();
            assert_eq!(versions.len(), all.len());
        }
        let names = |all: &[Migration]| all.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(names(SQLITE), names(POSTGRES));
    }

    #[test]
    fn only_unapplied_steps_run_in_order() {
        assert_eq!(pending(SQLITE, &[]).len(), SQLITE.len());
        assert!(pending(SQLITE, &[1, 2, 3, 4, 5]).is_empty());
        assert_eq!(pending(SQLITE, &[1, 2, 3, 4])[0].version, 5);
        assert_eq!(pending(SQLITE, &[1])[0].version, 2);
    }
}

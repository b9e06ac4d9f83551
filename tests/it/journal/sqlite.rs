//! The journal on SQLite files in temporary directories, and a real disk-full fault.
//!
//! Root ignores file permissions, so a read-only file cannot be faked with chmod here.
//! The faults are real ones instead: a 16 MiB tmpfs mounted for the test and filled to
//! the last byte (SQLITE_FULL, "database or disk is full", until the filler is removed),
//! and the database file made immutable with `chattr +i` (root cannot write it either).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use notify_bridge::journal::{Journal, JournalReader, JournalUrl};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

use super::*;

fn url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("journal.db").display())
}

/// Attempt rows in the file, counted directly.
async fn rows(dir: &Path) -> u64 {
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.join("journal.db"))
        .connect()
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM journal_attempts")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    n as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_batches_and_every_query() {
    let dir = tempfile::tempdir().unwrap();
    batches_and_queries(&url(dir.path())).await;
}

/// Bodies are stored deflated against a dictionary of their channel, and read back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bodies_are_stored_small_and_come_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let sent = bodies_come_back_whole(&url(dir.path())).await;
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.path().join("journal.db"))
        .connect()
        .await
        .unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT SUM(length(body)) FROM journal_messages")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(
        stored as usize * 4 < sent,
        "{stored} bytes stored for {sent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_business_keys_find_every_attempt() {
    let dir = tempfile::tempdir().unwrap();
    keys_find_every_attempt(&url(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_retention_prunes_old_attempts_and_orphaned_messages() {
    let dir = tempfile::tempdir().unwrap();
    retention_prunes(&url(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, task) = Journal::start(&settings(&url(dir.path()), 100));
    journal.record(entry("one", now_ms()));
    written(&journal, 1).await;
    task.shutdown(PATIENCE).await;
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.path().join("journal.db"))
        .connect()
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reader_refuses_a_file_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let error = JournalReader::open(&JournalUrl::parse(&url(dir.path())).unwrap())
        .await
        .expect_err("no journal file, no reader");
    assert!(error.to_string().contains("journal.db"), "{error}");
    assert!(
        !dir.path().join("journal.db").exists(),
        "not created by a reader"
    );
}

/// The directory does not exist at start: not a start-up failure, just writes that wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_missing_directory_at_start_heals_when_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    logs();
    let later = dir.path().join("not-yet");
    let (journal, task) = Journal::start(&settings(&url(&later), 100));
    for i in 0..10 {
        journal.record(entry(&format!("early-{i}"), now_ms()));
    }
    failing(&journal, 1).await;
    assert_eq!(journal.written(), 0);
    std::fs::create_dir(&later).unwrap();
    written(&journal, 10).await;
    assert_eq!(task.shutdown(PATIENCE).await, 0);
    assert_eq!(rows(&later).await, 10);
}

/// A tmpfs mounted for one test; unmounted (lazily, so open files cannot block it) on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// `None` where mounting is not permitted (not root, or no CAP_SYS_ADMIN).
    fn mount(path: PathBuf, size: &str) -> Option<Self> {
        std::fs::create_dir_all(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .ok()?;
        status.success().then_some(Self { path })
    }

    /// Writes zeros into `filler` until the file system refuses (ENOSPC).
    fn fill(&self) {
        let mut file = std::fs::File::create(self.path.join("filler")).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = file.write_all(&chunk).and_then(|_| file.flush()) {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC, not {e}");
                break;
            }
        }
        // Whatever partial page is left, take it too.
        while file.write(&[0]).is_ok_and(|n| n == 1) {}
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

impl Fault for Tmpfs {
    async fn induce(&mut self) {
        self.fill();
    }

    async fn clear(&mut self) {
        std::fs::remove_file(self.path.join("filler")).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_full_mid_run_costs_record_nothing_and_heals() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut fs) = Tmpfs::mount(dir.path().join("fs"), "16m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)");
        return;
    };
    let written = mid_run_fault(&url(&fs.path), &mut fs).await;
    assert_eq!(rows(&fs.path).await, written);
}

/// The database file and its WAL made immutable (`chattr +i`), which binds root too:
/// writes on open connections fail with SQLITE_IOERR_WRITE, and new connections can only
/// open the file read-only. The `-shm` file is left alone: SQLite maps it into memory,
/// and an immutable mapping would kill the process with SIGBUS, not fail a write.
struct Immutable {
    files: Vec<PathBuf>,
}

impl Immutable {
    /// `None` where the file system or the user cannot set the attribute.
    fn new(dir: &Path) -> Option<Self> {
        let probe = dir.join("probe");
        std::fs::write(&probe, b"").unwrap();
        let probe = std::slice::from_ref(&probe);
        let works = chattr("+i", probe) && chattr("-i", probe);
        let files = vec![dir.join("journal.db"), dir.join("journal.db-wal")];
        works.then_some(Self { files })
    }
}

fn chattr(flag: &str, files: &[PathBuf]) -> bool {
    Command::new("chattr")
        .arg(flag)
        .args(files)
        .status()
        .is_ok_and(|s| s.success())
}

impl Fault for Immutable {
    async fn induce(&mut self) {
        assert!(chattr("+i", &self.files), "chattr +i {:?}", self.files);
    }

    async fn clear(&mut self) {
        assert!(chattr("-i", &self.files), "chattr -i {:?}", self.files);
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        // Whatever happened, leave files the temporary directory can delete.
        chattr("-i", &self.files);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_read_only_file_mid_run_costs_record_nothing_and_heals() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut immutable) = Immutable::new(dir.path()) else {
        eprintln!("SKIPPED: cannot chattr +i here (needs root on ext4, xfs or similar)");
        return;
    };
    let written = mid_run_fault(&url(dir.path()), &mut immutable).await;
    assert_eq!(rows(dir.path()).await, written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_write_throughput_and_record_cost() {
    let dir = tempfile::tempdir().unwrap();
    let rate = throughput(&url(dir.path()), "sqlite", 20_000).await;
    assert!(rate > 1000.0, "{rate:.0} entries/s");
}

/// A journal file made by an earlier schema (`sql`: its tables and rows), then opened by
/// `check`; returns the migration versions recorded after.
async fn upgraded<F: std::future::Future<Output = ()>>(
    sql: String,
    check: impl FnOnce(String) -> F,
) -> Vec<i64> {
    use sqlx::Executor;
    let dir = tempfile::tempdir().unwrap();
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.path().join("journal.db"))
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    conn.execute(sql.as_str()).await.unwrap();
    check(url(dir.path())).await;
    sqlx::query_scalar(upgrade::VERSIONS)
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

/// A version-1 journal file holding a delivered message is upgraded in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_version_1_journal_is_upgraded_in_place() {
    let v1 = include_str!("../../../migrations/sqlite/0001_journal.sql");
    let rows = upgrade::version_1_rows("X'7B7D'");
    let versions = upgraded(format!("{v1};{rows}"), |url| async move {
        upgrade::is_upgraded_in_place(&url).await
    })
    .await;
    assert_eq!(versions, [1, 2, 3, 4, 5]);
}

/// A journal file written by the fourth schema (keys and deferrals by text id) is
/// rebuilt around message numbers in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_version_4_journal_is_upgraded_in_place() {
    let schema = [
        include_str!("../../../migrations/sqlite/0001_journal.sql"),
        include_str!("../../../migrations/sqlite/0002_keys_and_deferrals.sql"),
        include_str!("../../../migrations/sqlite/0003_channel_pauses.sql"),
        include_str!("../../../migrations/sqlite/0004_compact_bodies.sql"),
    ]
    .join(";");
    let rows = upgrade::version_4_rows("X'7B7D'");
    let versions = upgraded(format!("{schema};{rows}"), |url| async move {
        upgrade::version_4_is_upgraded_in_place(&url).await
    })
    .await;
    assert_eq!(versions, [1, 2, 3, 4, 5]);
}

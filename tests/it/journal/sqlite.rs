//! The journal on SQLite files in temporary directories, and a real disk-full fault.
//!
//! Root ignores file permissions, so a "read-only file" cannot be faked with chmod here.
//! The fault is a real one instead: the database lives on a 16 MiB tmpfs mounted for the
//! test, which is then filled to the last byte; SQLite's WAL appends fail with
//! SQLITE_FULL ("database or disk is full") until the filler file is removed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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
        .err()
        .expect("no journal file, no reader");
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
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = file.write_all(&chunk).and_then(|_| file.flush()) {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC, not {e}");
                break;
            }
        }
        // Whatever partial page is left, take it too.
        while file.write(&[0]).is_ok_and(|n| n == 1) {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_full_mid_run_costs_record_nothing_and_heals() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(dir.path().join("fs"), "16m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)");
        return;
    };
    logs();
    let buffer = 1000;
    let (journal, task) = Journal::start(&settings(&url(&fs.path), buffer));
    record_many(&journal, "before", 100);
    written(&journal, 100).await;

    let filler = fs.fill();
    let during = 50_000;
    let took = record_many(&journal, "during", during);
    eprintln!("sqlite disk full: record() x {during} took {took:?}");
    assert!(
        took < Duration::from_millis(500),
        "record() waited: {took:?}"
    );
    // Three failures: the writer keeps retrying (with backoff), and nothing lands meanwhile.
    failing(&journal, 3).await;
    assert_eq!(journal.written(), 100);
    let recorded = 100 + during as u64;
    accounted(&journal, recorded);
    assert!(
        journal.lag() <= buffer as u64 + 500,
        "lag {}",
        journal.lag()
    );
    assert!(
        journal.dropped() >= during as u64 - buffer as u64 - 500,
        "beyond the buffer is dropped: {}",
        journal.dropped()
    );

    std::fs::remove_file(filler).unwrap();
    eventually(PATIENCE, "the backlog written after the fault", || async {
        journal.lag() == 0
    })
    .await;
    record_many(&journal, "after", 10);
    written(&journal, recorded + 10 - journal.dropped()).await;
    accounted(&journal, recorded + 10);
    assert_eq!(task.shutdown(PATIENCE).await, 0);
    assert_eq!(rows(&fs.path).await, journal.written());
    let reader = JournalReader::open(&JournalUrl::parse(&url(&fs.path)).unwrap())
        .await
        .unwrap();
    assert_eq!(reader.attempts("after-9").await.unwrap().len(), 1);
    reader.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_write_throughput_and_record_cost() {
    let dir = tempfile::tempdir().unwrap();
    let rate = throughput(&url(dir.path()), "sqlite", 20_000).await;
    assert!(rate > 1000.0, "{rate:.0} entries/s");
}

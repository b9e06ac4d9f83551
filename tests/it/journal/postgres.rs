//! The journal on the real local PostgreSQL, each test in a schema of its own, and real
//! refusals: a login role switched to NOLOGIN with its sessions terminated (the server
//! refuses it until switched back), and a port where nothing listens.

use std::time::Duration;

use notify_bridge::journal::Journal;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use super::*;

/// The server the tests use; override with NOTIFY_BRIDGE_TEST_PG.
fn admin_url() -> String {
    std::env::var("NOTIFY_BRIDGE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A login role and a schema of the same name, `it_<random>`, for one test: the journal
/// connects as that role, so the test can refuse it without touching anyone else.
struct Scratch {
    admin: PgPool,
    name: String,
}

impl Scratch {
    async fn new() -> Self {
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .connect(&admin_url())
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (database test, user postgres, trust)");
        let name = format!("it_{:08x}", rand::random::<u32>());
        let scratch = Self { admin, name };
        scratch
            .sql(&format!("CREATE ROLE {} LOGIN", scratch.name))
            .await;
        scratch
            .sql(&format!(
                "CREATE SCHEMA {0} AUTHORIZATION {0}",
                scratch.name
            ))
            .await;
        scratch
    }

    /// The journal's URL: same server and database, as the scratch role, in its schema.
    fn url(&self) -> String {
        let admin: url::Url = admin_url().parse().unwrap();
        let host = admin.host_str().unwrap_or("127.0.0.1");
        let port = admin.port().unwrap_or(5432);
        format!(
            "postgres://{0}@{host}:{port}{1}?application_name={0}&options=-c%20search_path%3D{0}",
            self.name,
            admin.path()
        )
    }

    async fn sql(&self, sql: &str) {
        sqlx::query(sql).execute(&self.admin).await.unwrap();
    }

    /// The server refuses the role from now on, and ends the sessions it has.
    async fn refuse(&self) {
        self.sql(&format!("ALTER ROLE {} NOLOGIN", self.name)).await;
        self.terminate().await;
    }

    async fn admit(&self) {
        self.sql(&format!("ALTER ROLE {} LOGIN", self.name)).await;
    }

    async fn terminate(&self) {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
            .bind(&self.name)
            .execute(&self.admin)
            .await
            .unwrap();
    }

    async fn rows(&self) -> u64 {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {}.journal_attempts",
            self.name
        ))
        .fetch_one(&self.admin)
        .await
        .unwrap();
        n as u64
    }

    async fn drop(self) {
        self.terminate().await;
        self.sql(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await;
        self.sql(&format!("DROP ROLE {}", self.name)).await;
        self.admin.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batches_and_every_query() {
    let scratch = Scratch::new().await;
    batches_and_queries(&scratch.url()).await;
    scratch.drop().await;
}

/// Bodies are stored deflated against a dictionary of their channel, and read back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_bodies_are_stored_small_and_come_back_whole() {
    let scratch = Scratch::new().await;
    let sent = bodies_come_back_whole(&scratch.url()).await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&scratch.url())
        .await
        .unwrap();
    let stored: i64 =
        sqlx::query_scalar("SELECT SUM(octet_length(body))::int8 FROM journal_messages")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert!(
        stored as usize * 4 < sent,
        "{stored} bytes stored for {sent}"
    );
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_business_keys_find_every_attempt() {
    let scratch = Scratch::new().await;
    keys_find_every_attempt(&scratch.url()).await;
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_retention_prunes_old_attempts_and_orphaned_messages() {
    let scratch = Scratch::new().await;
    retention_prunes(&scratch.url()).await;
    scratch.drop().await;
}

impl Fault for Scratch {
    async fn induce(&mut self) {
        self.refuse().await;
    }

    async fn clear(&mut self) {
        self.admit().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusing_connections_mid_run_costs_record_nothing_and_heals() {
    let mut scratch = Scratch::new().await;
    let written = mid_run_fault(&scratch.url(), &mut scratch).await;
    assert_eq!(scratch.rows().await, written);
    scratch.drop().await;
}

/// One entry the database cannot take (a channel name too long for its index: SQLSTATE
/// 54000) must not wedge the journal: the batch is retried one entry at a time and only
/// that entry is discarded, counted as dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_entry_the_database_refuses_is_discarded_alone() {
    let scratch = Scratch::new().await;
    logs();
    let (journal, task) = Journal::start(&settings(&scratch.url(), 100));
    let mut poison = entry("poison", now_ms());
    // Random text does not compress below the index's ~2.7 kB row limit.
    let noise: String = (0..4000)
        .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
        .collect();
    poison.channel = Some(noise);
    journal.record(entry("good-1", now_ms()));
    journal.record(poison);
    journal.record(entry("good-2", now_ms()));
    eventually(PATIENCE, "the batch settled", || async {
        journal.lag() == 0
    })
    .await;
    assert_eq!((journal.written(), journal.dropped()), (2, 1));
    assert!(journal.errors() >= 1);
    journal.record(entry("good-3", now_ms()));
    written(&journal, 3).await;
    assert_eq!(task.shutdown(PATIENCE).await, 0);
    assert_eq!(scratch.rows().await, 3);
    scratch.drop().await;
}

/// Refused from the very start: starting is not an error, entries wait, then land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusing_at_start_is_not_an_error_and_heals() {
    let scratch = Scratch::new().await;
    logs();
    scratch.refuse().await;
    let (journal, task) = Journal::start(&settings(&scratch.url(), 100));
    record_many(&journal, "early", 10);
    failing(&journal, 1).await;
    assert_eq!(journal.written(), 0);
    scratch.admit().await;
    written(&journal, 10).await;
    assert_eq!(task.shutdown(PATIENCE).await, 0);
    assert_eq!(scratch.rows().await, 10);
    scratch.drop().await;
}

/// Nothing listens at all (connection refused): `record` stays instant, and the overflow
/// is counted; shutting down gives up after its grace and reports what was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_at_a_closed_port_drops_beyond_the_buffer() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    logs();
    let buffer = 1000;
    let (journal, task) = Journal::start(&settings(&url, buffer));
    let took = record_many(&journal, "nowhere", 50_000);
    eprintln!("postgres closed port: record() x 50000 took {took:?}");
    assert!(
        took < Duration::from_millis(500),
        "record() waited: {took:?}"
    );
    failing(&journal, 1).await;
    accounted(&journal, 50_000);
    assert_eq!(journal.written(), 0);
    assert!(journal.dropped() >= 50_000 - buffer as u64 - 500);
    let lost = task.shutdown(Duration::from_millis(300)).await;
    assert_eq!(lost, journal.lag());
    assert!(lost > 0 && lost <= buffer as u64 + 500, "lost {lost}");
}

/// Opening a journal where nothing listens says so at once (the pool alone would retry
/// for its 10 s acquire timeout and then say only that it timed out), naming host and
/// port but never the password.
#[tokio::test]
async fn postgres_at_a_closed_port_is_refused_at_once_by_address() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://nb:Hunter2-pw@127.0.0.1:{port}/test");
    let started = std::time::Instant::now();
    let error = JournalReader::open(&JournalUrl::parse(&url).unwrap())
        .await
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    eprintln!("postgres closed port: open failed after {took:?}: {error}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(error.contains(&format!("at 127.0.0.1:{port}: ")), "{error}");
    assert!(error.contains("onnection refused"), "{error}");
    assert!(!error.contains("Hunter2"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_write_throughput_and_record_cost() {
    let scratch = Scratch::new().await;
    let rate = throughput(&scratch.url(), "postgres", 20_000).await;
    assert!(rate > 1000.0, "{rate:.0} entries/s");
    scratch.drop().await;
}

/// A journal schema made by an earlier version (`sql`: its tables and rows), then opened
/// by `check`; returns the migration versions recorded after.
async fn upgraded<F: std::future::Future<Output = ()>>(
    sql: String,
    check: impl FnOnce(String) -> F,
) -> Vec<i64> {
    let scratch = Scratch::new().await;
    let journal = PgPoolOptions::new()
        .max_connections(1)
        .connect(&scratch.url())
        .await
        .unwrap();
    sqlx::raw_sql(&sql).execute(&journal).await.unwrap();
    check(scratch.url()).await;
    let versions = sqlx::query_scalar(upgrade::VERSIONS)
        .fetch_all(&journal)
        .await
        .unwrap();
    journal.close().await;
    scratch.drop().await;
    versions
}

/// A version-1 journal schema holding a delivered message is upgraded in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_version_1_journal_is_upgraded_in_place() {
    let v1 = include_str!("../../../migrations/postgres/0001_journal.sql");
    let rows = upgrade::version_1_rows("'\\x7b7d'::bytea");
    let versions = upgraded(format!("{v1};{rows}"), |url| async move {
        upgrade::is_upgraded_in_place(&url).await
    })
    .await;
    assert_eq!(versions, [1, 2, 3, 4, 5]);
}

/// A journal schema written by the fourth version (keys and deferrals by text id) is
/// rebuilt around message numbers in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_version_4_journal_is_upgraded_in_place() {
    let schema = [
        include_str!("../../../migrations/postgres/0001_journal.sql"),
        include_str!("../../../migrations/postgres/0002_keys_and_deferrals.sql"),
        include_str!("../../../migrations/postgres/0003_channel_pauses.sql"),
        include_str!("../../../migrations/postgres/0004_compact_bodies.sql"),
    ]
    .join(";");
    let rows = upgrade::version_4_rows("'\\x7b7d'::bytea");
    let versions = upgraded(format!("{schema};{rows}"), |url| async move {
        upgrade::version_4_is_upgraded_in_place(&url).await
    })
    .await;
    assert_eq!(versions, [1, 2, 3, 4, 5]);
}

//! `bench stages`: the bridge's own per-message work, stage by stage, without broker or
//! HTTP — prepare (parse → schema → route → format → sign), the metrics update, the
//! journal entry, and the journal writer's inserts into a SQLite file of its own. Each
//! stage is a function of its own (`stage_*`), so under `valgrind --tool=callgrind` its
//! inclusive instruction count divided by `--messages` is its cost per message, which
//! load on the machine does not disturb.

use std::time::{Duration, Instant};

use notify_bridge::journal::{Entry, Journal, JournalConfig, JournalUrl, KeySpec, Mask, Original};
use notify_bridge::message::MessageId;
use notify_bridge::metrics::Metrics;
use notify_bridge::parse::Declared;
use notify_bridge::pipeline::{Handled, Pins, Pipeline, Sent};
use notify_bridge::retry::{Outcome, Verdict};

use bench_harness::config;
use bench_harness::load::{message, Target};

/// How many messages.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Messages run through each stage.
    #[arg(long, default_value_t = 5_000)]
    pub messages: usize,
    /// Skip the journal writer stage.
    #[arg(long)]
    pub no_journal: bool,
    /// Write the journal stage to PostgreSQL instead of SQLite: a database of its own is
    /// created on this server (the URL's database only serves to connect) and dropped after.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Random UUID-like message ids, as most publishers set them (the default ids sort in
    /// the order they are written, so the journal's id index only grows at one end).
    #[arg(long)]
    pub random_ids: bool,
}

/// Runs each stage over `--messages` md5 messages and prints µs per message.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pipeline = super::prepare::bench_pipeline()?;
    let target = Target {
        channel: config::MD5.into(),
        url: "http://127.0.0.1:8080/ok".into(),
        third: false,
    };
    let bodies: Vec<String> = (0..64).map(|i| message(&target, i)).collect();
    let id = |i: usize| match args.random_ids {
        true => uuid_like(rand::random()),
        false => format!("stage-{i}-1700000000000000"),
    };
    let ids: Vec<MessageId> = (0..args.messages)
        .map(|i| MessageId::from_delivery(Some(&id(i)), b""))
        .collect();
    println!(
        "stages: {} md5 messages of {} B",
        args.messages,
        bodies[0].len()
    );

    let timed = |name: &str, started: Instant| {
        let per = started.elapsed().as_secs_f64() * 1e6 / args.messages as f64;
        println!("  {name:<10} {per:6.2} µs/message");
    };
    let started = Instant::now();
    let handled = stage_prepare(&pipeline, &ids, &bodies)?;
    timed("prepare", started);

    let metrics = Metrics::new();
    let started = Instant::now();
    stage_observe(&metrics, &handled);
    timed("metrics", started);

    let started = Instant::now();
    let entries = stage_entry(&ids, &bodies, &handled);
    timed("entry", started);

    if !args.no_journal {
        let file = dir.path().join("journal.db");
        let scratch = match &args.postgres {
            Some(server) => Some(Scratch::create(server).await?),
            None => None,
        };
        let url = match &scratch {
            Some(s) => s.url.clone(),
            None => format!("sqlite://{}", file.display()),
        };
        let config = JournalConfig {
            url: JournalUrl::parse(&url)?,
            retention: Duration::from_secs(7 * 86_400),
            buffer: args.messages.max(1),
            keys: KeySpec::default(),
            mask: Mask::default(),
        };
        let started = Instant::now();
        let (written, lost) = stage_journal(&config, entries).await;
        timed("journal", started);
        anyhow::ensure!(
            written == args.messages as u64 && lost == 0,
            "journal wrote {written} of {}, {lost} lost",
            args.messages
        );
        let per = |bytes: i64| bytes as f64 / args.messages as f64;
        match scratch {
            Some(scratch) => {
                let sizes = scratch.sizes().await;
                scratch.drop().await?;
                let sizes = sizes?;
                let total: i64 = sizes.iter().map(|(_, b)| b).sum();
                println!("  journal in PostgreSQL: {:.0} B/message", per(total));
                for (relation, bytes) in sizes.iter().filter(|(_, b)| per(*b) >= 1.0) {
                    println!("    {relation:<36} {:6.1} B/message", per(*bytes));
                }
            }
            None => {
                let size: u64 = ["", "-wal"]
                    .iter()
                    .filter_map(|s| std::fs::metadata(format!("{}{s}", file.display())).ok())
                    .map(|m| m.len())
                    .sum();
                println!(
                    "  journal file + WAL: {size} B, {:.0} B/message",
                    per(size as i64)
                );
            }
        }
    }
    Ok(())
}

/// A PostgreSQL database of the bench's own, for one journal stage.
struct Scratch {
    server: sqlx::PgPool,
    name: String,
    url: String,
}

impl Scratch {
    async fn create(server_url: &str) -> anyhow::Result<Self> {
        use sqlx::Executor;
        let server = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(server_url)
            .await?;
        let name = format!("nb_bench_{:08x}", rand::random::<u32>());
        server
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        let mut url = url::Url::parse(server_url)?;
        url.set_path(&name);
        Ok(Self {
            server,
            name,
            url: url.to_string(),
        })
    }

    /// Each relation's size (tables and indexes, after a VACUUM), largest first.
    async fn sizes(&self) -> anyhow::Result<Vec<(String, i64)>> {
        use sqlx::Executor;
        let db = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&self.url)
            .await?;
        db.execute("VACUUM").await?;
        let sizes = sqlx::query_as(
            "SELECT c.relname::text, pg_relation_size(c.oid)::int8 AS bytes FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 't') ORDER BY bytes DESC",
        )
        .fetch_all(&db)
        .await?;
        db.close().await;
        Ok(sizes)
    }

    async fn drop(self) -> anyhow::Result<()> {
        use sqlx::Executor;
        let sql = format!("DROP DATABASE {} WITH (FORCE)", self.name);
        self.server.execute(sql.as_str()).await?;
        self.server.close().await;
        Ok(())
    }
}

/// Parse → schema → route → format → sign, as the consumer does before sending; the
/// result becomes what the pipeline reports of a delivered message.
#[inline(never)]
fn stage_prepare(
    pipeline: &Pipeline,
    ids: &[MessageId],
    bodies: &[String],
) -> anyhow::Result<Vec<Handled>> {
    let mut out = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let body = bodies[i % bodies.len()].as_bytes();
        let prepared = pipeline
            .prepare(
                id,
                body,
                Declared::content_type(Some("application/json")),
                &Pins::now(),
                false,
            )
            .map_err(|e| anyhow::anyhow!("prepare: {e}"))?;
        out.push(Handled {
            outcome: Outcome::Delivered { status: 200 },
            verdict: Verdict::Ack,
            channel: Some(prepared.channel.id.clone()),
            notify_type: Some(prepared.message.notify_type),
            sent: Some(Sent {
                url: prepared.request.url.to_string(),
                latency: Duration::from_micros(800),
                response: Some("SUCCESS".into()),
            }),
        });
    }
    Ok(out)
}

/// The metrics update of each handled message.
#[inline(never)]
fn stage_observe(metrics: &Metrics, handled: &[Handled]) {
    for h in handled {
        metrics.observe(h);
    }
}

/// Each message's journal entry, its first attempt carrying the body as it arrived (the
/// consumer moves the delivery's bytes in; the copy here stands for that buffer).
#[inline(never)]
fn stage_entry(ids: &[MessageId], bodies: &[String], handled: &[Handled]) -> Vec<Entry> {
    let mut out = Vec::with_capacity(ids.len());
    for (i, (id, h)) in ids.iter().zip(handled).enumerate() {
        let original = Original {
            body: bodies[i % bodies.len()].as_bytes().to_vec(),
            content_type: Some("application/json".into()),
        };
        out.push(h.entry(id.as_str(), 1, Some(original)));
    }
    out
}

/// Every entry through `Journal::record` and the real writer task into a fresh SQLite
/// file, until all are written; (written, left unwritten).
#[inline(never)]
async fn stage_journal(config: &JournalConfig, entries: Vec<Entry>) -> (u64, u64) {
    let (journal, task) = Journal::start(config);
    for entry in entries {
        // The buffer holds at most 64 MiB of entries and drops beyond: wait for the writer.
        while journal.lag() >= 20_000 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        journal.record(entry);
    }
    let written_before = journal.written();
    let lost = task.shutdown(Duration::from_secs(600)).await;
    (
        journal.written().max(written_before),
        lost + journal.dropped(),
    )
}

/// `n` written as a UUID is (8-4-4-4-12 hex digits).
fn uuid_like(n: u128) -> String {
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

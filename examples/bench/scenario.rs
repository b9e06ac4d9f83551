//! One measurement: a fresh queue, a load published before or while the consumer under
//! test runs, the wait until every healthy message arrived, then the figures.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify_bridge::broker::topology::DEFER_STEPS;
use notify_bridge::broker::topology::{defer_queue, retry_queue};
use notify_bridge::settings::Settings;

use super::child::{broker_pid, cpu_time_of, Consumer};
use bench_harness::config::{bridge_toml, Tuning};
use bench_harness::load::{Publisher, Route};
use bench_harness::sink::{Arrival, Sink};
use bench_harness::stats::{summarize, Summary};

/// Which program consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Under {
    /// `target/release/notify-bridge run --config <generated>`.
    Bridge,
    /// This program's `passthrough` mode, posting every message to `/ok/baseline`.
    Baseline,
}

/// What to publish and what must arrive.
pub struct Load {
    /// Short name, part of the queue name and of the log file name.
    pub name: &'static str,
    pub n: usize,
    pub route: Arc<Route>,
    /// Indices whose channel is healthy: these must arrive, and the figures are theirs.
    pub healthy: Arc<dyn Fn(usize) -> bool + Send + Sync>,
    /// Indices that must also have been retried (arrived twice) before the wait ends.
    pub retried: Option<Arc<dyn Fn(usize) -> bool + Send + Sync>>,
    /// Messages per second while the consumer runs; `None` fills the queue first.
    pub pace: Option<f64>,
    /// Give up waiting this long after the consumer started.
    pub deadline: Duration,
}

/// The figures of one measurement.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The healthy messages' arrivals.
    pub summary: Summary,
    pub peak_rss_mib: f64,
    /// CPU per delivered message, µs, from the first arrival to the last: the consumer,
    /// the broker (`beam.smp`) and this program (the sink and, when paced, the publisher).
    pub consumer_cpu_us: f64,
    pub broker_cpu_us: f64,
    pub bench_cpu_us: f64,
    pub arrivals: Vec<Arrival>,
    /// Indices found in the main, retry and dead queues after the consumer stopped.
    pub left_in_queues: HashSet<u32>,
    /// Of those, the ones in the parking lot.
    pub parked: HashSet<u32>,
    /// Requests the sink got without an id of this load (should be none).
    pub foreign: usize,
    /// The bridge's SQLite journal after it stopped (checkpointed), in bytes per delivered
    /// message; `None` for the baseline.
    pub journal_bytes_per_msg: Option<f64>,
}

/// CPU time so far of the consumer, the broker and this program, and the messages
/// delivered by then.
type CpuMark = ([Option<Duration>; 3], usize);

/// What every measurement shares.
pub struct Harness {
    pub amqp: String,
    pub sink: Sink,
    pub publisher: Publisher,
    pub bridge: PathBuf,
    pub self_exe: PathBuf,
    pub workdir: PathBuf,
    pub fixtures: PathBuf,
    pub tuning: Tuning,
    /// `RUST_LOG` for the bridge; its own default (`info,lapin=warn`) when `None`.
    pub bridge_log: Option<String>,
    /// Leave the bridge's SQLite journals behind after each run.
    pub keep_journals: bool,
    /// A command (split on whitespace) the consumer runs under, e.g. a profiler.
    pub wrap: Vec<String>,
}

impl Harness {
    /// Runs `load` through `under` and measures it.
    pub async fn measure(&self, under: Under, load: &Load) -> anyhow::Result<Measured> {
        let queue = format!("bench.{}.{:08x}", load.name, rand::random::<u32>());
        let config = self.workdir.join(format!("{queue}.toml"));
        // A journal of its own per run: one shared across runs grows, and so would the
        // cost of writing to it, run after run.
        let journal = self.workdir.join(format!("{queue}.db"));
        let toml = bridge_toml(&self.amqp, &queue, self.tuning, &self.fixtures);
        let toml = format!(
            "{toml}\n[journal]\nurl = \"sqlite://{}\"\n",
            journal.display()
        );
        std::fs::write(&config, toml)?;
        let mut measured = self.measure_on(under, load, &queue, &config).await;
        let files = ["", "-wal", "-shm"].map(|suffix| format!("{}{suffix}", journal.display()));
        if let (Ok(m), Under::Bridge) = (&mut measured, under) {
            // The bridge closed its journal on stop, which checkpoints the WAL into it.
            let bytes: u64 = files
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum();
            m.journal_bytes_per_msg = Some(bytes as f64 / m.summary.delivered.max(1) as f64);
        }
        if !self.keep_journals {
            for file in &files {
                let _ = std::fs::remove_file(file);
            }
        }
        if measured.is_err() {
            // Whatever went wrong, leave no filled queue behind on the broker.
            self.publisher
                .delete(&self.queues_of(&queue, &config))
                .await;
        }
        measured
    }

    async fn measure_on(
        &self,
        under: Under,
        load: &Load,
        queue: &str,
        config: &std::path::Path,
    ) -> anyhow::Result<Measured> {
        let (queue, config) = (queue.to_owned(), config.to_owned());
        let tag = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        self.publisher.declare(&queue).await?;
        self.sink.reset(load.n);
        if load.pace.is_none() {
            self.publisher
                .fill(&queue, &tag, load.n, load.route.as_ref())
                .await?;
        }
        let mut consumer = self.spawn(under, &queue, &config)?;
        let mut start = None;
        if let Some(rate) = load.pace {
            self.await_consumer(&queue, &mut consumer).await?;
            start = Some((self.cpu_snapshot(&consumer), 0));
            self.publisher
                .paced(&queue, &tag, load.n, rate, load.route.as_ref())
                .await?;
        }
        let (cpu_start, delivered_at_start) =
            self.await_arrivals(load, &mut consumer, start).await?;
        let cpu_end = self.cpu_snapshot(&consumer);
        let peak_rss_mib = consumer.peak_rss_kib().unwrap_or_default() as f64 / 1024.0;
        consumer.stop(Duration::from_secs(10)).await;

        let arrivals = self.sink.arrivals();
        let summary = summarize(&arrivals, load.n, |i| (load.healthy)(i), None);
        let delivered = summary.delivered.saturating_sub(delivered_at_start).max(1);
        let per_message = |start: Option<Duration>, end: Option<Duration>| match (start, end) {
            (Some(s), Some(e)) => e.saturating_sub(s).as_secs_f64() * 1e6 / delivered as f64,
            _ => 0.0,
        };
        let queues = self.queues_of(&queue, &config);
        let mut left_in_queues = HashSet::new();
        let mut parked = HashSet::new();
        for q in &queues {
            let found = self
                .publisher
                .take_all(q, Duration::from_millis(300))
                .await
                .unwrap_or_default();
            if q.ends_with(".dead") {
                parked.extend(found.iter().copied());
            }
            left_in_queues.extend(found);
        }
        self.publisher.delete(&queues).await;
        Ok(Measured {
            consumer_cpu_us: per_message(cpu_start[0], cpu_end[0]),
            broker_cpu_us: per_message(cpu_start[1], cpu_end[1]),
            bench_cpu_us: per_message(cpu_start[2], cpu_end[2]),
            summary,
            peak_rss_mib,
            arrivals,
            left_in_queues,
            parked,
            foreign: self.sink.foreign(),
            journal_bytes_per_msg: None,
        })
    }

    fn spawn(
        &self,
        under: Under,
        queue: &str,
        config: &std::path::Path,
    ) -> anyhow::Result<Consumer> {
        let (program, args, rust_log) = match under {
            Under::Bridge => {
                let config = config.to_string_lossy().into_owned();
                let args = vec!["run".into(), "--config".into(), config];
                (&self.bridge, args, self.bridge_log.as_deref())
            }
            Under::Baseline => {
                let args = [
                    "passthrough",
                    "--amqp",
                    &self.amqp,
                    "--queue",
                    queue,
                    "--url",
                    &self.sink.url("/ok/baseline"),
                    "--prefetch",
                    &self.tuning.prefetch.to_string(),
                    "--in-flight",
                    &self.tuning.in_flight.to_string(),
                ];
                (&self.self_exe, args.map(String::from).to_vec(), None)
            }
        };
        // `--wrap "valgrind --tool=callgrind"` runs the consumer under that command.
        let mut argv: Vec<String> = self.wrap.to_vec();
        argv.push(program.to_string_lossy().into_owned());
        argv.extend(args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let log = config.with_extension("log");
        Ok(Consumer::spawn(
            argv[0].as_ref(),
            &argv[1..],
            &log,
            rust_log,
        )?)
    }

    /// Waits until the consumer is subscribed to `queue`, so paced messages do not queue.
    async fn await_consumer(&self, queue: &str, consumer: &mut Consumer) -> anyhow::Result<()> {
        for _ in 0..500 {
            if consumer.exited() {
                anyhow::bail!("the consumer exited at start; see its log in the workdir");
            }
            if let Some((_, consumers)) = self.publisher.queue_state(queue).await {
                if consumers > 0 {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::bail!("the consumer did not subscribe to {queue} within 10 s")
    }

    /// Polls the sink until every healthy message arrived or the deadline passed; returns
    /// the CPU snapshot at the first arrival (or `start`) and how many had arrived by then.
    async fn await_arrivals(
        &self,
        load: &Load,
        consumer: &mut Consumer,
        start: Option<CpuMark>,
    ) -> anyhow::Result<CpuMark> {
        let started = tokio::time::Instant::now();
        let mut first = start;
        loop {
            if consumer.exited() {
                anyhow::bail!("the consumer exited early; see its log in the workdir");
            }
            let distinct = self.sink.distinct();
            if first.is_none() && distinct > 0 {
                first = Some((self.cpu_snapshot(consumer), distinct));
            }
            let retried = || match &load.retried {
                Some(wanted) => self.sink.all_arrived_times(|i| wanted(i), 2),
                None => true,
            };
            if distinct > 0 && self.sink.all_arrived(|i| (load.healthy)(i)) && retried() {
                break;
            }
            if started.elapsed() > load.deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(first.unwrap_or(([None; 3], 0)))
    }

    /// CPU time so far of the consumer, the broker and this program.
    fn cpu_snapshot(&self, consumer: &Consumer) -> [Option<Duration>; 3] {
        [
            consumer.cpu_time(),
            broker_pid().and_then(cpu_time_of),
            cpu_time_of(std::process::id()),
        ]
    }

    /// The retry queues (for the bridge's configuration), the parking lot and the main
    /// queue, in the order to empty them: messages only move from retry queues to the
    /// main queue once no consumer runs, so emptying the main queue last catches them all.
    fn queues_of(&self, queue: &str, config: &std::path::Path) -> Vec<String> {
        let mut queues = Vec::new();
        if let Ok(settings) = Settings::load(config, &Default::default()) {
            queues.extend(
                settings
                    .retry_steps()
                    .into_iter()
                    .map(|step| retry_queue(queue, step)),
            );
        }
        // A stalled channel's surplus waits here, unattempted (not lost).
        queues.extend(DEFER_STEPS.map(|step| defer_queue(queue, step)));
        queues.push(format!("{queue}.dead"));
        queues.push(queue.to_owned());
        queues
    }
}

//! Acks settled deliveries, many per frame when it can.
//!
//! One `basic.ack` per message costs the bridge and the broker a frame each (about a
//! third of the broker's CPU per message, bench/FINDINGS.md R1). One task per consume
//! channel collects the tags of settled deliveries and acks the settled run at the front
//! with a single `multiple` ack. A `multiple` ack covers every unacked tag up to it, so it
//! is sent only when nothing below it is still being handled. A message that takes long (a
//! hanging brand's, for its whole timeout) would hold back every ack behind it and, with
//! them, the prefetch window; so a settled tag that has waited [`LINGER`] behind an
//! unsettled one is acked on its own, and once the front has not moved for [`LINGER`] the
//! tags settled behind it are acked on their own at once: while such a message sits at
//! the front, acks go out one by one, as they did before batching.
//!
//! A front held for [`STUCK`] costs every message behind it a lone ack, and RabbitMQ a walk of
//! its unacked list per ack: the consumer then moves to a fresh channel (see
//! `session.rs`), told so through [`AckTask::stuck`].
//!
//! A message whose outcome is being made durable (re-published, waiting for the broker's
//! confirm, which takes 10–50 ms under load) is announced as *settling*: while one holds
//! the front, the tags behind it wait up to [`SETTLING_LINGER`] for it instead, since it is
//! about to move, and lone acks there would cost the broker more than the wait.
//!
//! The durability rule is unchanged: a tag is handed over only once its outcome is
//! durable; the acks only leave later, and together.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use lapin::options::BasicAckOptions;
use lapin::Channel;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a settled delivery waits for the ones before it before it is acked alone.
pub const LINGER: Duration = Duration::from_millis(10);

/// How long a settled delivery waits behind a front that is settling.
pub const SETTLING_LINGER: Duration = Duration::from_millis(100);

/// A front unmoved this long while acks go out alone behind it is worth leaving: as long
/// as the shortest stall time, so a brand's ordinary slow answer does not count.
pub const STUCK: Duration = crate::limiter::STALL_MIN;

/// Why the acks owed could not all be sent.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("the broker channel refused an ack: {0}")]
    Channel(#[from] lapin::Error),
    #[error("the ack task panicked")]
    Panicked,
}

/// Where settled deliveries are handed over to be acked.
#[derive(Clone)]
pub struct Acks {
    handover: mpsc::UnboundedSender<Handover>,
}

/// What the ack task is told of a delivery.
#[derive(Debug, Clone, Copy)]
enum Handover {
    /// Its outcome is being made durable; it will settle within moments.
    Settling(u64),
    /// Its outcome is durable: it may be acked.
    Settled(u64),
}

/// The task sending the acks of one consume channel.
pub struct AckTask {
    task: JoinHandle<Result<(), AckError>>,
    stop: CancellationToken,
    stuck: Arc<Notify>,
}

impl Acks {
    /// Starts the ack task of `channel`, whose delivery tags count up from 1. Should it
    /// fail, it cancels `failed`: unacked messages return only once the channel is closed,
    /// so the consumer must reconnect.
    pub fn start(channel: Channel, failed: CancellationToken) -> (Self, AckTask) {
        let (handover, rx) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let stuck = Arc::new(Notify::new());
        let acking = run(rx, ChannelAcks(channel), stop.clone(), Arc::clone(&stuck));
        let acking = std::panic::AssertUnwindSafe(acking);
        let task = tokio::spawn(async move {
            let result = match acking.catch_unwind().await {
                Ok(acked) => acked.map_err(AckError::from),
                Err(_) => Err(AckError::Panicked),
            };
            if result.is_err() {
                failed.cancel();
            }
            result
        });
        (Self { handover }, AckTask { task, stop, stuck })
    }

    /// Hands over a delivery whose outcome is durable. Once the task has stopped, the
    /// delivery stays unacked and returns to the queue with the channel.
    pub fn settled(&self, tag: u64) {
        let _ = self.handover.send(Handover::Settled(tag));
    }

    /// Announces a delivery whose outcome is being made durable (a re-publish awaiting
    /// its confirm): the deliveries behind it wait for it a little longer.
    pub fn settling(&self, tag: u64) {
        let _ = self.handover.send(Handover::Settling(tag));
    }
}

impl AckTask {
    /// Sends at once the acks owed for what has been handed over, and stops; what is
    /// handed over later stays unacked.
    pub async fn finish(self) -> Result<(), AckError> {
        self.stop.cancel();
        self.task.await.unwrap_or(Err(AckError::Panicked))
    }

    /// Waits until every [`Acks`] handle is dropped (no message of the channel is still
    /// being handled) and their acks are sent.
    pub async fn done(self) -> Result<(), AckError> {
        self.task.await.unwrap_or(Err(AckError::Panicked))
    }

    /// Cancelling it stops the task as [`AckTask::finish`] does, without waiting.
    pub fn stopper(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Notified when the front has been held for [`STUCK`] while acks go out alone.
    pub fn stuck(&self) -> Arc<Notify> {
        Arc::clone(&self.stuck)
    }

    /// Like [`AckTask::finish`], without waiting: for a channel that is gone, where the
    /// acks owed can only fail (or, on a channel still half-open, may yet go out).
    pub fn abandon(self) {
        self.stop.cancel();
    }
}

/// Where acks go: the consume channel, or a recorder in the tests.
trait AckSink {
    async fn ack(&mut self, tag: u64, multiple: bool) -> Result<(), lapin::Error>;
}

struct ChannelAcks(Channel);

impl AckSink for ChannelAcks {
    async fn ack(&mut self, tag: u64, multiple: bool) -> Result<(), lapin::Error> {
        self.0.basic_ack(tag, BasicAckOptions { multiple }).await
    }
}

/// Tags settled and not yet acked, and the front of the channel's unacked tags.
struct Ledger {
    /// Every tag below this one is acked.
    front: u64,
    /// When `front` last moved.
    front_moved_at: Instant,
    /// Settled, not acked, at or past `front`.
    settled: BTreeSet<u64>,
    /// Announced as settling, not settled yet.
    settling: BTreeSet<u64>,
    /// When each settled tag was handed over, oldest first; acked ones are skipped lazily.
    arrivals: VecDeque<(u64, Instant)>,
    /// Runs of tags acked alone past `front`, first → last: as many entries as gaps, not
    /// as tags, however long one message holds the front.
    acked_alone: BTreeMap<u64, u64>,
}

impl Ledger {
    fn new() -> Self {
        Self {
            front: 1,
            front_moved_at: Instant::now(),
            settled: BTreeSet::new(),
            settling: BTreeSet::new(),
            arrivals: VecDeque::new(),
            acked_alone: BTreeMap::new(),
        }
    }

    fn hand_over(&mut self, handover: Handover, now: Instant) {
        match handover {
            Handover::Settling(tag) if tag >= self.front => {
                self.settling.insert(tag);
            }
            Handover::Settling(_) => {}
            Handover::Settled(tag) => {
                self.settling.remove(&tag);
                if tag >= self.front && self.settled.insert(tag) {
                    self.arrivals.push_back((tag, now));
                }
            }
        }
    }

    /// How long settled tags may wait behind the front, while more may come: a settling
    /// front is about to move; another one, once it has not moved for `LINGER`, may take
    /// its whole timeout.
    fn linger(&self, now: Instant) -> Duration {
        if self.settling.contains(&self.front) {
            SETTLING_LINGER
        } else if now.duration_since(self.front_moved_at) < LINGER {
            LINGER
        } else {
            Duration::ZERO
        }
    }

    /// Moves the front past every settled or acked tag; returns the highest tag a
    /// `multiple` ack must name to ack the settled ones it passed.
    fn advance(&mut self, now: Instant) -> Option<u64> {
        let (was, mut highest) = (self.front, None);
        loop {
            if self.settled.remove(&self.front) {
                highest = Some(self.front);
                self.front += 1;
            } else if let Some(last) = self.acked_alone.remove(&self.front) {
                self.front = last + 1;
            } else {
                break;
            }
        }
        if self.front != was {
            self.front_moved_at = now;
        }
        highest
    }

    /// Takes the settled tags that have waited `linger` by `now`, to be acked alone.
    fn take_overdue(&mut self, now: Instant, linger: Duration) -> Vec<u64> {
        let mut overdue = Vec::new();
        while let Some(&(tag, since)) = self.arrivals.front() {
            if self.settled.contains(&tag) && now.duration_since(since) < linger {
                break;
            }
            self.arrivals.pop_front();
            if self.settled.remove(&tag) {
                overdue.push(tag);
            }
        }
        overdue
    }

    fn acked_alone(&mut self, tag: u64) {
        let before = self
            .acked_alone
            .range(..tag)
            .next_back()
            .filter(|&(_, &last)| last + 1 == tag)
            .map(|(&first, _)| first);
        let last = self.acked_alone.remove(&(tag + 1)).unwrap_or(tag);
        self.acked_alone.insert(before.unwrap_or(tag), last);
    }

    /// When the longest-waiting settled tag becomes overdue.
    fn next_due(&mut self, linger: Duration) -> Option<Instant> {
        while let Some(&(tag, since)) = self.arrivals.front() {
            if self.settled.contains(&tag) {
                return Some(since + linger);
            }
            self.arrivals.pop_front();
        }
        None
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Handover>,
    mut sink: impl AckSink,
    stop: CancellationToken,
    on_stuck: Arc<Notify>,
) -> Result<(), lapin::Error> {
    let mut ledger = Ledger::new();
    let (mut open, mut stopping) = (true, false);
    while open || !ledger.settled.is_empty() {
        let due = ledger.next_due(ledger.linger(Instant::now()).max(LINGER));
        tokio::select! {
            handover = rx.recv(), if open => match handover {
                Some(handover) => ledger.hand_over(handover, Instant::now()),
                None => open = false,
            },
            // What was handed over is still in the channel: take it, then nothing more.
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
                rx.close();
            }
            _ = sleep_until(due) => {}
        }
        // Whatever else is ready joins this batch.
        while let Ok(handover) = rx.try_recv() {
            ledger.hand_over(handover, Instant::now());
        }
        let now = Instant::now();
        if let Some(tag) = ledger.advance(now) {
            sink.ack(tag, true).await?;
        }
        // Nothing is worth waiting for once no more will come.
        let held_for = now.duration_since(ledger.front_moved_at);
        let linger = match open {
            true => ledger.linger(now),
            false => Duration::ZERO,
        };
        let alone = ledger.take_overdue(now, linger);
        if !alone.is_empty() && held_for >= STUCK {
            on_stuck.notify_one();
        }
        for tag in alone {
            sink.ack(tag, false).await?;
            ledger.acked_alone(tag);
        }
    }
    Ok(())
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records each ack.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<(u64, bool)>>>);

    impl AckSink for Recorder {
        async fn ack(&mut self, tag: u64, multiple: bool) -> Result<(), lapin::Error> {
            self.0.lock().unwrap().push((tag, multiple));
            Ok(())
        }
    }

    impl Recorder {
        fn acks(&self) -> Vec<(u64, bool)> {
            self.0.lock().unwrap().clone()
        }
    }

    struct Running {
        tx: mpsc::UnboundedSender<Handover>,
        recorder: Recorder,
        stop: CancellationToken,
        stuck: Arc<Notify>,
        task: JoinHandle<Result<(), lapin::Error>>,
    }

    fn start() -> Running {
        let (tx, rx) = mpsc::unbounded_channel();
        let recorder = Recorder::default();
        let stop = CancellationToken::new();
        let stuck = Arc::new(Notify::new());
        let task = tokio::spawn(run(rx, recorder.clone(), stop.clone(), Arc::clone(&stuck)));
        Running {
            tx,
            recorder,
            stop,
            stuck,
            task,
        }
    }

    impl Running {
        /// Hands over nothing more, waits for the task to end cleanly; its acks.
        async fn finish(self) -> Recorder {
            drop(self.tx);
            self.task.await.unwrap().unwrap();
            self.recorder
        }
    }

    /// Lets the ack task run until it waits again, without moving the paused clock.
    async fn settle_down() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_settled_run_at_the_front_is_acked_by_one_frame() {
        let r = start();
        for tag in [3, 1, 2, 4] {
            r.tx.send(Handover::Settled(tag)).unwrap();
        }
        settle_down().await;
        assert_eq!(r.recorder.acks(), vec![(4, true)]);
        assert_eq!(
            r.finish().await.acks(),
            vec![(4, true)],
            "nothing owed at the end"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_tag_behind_an_unsettled_one_is_acked_alone_after_the_linger() {
        let r = start();
        // 1 is still being handled (a hanging brand's message): 2 and 3 may not wait for it.
        r.tx.send(Handover::Settled(2)).unwrap();
        r.tx.send(Handover::Settled(3)).unwrap();
        settle_down().await;
        assert!(
            r.recorder.acks().is_empty(),
            "a multiple ack of 3 would ack 1 too"
        );
        tokio::time::sleep(LINGER + Duration::from_millis(1)).await;
        assert_eq!(r.recorder.acks(), vec![(2, false), (3, false)]);
        // 1 settles, then 4: the front moves past the acked 2 and 3; one ack of 4 covers 1.
        r.tx.send(Handover::Settled(1)).unwrap();
        r.tx.send(Handover::Settled(4)).unwrap();
        settle_down().await;
        assert_eq!(r.recorder.acks()[2..], [(4, true)]);
        // Settled out of order but together: one ack.
        r.tx.send(Handover::Settled(6)).unwrap();
        r.tx.send(Handover::Settled(5)).unwrap();
        settle_down().await;
        assert_eq!(r.recorder.acks()[3..], [(6, true)]);
        r.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_front_passing_a_lone_ack_names_the_last_unacked_tag() {
        let r = start();
        r.tx.send(Handover::Settled(2)).unwrap();
        tokio::time::sleep(LINGER * 2).await;
        assert_eq!(r.recorder.acks(), vec![(2, false)]);
        r.tx.send(Handover::Settled(1)).unwrap();
        settle_down().await;
        // 1 is acked by name: naming 2 (already acked) would be an unknown tag to the broker.
        assert_eq!(r.recorder.acks(), vec![(2, false), (1, true)]);
        r.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn behind_a_front_stuck_for_the_linger_tags_are_acked_at_once() {
        let r = start();
        tokio::time::sleep(LINGER).await;
        // 1 has been out for a while (a hanging brand's message): no point waiting for it.
        r.tx.send(Handover::Settled(2)).unwrap();
        settle_down().await;
        assert_eq!(r.recorder.acks(), vec![(2, false)]);
        // Once it settles, the front moves, and the next gap gets its linger again.
        r.tx.send(Handover::Settled(1)).unwrap();
        r.tx.send(Handover::Settled(4)).unwrap();
        settle_down().await;
        assert_eq!(r.recorder.acks(), vec![(2, false), (1, true)]);
        tokio::time::sleep(LINGER).await;
        settle_down().await;
        assert_eq!(r.recorder.acks()[2..], [(4, false)]);
        r.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_front_held_past_stuck_while_acks_go_alone_is_reported_once_it_costs() {
        let r = start();
        let reported = || r.stuck.notified().now_or_never().is_some();
        // 1 held: the lone acks behind it within STUCK are the ordinary price.
        r.tx.send(Handover::Settled(2)).unwrap();
        tokio::time::sleep(LINGER * 2).await;
        assert!(!reported(), "held for less than STUCK");
        tokio::time::sleep(STUCK).await;
        assert!(
            !reported(),
            "held, but nothing is acked behind it: it costs nothing"
        );
        r.tx.send(Handover::Settled(3)).unwrap();
        settle_down().await;
        assert_eq!(r.recorder.acks(), vec![(2, false), (3, false)]);
        assert!(
            reported(),
            "held past STUCK with acks going alone behind it"
        );
        // Once the front moves, settled runs go together again: nothing to report.
        r.tx.send(Handover::Settled(1)).unwrap();
        r.tx.send(Handover::Settled(4)).unwrap();
        settle_down().await;
        assert!(!reported());
        r.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn behind_a_settling_front_tags_wait_for_it_then_go_together() {
        let r = start();
        tokio::time::sleep(LINGER * 5).await;
        // 1 is being re-published, its confirm on the way: 2 and 3 wait for it.
        r.tx.send(Handover::Settling(1)).unwrap();
        r.tx.send(Handover::Settled(2)).unwrap();
        r.tx.send(Handover::Settled(3)).unwrap();
        tokio::time::sleep(LINGER * 3).await;
        assert!(
            r.recorder.acks().is_empty(),
            "no lone acks behind a settling front"
        );
        r.tx.send(Handover::Settled(1)).unwrap();
        settle_down().await;
        assert_eq!(r.recorder.acks(), vec![(3, true)], "one ack for the run");
        // A confirm that never comes holds them no longer than SETTLING_LINGER.
        r.tx.send(Handover::Settling(4)).unwrap();
        r.tx.send(Handover::Settled(5)).unwrap();
        tokio::time::sleep(SETTLING_LINGER - LINGER).await;
        assert_eq!(r.recorder.acks().len(), 1);
        tokio::time::sleep(LINGER * 2).await;
        assert_eq!(r.recorder.acks()[1..], [(5, false)]);
        r.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_sends_what_is_owed_at_once_and_leaves_the_unsettled_unacked() {
        let r = start();
        r.tx.send(Handover::Settled(1)).unwrap();
        r.tx.send(Handover::Settled(3)).unwrap();
        settle_down().await;
        let started = Instant::now();
        // A clone of the sender lives on (a message still being handled): stop anyway.
        r.stop.cancel();
        r.task.await.unwrap().unwrap();
        assert_eq!(r.recorder.acks(), vec![(1, true), (3, false)]);
        assert_eq!(
            Instant::now(),
            started,
            "no linger once nothing more can come"
        );
        assert!(
            r.tx.send(Handover::Settled(2)).is_err(),
            "2 settles too late: it stays unacked"
        );
    }

    #[test]
    fn lone_acks_behind_a_stuck_front_are_kept_as_runs() {
        let mut ledger = Ledger::new();
        for tag in (2..1000).rev().chain([5000, 4999]) {
            ledger.acked_alone(tag);
        }
        assert_eq!(
            ledger
                .acked_alone
                .iter()
                .map(|(&a, &b)| (a, b))
                .collect::<Vec<_>>(),
            [(2, 999), (4999, 5000)]
        );
        ledger.hand_over(Handover::Settled(1), Instant::now());
        assert_eq!(ledger.advance(Instant::now()), Some(1));
        assert_eq!(ledger.front, 1000, "past the run in one step");
    }
}

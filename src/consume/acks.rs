//! Acks settled deliveries, many per frame when it can.
//!
//! One `basic.ack` per message costs the bridge and the broker a frame each (about a
//! third of the broker's CPU per message, bench/FINDINGS.md R1). One task per consume
//! channel collects the tags of settled deliveries and acks the settled run at the front
//! with a single `multiple` ack. A `multiple` ack covers every unacked tag up to it, so it
//! is sent only when nothing below it is still being handled. A message that takes long (a
//! hanging brand's, for its whole timeout) would hold back every ack behind it and, with
//! them, the prefetch window; so a settled tag that has waited [`LINGER`] behind an
//! unsettled one is acked on its own.
//!
//! The durability rule is unchanged: a tag is handed over only once its outcome is
//! durable; the acks only leave later, and together.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lapin::options::BasicAckOptions;
use lapin::Channel;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a settled delivery waits for the ones before it before it is acked alone.
pub const LINGER: Duration = Duration::from_millis(10);

/// Where settled deliveries are handed over to be acked.
#[derive(Clone)]
pub struct Acks {
    settled: mpsc::UnboundedSender<u64>,
}

/// The task sending the acks of one consume channel.
pub struct AckTask(JoinHandle<Result<(), lapin::Error>>);

impl Acks {
    /// Starts the ack task of `channel`, whose delivery tags count up from 1. Should an
    /// ack fail, it cancels `failed`: the unacked messages return only once the channel
    /// is closed, so the consumer must reconnect.
    pub fn start(channel: Channel, failed: CancellationToken) -> (Self, AckTask) {
        let (settled, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let result = run(rx, ChannelAcks(channel)).await;
            if result.is_err() {
                failed.cancel();
            }
            result
        });
        (Self { settled }, AckTask(task))
    }

    /// Hands over a delivery whose outcome is durable. After the task has stopped (its
    /// channel failed) the delivery stays unacked and returns with the channel.
    pub fn settled(&self, tag: u64) {
        let _ = self.settled.send(tag);
    }
}

impl AckTask {
    /// Sends the acks still owed once every [`Acks`] handle is gone; `Err` when the channel
    /// failed to take one.
    pub async fn finish(self) -> Result<(), lapin::Error> {
        self.0.await.unwrap_or(Ok(()))
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
    /// Settled, not acked, at or past `front`: when each was handed over.
    settled: BTreeMap<u64, Instant>,
    /// Acked alone, past `front`.
    acked_alone: BTreeSet<u64>,
}

impl Ledger {
    fn new() -> Self {
        Self {
            front: 1,
            settled: BTreeMap::new(),
            acked_alone: BTreeSet::new(),
        }
    }

    /// Moves the front past every settled or acked tag; returns the highest tag a
    /// `multiple` ack must name to ack the settled ones it passed.
    fn advance(&mut self) -> Option<u64> {
        let mut highest = None;
        loop {
            if self.settled.remove(&self.front).is_some() {
                highest = Some(self.front);
            } else if !self.acked_alone.remove(&self.front) {
                return highest;
            }
            self.front += 1;
        }
    }

    /// Settled tags that have waited behind an unsettled one for `linger` by `now`.
    fn overdue(&self, now: Instant, linger: Duration) -> Vec<u64> {
        self.settled
            .iter()
            .filter(|(_, &since)| now.duration_since(since) >= linger)
            .map(|(&tag, _)| tag)
            .collect()
    }

    /// When the longest-waiting settled tag becomes overdue.
    fn next_due(&self, linger: Duration) -> Option<Instant> {
        self.settled.values().min().map(|&since| since + linger)
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<u64>,
    mut sink: impl AckSink,
) -> Result<(), lapin::Error> {
    let mut ledger = Ledger::new();
    let mut open = true;
    while open || !ledger.settled.is_empty() {
        let due = ledger.next_due(LINGER);
        tokio::select! {
            tag = rx.recv(), if open => match tag {
                Some(tag) => { ledger.settled.insert(tag, Instant::now()); }
                None => open = false,
            },
            _ = sleep_until(due) => {}
        }
        // Whatever else is ready joins this batch.
        while let Ok(tag) = rx.try_recv() {
            ledger.settled.insert(tag, Instant::now());
        }
        if let Some(tag) = ledger.advance() {
            sink.ack(tag, true).await?;
        }
        // Once no more will come, nothing is worth waiting for.
        let linger = if open { LINGER } else { Duration::ZERO };
        for tag in ledger.overdue(Instant::now(), linger) {
            ledger.settled.remove(&tag);
            sink.ack(tag, false).await?;
            ledger.acked_alone.insert(tag);
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

    /// Records each ack with the (paused) time it was sent.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<(u64, bool, Instant)>>>);

    impl AckSink for Recorder {
        async fn ack(&mut self, tag: u64, multiple: bool) -> Result<(), lapin::Error> {
            self.0.lock().unwrap().push((tag, multiple, Instant::now()));
            Ok(())
        }
    }

    impl Recorder {
        fn acks(&self) -> Vec<(u64, bool)> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .map(|&(t, m, _)| (t, m))
                .collect()
        }
    }

    fn start() -> (
        mpsc::UnboundedSender<u64>,
        Recorder,
        JoinHandle<Result<(), lapin::Error>>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let recorder = Recorder::default();
        let task = tokio::spawn(run(rx, recorder.clone()));
        (tx, recorder, task)
    }

    /// Lets the ack task run until it waits again, without moving the paused clock.
    async fn settle_down() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_settled_run_at_the_front_is_acked_by_one_frame() {
        let (tx, recorder, task) = start();
        for tag in [3, 1, 2, 4] {
            tx.send(tag).unwrap();
        }
        settle_down().await;
        assert_eq!(recorder.acks(), vec![(4, true)]);
        drop(tx);
        task.await.unwrap().unwrap();
        assert_eq!(recorder.acks(), vec![(4, true)], "nothing owed at the end");
    }

    #[tokio::test(start_paused = true)]
    async fn a_tag_behind_an_unsettled_one_is_acked_alone_after_the_linger() {
        let (tx, recorder, task) = start();
        // 1 is still being handled (a hanging brand's message): 2 and 3 may not wait for it.
        tx.send(2).unwrap();
        tx.send(3).unwrap();
        settle_down().await;
        assert!(
            recorder.acks().is_empty(),
            "a multiple ack of 3 would ack 1 too"
        );
        tokio::time::sleep(LINGER + Duration::from_millis(1)).await;
        assert_eq!(recorder.acks(), vec![(2, false), (3, false)]);
        // 1 settles, then 4: the front moves past the acked 2 and 3; one ack of 4 covers 1.
        tx.send(1).unwrap();
        tx.send(4).unwrap();
        settle_down().await;
        assert_eq!(recorder.acks()[2..], [(4, true)]);
        // Settled out of order but together: one ack.
        tx.send(6).unwrap();
        tx.send(5).unwrap();
        settle_down().await;
        assert_eq!(recorder.acks()[3..], [(6, true)]);
        drop(tx);
        task.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_front_passing_only_lone_acks_sends_nothing() {
        let (tx, recorder, task) = start();
        tx.send(2).unwrap();
        tokio::time::sleep(LINGER * 2).await;
        assert_eq!(recorder.acks(), vec![(2, false)]);
        tx.send(1).unwrap();
        settle_down().await;
        // 1 is acked by name: naming 2 (already acked) would be an unknown tag to the broker.
        assert_eq!(recorder.acks(), vec![(2, false), (1, true)]);
        drop(tx);
        task.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn on_shutdown_what_is_owed_goes_at_once_and_the_unsettled_stay_unacked() {
        let (tx, recorder, task) = start();
        tx.send(1).unwrap();
        tx.send(3).unwrap();
        drop(tx);
        let started = Instant::now();
        task.await.unwrap().unwrap();
        assert_eq!(recorder.acks(), vec![(1, true), (3, false)]);
        assert_eq!(
            Instant::now(),
            started,
            "no linger once nothing more can come"
        );
    }
}

//! What must hold once the faults are over: nothing missing, duplicates bounded by what was
//! in flight, retries on schedule, the hopeless parked after their last try and manageable
//! from any replica, and each attempt in the shared journal.

use std::time::{Duration, Instant};

use super::brand::{always_fails, first_fails, Brand, Tally};
use super::faults::Measured;
use super::fleet::{cli, Replica, PREFETCH, RETRY_STEP};
use super::journal::SharedJournal;
use crate::support::eventually;

/// The longest an attempt's journal entry may wait in a replica's buffer: the writer's
/// batch wait (a tenth of a second) and a write, with room for a loaded machine.
const UNWRITTEN_AT_KILL: Duration = Duration::from_secs(3);

pub async fn verify(
    brand: &Brand,
    journal: &SharedJournal,
    replicas: &[Replica],
    n: u32,
    measured: &[Measured],
) {
    let tally = Tally::of(&brand.arrivals());
    let missing: Vec<u32> = (0..n)
        .filter(|i| !always_fails(*i) && !tally.ok.contains_key(i))
        .collect();
    let duplicates = tally.duplicates();
    let mut waits = tally.retry_waits();
    waits.sort();
    let shortest = waits.first().copied().unwrap_or_default();
    let median = waits.get(waits.len() / 2).copied().unwrap_or_default();
    let longest = waits.last().copied().unwrap_or_default();
    eprintln!(
        "cluster: {n} messages, missing {}, duplicates {duplicates}; retry waits min {shortest:.2?} median {median:.2?} max {longest:.2?}",
        missing.len()
    );
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    // At most what was on the wire at each fault: every replica's prefetch, three faults.
    let bound = measured.len() * replicas.len() * PREFETCH;
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates (bound {bound})"
    );
    let first_failing = (0..n)
        .filter(|i| first_fails(*i) && !always_fails(*i))
        .count();
    assert!(
        waits.len() >= first_failing,
        "every failed first attempt was retried"
    );
    // Never early (the step is a floor); late only by a fault's stall.
    assert!(
        shortest >= RETRY_STEP - Duration::from_millis(50),
        "{shortest:?}"
    );

    // The hopeless: tried 1, 2, 3, then parked, never a fourth time. The last wave's may
    // still be waiting for their third try when the others are all delivered.
    let hopeless: Vec<u32> = (0..n).filter(|i| always_fails(*i)).collect();
    eventually(
        Duration::from_secs(30),
        "every hopeless id tried three times",
        || {
            let tally = Tally::of(&brand.arrivals());
            // By attempt number: a fault can send one attempt twice (its replica died
            // before settling it), which is not a third try.
            let done = hopeless.iter().all(|id| {
                tally
                    .attempts
                    .get(id)
                    .is_some_and(|tries| tries.iter().any(|(attempt, _)| *attempt == 3))
            });
            std::future::ready(done)
        },
    )
    .await;
    let tally = Tally::of(&brand.arrivals());
    for id in &hopeless {
        let mut tries: Vec<u32> = tally.attempts[id].iter().map(|(a, _)| *a).collect();
        tries.sort_unstable();
        tries.dedup();
        assert_eq!(tries, [1, 2, 3], "c-{id}");
    }
    parked_listed_by(&replicas[0], &hopeless);
    parked_listed_by(&replicas[2], &hopeless);
    let out = cli(&replicas[1], &["dead", "replay", "--limit", "2"]);
    assert!(
        out.lines()
            .any(|line| line.starts_with("replayed 2 message(s)")),
        "{out}"
    );
    let firsts = |b: &Brand| {
        b.arrivals()
            .iter()
            .filter(|a| always_fails(a.id) && a.attempt == 1)
            .count()
    };
    eventually(
        Duration::from_secs(60),
        "the replayed pair tried afresh",
        || std::future::ready(firsts(brand) >= hopeless.len() + 2),
    )
    .await;

    // The journal: each id's attempts as the brand saw them, from whichever replica. Only
    // a replica killed with -9 loses journal entries: those still in its buffer, that is
    // attempts it made in the moments before the kill.
    let killed_at = measured
        .iter()
        .find(|m| m.replica_back.is_some())
        .map(|m| m.at)
        .expect("a replica was killed");
    let journalled = journal.attempts().await;
    let mut unjournalled = Vec::new();
    for (id, tries) in &tally.attempts {
        let rows: Vec<i64> = journalled
            .get(&format!("c-{id}"))
            .map(|rows| rows.iter().map(|(a, _)| *a).collect())
            .unwrap_or_default();
        for (attempt, at) in tries {
            if !rows.contains(&i64::from(*attempt)) {
                unjournalled.push((*id, *attempt, *at));
            }
        }
    }
    let before_kill =
        |at: Instant| at <= killed_at && killed_at.duration_since(at) <= UNWRITTEN_AT_KILL;
    let (near, elsewhere): (Vec<_>, Vec<_>) =
        unjournalled.iter().partition(|(_, _, at)| before_kill(*at));
    let earliest = near
        .iter()
        .map(|(_, _, at)| killed_at.duration_since(*at))
        .max()
        .unwrap_or_default();
    eprintln!(
        "cluster: {} attempts missing from the journal, sent at most {earliest:.2?} before the replica's kill",
        near.len()
    );
    let offsets: Vec<String> = elsewhere
        .iter()
        .map(|(id, attempt, at)| {
            let offset = if *at > killed_at {
                format!("+{:.2?}", at.duration_since(killed_at))
            } else {
                format!("-{:.2?}", killed_at.duration_since(*at))
            };
            format!("c-{id} attempt {attempt} at {offset}")
        })
        .collect();
    assert!(
        elsewhere.is_empty(),
        "attempts missing from the journal, not sent just before the kill (time from the kill): {offsets:?}"
    );
}

/// `dead list` through `replica` shows every hopeless id (a fault may have parked one
/// twice: at least once, never zero times).
fn parked_listed_by(replica: &Replica, hopeless: &[u32]) {
    let out = cli(replica, &["dead", "list"]);
    let mut listed: Vec<u32> = out
        .lines()
        .filter_map(|l| {
            l.strip_prefix("c-")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    let shown = listed.len();
    listed.sort_unstable();
    listed.dedup();
    assert_eq!(listed, hopeless, "replica {}: {out}", replica.n);
    assert!(
        out.contains(&format!("{shown} parked message(s) shown")),
        "{out}"
    );
}

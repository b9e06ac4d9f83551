//! A brand on 127.0.0.1 that fails 30% of first attempts and always fails 1% of ids, and
//! records every arrival with its time.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;

/// One request as the brand saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub id: u32,
    pub attempt: u32,
    pub at: Instant,
    pub answered_ok: bool,
}

/// Ids are `c-<n>`; these rules make the outcome of each attempt known in advance.
pub fn always_fails(n: u32) -> bool {
    n % 100 == 7
}

/// 30% of first attempts fail (503), whatever replica sends them.
pub fn first_fails(n: u32) -> bool {
    n % 10 < 3
}

pub struct Brand {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Arrival>>>,
}

impl Brand {
    pub async fn start() -> Self {
        let log: Arc<Mutex<Vec<Arrival>>> = Arc::default();
        let app = Router::new().fallback(answer).with_state(Arc::clone(&log));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, log }
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.log.lock().unwrap().clone()
    }

    /// Ids answered with success at least once.
    pub fn delivered(&self) -> usize {
        let log = self.log.lock().unwrap();
        let mut ids: Vec<u32> = log.iter().filter(|a| a.answered_ok).map(|a| a.id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }
}

async fn answer(State(log): State<Arc<Mutex<Vec<Arrival>>>>, headers: HeaderMap) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id: u32 = header("x-notify-id")
        .strip_prefix("c-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX);
    let attempt: u32 = header("x-notify-attempt").parse().unwrap_or(0);
    let ok = !(always_fails(id) || (attempt == 1 && first_fails(id)));
    log.lock().unwrap().push(Arrival {
        id,
        attempt,
        at: Instant::now(),
        answered_ok: ok,
    });
    if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// What the brand saw, per id.
pub struct Tally {
    /// Successful answers per id.
    pub ok: HashMap<u32, usize>,
    /// Each id's attempts, in arrival order.
    pub attempts: BTreeMap<u32, Vec<(u32, Instant)>>,
}

impl Tally {
    pub fn of(arrivals: &[Arrival]) -> Self {
        let mut ok: HashMap<u32, usize> = HashMap::new();
        let mut attempts: BTreeMap<u32, Vec<(u32, Instant)>> = BTreeMap::new();
        for a in arrivals {
            if a.answered_ok {
                *ok.entry(a.id).or_default() += 1;
            }
            attempts.entry(a.id).or_default().push((a.attempt, a.at));
        }
        Self { ok, attempts }
    }

    /// Deliveries past the first, per id, summed.
    pub fn duplicates(&self) -> usize {
        self.ok.values().map(|n| n - 1).sum()
    }

    /// The wait between attempt 1 and attempt 2 of each id that has both.
    pub fn retry_waits(&self) -> Vec<Duration> {
        self.attempts
            .values()
            .filter_map(|tries| {
                let first = tries.iter().find(|(n, _)| *n == 1)?.1;
                let second = tries.iter().find(|(n, _)| *n == 2)?.1;
                Some(second.saturating_duration_since(first))
            })
            .collect()
    }
}

/// The longest pause between successive arrivals in `[from, from + window]`, and when it
/// ended (since `from`): how long the brand saw nothing after a fault.
pub fn longest_stall(
    arrivals: &[Arrival],
    from: Instant,
    window: Duration,
) -> (Duration, Duration) {
    let mut times: Vec<Instant> = arrivals
        .iter()
        .map(|a| a.at)
        .filter(|t| *t >= from && *t <= from + window)
        .collect();
    times.sort();
    let mut last = from;
    let (mut longest, mut ended) = (Duration::ZERO, Duration::ZERO);
    for t in times {
        if t - last > longest {
            longest = t - last;
            ended = t - from;
        }
        last = t;
    }
    (longest, ended)
}

/// Successful deliveries in `[from, to)` of ids already delivered successfully before.
pub fn duplicates_between(arrivals: &[Arrival], from: Instant, to: Instant) -> usize {
    let mut sorted: Vec<&Arrival> = arrivals.iter().filter(|a| a.answered_ok).collect();
    sorted.sort_by_key(|a| a.at);
    let mut seen = std::collections::HashSet::new();
    sorted
        .into_iter()
        .filter(|a| !seen.insert(a.id) && a.at >= from && a.at < to)
        .count()
}

/// Up to 20 ids, meant to succeed and below the highest seen, not delivered yet.
pub fn undelivered(arrivals: &[Arrival]) -> Vec<u32> {
    let below = arrivals.iter().map(|a| a.id).max().unwrap_or(0);
    let delivered: std::collections::HashSet<u32> = arrivals
        .iter()
        .filter(|a| a.answered_ok)
        .map(|a| a.id)
        .collect();
    (0..below)
        .filter(|i| !always_fails(*i) && !delivered.contains(i))
        .take(20)
        .collect()
}

//! Broker blips: a connection closed by the broker and a broker restart cost at most the
//! requests on the wire in duplicates (not the prefetch window; a stopping broker may also
//! drop acks it had not applied yet), consuming resumes at once (or as soon as the broker is
//! back, within the capped backoff), and nothing is lost.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::queue_message;
use crate::support::broker::TestBroker;
use crate::support::node::PrivateNode;
use crate::support::process::close_connections_named;
use crate::support::receiver::{Received, Receiver};
use crate::support::{eventually, settings, unique_queue, Bridge};

/// The default prefetch (256) and in-flight limit (32); a grace long enough that waiting
/// on it would show.
const CONFIG: &str = r#"
[broker]
url = "{amqp}"
queue = "{queue}"
shutdown_grace = "15s"

[channels.shop]
app_id = "APP"
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "blip-secret" }
"#;
const MAX_IN_FLIGHT: usize = 32;
/// The default prefetch: the most deliveries a consumer holds unacked, so the most acks a
/// stopping broker can drop.
const PREFETCH: usize = 256;
/// Requests answered just before the outage whose acks were still on their way (batched
/// for up to 10 ms, then on the wire): at most one more round of slots.
const ACKS_UNDER_WAY: usize = MAX_IN_FLIGHT;
/// The brand takes this long to answer.
const ANSWER: Duration = Duration::from_millis(200);
/// Enough for deliveries to run on through the outage: about 160 a second.
const TOTAL: usize = 3000;
const WARM_UP: usize = MAX_IN_FLIGHT;
/// The reconnect backoff's cap.
const BACKOFF_CAP: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_by_the_broker_costs_only_the_requests_on_the_wire() {
    let queue = unique_queue("blip-close");
    let broker = TestBroker::connect().await;
    let receiver = Receiver::start_slow(ANSWER, |_| (200, "ok".into())).await;
    let journal = tempfile::tempdir().unwrap();
    let config = format!(
        "{CONFIG}\n[journal]\nurl = \"sqlite://{}\"\n",
        journal.path().join("journal.db").display()
    );
    let bridge = warm_up(&broker, &queue, &receiver, &config).await;

    let fragment = queue.to_string();
    let closing = Instant::now();
    let closed = tokio::task::spawn_blocking(move || close_connections_named(&fragment))
        .await
        .unwrap();
    let closed_by = Instant::now();
    assert_eq!(closed, 1, "the bridge's consumer connection was closed");
    all_delivered(&receiver).await;
    bridge.stop().await;

    let blip = Blip::measure(&receiver.received(), (closing, closed_by));
    let unsettled = unsettled_attempts(journal.path()).await;
    println!(
        "closed connection: {} duplicates ({unsettled} journaled unsettled, first sent within {:?}), consuming again after {:?}",
        blip.duplicates, blip.spread, blip.silence
    );
    blip.assert_bounded();
    assert!(
        (1..=blip.duplicates).contains(&unsettled),
        "requests finished after the loss are journaled as not settled: {unsettled} of {} duplicates",
        blip.duplicates
    );
    assert!(
        blip.silence < Duration::from_secs(1),
        "consuming again within 1 s of the close: {:?}",
        blip.silence
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_costs_only_the_requests_on_the_wire_and_the_acks_it_dropped() {
    let mut node = tokio::task::spawn_blocking(PrivateNode::launch)
        .await
        .unwrap();
    let queue = unique_queue("blip-restart");
    let broker = TestBroker::connect_to(&node.url()).await;
    let receiver = Receiver::start_slow(ANSWER, |_| (200, "ok".into())).await;
    let journal = tempfile::tempdir().unwrap();
    let config = format!(
        "{}\n[journal]\nurl = \"sqlite://{}\"\n",
        CONFIG.replace("{amqp}", &node.url()),
        journal.path().join("journal.db").display()
    );
    let bridge = warm_up(&broker, &queue, &receiver, &config).await;

    let stopping = Instant::now();
    let (node, up) = tokio::task::spawn_blocking(move || {
        node.stop();
        let up = node.start();
        (node, up)
    })
    .await
    .unwrap();
    let (serving, consuming) = consumer_back(&node.url(), &queue).await;
    all_delivered(&receiver).await;
    bridge.stop().await;

    let received = receiver.received();
    let blip = Blip::measure(&received, (stopping, up));
    let unsettled = unsettled_attempts(journal.path()).await;
    let resume = consuming - serving;
    println!(
        "broker restart: {} duplicates ({unsettled} journaled unsettled, first sent within {:?}), consuming again {:?} after the node served a client ({:?} after it accepted connections; silence {:?})",
        blip.duplicates,
        blip.spread,
        resume,
        serving - up,
        blip.silence
    );
    assert!(
        received.iter().any(|r| r.at > up),
        "the outage came while deliveries ran, with more after it"
    );
    // A stopping node may drop acks it received but had not applied yet (a loaded machine
    // saw the whole prefetch window come back): those duplicates are the broker's. The
    // bridge's own are the requests made on a connection it had lost: at most those on
    // the wire, each journaled as not settled.
    assert!(
        unsettled <= MAX_IN_FLIGHT,
        "requests finished after the loss are at most those on the wire: {unsettled}"
    );
    assert!(
        blip.duplicates >= unsettled,
        "every unsettled request is delivered again: {} duplicates, {unsettled} unsettled",
        blip.duplicates
    );
    assert!(
        blip.duplicates <= unsettled + PREFETCH,
        "duplicates beyond the unsettled requests are at most the prefetch window (acks the \
         stopping broker had not applied): {} duplicates, {unsettled} unsettled, prefetch {PREFETCH}",
        blip.duplicates
    );
    // A try that failed just before the node served comes again within the cap; then the
    // connection, topology and consumer, on a node just started on a loaded machine.
    assert!(
        resume < BACKOFF_CAP + Duration::from_secs(2),
        "consuming again within the capped backoff + 2 s of the node serving: {resume:?}"
    );
    // The node, its queues and messages go with its folder.
    drop(node);
}

/// When the restarted node first served a client of its own (a TCP accept comes earlier,
/// while the node still finishes its start) and when the bridge was consuming again,
/// both read from the broker.
async fn consumer_back(url: &str, queue: &str) -> (Instant, Instant) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut serving = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "no consumer on {queue} a minute after the restart"
        );
        match TestBroker::try_connect_to(url).await {
            Ok(broker) => {
                while Instant::now() < deadline {
                    match broker.consumers(queue).await {
                        Some(n) => {
                            let served = *serving.get_or_insert_with(Instant::now);
                            if n > 0 {
                                return (served, Instant::now());
                            }
                        }
                        None => break,
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Attempts the journal says could not be settled, read from its file.
async fn unsettled_attempts(dir: &std::path::Path) -> usize {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("journal.db"))
        .connect()
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM journal_attempts WHERE error LIKE 'not settled: the broker connection was lost%'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    n as usize
}

/// Starts the bridge on `config` and brings deliveries to full pace: a first round
/// teaches the channel the brand's pace (so the slow answers do not read as a stall),
/// then the rest of [`TOTAL`] is published, ids `m-0`….
async fn warm_up(broker: &TestBroker, queue: &str, receiver: &Receiver, config: &str) -> Bridge {
    broker.declare(queue).await;
    let body = queue_message(
        "shop",
        &receiver.url("/n"),
        "MakeCode",
        &json!({"bizContent": "{}"}),
    );
    let publish = |range: std::ops::Range<usize>| {
        broker.publish_all(queue, body.as_bytes(), range.map(|i| format!("m-{i}")))
    };
    publish(0..WARM_UP).await;
    let bridge = Bridge::start(settings(config, queue));
    eventually(Duration::from_secs(30), "the first round", || async {
        receiver.count() >= WARM_UP
    })
    .await;
    publish(WARM_UP..TOTAL).await;
    eventually(Duration::from_secs(30), "deliveries under way", || async {
        receiver.count() >= WARM_UP + 200
    })
    .await;
    // The outage must come while deliveries run, with more to go after it.
    assert!(receiver.count() < TOTAL / 2, "the fill outran the test");
    bridge
}

async fn all_delivered(receiver: &Receiver) {
    eventually(
        Duration::from_secs(60),
        "every message delivered",
        || async {
            let ids: HashSet<String> = receiver
                .received()
                .into_iter()
                .map(|r| r.headers["x-notify-id"].clone())
                .collect();
            ids.len() == TOTAL
        },
    )
    .await;
}

/// What one outage cost, read from what the brand received.
struct Blip {
    /// Requests beyond one per message.
    duplicates: usize,
    /// The longest time without a new request around the outage: from the last one on
    /// the lost connection to the first on the new one (an upper bound, on a busy machine).
    silence: Duration,
    /// How far apart the duplicated messages' first requests were: all on the wire
    /// together when the connection went, or sent one after another after it.
    spread: Duration,
}

impl Blip {
    /// Reads the outage that began within `around` from the requests' arrivals.
    fn measure(received: &[Received], around: (Instant, Instant)) -> Self {
        let mut arrivals: Vec<Instant> = received.iter().map(|r| r.at).collect();
        arrivals.sort();
        let silence = arrivals
            .windows(2)
            .filter(|w| w[1] > around.0 && w[0] < around.1)
            .map(|w| w[1] - w[0])
            .max()
            .expect("requests were made around the outage");
        let mut first: HashMap<&str, Instant> = HashMap::new();
        let mut duplicated = HashSet::new();
        for r in received {
            let id = r.headers["x-notify-id"].as_str();
            match first.get(id) {
                Some(_) => duplicated.insert(id),
                None => first.insert(id, r.at).is_none(),
            };
        }
        let firsts: Vec<Instant> = duplicated.iter().map(|id| first[id]).collect();
        let spread = match (firsts.iter().min(), firsts.iter().max()) {
            (Some(min), Some(max)) => *max - *min,
            _ => Duration::ZERO,
        };
        Self {
            duplicates: received.len() - TOTAL,
            silence,
            spread,
        }
    }

    /// Duplicates: the requests on the wire (and acks still on their way), never the
    /// prefetch window; their first requests all went out together, before the outage.
    fn assert_bounded(&self) {
        assert!(
            self.duplicates <= MAX_IN_FLIGHT + ACKS_UNDER_WAY,
            "{} duplicates",
            self.duplicates
        );
        assert!(
            self.spread <= ANSWER + Duration::from_secs(1),
            "the duplicated messages were first sent over {:?}: not only those on the wire",
            self.spread
        );
    }
}

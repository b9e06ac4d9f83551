//! The admin and inbound listeners under idle clients: a thousand half-open connections
//! are closed after the header read timeout, real requests are answered meanwhile, past
//! the cap new connections are closed at once while established ones keep working, and
//! deliveries carry on throughout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{signing, Harness, Options};
use crate::support::broker::TestBroker;
use crate::support::receiver::Receiver;
use crate::support::{eventually, settings, Bridge};

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
const HELD: usize = 1000;
const CAP: usize = 1010;
/// How late past its deadline a connection may be closed on a loaded machine.
const SLACK: Duration = Duration::from_secs(3);
const LIMITS: &str =
    "header_read_timeout = \"5s\"\nidle_timeout = \"60s\"\nmax_connections = 1010\n";
const SHOP: &str = r#"
[channels.shop]
app_id = "APP_SHOP"
url_policy = { schemes = ["http"], hosts = ["127.0.0.1"], allow_private = true }
signer = { secret = "it-secret-shop" }
retry = { schedule = ["0s"] }
"#;

/// A request as raw HTTP/1.1, numbered `n` so each is new to the receiver.
type Request = fn(usize) -> Vec<u8>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_are_cut_off_and_capped_while_requests_and_deliveries_go_on() {
    let options = Options {
        serve: false,
        ..Options::default()
    };
    let receiver = "preset = \"em\"\nsigner = { secret = \"k\" }";
    let h = Harness::start_with(receiver, "em.*", options).await;
    let (inbound, admin) = (free_addr(), free_addr());
    let config = h
        .config()
        .replace("127.0.0.1:0", &inbound.to_string())
        .replace("[inbound]\n", &format!("[inbound]\n{LIMITS}"))
        + &format!("[admin]\n{LIMITS}")
        + SHOP;
    let deliveries = Deliveries::start(&format!("{}.main", h.queue)).await;
    let mut settings = settings(&config, &deliveries.queue);
    settings.admin.listen = admin;
    let bridge = Bridge::start(settings);
    for addr in [admin, inbound] {
        eventually(
            Duration::from_secs(10),
            "both listeners bound",
            || async move { TcpStream::connect(addr).await.is_ok() },
        )
        .await;
    }

    for (name, addr, request) in [
        ("admin", admin, healthz as Request),
        ("inbound", inbound, callback),
    ] {
        exercise(name, addr, request, &deliveries).await;
    }

    // Shutdown does not wait on idle clients: kept connections, half a header.
    let mut lingering = vec![kept(admin, healthz).await, kept(inbound, callback).await];
    lingering.extend(half_open(admin, 100).await);
    lingering.extend(half_open(inbound, 100).await);
    let stopping = Instant::now();
    bridge.stop().await;
    let stopped = stopping.elapsed();
    println!("stopped in {stopped:?} with 200 half-open and 2 idle kept connections");
    assert!(
        stopped < HEADER_READ_TIMEOUT,
        "idle connections are closed at shutdown, not waited for: {stopped:?}"
    );
    for mut stream in lingering {
        let closing = tokio::time::timeout(Duration::from_secs(1), closed(&mut stream));
        assert!(closing.await.is_ok(), "closed at shutdown");
    }
    h.stop().await;
}

async fn exercise(name: &str, addr: SocketAddr, request: Request, deliveries: &Deliveries) {
    // A connection kept between requests, like a console polling the admin API.
    let mut kept = kept(addr, request).await;
    let opened = Instant::now();
    let held = half_open(addr, HELD).await;
    assert_eq!(
        fresh(addr, &request(1)).await,
        200,
        "{name}: a new client is answered meanwhile"
    );
    assert_eq!(
        exchange(&mut kept, &request(2)).await,
        200,
        "{name}: so is a kept connection"
    );
    deliveries.one_more().await;

    // Past the cap: a new connection is closed at once; the kept one works on.
    let _over = half_open(addr, CAP - HELD).await;
    let mut probe = half_open(addr, 1).await.pop().unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(2), closed(&mut probe)).await;
    assert!(
        refused.is_ok(),
        "{name}: a connection past the cap is closed at once"
    );
    assert_eq!(
        exchange(&mut kept, &request(3)).await,
        200,
        "{name}: a kept connection at the cap"
    );
    let kept_used = Instant::now();
    deliveries.one_more().await;

    let closes: Vec<_> = held
        .into_iter()
        .map(|mut s| tokio::spawn(async move { closed(&mut s).await }))
        .collect();
    let (mut first, mut last) = (None::<Instant>, opened);
    for close in closes {
        let at = tokio::time::timeout(HEADER_READ_TIMEOUT + SLACK * 2, close)
            .await
            .expect("every half-open connection is closed")
            .unwrap();
        first = Some(first.map_or(at, |f| f.min(at)));
        last = last.max(at);
    }
    let first = first.unwrap() - opened;
    let last = last - opened;
    println!("{name}: {HELD} half-open connections closed {first:?}..{last:?} after opening");
    assert!(
        first >= HEADER_READ_TIMEOUT - Duration::from_millis(100),
        "{name}: held until the header read timeout, not cut earlier: {first:?}"
    );
    assert!(
        last <= HEADER_READ_TIMEOUT + SLACK,
        "{name}: closed within the timeout: {last:?}"
    );
    // Idle for longer than the header read timeout, within the idle timeout: still open.
    // The wait is the point here, nothing to poll for.
    tokio::time::sleep_until((kept_used + HEADER_READ_TIMEOUT + Duration::from_secs(1)).into())
        .await;
    assert_eq!(
        exchange(&mut kept, &request(4)).await,
        200,
        "{name}: the kept connection outlives them"
    );
    assert_eq!(
        fresh(addr, &request(5)).await,
        200,
        "{name}: accepting again"
    );
}

fn healthz(_: usize) -> Vec<u8> {
    b"GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n".to_vec()
}

fn callback(n: usize) -> Vec<u8> {
    let data = json!({"notify_type": "OUT_TRADE_AUDIT", "trade_no": format!("DD{n}")});
    let body = Value::Object(signing::em("KEY_A", &data, "1", "k")).to_string();
    format!(
        "POST /cb HTTP/1.1\r\nHost: bridge\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A connection that has made one request (answered 200) and stays open.
async fn kept(addr: SocketAddr, request: Request) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    assert_eq!(exchange(&mut stream, &request(0)).await, 200);
    stream
}

/// One request on a new connection; its status.
async fn fresh(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    exchange(&mut stream, request).await
}

/// Sends `request` on `stream` and reads the whole answer; its status (0: no answer).
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> u16 {
    if stream.write_all(request).await.is_err() {
        return 0;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).to_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if answer.len() >= end + 4 + length {
                return text[9..12].parse().unwrap_or(0);
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return 0,
            Ok(read) => answer.extend_from_slice(&buf[..read]),
        }
    }
}

/// Opens `n` connections that each send half a request head, and keeps them.
async fn half_open(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // A refused connection may already be closed: the write may fail, that is fine.
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await;
        streams.push(stream);
    }
    streams
}

/// Waits until the server closes `stream`; when it did.
async fn closed(stream: &mut TcpStream) -> Instant {
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return Instant::now(),
            Ok(_) => continue,
        }
    }
}

fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The outbound side: messages to a brand, each checked to arrive.
struct Deliveries {
    queue: String,
    broker: TestBroker,
    brand: Receiver,
}

impl Deliveries {
    async fn start(queue: &str) -> Self {
        let broker = TestBroker::connect().await;
        broker.declare(queue).await;
        Self {
            queue: queue.to_owned(),
            broker,
            brand: Receiver::ok().await,
        }
    }

    /// Publishes one more message and waits until the brand has it.
    async fn one_more(&self) {
        let expected = self.brand.count() + 1;
        let message = crate::queue_message(
            "shop",
            &self.brand.url("/n"),
            "MakeCode",
            &json!({"bizContent": "{}"}),
        );
        let id = format!("l-{expected}");
        self.broker
            .publish(&self.queue, message.as_bytes(), Some(&id), None)
            .await;
        eventually(Duration::from_secs(20), "a delivery", || async {
            self.brand.count() >= expected
        })
        .await;
    }
}

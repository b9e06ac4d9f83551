//! Limits against a hostile brand: an answer that never ends is read to 64 KiB and no
//! further, so neither memory nor time grows with what a brand sends back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::Router;
use notify_bridge::deliver::{HttpClient, Request, MAX_RESPONSE_BYTES};
use serde_json::json;

use crate::support::broker::TestBroker;
use crate::support::{eventually, settings, unique_queue, Bridge};
use crate::{queue_message, CONFIG};

const CHUNK: usize = 64 * 1024;

/// A brand answering `status` with `total` bytes, streamed in 64 KiB chunks made on demand;
/// `sent` counts the bytes it produced.
async fn streaming_brand(status: u16, total: usize) -> (String, Arc<AtomicUsize>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let app = Router::new().fallback(move || {
        let counter = Arc::clone(&counter);
        async move {
            let chunks = futures_util::stream::unfold(0usize, move |done| {
                let counter = Arc::clone(&counter);
                async move {
                    if done >= total {
                        return None;
                    }
                    counter.fetch_add(CHUNK, Ordering::SeqCst);
                    Some((
                        Ok::<_, std::io::Error>(Bytes::from(vec![b'z'; CHUNK])),
                        done + CHUNK,
                    ))
                }
            });
            let status = axum::http::StatusCode::from_u16(status).unwrap();
            (status, Body::from_stream(chunks))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/n"), sent)
}

fn request(url: &str) -> Request {
    Request {
        url: url.parse().unwrap(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: "{}".into(),
    }
}

#[tokio::test]
async fn an_answer_of_10_mb_is_cut_off_at_64_kib() {
    let (url, _) = streaming_brand(200, 10 * 1024 * 1024).await;
    let answer = HttpClient::new()
        .send(request(&url), Duration::from_secs(30), true)
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.len(), MAX_RESPONSE_BYTES);
}

#[tokio::test]
async fn an_answer_without_end_is_not_read_to_its_end() {
    // 1 TB: were it read to the end, memory would grow and `send` would not return.
    let (url, sent) = streaming_brand(200, 1 << 40).await;
    let started = Instant::now();
    let answer = HttpClient::new()
        .send(request(&url), Duration::from_secs(30), true)
        .await
        .unwrap();
    assert_eq!(answer.body.len(), MAX_RESPONSE_BYTES);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Dropping the answer closed the connection: the brand stops within socket buffers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped_at = sent.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sent.load(Ordering::SeqCst),
        stopped_at,
        "the brand is no longer read"
    );
    assert!(stopped_at < 64 << 20, "{stopped_at} bytes were produced");
}

#[tokio::test]
async fn a_failed_attempt_with_a_10_mb_answer_parks_with_a_short_reason() {
    let queue = unique_queue("limits");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let (url, _) = streaming_brand(500, 10 * 1024 * 1024).await;
    // A 500 parks at once here: the point is the answer's size, not the schedule.
    let config = CONFIG.replace("park_on = [401]", "park_on = [401, 500]");
    let bridge = Bridge::start(settings(&config, &queue));
    let body = queue_message("shop", &url, "MakeCode", &json!({"bizContent": "{}"}));
    broker
        .publish(&queue, body.as_bytes(), Some("big-answer"), None)
        .await;
    let dead = format!("{queue}.dead");
    eventually(Duration::from_secs(30), "parked", || async {
        broker.depth(&dead).await == 1
    })
    .await;
    bridge.stop().await;
    let parked = broker.drain(&dead).await;
    let reason = &parked[0].headers["x-notify-error"];
    assert!(reason.starts_with("delivery-failed: "), "{reason}");
    assert!(reason.len() < 400, "{} bytes", reason.len());
    assert_eq!(parked[0].headers["x-notify-status"], "500");
    broker.cleanup(&queue).await;
}

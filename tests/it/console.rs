//! The operator console in a real browser: Debian's Chromium, headless, driven through
//! chromedriver (WebDriver) against a bridge with real deliveries to a real receiver.
//!
//! With `NOTIFY_BRIDGE_SCREENSHOTS=<dir>` set, each page is also saved there as a PNG
//! (`scripts/console-screenshots` regenerates docs/console/ that way); the browser fixture
//! is `support/browser.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::Locator;
use notify_bridge::journal::{JournalOutcome, JournalReader};
use notify_bridge::settings::Settings;
use serde_json::json;

use crate::queue_message;
use crate::support::broker::TestBroker;
use crate::support::browser::{free_port, shot, text_of, Driver};
use crate::support::process::bridge_cli;
use crate::support::receiver::Receiver;
use crate::support::{amqp_url, eventually, unique_queue, Bridge};

const TOKEN: &str = "c0nsole-t0ken";
const SECRET: &str = "console-sign-secret";
const PIN: &str = "PIN-SECRET-7788";
const PATIENCE: Duration = Duration::from_secs(30);

fn config(queue: &str, port: u16, journal: &std::path::Path) -> String {
    format!(
        r#"
[broker]
url = "{amqp}"
queue = "{queue}"
shutdown_grace = "2s"

[journal]
url = "sqlite://{journal}"

[admin]
listen = "127.0.0.1:{port}"
token = "{TOKEN}"

[channels.shop]
app_id = "APP_SHOP"
url_policy = {{ schemes = ["http"], allow_private = true }}
signer = {{ secret = "{SECRET}" }}
retry = {{ schedule = ["0s", "300ms", "300ms"] }}
"#,
        amqp = amqp_url(),
        journal = journal.display(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_real_browser_finds_shows_masks_and_replays() {
    let queue = unique_queue("console");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    // /flaky fails twice, then takes it; /down fails until `up` is set.
    let flaky_calls = Arc::new(Mutex::new(0u32));
    let up = Arc::new(AtomicBool::new(false));
    let receiver = {
        let (flaky_calls, up) = (Arc::clone(&flaky_calls), Arc::clone(&up));
        Receiver::start(move |r| {
            if r.path == "/flaky" {
                let mut calls = flaky_calls.lock().unwrap();
                *calls += 1;
                return if *calls <= 2 {
                    (503, "busy, try later".into())
                } else {
                    (200, "ok".into())
                };
            }
            if up.load(Ordering::SeqCst) {
                (200, "ok".into())
            } else {
                // A brand quoting the voucher's password back: masked before it is kept.
                (500, format!("down for maintenance; card password {PIN}"))
            }
        })
        .await
    };
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.db");
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, config(&queue, port, &journal)).unwrap();
    let bridge = Bridge::start(Settings::load(&path, &HashMap::new()).unwrap());

    let order = "WO2025120700001";
    let whale = |order: &str| {
        json!({"appId": "WHALE", "bizContent": {"orderNo": order, "codeNo": "C-77",
            "codePwd": PIN, "faceValue": "10.00"}})
    };
    let flaky = queue_message("shop", &receiver.url("/flaky"), "MakeCode", &whale(order));
    let down = queue_message(
        "shop",
        &receiver.url("/down"),
        "MakeCode",
        &whale("WO2025120700002"),
    );
    broker
        .publish(
            &queue,
            flaky.as_bytes(),
            Some("console-flaky"),
            Some("application/json"),
        )
        .await;
    broker
        .publish(
            &queue,
            down.as_bytes(),
            Some("console-down"),
            Some("application/json"),
        )
        .await;
    let down2 = queue_message(
        "shop",
        &receiver.url("/down"),
        "MakeCode",
        &whale("WO2025120700003"),
    );
    broker
        .publish(
            &queue,
            down2.as_bytes(),
            Some("console-down-2"),
            Some("application/json"),
        )
        .await;

    let url = notify_bridge::journal::JournalUrl::parse(&format!("sqlite://{}", journal.display()))
        .unwrap();
    let outcome_of = |id: &'static str| {
        let url = url.clone();
        async move {
            let Ok(reader) = JournalReader::open(&url).await else {
                return None;
            };
            let last = reader.attempts(id).await.ok()?.last().map(|a| a.outcome);
            reader.close().await;
            last
        }
    };
    eventually(PATIENCE, "flaky delivered, down parked", || async {
        outcome_of("console-flaky").await == Some(JournalOutcome::Delivered)
            && outcome_of("console-down").await == Some(JournalOutcome::Parked)
            && outcome_of("console-down-2").await == Some(JournalOutcome::Parked)
    })
    .await;

    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let base = format!("http://127.0.0.1:{port}");

    // A wrong token is refused and starts no session.
    browser.goto(&format!("{base}/ui")).await.unwrap();
    browser
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Id("token"))
        .await
        .unwrap();
    shot(&browser, "login").await;
    let form = browser.form(Locator::Css("form.login")).await.unwrap();
    form.set(Locator::Id("token"), "not-the-token")
        .await
        .unwrap();
    form.submit().await.unwrap();
    let refused = text_of(&browser, "p.error").await;
    assert!(refused.contains("Wrong token"), "{refused}");
    browser.goto(&format!("{base}/ui/channels")).await.unwrap();
    assert_eq!(
        browser.current_url().await.unwrap().path(),
        "/ui/login",
        "no session after a wrong token"
    );

    // The right one opens the channels page, its figures from the journal.
    let form = browser.form(Locator::Css("form.login")).await.unwrap();
    form.set(Locator::Id("token"), TOKEN).await.unwrap();
    form.submit().await.unwrap();
    let channels = text_of(&browser, "#live table").await;
    assert!(channels.contains("shop"), "{channels}");
    let cookies = browser.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "nb_console")
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    shot(&browser, "channels").await;

    // Search by order number: its three attempts.
    browser.goto(&format!("{base}/ui/search")).await.unwrap();
    let search = browser.form(Locator::Css("form.filters")).await.unwrap();
    browser
        .find(Locator::Id("key_name"))
        .await
        .unwrap()
        .select_by_value("orderNo")
        .await
        .unwrap();
    search.set(Locator::Id("key"), order).await.unwrap();
    search.submit().await.unwrap();
    browser
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Id("results"))
        .await
        .unwrap();
    let rows = browser
        .find_all(Locator::Css("#results tr.attempt"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "three attempts of {order}");
    shot(&browser, "search").await;

    // One delivery: every attempt, the message with its code password masked, and the
    // signed string re-created with the secret masked.
    browser
        .find(Locator::LinkText("console-flaky"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let signed = text_of(&browser, "#string-to-sign").await;
    assert!(signed.contains("key=******"), "{signed}");
    assert!(
        !signed.contains(SECRET) && !signed.contains(PIN),
        "{signed}"
    );
    let message = text_of(&browser, "#message").await;
    assert!(
        message.contains(order) && !message.contains(PIN),
        "{message}"
    );
    let attempts = browser
        .find_all(Locator::Css("#attempts tr.attempt"))
        .await
        .unwrap();
    assert_eq!(attempts.len(), 3);
    assert!(browser.source().await.unwrap().contains("busy, try later"));
    shot(&browser, "delivery").await;
    browser
        .execute(
            "document.getElementById('string-to-sign').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    shot(&browser, "delivery-request").await;

    // The parking lot: the parked one, replayed once the brand is back, then delivered.
    browser.goto(&format!("{base}/ui/parked")).await.unwrap();
    let counts = text_of(&browser, "#parked-counts").await;
    assert!(counts.contains("delivery-failed"), "{counts}");
    let lot = text_of(&browser, "#parked").await;
    assert!(lot.contains("console-down"), "{lot}");
    assert!(
        !lot.contains(PIN) && lot.contains("card password ******"),
        "{lot}"
    );
    shot(&browser, "parked").await;
    up.store(true, Ordering::SeqCst);
    browser
        .find(Locator::Css("#parked button[aria-label$=' console-down']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = text_of(&browser, "#notice").await;
    assert!(notice.contains("Replayed console-down"), "{notice}");
    eventually(PATIENCE, "the replayed message delivered", || async {
        outcome_of("console-down").await == Some(JournalOutcome::Delivered)
    })
    .await;
    // The rest, after a confirmation that says how many will move.
    browser.goto(&format!("{base}/ui/parked")).await.unwrap();
    browser
        .find(Locator::Css(
            "form[action='/ui/parked/replay'].inline button",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let confirm = text_of(&browser, "#confirm-count").await;
    assert!(confirm.contains("1 message(s) will move"), "{confirm}");
    browser
        .find(Locator::Css("input[name='confirm'] ~ button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let moved = text_of(&browser, "#notice").await;
    assert!(moved.contains("Moved 1 message(s)"), "{moved}");
    eventually(PATIENCE, "the rest delivered", || async {
        outcome_of("console-down-2").await == Some(JournalOutcome::Delivered)
    })
    .await;
    browser
        .goto(&format!("{base}/ui/delivery/console-down"))
        .await
        .unwrap();
    let next = text_of(&browser, "#next").await;
    assert!(next.contains("Delivered"), "{next}");
    assert_eq!(broker.depth(&format!("{queue}.dead")).await, 0);

    // Paused from the console, the channel's messages wait unattempted (deferred, not
    // parked); the CLI resumes it, and the waiting message is delivered.
    browser.goto(&format!("{base}/ui/channels")).await.unwrap();
    browser
        .find(Locator::Css(
            "form[action='/ui/channels/shop/pause'] button",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let state = text_of(&browser, "#live .state.paused").await;
    assert!(state.contains("paused"), "{state}");
    shot(&browser, "channels-paused").await;
    broker
        .publish(
            &queue,
            flaky.as_bytes(),
            Some("console-paused"),
            Some("application/json"),
        )
        .await;
    let deferrals_of = |id: &'static str| {
        let url = url.clone();
        async move {
            let reader = JournalReader::open(&url).await.unwrap();
            let found = (
                reader.deferrals(id).await.unwrap().0,
                reader.attempts(id).await.unwrap().len(),
            );
            reader.close().await;
            found
        }
    };
    eventually(
        PATIENCE,
        "the paused channel's message deferred",
        || async { deferrals_of("console-paused").await.0 >= 1 },
    )
    .await;
    assert_eq!(
        deferrals_of("console-paused").await.1,
        0,
        "no attempt while paused"
    );
    assert_eq!(
        broker.depth(&format!("{queue}.dead")).await,
        0,
        "nothing parked"
    );
    let resumed = bridge_cli(&[
        "channel",
        "resume",
        "shop",
        "--config",
        path.to_str().unwrap(),
    ]);
    assert!(resumed.contains("resumed shop"), "{resumed}");
    eventually(PATIENCE, "delivered once resumed", || async {
        outcome_of("console-paused").await == Some(JournalOutcome::Delivered)
    })
    .await;

    // A form posted from elsewhere, or without its CSRF token, moves nothing.
    let http = reqwest::Client::new();
    let cookie = format!("nb_console={}", session.value());
    let post = |origin: &str, csrf: &str| {
        http.post(format!("{base}/ui/replay"))
            .header("cookie", &cookie)
            .header("origin", origin)
            .form(&[("csrf", csrf), ("id", "console-down")])
            .send()
    };
    let foreign = post("http://evil.example", "x").await.unwrap();
    assert_eq!(foreign.status(), 403);
    let no_csrf = post(&base, "forged").await.unwrap();
    assert_eq!(no_csrf.status(), 403);

    // The admin API finds the same order by its key.
    let text = http
        .get(format!("{base}/deliveries?key=orderNo={order}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let found: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = found["deliveries"].as_array().unwrap();
    // console-flaky's three attempts, and the one of console-paused (the same order sent
    // again while the channel was paused).
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "console-paused",
            "console-flaky",
            "console-flaky",
            "console-flaky"
        ],
        "{found}"
    );

    browser.close().await.unwrap();
    bridge.stop().await;
}

//! A real browser for the console's test: Debian's Chromium, headless, driven through
//! chromedriver (WebDriver). With `NOTIFY_BRIDGE_SCREENSHOTS=<dir>` set, `shot` saves pages
//! there as PNGs.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::eventually;
use super::process::Reaped;

/// How long the browser may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(30);

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver on a free port, in a process group of its own: when dropped (a failing
/// test too) the whole group goes, the browsers it started with it.
pub struct Driver {
    process: Reaped,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.process.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    }
}

impl Driver {
    pub async fn start() -> Self {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Reaped)
            .expect("chromedriver starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        eventually(PATIENCE, "chromedriver listening", || async move {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        })
        .await;
        Self { process, port }
    }

    pub async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=zh-CN"],
            }),
        );
        ClientBuilder::rustls()
            .expect("rustls connector")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

/// Saves the page as `<name>.png` when screenshots are asked for.
pub async fn shot(browser: &Client, name: &str) {
    let Some(dir) = std::env::var_os("NOTIFY_BRIDGE_SCREENSHOTS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The text of the element `css` once it is there; the page's source when it never is.
pub async fn text_of(browser: &Client, css: &str) -> String {
    let found = browser
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await;
    match found {
        Ok(element) => element.text().await.unwrap(),
        Err(e) => panic!("{css}: {e}; the page:\n{}", browser.source().await.unwrap()),
    }
}

//! The examples in docs/integrators are real: each is regenerated with `notify-bridge sign`
//! against docs/integrators/config.toml and compared with the text on the page, so a page
//! can never drift from what the bridge sends. After an intended change, rewrite them with
//! `NOTIFY_BRIDGE_BLESS=1 cargo test --test it kit::docs` and review the diff.
//!
//! A page marks each generated block with a comment on the line before its fence:
//! `<!-- kit:request ebuy -->` (the raw request, `sign --http`) or `<!-- kit:string ebuy -->`
//! (the string to sign, `sign --explain`). examples/verify/samples/<preset>.http holds the
//! same request, for running the verifiers on.
//!
//! 运之盟's field encryption is randomised (PKCS#1 v1.5 padding), so its ciphertext and
//! signature differ on every run: there the page must match a fresh run apart from those
//! two, its own signature must verify, and its ciphertext must decrypt to the sample's value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use notify_bridge::sign::rsa::{Padding, PrivateKey};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const PRESETS: [&str; 4] = ["ebuy", "shangzhan", "em", "yunzhimeng"];
/// The clock and nonce every example is pinned to: 2025-01-15 10:00:00 in Shanghai.
const AT: &str = "1736906400000";
const NONCE: &str = "123456789012345678";
/// The value the yunzhimeng sample's encrypted field holds (docs/integrators/messages).
const CODE_PWD: &str = "8391-2047/xk";

/// Runs the bridge binary in the repository root, as the pages tell a reader to.
pub fn bridge(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("the binary runs")
}

fn sign(preset: &str, mode: &str) -> String {
    let channel = format!("{preset}-demo");
    let message = format!("docs/integrators/messages/{preset}.json");
    let out = bridge(&[
        "sign",
        "--config",
        "docs/integrators/config.toml",
        "--channel",
        &channel,
        "--message",
        &message,
        "--at",
        AT,
        "--nonce",
        NONCE,
        mode,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The blocks a page shows for `preset`, freshly generated.
fn fresh(preset: &str) -> BTreeMap<&'static str, String> {
    let request = sign(preset, "--http");
    let string = if preset == "yunzhimeng" {
        // From the same request, so the page's string and request agree.
        rsa_string(&request)
    } else {
        let explained: serde_json::Value =
            serde_json::from_str(&sign(preset, "--explain")).unwrap();
        explained["string_to_sign"].as_str().unwrap().to_owned()
    };
    BTreeMap::from([("request", request), ("string", string)])
}

/// X-Timestamp + X-Nonce + body of a raw request.
fn rsa_string(request: &str) -> String {
    let (head, body) = request.split_once("\n\n").unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap()
            .to_owned()
    };
    format!("{}{}{body}", header("X-Timestamp"), header("X-Nonce"))
}

/// A generated block on a page: where its text sits, and what it is.
struct Block {
    kind: String,
    preset: String,
    /// Line range of the text between the fences.
    lines: std::ops::Range<usize>,
    text: String,
}

fn blocks(page: &str) -> Vec<Block> {
    let lines: Vec<&str> = page.split('\n').collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(marker) = line
            .trim()
            .strip_prefix("<!-- kit:")
            .and_then(|m| m.strip_suffix("-->"))
        else {
            continue;
        };
        let (kind, preset) = marker.trim().split_once(' ').expect("kit:KIND PRESET");
        assert!(
            lines.get(i + 1).is_some_and(|l| l.starts_with("```")),
            "a fence follows the marker"
        );
        let start = i + 2;
        let end = start
            + lines[start..]
                .iter()
                .position(|l| *l == "```")
                .expect("the block is closed");
        out.push(Block {
            kind: kind.to_owned(),
            preset: preset.to_owned(),
            lines: start..end,
            text: lines[start..end].join("\n"),
        });
    }
    out
}

fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs/integrators"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages
}

fn sample_path(preset: &str) -> PathBuf {
    Path::new(ROOT).join(format!("examples/verify/samples/{preset}.http"))
}

/// The parts of a 运之盟 example that differ from run to run, masked.
fn stable(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.split('\n') {
        match line.strip_prefix("X-Signature: ") {
            Some(_) => out.push("X-Signature: <random>".to_owned()),
            None => out.push(mask_code_pwd(line)),
        }
    }
    out.join("\n")
}

fn mask_code_pwd(line: &str) -> String {
    let key = "\"codePwd\":\"";
    match line.find(key) {
        Some(at) => {
            let start = at + key.len();
            let end = start + line[start..].find('"').unwrap();
            format!("{}<encrypted>{}", &line[..start], &line[end..])
        }
        None => line.to_owned(),
    }
}

/// The 运之盟 example on the pages is a real callback: it verifies and decrypts.
fn check_rsa_example(request: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("yunzhimeng.http");
    std::fs::write(&file, request).unwrap();
    let out = bridge(&[
        "verify",
        "--config",
        "docs/integrators/config.toml",
        "--channel",
        "yunzhimeng-demo",
        "--request",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "the page's 运之盟 example verifies: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let body: serde_json::Value =
        serde_json::from_str(request.split_once("\n\n").unwrap().1).unwrap();
    let key = PrivateKey::from_pem(
        &std::fs::read_to_string(
            Path::new(ROOT).join("docs/integrators/keys/brand-demo-private.pem"),
        )
        .unwrap(),
    )
    .unwrap();
    let plain = key
        .decrypt(Padding::Pkcs1, body["codePwd"].as_str().unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(plain).unwrap(), CODE_PWD);
    // The ciphertext is one 2048-bit block.
    let raw = base64::engine::general_purpose::STANDARD
        .decode(body["codePwd"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw.len(), 256);
}

#[test]
fn integrator_pages_show_what_the_bridge_sends() {
    let bless = std::env::var_os("NOTIFY_BRIDGE_BLESS").is_some();
    let fresh: BTreeMap<&str, BTreeMap<&str, String>> =
        PRESETS.iter().map(|p| (*p, fresh(p))).collect();
    // What the pages show, per (kind, preset): the same on every page.
    let mut shown: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut problems = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
        for block in blocks(&text).into_iter().rev() {
            let expected = fresh
                .get(block.preset.as_str())
                .and_then(|f| f.get(block.kind.as_str()))
                .unwrap_or_else(|| panic!("unknown block kit:{} {}", block.kind, block.preset));
            let matches = if block.preset == "yunzhimeng" {
                stable(&block.text) == stable(expected)
            } else {
                block.text == *expected
            };
            if bless {
                lines.splice(block.lines.clone(), expected.split('\n').map(str::to_owned));
            } else if !matches {
                problems.push(format!(
                    "{}: kit:{} {} differs from the bridge's output:\n--- page\n{}\n--- bridge\n{}",
                    page.display(),
                    block.kind,
                    block.preset,
                    block.text,
                    expected
                ));
            }
            let key = (block.kind.clone(), block.preset.clone());
            let text = if bless { expected.clone() } else { block.text };
            if shown
                .insert(key.clone(), text.clone())
                .is_some_and(|o| o != text)
            {
                problems.push(format!("kit:{} {} differs between pages", key.0, key.1));
            }
        }
        if bless {
            std::fs::write(&page, lines.join("\n")).unwrap();
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\nIf the change is intended: NOTIFY_BRIDGE_BLESS=1 cargo test --test it kit::docs",
        problems.join("\n\n")
    );
    for preset in PRESETS {
        let request = shown
            .get(&("request".to_owned(), preset.to_owned()))
            .unwrap_or_else(|| panic!("a page shows the {preset} request"));
        assert!(
            shown.contains_key(&("string".to_owned(), preset.to_owned())),
            "a page shows the {preset} string to sign"
        );
        if bless {
            std::fs::write(sample_path(preset), request).unwrap();
        }
        let sample = std::fs::read_to_string(sample_path(preset)).unwrap();
        assert_eq!(&sample, request, "{preset}.http is the pages' example");
    }
    let rsa_request = &shown[&("request".to_owned(), "yunzhimeng".to_owned())];
    assert_eq!(
        shown[&("string".to_owned(), "yunzhimeng".to_owned())],
        rsa_string(rsa_request),
        "the 运之盟 string is the example's timestamp, nonce and body"
    );
    check_rsa_example(rsa_request);
}

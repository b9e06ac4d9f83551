//! The text of `verify --explain`: our canonical string and signature beside the
//! integrator's, with the first difference pointed at. Secrets show only as `******`.

use std::fmt::Write as _;

use notify_bridge::sign::explain::{Comparison, Window, MASK};
use notify_bridge::sign::sorted_params::{Case, Hash};
use notify_bridge::sign::{Signer, VerifyExplained};

/// What the integrator computed on their side.
#[derive(Debug, Clone)]
pub enum Theirs {
    /// Their signature for the body.
    Sign(String),
    /// The string they hashed or signed.
    String(String),
}

/// The whole report, ready to print.
pub fn report(signer: &Signer, e: &VerifyExplained, theirs: Option<&Theirs>) -> String {
    let mut out = String::new();
    match &e.verdict {
        Ok(()) => out.push_str("signature OK\n"),
        Err(err) => {
            let _ = writeln!(out, "signature INVALID: {err}");
        }
    }
    let _ = writeln!(
        out,
        "\nstring to sign (ours; a secret shows as {MASK}):\n  {}",
        e.canonical.masked()
    );
    let _ = writeln!(out, "{}", method(signer));
    if let Some(expected) = &e.expected {
        let _ = writeln!(out, "our sign:      {expected}");
    }
    let received = e.received.as_deref().unwrap_or("(none)");
    let _ = writeln!(out, "received sign: {received}");
    match theirs {
        None => {}
        Some(Theirs::Sign(sign)) => their_sign(&mut out, signer, e, sign),
        Some(Theirs::String(text)) => their_string(&mut out, signer, e, text),
    }
    out
}

/// How the canonical string becomes the signature, for this signer.
fn method(signer: &Signer) -> String {
    match signer {
        Signer::SortedParams { signer, field } => {
            let hash = match signer.hash {
                Hash::Md5 => "md5",
                Hash::Sha256 => "sha256",
                Hash::HmacSha256 => "HMAC-SHA256 keyed with the secret",
            };
            let case = match signer.case {
                Case::Lower => "lower-case",
                Case::Upper => "upper-case",
            };
            format!("hash: {hash} of its UTF-8 bytes, {case} hex, in the body field `{field}`")
        }
        Signer::SortedChars { field, .. } => {
            format!("hash: md5 of its UTF-8 bytes, lower-case hex, in the body field `{field}`")
        }
        Signer::Rsa(_) => "signature: SHA256withRSA (PKCS#1 v1.5) over its UTF-8 bytes, base64 in \
             X-Signature; verify it with our public key"
            .to_owned(),
    }
}

fn their_sign(out: &mut String, signer: &Signer, e: &VerifyExplained, theirs: &str) {
    let _ = writeln!(out, "their sign:    {theirs}");
    let Some(expected) = &e.expected else {
        debug_assert!(matches!(signer, Signer::Rsa(_)));
        out.push_str(
            "→ this channel signs with RSA: there is no sign to compute, only X-Signature to \
             verify with our public key. Compare what you verify over with --their-string.\n",
        );
        return;
    };
    let verdict = if theirs == expected {
        match e.verdict {
            Ok(()) => "→ the same as ours: your steps are right.",
            Err(_) => {
                "→ the same as ours: your steps are right, so the sign that arrived does not \
                 belong to this body. Was the body changed (re-serialised, trimmed) before you \
                 hashed it, or is this not the body as received?"
            }
        }
    } else if theirs.eq_ignore_ascii_case(expected) {
        "→ the same as ours apart from letter case: see the hex case above."
    } else {
        "→ not ours. Compare your string to sign with ours: pass it with --their-string \
         (or --their-string-file)."
    };
    let _ = writeln!(out, "{verdict}");
}

fn their_string(out: &mut String, signer: &Signer, e: &VerifyExplained, theirs: &str) {
    let _ = writeln!(
        out,
        "\nstring to sign (theirs; the secret's place shows as {MASK}):\n  {}",
        e.canonical.mask_theirs(theirs)
    );
    match e.canonical.compare(theirs) {
        Comparison::Same => {
            let step = match signer {
                Signer::Rsa(_) => {
                    "the signature check: verify X-Signature (base64) with \
                                   SHA256withRSA and our public key, not your own"
                }
                _ => "the hash step: see the hash line above",
            };
            let _ = writeln!(
                out,
                "→ identical to ours, secret included. The difference is in {step}."
            );
        }
        Comparison::SecretDiffers => out.push_str(
            "→ the same as ours up to the secret, and different from there: use this \
             channel's secret exactly, with no spaces or line break around it.\n",
        ),
        Comparison::DiffersAt {
            index,
            ours,
            theirs: their_window,
        } => {
            // No lengths: ours would give away the secret's.
            let _ = writeln!(
                out,
                "→ first difference at character {} (counting from 1):",
                index + 1
            );
            caret_line(out, "ours:  ", &ours);
            caret_line(out, "theirs:", &their_window);
            for hint in hints(signer, &e.canonical.masked(), theirs) {
                let _ = writeln!(out, "hint: {hint}");
            }
        }
    }
}

fn caret_line(out: &mut String, label: &str, window: &Window) {
    let _ = writeln!(out, "  {label} {}", window.text);
    let pad = " ".repeat(2 + label.len() + 1 + window.caret);
    let _ = writeln!(out, "{pad}^");
}

/// The usual mistakes, recognisable from the two strings alone.
fn hints(signer: &Signer, ours: &str, theirs: &str) -> Vec<&'static str> {
    let mut hints = Vec::new();
    let has = |s: &str, needle: &str| s.contains(needle);
    match signer {
        Signer::SortedParams { field, .. } => {
            if theirs.starts_with(&format!("{field}="))
                || has(theirs, &format!("&{field}=")) && !has(ours, &format!("&{field}="))
            {
                hints.push("leave the signature field itself out of the string");
            }
            if ["%7B", "%22", "%3A", "%2F", "%26"]
                .iter()
                .any(|e| has(theirs, e) && !has(ours, e))
            {
                hints.push("use values as they are, not URL-encoded");
            }
            if has(theirs, "=&") || theirs.ends_with('=') {
                hints.push("skip fields whose value is empty or null");
            }
        }
        Signer::SortedChars { .. } => {
            if has(theirs, "\\/") || has(theirs, "\\u") && !has(ours, "\\u") {
                hints.push(
                    "json_encode with flags 320 (JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES): \
                     no \\/ and no \\uXXXX for Chinese",
                );
            }
            if theirs.chars().filter(|c| *c == ' ').count()
                != ours.chars().filter(|c| *c == ' ').count()
            {
                hints.push("the JSON text has no spaces between tokens; spaces inside values stay");
            }
        }
        Signer::Rsa(_) => {
            hints.push(
                "sign over X-Timestamp, X-Nonce and the body exactly as received, with nothing \
                 between them; do not re-serialise the JSON",
            );
        }
    }
    hints
}

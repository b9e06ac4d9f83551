//! `verify`: check a received callback's signature with a channel's signer; with
//! `--explain`, show the string we check against beside the integrator's.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use notify_bridge::format::BodyEncoding;
use notify_bridge::sign::{Origin, Signer, VerifyError};

use super::explain::{self, Theirs};
use super::request_file::RawRequest;
use crate::ConfigArg;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// The channel whose signer and encoding apply.
    #[arg(long)]
    channel: String,
    /// A file holding the raw body as received.
    #[arg(long, required_unless_present = "request", conflicts_with = "request")]
    body: Option<PathBuf>,
    /// A received header, `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// A raw request file (header lines, a blank line, the body), as the kit's verifiers read.
    #[arg(long)]
    request: Option<PathBuf>,
    /// Show the string we hash or sign (secret masked) and our signature.
    #[arg(long)]
    explain: bool,
    /// The signature the integrator computed, to compare with ours (implies --explain).
    #[arg(long, conflicts_with_all = ["their_string", "their_string_file"])]
    their_sign: Option<String>,
    /// The string the integrator hashed or signed; the first difference is shown (implies --explain).
    #[arg(long, conflicts_with = "their_string_file")]
    their_string: Option<String>,
    /// Like --their-string, read from a file (no trailing newline is stripped but one).
    #[arg(long)]
    their_string_file: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = args.config.load()?;
    let channel = settings
        .channels
        .get(&args.channel)
        .with_context(|| format!("no channel `{}` in the config", args.channel))?;
    let (body, mut headers) = match &args.request {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let request = RawRequest::parse(&bytes)
                .with_context(|| format!("{} is not a raw request file", path.display()))?;
            (request.body, request.headers)
        }
        None => {
            let path = args
                .body
                .as_ref()
                .context("--body or --request is needed")?;
            let body = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            (body, Vec::new())
        }
    };
    headers.extend(parse_headers(&args.headers)?);
    let theirs = theirs(&args)?;
    let signer = &channel.signer;
    let (verdict, origin) = check(signer, &body, &headers, channel.encoding);
    if !args.explain && theirs.is_none() {
        return Ok(match verdict {
            Ok(()) => {
                println!("signature OK{}", origin_note(signer, origin));
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("signature INVALID: {e}");
                ExitCode::from(1)
            }
        });
    }
    let explained = signer
        .explain_verify(&body, &headers, channel.encoding, origin)
        .map_err(|e| anyhow::anyhow!("cannot explain this callback: {e}"))?;
    let holds = explained.verdict.is_ok();
    print!("{}", explain::report(signer, &explained, theirs.as_ref()));
    Ok(if holds {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Verifies, and says whose signature held. An rsa callback may be one we sent (a brand
/// asks why theirs fails) or one a provider sent us: try our key, then the peer's.
fn check(
    signer: &Signer,
    body: &str,
    headers: &[(String, String)],
    encoding: BodyEncoding,
) -> (Result<(), VerifyError>, Origin) {
    let Signer::Rsa(rsa) = signer else {
        return (signer.verify(body, headers, encoding), Origin::Ours);
    };
    match rsa.verify_own(body, headers) {
        Ok(()) => (Ok(()), Origin::Ours),
        Err(own) => match rsa.verify(body, headers) {
            Ok(()) => (Ok(()), Origin::Peer),
            Err(_) => (Err(own), Origin::Ours),
        },
    }
}

fn origin_note(signer: &Signer, origin: Origin) -> &'static str {
    match (signer, origin) {
        (Signer::Rsa(_), Origin::Ours) => " (signed with our key: a callback we sent)",
        (Signer::Rsa(_), Origin::Peer) => " (signed with the peer's key: a callback they sent)",
        _ => "",
    }
}

fn parse_headers(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|h| {
            h.split_once(':')
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .with_context(|| format!("header `{h}` is not `Name: value`"))
        })
        .collect()
}

fn theirs(args: &Args) -> anyhow::Result<Option<Theirs>> {
    if let Some(sign) = &args.their_sign {
        return Ok(Some(Theirs::Sign(sign.trim().to_owned())));
    }
    if let Some(text) = &args.their_string {
        return Ok(Some(Theirs::String(text.clone())));
    }
    if let Some(path) = &args.their_string_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        // Editors end files with a newline the integrator did not hash.
        let text = text
            .strip_suffix("\r\n")
            .or(text.strip_suffix('\n'))
            .unwrap_or(&text);
        return Ok(Some(Theirs::String(text.to_owned())));
    }
    Ok(None)
}

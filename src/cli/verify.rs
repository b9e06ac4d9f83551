//! `verify`: check a received callback's signature with a channel's signer.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::ConfigArg;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// The channel whose signer and encoding apply.
    #[arg(long)]
    channel: String,
    /// A file holding the raw body as received.
    #[arg(long)]
    body: PathBuf,
    /// A received header, `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = args.config.load()?;
    let channel = settings
        .channels
        .get(&args.channel)
        .with_context(|| format!("no channel `{}` in the config", args.channel))?;
    let body = std::fs::read_to_string(&args.body)
        .with_context(|| format!("cannot read {}", args.body.display()))?;
    let headers = args
        .headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .with_context(|| format!("header `{h}` is not `Name: value`"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    match channel.signer.verify(&body, &headers, channel.encoding) {
        Ok(()) => {
            println!("signature OK");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("signature INVALID: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

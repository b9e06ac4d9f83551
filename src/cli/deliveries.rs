//! `deliveries`: the journal as a table — did brand X get notification Y, when, what did it say?

use std::process::ExitCode;

use notify_bridge::journal::{Filter, JournalReader};
use notify_bridge::message::NotifyType;

use crate::ConfigArg;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Only this channel.
    #[arg(long)]
    channel: Option<String>,
    /// Only this notifyType.
    #[arg(long = "type")]
    notify_type: Option<String>,
    /// Only this outcome: delivered, retry, parked, bad-input.
    #[arg(long)]
    outcome: Option<String>,
    /// Only since then: epoch milliseconds, or a look-back such as 1h.
    #[arg(long)]
    since: Option<String>,
    /// Every attempt of one message id instead.
    #[arg(long)]
    id: Option<String>,
    /// Only messages with this business key, as name=value; the value may be a prefix
    /// (e.g. orderNo=WO2025).
    #[arg(long, value_name = "NAME=VALUE")]
    key: Option<String>,
    /// At most this many rows (1 to 1000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = args.config.load()?;
    let reader = JournalReader::open(&settings.journal.url).await?;
    let rows = match &args.id {
        Some(id) => reader.attempts(id).await?,
        None => reader.list(&filter(&args)?).await?,
    };
    println!(
        "{:<24} {:<28} {:<16} {:<17} {:>3} {:>6} {:>8}  {:<10} DETAIL",
        "TIME (UTC)", "ID", "CHANNEL", "TYPE", "#", "STATUS", "MS", "OUTCOME"
    );
    for r in &rows {
        let detail = r
            .error
            .as_deref()
            .or(r.response.as_deref())
            .unwrap_or_default();
        let detail: String = detail.chars().take(80).collect();
        println!(
            "{:<24} {:<28} {:<16} {:<17} {:>3} {:>6} {:>8}  {:<10} {}",
            utc(r.at_ms),
            r.message_id,
            r.channel.as_deref().unwrap_or("-"),
            r.notify_type.map_or("-", NotifyType::as_str),
            r.attempt,
            r.status.map_or("-".into(), |s| s.to_string()),
            r.latency_ms.map_or("-".into(), |l| l.to_string()),
            r.outcome.as_str(),
            detail.replace(['\n', '\r'], " ")
        );
    }
    println!("{} attempt(s)", rows.len());
    reader.close().await;
    Ok(ExitCode::SUCCESS)
}

fn filter(args: &Args) -> anyhow::Result<Filter> {
    Filter::parse(
        args.channel.clone(),
        args.notify_type.as_deref(),
        args.outcome.as_deref(),
        args.since.as_deref(),
        "--since",
        Some(args.limit),
    )
    .and_then(|f| match &args.key {
        Some(key) => f.with_key(key),
        None => Ok(f),
    })
    .map_err(anyhow::Error::msg)
}

/// Epoch ms as RFC 3339 UTC, to the millisecond.
fn utc(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

//! `dead list`, `dead replay` and `dead purge`: the parking lot, for operators.

use std::process::ExitCode;

use notify_bridge::broker::dead_letters::{self, Filter, Parked};
use notify_bridge::clock::now_ms;

use crate::ConfigArg;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Show parked messages (they stay parked).
    List(Selection),
    /// Move parked messages back to the main queue for a fresh retry schedule; each at most
    /// once, and the run ends even while the bridge parks them again.
    Replay {
        #[command(flatten)]
        selection: Selection,
        /// Show what would move; move nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete parked messages for good.
    Purge {
        #[command(flatten)]
        selection: Selection,
        /// Show what would go; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// How many you expect to purge; refused unless exactly that many match.
        #[arg(long, value_name = "N")]
        yes: Option<usize>,
    },
}

#[derive(clap::Args)]
struct Selection {
    #[command(flatten)]
    config: ConfigArg,
    /// Only messages of this channel.
    #[arg(long, value_name = "ID")]
    channel: Option<String>,
    /// Only messages parked for this reason code, e.g. delivery-failed or unformattable.
    #[arg(long, value_name = "R")]
    reason: Option<String>,
    /// Only messages parked since then: a look-back such as 2h, or an RFC 3339 time.
    #[arg(long, value_name = "D")]
    since: Option<String>,
    /// At most this many.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::List(sel) => {
            let settings = sel.config.load()?;
            let parked = dead_letters::list(&settings.broker, &filter(&sel)?).await?;
            table(&parked);
            println!("{} parked message(s) shown", parked.len());
        }
        Action::Replay { selection, dry_run } => {
            let settings = selection.config.load()?;
            let filter = filter(&selection)?;
            let queue = &settings.broker.queue;
            if dry_run {
                let parked = dead_letters::list(&settings.broker, &filter).await?;
                table(&parked);
                println!("would replay {} message(s) to {queue}", parked.len());
            } else {
                let moved = dead_letters::replay(&settings.broker, &filter).await?;
                table(&moved);
                println!("replayed {} message(s) to {queue}", moved.len());
            }
        }
        Action::Purge {
            selection,
            dry_run,
            yes,
        } => {
            let settings = selection.config.load()?;
            let confirm = yes.filter(|_| !dry_run);
            let purge =
                dead_letters::purge(&settings.broker, &filter(&selection)?, confirm).await?;
            table(&purge.matched);
            let n = purge.matched.len();
            if purge.purged {
                println!("purged {n} message(s)");
            } else if dry_run {
                println!("would purge {n} message(s)");
            } else {
                eprintln!("refused: {n} message(s) would be purged; run again with --yes {n} to purge them");
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn filter(sel: &Selection) -> anyhow::Result<Filter> {
    let since_ms = sel
        .since
        .as_deref()
        .map(|s| dead_letters::since_ms(s, now_ms()))
        .transpose()?;
    Ok(Filter {
        channel: sel.channel.clone(),
        reason: sel.reason.clone(),
        since_ms,
        limit: sel.limit,
    })
}

/// One line per message, id first.
fn table(parked: &[Parked]) {
    println!(
        "{:<28} {:<16} {:<18} {:>8} {:>6} {:>14}  REASON",
        "ID", "CHANNEL", "TYPE", "ATTEMPTS", "STATUS", "PARKED_AT_MS"
    );
    for p in parked {
        let at = p.parked_at_ms.map(|ms| ms.to_string()).unwrap_or_default();
        println!(
            "{:<28} {:<16} {:<18} {:>8} {:>6} {:>14}  {}",
            p.id, p.channel, p.notify_type, p.attempts, p.status, at, p.reason
        );
    }
}

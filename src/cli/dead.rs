//! `dead list` and `dead replay`: the parking lot, for operators.

use std::process::ExitCode;

use notify_bridge::consume::parking_lot::{self, Filter};

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
    /// Move parked messages back to the main queue for a fresh retry schedule.
    Replay(Selection),
}

#[derive(clap::Args)]
struct Selection {
    #[command(flatten)]
    config: ConfigArg,
    /// Only messages of this channel.
    #[arg(long)]
    channel: Option<String>,
    /// At most this many.
    #[arg(long)]
    limit: Option<usize>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::List(sel) => {
            let settings = sel.config.load()?;
            let parked = parking_lot::list(&settings, &filter(&sel)).await?;
            println!(
                "{:<28} {:<16} {:<18} {:>8} {:>6}  REASON",
                "ID", "CHANNEL", "TYPE", "ATTEMPTS", "STATUS"
            );
            for p in &parked {
                println!(
                    "{:<28} {:<16} {:<18} {:>8} {:>6}  {}",
                    p.id, p.channel, p.notify_type, p.attempts, p.status, p.reason
                );
            }
            println!("{} parked message(s) shown", parked.len());
        }
        Action::Replay(sel) => {
            let settings = sel.config.load()?;
            let n = parking_lot::replay(&settings, &filter(&sel)).await?;
            println!("replayed {n} message(s) to {}", settings.broker.queue);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn filter(sel: &Selection) -> Filter {
    Filter {
        channel: sel.channel.clone(),
        limit: sel.limit,
    }
}

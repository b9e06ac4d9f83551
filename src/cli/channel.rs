//! `channel pause|resume|paused`: hold a brand's deliveries (its messages are deferred,
//! unattempted) and let them go again; kept in the journal, so every replica sharing it
//! obeys within seconds, and a restart keeps the pause.

use std::process::ExitCode;

use notify_bridge::journal::JournalReader;

use crate::ConfigArg;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Hold a channel's deliveries until it is resumed (not parked, not attempted).
    Pause(One),
    /// Let a paused channel's messages be delivered again.
    Resume(One),
    /// List the paused channels.
    Paused {
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(clap::Args)]
struct One {
    #[command(flatten)]
    config: ConfigArg,
    /// The channelId.
    #[arg(value_name = "ID")]
    id: String,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Pause(one) => {
            let settings = one.config.load()?;
            if !settings.channels.contains_key(&one.id) {
                anyhow::bail!("no channel `{}` in the configuration", one.id);
            }
            let reader = JournalReader::open(&settings.journal.url).await?;
            let changed = reader.pause(&one.id).await?;
            reader.close().await;
            match changed {
                true => println!(
                    "paused {}: its messages wait, unattempted, until `channel resume {}`",
                    one.id, one.id
                ),
                false => println!("{} was already paused", one.id),
            }
        }
        Action::Resume(one) => {
            let settings = one.config.load()?;
            let reader = JournalReader::open(&settings.journal.url).await?;
            let changed = reader.resume(&one.id).await?;
            reader.close().await;
            match changed {
                true => println!(
                    "resumed {}: its waiting messages go out as their deferrals end",
                    one.id
                ),
                false => println!("{} was not paused", one.id),
            }
        }
        Action::Paused { config } => {
            let settings = config.load()?;
            let reader = JournalReader::open(&settings.journal.url).await?;
            let paused = reader.paused_channels().await?;
            reader.close().await;
            for (channel, at) in &paused {
                let since = humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_millis(*at),
                );
                println!("{channel}\tpaused since {since}");
            }
            println!("{} paused channel(s)", paused.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

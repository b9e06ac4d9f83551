//! `send-test`: send one signed sample callback to a brand's endpoint, show the request and
//! the answer, and say whether the channel's success rule held (exit 0 only then).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use notify_bridge::deliver::{BodyRule, HttpClient, Response, StatusRule, SuccessRule};
use notify_bridge::format::template::samples;
use notify_bridge::message::{MessageId, MessageType, NotifyType};
use notify_bridge::parse::Declared;
use notify_bridge::pipeline::{Pins, Pipeline};
use serde_json::{json, Value};

use crate::ConfigArg;

/// How much of the brand's answer is printed.
const SHOWN_BODY_CHARS: usize = 2000;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// The channel whose format, signer and success rule apply.
    #[arg(long)]
    channel: String,
    /// The brand's endpoint; the channel's URL policy applies to it.
    #[arg(long)]
    to: Option<String>,
    /// The notifyType of the sample (MakeCode, MakeVoid, UpdateCodeStatus, CodeDelay,
    /// CodeExpire, Verify, VerifyVoid).
    #[arg(long = "type", default_value = "MakeCode")]
    notify_type: String,
    /// `ebuy` or `third`; by default the brand's own format when the channel takes it.
    #[arg(long)]
    message_type: Option<String>,
    /// Send this queue message instead of the built-in sample; --to overrides
    /// its notifyUrl.
    #[arg(long)]
    message: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = args.config.load()?;
    let channel = settings
        .channels
        .get(&args.channel)
        .with_context(|| format!("no channel `{}` in the config", args.channel))?
        .clone();
    let message = queue_message(&args, &channel)?;
    let body = serde_json::to_vec(&message)?;
    // A fresh id each time: a brand that dedupes on X-Notify-Id must not drop the test.
    let id = MessageId::from_delivery(
        Some(&format!("send-test-{:016x}", rand::random::<u64>())),
        &body,
    );
    let pipeline = Pipeline::new(
        settings.channels.values(),
        settings.broker.max_message_bytes,
        HttpClient::new(),
    );
    let prepared = pipeline
        .prepare(&id, &body, Declared::default(), &Pins::now(), true)
        .map_err(|e| anyhow::anyhow!("{}", e.header_value()))?;
    let mut request = prepared.request;
    if channel.notify_id_header {
        request
            .headers
            .push(("X-Notify-Attempt".into(), "1".into()));
    }

    println!("> POST {}", request.url);
    for (name, value) in &request.headers {
        println!("> {name}: {value}");
    }
    println!(">\n{}\n", request.body);
    if let Some(s) = &prepared.string_to_sign {
        println!("string signed (a secret shows as ******):\n  {s}\n");
    }
    let rule = describe(&channel.success);
    let allow_private = channel.url_policy.allow_private;
    match HttpClient::new()
        .send(request, channel.timeout, allow_private)
        .await
    {
        Ok(answer) => {
            print!("{}", show_answer(&answer));
            if channel.success.holds(answer.status, &answer.body) {
                println!("success rule ({rule}): HELD");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("success rule ({rule}): NOT HELD; the bridge would retry this");
                Ok(ExitCode::from(1))
            }
        }
        Err(e) => {
            println!("no answer: {e}");
            println!("success rule ({rule}): NOT HELD; the bridge would retry this");
            Ok(ExitCode::from(1))
        }
    }
}

/// The queue message to send: the file given, or the built-in sample for the notify type.
fn queue_message(args: &Args, channel: &notify_bridge::channel::Channel) -> anyhow::Result<Value> {
    let mut message: Value = match &args.message {
        Some(path) => {
            let text =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_slice(&text).context("the message file is not JSON")?
        }
        None => sample(args, channel)?,
    };
    let obj = message
        .as_object_mut()
        .context("the message file is not a JSON object")?;
    obj.insert("channelId".into(), channel.id.clone().into());
    match &args.to {
        Some(url) => {
            obj.insert("notifyUrl".into(), url.clone().into());
        }
        None if obj.contains_key("notifyUrl") => {}
        None => anyhow::bail!(
            "give --to URL: a channel has no URL of its own (each queue message names its notifyUrl)"
        ),
    }
    Ok(message)
}

fn sample(args: &Args, channel: &notify_bridge::channel::Channel) -> anyhow::Result<Value> {
    let kind = NotifyType::parse(&args.notify_type).with_context(|| {
        let names: Vec<&str> = NotifyType::ALL.iter().map(|t| t.as_str()).collect();
        format!(
            "unknown --type `{}` (one of {})",
            args.notify_type,
            names.join(", ")
        )
    })?;
    let message_type = match args.message_type.as_deref() {
        Some(name) => MessageType::parse(name)
            .with_context(|| format!("unknown --message-type `{name}` (ebuy or third)"))?,
        None if channel.accepts(MessageType::Third) => MessageType::Third,
        None => MessageType::Ebuy,
    };
    let status = samples::NOTIFY_TYPES
        .iter()
        .find(|(name, _, _)| *name == kind.as_str())
        .map(|(_, _, status)| *status)
        .unwrap_or("ACTIVE");
    let mut standard = samples::message(kind.action(), status);
    // A test callback carries the time it is sent, as a real one does.
    standard.remove("timestamp");
    Ok(json!({
        "notifyType": kind.as_str(),
        "messageType": message_type.as_str(),
        "whaleMessage": Value::Object(standard).to_string(),
    }))
}

fn show_answer(answer: &Response) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "< {} ({} ms)",
        answer.status,
        answer.latency.as_millis()
    );
    for (name, value) in &answer.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        let _ = writeln!(out, "< {name}: {value}");
    }
    let shown: String = answer.body.chars().take(SHOWN_BODY_CHARS).collect();
    let _ = writeln!(out, "<\n{shown}");
    let rest = answer.body.chars().count().saturating_sub(SHOWN_BODY_CHARS);
    if rest > 0 {
        let _ = writeln!(out, "… ({rest} more characters not shown)");
    }
    out.push('\n');
    out
}

/// The rule in words, e.g. `2xx and body "SUCCESS" (trimmed)`.
fn describe(rule: &SuccessRule) -> String {
    let status = match rule.status {
        StatusRule::Class(c) => format!("{c}xx"),
        StatusRule::Exact(code) => code.to_string(),
    };
    match &rule.body {
        None => status,
        Some(BodyRule {
            accepted,
            ignore_case,
        }) => {
            let bodies: Vec<String> = accepted.iter().map(|b| format!("{b:?}")).collect();
            let case = if *ignore_case { ", any case" } else { "" };
            format!("{status} and body {} (trimmed{case})", bodies.join(" or "))
        }
    }
}

//! `sign`: print the exact request a queue message would produce, without sending it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use notify_bridge::deliver::{HttpClient, Request};
use notify_bridge::message::MessageId;
use notify_bridge::parse::Declared;
use notify_bridge::pipeline::{Pins, Pipeline};
use serde_json::{Map, Value};

use super::request_file::RawRequest;
use crate::ConfigArg;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// The channel to sign for (overrides the message's channelId).
    #[arg(long)]
    channel: String,
    /// A file holding one queue message.
    #[arg(long)]
    message: PathBuf,
    /// Pin the clock (epoch milliseconds) for reproducible output.
    #[arg(long)]
    at: Option<u64>,
    /// Pin the nonce of signers that use one.
    #[arg(long)]
    nonce: Option<String>,
    /// Also print the string that was signed, secret masked.
    #[arg(long, conflicts_with = "http")]
    explain: bool,
    /// Print the request as a raw request file (request line, headers, a blank line, the
    /// body), the form `verify --request` and the kit's verifiers read.
    #[arg(long)]
    http: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = args.config.load()?;
    let text = std::fs::read(&args.message)
        .with_context(|| format!("cannot read {}", args.message.display()))?;
    let body = with_channel(&text, &args.channel)?;
    let pipeline = Pipeline::new(
        settings.channels.values(),
        settings.broker.max_message_bytes,
        HttpClient::new(),
    );
    let mut pins = Pins::now();
    if let Some(at) = args.at {
        pins.now_ms = at;
    }
    pins.nonce = args.nonce;
    let id = MessageId::of_body(&text);
    let prepared = pipeline
        .prepare(&id, &body, Declared::default(), &pins, args.explain)
        .map_err(|e| anyhow::anyhow!("{}", e.header_value()))?;

    if args.http {
        print!("{}", http(&prepared.request).render());
        return Ok(ExitCode::SUCCESS);
    }
    let headers: Map<String, Value> = prepared
        .request
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut out = Map::new();
    out.insert("method".into(), "POST".into());
    out.insert("url".into(), prepared.request.url.as_str().into());
    out.insert("headers".into(), Value::Object(headers));
    out.insert("body".into(), prepared.request.body.into());
    if let Some(s) = prepared.string_to_sign {
        out.insert("string_to_sign".into(), s.into());
    }
    println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    Ok(ExitCode::SUCCESS)
}

/// The request as the brand's server sees it, less what the HTTP client adds on its own.
fn http(request: &Request) -> RawRequest {
    let url = &request.url;
    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target = format!("{target}?{query}");
    }
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let mut headers = vec![("Host".to_owned(), host)];
    headers.extend(request.headers.iter().cloned());
    RawRequest {
        request_line: Some(format!("POST {target} HTTP/1.1")),
        headers,
        body: request.body.clone(),
    }
}

/// The message with its `channelId` replaced, so any message can be tried on any channel.
fn with_channel(text: &[u8], channel: &str) -> anyhow::Result<Vec<u8>> {
    let mut doc: Value = serde_json::from_slice(text).context("the message file is not JSON")?;
    let obj = doc
        .as_object_mut()
        .context("the message file is not a JSON object")?;
    obj.insert("channelId".into(), channel.into());
    Ok(serde_json::to_vec(&doc)?)
}

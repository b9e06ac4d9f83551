//! `bench keys`: what indexing a message's business keys costs — the journal writer's
//! extraction of the default keys (orderNo, codeNo, outOrderNo) from the realistic bench
//! message, in a loop. Run it under `valgrind --tool=callgrind` and divide the inclusive
//! instructions of `KeySpec::extract` by the iterations.

use std::time::Instant;

use notify_bridge::journal::KeySpec;

use bench_harness::config;
use bench_harness::load::{message, Target};

/// How many extractions.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 100_000)]
    pub iterations: usize,
}

/// Prints µs per message.
pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = KeySpec::default();
    let target = Target {
        channel: config::MD5.into(),
        url: "http://127.0.0.1:8080/ok".into(),
        third: false,
    };
    let bodies: Vec<String> = (0..64).map(|i| message(&target, i)).collect();
    let started = Instant::now();
    let mut found = 0;
    for i in 0..args.iterations {
        let body = bodies[i % bodies.len()].as_bytes();
        found += spec.extract(Some(config::MD5), body).len();
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / args.iterations as f64;
    anyhow::ensure!(
        found == 2 * args.iterations,
        "expected orderNo and codeNo in each"
    );
    println!(
        "keys: {per:.2} µs/message over {} messages ({} B each)",
        args.iterations,
        bodies[0].len()
    );
    Ok(())
}

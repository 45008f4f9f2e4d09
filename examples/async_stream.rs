//! Fans out many asynchronous calls as one stream and reports on them.
//!
//! Starts a relay and an engine inside this process, saves the `stats`
//! module, then runs `stats::collatz_steps` once per number as a stream of
//! asynchronous calls: requests go out on the engine's key, results come back
//! on this client's key, at most `--in-flight` at a time, and are printed in
//! the order they complete. Run it with:
//!
//! ```text
//! cargo run --example async_stream -- --calls 5000 --in-flight 64
//! ```
//!
//! Nothing needs to be started first.

use std::time::Instant;

use clap::Parser;
use futures::StreamExt;
use giocci_engine::embedded::Embedded;

#[giocci::remote]
pub mod stats {
    /// How many steps the Collatz sequence from `n` takes to reach 1.
    pub fn collatz_steps(n: u64) -> u32 {
        let (mut n, mut steps) = (n.max(1), 0);
        while n != 1 {
            n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
            steps += 1;
        }
        steps
    }
}

#[derive(Debug, Parser)]
#[command(about = "Runs many asynchronous giocci calls as a stream")]
struct Args {
    /// How many calls to make.
    #[arg(long, default_value_t = 1_000)]
    calls: u64,

    /// How many calls may be under way at once.
    #[arg(long, default_value_t = giocci::DEFAULT_IN_FLIGHT)]
    in_flight: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    println!("starting a relay and an engine in this process");
    let stack = Embedded::start().await?;
    let client = stack.client("async-stream").open().await?;
    client.register_client().await?;
    client.save_module(&stats::module()).await?;

    println!("running {} calls, {} in flight", args.calls, args.in_flight);
    let started = Instant::now();
    let inputs = (1..=args.calls).map(|n| (n,));
    let mut results = stats::remote(&client)
        .with_in_flight(args.in_flight)
        .collatz_steps_stream(inputs);

    let (mut done, mut errors, mut longest) = (0u64, 0u64, (0u64, 0u32));
    let progress_every = (args.calls / 10).max(1);
    while let Some((index, result)) = results.next().await {
        let n = index as u64 + 1;
        match result {
            Ok(steps) if steps > longest.1 => longest = (n, steps),
            Ok(_) => {}
            Err(err) => {
                errors += 1;
                eprintln!("call for {n} failed: {err}");
            }
        }
        done += 1;
        if done % progress_every == 0 {
            println!(
                "  {done:>7} done, {errors} errors, {:.2?} elapsed",
                started.elapsed()
            );
        }
    }

    let elapsed = started.elapsed();
    println!(
        "summary: {done} calls, {errors} errors, {elapsed:.2?} elapsed, {:.0} calls/s",
        done as f64 / elapsed.as_secs_f64()
    );
    println!("longest: {} takes {} steps", longest.0, longest.1);

    drop(results);
    client.close().await?;
    stack.stop().await;
    Ok(())
}

//! `giocci-engine`: registers with its relay and runs the modules it is
//! given.
//!
//! By default it connects to a relay on tcp/127.0.0.1:7447 as a Zenoh
//! client.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use giocci::transport::{DEFAULT_ENDPOINT, Mode};
use giocci_engine::{Engine, EngineConfig};
use giocci_relay::cli::{ZenohArgs, close, init_logging, run_service, shutdown_signal};

#[derive(Debug, Parser)]
#[command(version, about = "The giocci engine")]
struct Args {
    /// The engine's name.
    #[arg(long, default_value = giocci_engine::DEFAULT_NAME)]
    name: String,

    /// The relay to register with.
    #[arg(long, default_value = giocci::DEFAULT_RELAY)]
    relay: String,

    /// How long to wait for the relay to answer the registration, in
    /// milliseconds.
    #[arg(long, default_value_t = 10_000)]
    register_timeout_ms: u64,

    /// On SIGINT or SIGTERM, how long requests in flight may take to
    /// finish before they are answered with an error, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    shutdown_grace_ms: u64,

    #[command(flatten)]
    zenoh: ZenohArgs,
}

fn main() -> ExitCode {
    init_logging();
    run_service("giocci-engine", run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let register_timeout = Duration::from_millis(args.register_timeout_ms);
    let config = EngineConfig {
        name: args.name,
        relay: args.relay,
        key_prefix: args.zenoh.key_prefix.clone(),
        register_timeout,
    };
    config.validate()?;

    let options = args.zenoh.options(Mode::Client, &[], &[DEFAULT_ENDPOINT]);
    let session = open_when_reachable(&options, register_timeout).await?;
    let engine = Engine::start(session.clone(), config.clone()).await?;
    println!(
        "giocci-engine ready: engine={} relay={}",
        engine.name(),
        config.relay
    );

    shutdown_signal().await;
    engine
        .stop_within(Duration::from_millis(args.shutdown_grace_ms))
        .await;
    close(session).await;
    Ok(())
}

/// Opens the session, retrying while its router (usually the relay) is not
/// reachable yet, for up to `limit`.
async fn open_when_reachable(
    options: &giocci::transport::ZenohOptions,
    limit: Duration,
) -> anyhow::Result<zenoh::Session> {
    let started = std::time::Instant::now();
    loop {
        match options.open().await {
            Ok(session) => return Ok(session),
            Err(err) if started.elapsed() >= limit => {
                anyhow::bail!(
                    "cannot reach {} within {} ms; the relay may not be running ({err})",
                    options.connect.join(", "),
                    limit.as_millis()
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

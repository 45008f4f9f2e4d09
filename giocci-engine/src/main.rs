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
use giocci_relay::cli::{ZenohArgs, init_logging, shutdown_signal};

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

    #[command(flatten)]
    zenoh: ZenohArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("giocci-engine: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let options = args.zenoh.options(Mode::Client, &[], &[DEFAULT_ENDPOINT]);
    let session = options.open().await?;
    let config = EngineConfig {
        name: args.name,
        relay: args.relay,
        key_prefix: args.zenoh.key_prefix.clone(),
        register_timeout: Duration::from_millis(args.register_timeout_ms),
    };
    let engine = Engine::start(session.clone(), config.clone()).await?;
    println!(
        "giocci-engine ready: engine={} relay={}",
        engine.name(),
        config.relay
    );

    shutdown_signal().await;
    engine.stop().await;
    session
        .close()
        .await
        .map_err(|err| anyhow::anyhow!("closing the session: {err}"))?;
    Ok(())
}

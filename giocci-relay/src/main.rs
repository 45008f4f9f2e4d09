//! `giocci-relay`: registers clients and engines, stores and distributes
//! modules, and picks an engine for each call.
//!
//! By default it listens on tcp/127.0.0.1:7447 as a Zenoh router, so
//! engines and clients on this machine connect to it directly.

use std::process::ExitCode;

use clap::Parser;
use giocci::transport::{DEFAULT_ENDPOINT, Mode};
use giocci_relay::cli::{ZenohArgs, init_logging, shutdown_signal};
use giocci_relay::{DEFAULT_PUSH_TIMEOUT, Relay, RelayConfig};

#[derive(Debug, Parser)]
#[command(version, about = "The giocci relay")]
struct Args {
    /// The relay's name.
    #[arg(long, default_value = giocci_relay::DEFAULT_NAME)]
    name: String,

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
            eprintln!("giocci-relay: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let options = args.zenoh.options(Mode::Router, &[DEFAULT_ENDPOINT], &[]);
    let session = options.open().await?;
    let config = RelayConfig {
        name: args.name,
        key_prefix: args.zenoh.key_prefix.clone(),
        push_timeout: DEFAULT_PUSH_TIMEOUT,
    };
    let relay = Relay::start(session.clone(), config).await?;
    println!(
        "giocci-relay ready: relay={} listen={}",
        relay.name(),
        options.listen.join(",")
    );

    shutdown_signal().await;
    relay.stop().await;
    session
        .close()
        .await
        .map_err(|err| anyhow::anyhow!("closing the session: {err}"))?;
    Ok(())
}

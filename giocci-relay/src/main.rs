//! `giocci-relay`: registers clients and engines, stores and distributes
//! modules, and picks an engine for each call.
//!
//! By default it listens on tcp/127.0.0.1:7447 as a Zenoh router, so
//! engines and clients on this machine connect to it directly.

use std::process::ExitCode;

use clap::Parser;
use giocci::transport::{DEFAULT_ENDPOINT, Mode};
use giocci_relay::cli::{ZenohArgs, close, init_logging, run_service, shutdown_signal};
use giocci_relay::{DEFAULT_PUSH_TIMEOUT, Relay, RelayConfig};

#[derive(Debug, Parser)]
#[command(version, about = "The giocci relay")]
struct Args {
    /// The relay's name.
    #[arg(long, default_value = giocci_relay::DEFAULT_NAME)]
    name: String,

    /// The largest module the relay stores, in bytes.
    #[arg(long, default_value_t = giocci::limits::DEFAULT_MAX_MODULE_BYTES)]
    max_module_bytes: usize,

    #[command(flatten)]
    zenoh: ZenohArgs,
}

fn main() -> ExitCode {
    init_logging();
    run_service("giocci-relay", run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let config = RelayConfig {
        name: args.name,
        key_prefix: args.zenoh.key_prefix.clone(),
        push_timeout: DEFAULT_PUSH_TIMEOUT,
        payload_limits: giocci::PayloadLimits {
            module: args.max_module_bytes,
            ..giocci::PayloadLimits::default()
        },
    };
    config.validate()?;

    let options = args.zenoh.options(Mode::Router, &[DEFAULT_ENDPOINT], &[]);
    let session = options.open().await?;
    let relay = Relay::start(session.clone(), config).await?;
    println!(
        "giocci-relay ready: relay={} listen={}",
        relay.name(),
        options.listen.join(",")
    );

    shutdown_signal().await;
    relay.stop_within(args.zenoh.shutdown_grace()).await;
    close(session).await;
    Ok(())
}

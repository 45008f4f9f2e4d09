//! `giocci-engine`: registers with its relay and runs the modules it is
//! given.
//!
//! By default it connects to a relay on tcp/127.0.0.1:7447 as a Zenoh
//! client.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use giocci::PayloadLimits;
use giocci::transport::{DEFAULT_ENDPOINT, Mode, ZenohOptions};
use giocci_engine::{Engine, EngineConfig, Limits};
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

    /// Wall-clock time one call may run, in milliseconds.
    #[arg(long, default_value_t = giocci_engine::DEFAULT_DEADLINE.as_millis() as u64)]
    deadline_ms: u64,

    /// Fuel one call may burn (about one unit per WebAssembly instruction);
    /// unlimited when not given.
    #[arg(long)]
    fuel: Option<u64>,

    /// Linear memory one call may use, in bytes.
    #[arg(long, default_value_t = giocci_engine::DEFAULT_MEMORY_LIMIT)]
    memory_bytes: usize,

    /// WebAssembly stack one call may use, in bytes.
    #[arg(long, default_value_t = giocci_engine::DEFAULT_STACK_LIMIT)]
    stack_bytes: usize,

    /// Calls that run at once; the number of cores when not given.
    #[arg(long)]
    max_running: Option<usize>,

    /// Calls that may wait for a free slot; more get "engine busy".
    #[arg(long, default_value_t = giocci_engine::DEFAULT_MAX_QUEUED)]
    max_queued: usize,

    /// The largest module, in bytes.
    #[arg(long, default_value_t = giocci::limits::DEFAULT_MAX_MODULE_BYTES)]
    max_module_bytes: usize,

    /// The largest encoded arguments of one call, in bytes.
    #[arg(long, default_value_t = giocci::limits::DEFAULT_MAX_ARGS_BYTES)]
    max_args_bytes: usize,

    /// The largest encoded result of one call, in bytes.
    #[arg(long, default_value_t = giocci::limits::DEFAULT_MAX_RESULT_BYTES)]
    max_result_bytes: usize,

    #[command(flatten)]
    zenoh: ZenohArgs,
}

fn main() -> ExitCode {
    init_logging();
    run_service("giocci-engine", run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let register_timeout = Duration::from_millis(args.register_timeout_ms);
    let defaults = Limits::default();
    let config = EngineConfig {
        name: args.name,
        relay: args.relay,
        key_prefix: args.zenoh.key_prefix.clone(),
        register_timeout,
        limits: Limits {
            deadline: Duration::from_millis(args.deadline_ms),
            fuel: args.fuel,
            memory: args.memory_bytes,
            stack: args.stack_bytes,
            max_running: args.max_running.unwrap_or(defaults.max_running),
            max_queued: args.max_queued,
            payload: PayloadLimits {
                module: args.max_module_bytes,
                args: args.max_args_bytes,
                result: args.max_result_bytes,
            },
        },
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
    engine.stop_within(args.zenoh.shutdown_grace()).await;
    close(session).await;
    Ok(())
}

/// Opens the session, retrying while its router (usually the relay) is not
/// reachable yet, for up to `limit`. A configuration that cannot work fails
/// at once.
async fn open_when_reachable(
    options: &ZenohOptions,
    limit: Duration,
) -> anyhow::Result<zenoh::Session> {
    let config = options.to_config()?;
    let endpoints = match options.connect.is_empty() {
        true => "the configured endpoints".to_owned(),
        false => options.connect.join(", "),
    };
    let started = std::time::Instant::now();
    loop {
        match zenoh::open(config.clone()).await {
            Ok(session) => return Ok(session),
            // Zenoh's only word for "no router answered".
            Err(err) if err.to_string().contains("Unable to connect") => {
                if started.elapsed() >= limit {
                    anyhow::bail!(
                        "cannot reach {endpoints} within {} ms; the relay may not be running",
                        limit.as_millis()
                    );
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(err) => anyhow::bail!("cannot open a Zenoh session; {err}"),
        }
    }
}

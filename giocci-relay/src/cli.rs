//! Command-line pieces shared by the `giocci-relay` and `giocci-engine`
//! binaries.

use std::path::PathBuf;

use giocci::transport::{Mode, ZenohOptions};

/// The flags both binaries share: Zenoh and shutdown.
#[derive(Debug, Clone, clap::Args)]
pub struct ZenohArgs {
    /// Prefix of every key; relay, engines and clients must agree on it.
    #[arg(long, env = "GIOCCI_KEY_PREFIX")]
    pub key_prefix: Option<String>,

    /// Zenoh mode of this process: client, peer or router [default: router
    /// for the relay, client for engines, unless --zenoh-config is given].
    #[arg(long)]
    pub mode: Option<Mode>,

    /// Zenoh endpoint to listen on (repeatable), such as tcp/127.0.0.1:7447
    /// [default: tcp/127.0.0.1:7447 for the relay, none for engines, unless
    /// --zenoh-config is given].
    #[arg(long = "listen", value_name = "ENDPOINT")]
    pub listen: Vec<String>,

    /// Zenoh endpoint to connect to (repeatable), such as tcp/10.0.0.5:7447
    /// [default: none for the relay, tcp/127.0.0.1:7447 for engines, unless
    /// --zenoh-config is given].
    #[arg(long = "connect", value_name = "ENDPOINT")]
    pub connect: Vec<String>,

    /// A full Zenoh configuration (JSON5), read before the flags above are
    /// applied. Multicast scouting is always turned off.
    #[arg(long, value_name = "FILE")]
    pub zenoh_config: Option<PathBuf>,

    /// On SIGINT or SIGTERM, how long requests in flight may take to
    /// finish before they are answered with an error, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub shutdown_grace_ms: u64,
}

impl ZenohArgs {
    /// The shutdown grace period.
    pub fn shutdown_grace(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.shutdown_grace_ms)
    }

    /// The Zenoh options, with `mode`, `listen` and `connect` as defaults for
    /// what the flags and the file leave unset.
    pub fn options(&self, mode: Mode, listen: &[&str], connect: &[&str]) -> ZenohOptions {
        let from_file = self.zenoh_config.is_some();
        let or_default = |given: &[String], default: &[&str]| {
            if given.is_empty() && !from_file {
                default.iter().map(|s| (*s).to_owned()).collect()
            } else {
                given.to_vec()
            }
        };
        let mode = self.mode.or(if from_file { None } else { Some(mode) });
        ZenohOptions {
            config_file: self.zenoh_config.clone(),
            mode,
            listen: or_default(&self.listen, listen),
            connect: or_default(&self.connect, connect),
        }
    }
}

/// Installs the log subscriber: `RUST_LOG` if set, else `info`.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// How long a binary waits, once stopped, for tasks that are still running:
/// 1 second.
pub const EXIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a binary waits for its Zenoh session to close: 5 seconds.
pub const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Closes `session`, giving up after [`CLOSE_TIMEOUT`].
pub async fn close(session: zenoh::Session) {
    match tokio::time::timeout(CLOSE_TIMEOUT, session.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "closing the Zenoh session failed"),
        Err(_) => tracing::warn!("the Zenoh session did not close within {CLOSE_TIMEOUT:?}"),
    }
}

/// Runs a binary's main future on a new runtime and turns its outcome into
/// the exit code, printing any error as `binary: error`.
pub fn run_service<F, E>(binary: &str, main: F) -> std::process::ExitCode
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{binary}: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(main);
    // A module still compiling may hold a blocking thread; do not wait
    // for it.
    runtime.shutdown_timeout(EXIT_TIMEOUT);
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{binary}: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

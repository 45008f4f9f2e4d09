//! The giocci relay: registers clients and engines, stores the modules
//! clients save, hands them to every engine, and picks the engine for each
//! call.
//!
//! Run it as the `giocci-relay` binary, or inside a process with
//! [`Relay::start`] on a Zenoh session you opened.
//!
//! # Limitations
//!
//! The relay keeps registrations and modules in memory only: after a restart,
//! clients and engines must register again and clients must save their
//! modules again.
#![deny(missing_docs)]

pub mod cli;
mod handlers;
mod state;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use giocci::PayloadLimits;
use giocci::protocol::Service;
use giocci::protocol::{KeyMap, NameError, validate_name};
use tracing::info;

use state::Shared;

/// The relay name used when none is given.
pub const DEFAULT_NAME: &str = giocci::DEFAULT_RELAY;

/// How long the relay waits for an engine to take a module, when the saving
/// client does not say: 10 seconds.
pub const DEFAULT_PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// A relay's settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The relay's name, which clients and engines address it by.
    pub name: String,
    /// The prefix of every key, shared with its clients and engines.
    pub key_prefix: Option<String>,
    /// How long to wait for an engine to take a module pushed at its
    /// registration.
    pub push_timeout: Duration,
    /// The largest module the relay stores (the other limits do not apply
    /// to relays).
    pub payload_limits: PayloadLimits,
}

impl RelayConfig {
    /// Checks the name and the key prefix, which become parts of Zenoh keys.
    pub fn validate(&self) -> Result<(), RelayError> {
        validate_name("relay name", &self.name)?;
        KeyMap::new(self.key_prefix.as_deref())?;
        Ok(())
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            name: DEFAULT_NAME.to_owned(),
            key_prefix: None,
            push_timeout: DEFAULT_PUSH_TIMEOUT,
            payload_limits: PayloadLimits::default(),
        }
    }
}

/// Why a relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The relay name or the key prefix cannot be used in Zenoh keys.
    #[error("cannot start relay; {0}")]
    InvalidName(#[from] NameError),
    /// Zenoh refused to declare one of the relay's queryables.
    #[error("cannot start relay '{relay}': declaring {key} failed; {source}")]
    Declare {
        /// The relay.
        relay: String,
        /// The key.
        key: String,
        /// Zenoh's error.
        #[source]
        source: giocci::ZenohError,
    },
}

/// How long [`Relay::stop`] lets requests in flight finish: 5 seconds.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// A running relay. Dropping it does not stop it; call [`Relay::stop`].
#[derive(Debug)]
pub struct Relay {
    shared: Arc<Shared>,
    services: Vec<Service>,
}

impl Relay {
    /// Declares the relay's queryables on `session` and starts answering.
    pub async fn start(session: zenoh::Session, config: RelayConfig) -> Result<Relay, RelayError> {
        config.validate()?;
        let keys = KeyMap::new(config.key_prefix.as_deref())?;
        let shared = Arc::new(Shared::new(session, keys, config));
        let services = handlers::spawn_all(&shared).await?;
        info!(relay = %shared.name, prefix = ?shared.keys.prefix(), "relay started");
        Ok(Relay { shared, services })
    }

    /// The relay's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The engines registered now, in registration order.
    pub fn engines(&self) -> Vec<String> {
        self.shared.engines()
    }

    /// Stops taking requests and lets those in flight finish for up to
    /// [`DEFAULT_GRACE`]; any still unfinished then get an error reply.
    pub async fn stop(self) {
        self.stop_within(DEFAULT_GRACE).await;
    }

    /// [`stop`](Relay::stop) with its own grace period.
    pub async fn stop_within(self, grace: Duration) {
        info!(relay = %self.shared.name, "relay stopping");
        join_all(
            self.services
                .into_iter()
                .map(|service| service.shutdown(grace)),
        )
        .await;
        info!(relay = %self.shared.name, "relay stopped");
    }
}

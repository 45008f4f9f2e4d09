//! The giocci engine: takes modules from its relay and runs their functions
//! in wasmtime.
//!
//! Run it as the `giocci-engine` binary, or inside a process with
//! [`Engine::start`] on a Zenoh session you opened. [`embedded`] starts a
//! relay and an engine together, for examples and tests.
//!
//! Every call runs in a fresh WebAssembly instance under the engine's
//! [`Limits`]: a wall-clock deadline, optional fuel, a memory cap and a stack
//! cap, with at most a set number of calls running and waiting at once.
#![deny(missing_docs)]

pub mod embedded;
mod handlers;
mod limits;
mod runtime;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use giocci::protocol::Service;
use giocci::protocol::{
    Deadline, KeyMap, NameError, RegisterEngine, Target, request, validate_name,
};
use giocci::{Component, ZenohError};
use tracing::info;

pub use limits::{
    DEFAULT_DEADLINE, DEFAULT_MAX_QUEUED, DEFAULT_MEMORY_LIMIT, DEFAULT_STACK_LIMIT, Limits,
};
pub use runtime::{Compiled, Runtime, SpentInstance};

use handlers::Shared;

/// The engine name used when none is given.
pub const DEFAULT_NAME: &str = "giocci-engine";

/// How long an engine waits for its relay to answer its registration: 10
/// seconds.
pub const DEFAULT_REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an engine waits between registration attempts while its relay
/// does not answer.
const REGISTER_RETRY: Duration = Duration::from_millis(250);

/// An engine's settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The engine's name, which its relay hands to clients.
    pub name: String,
    /// The relay it registers with and takes modules from.
    pub relay: String,
    /// The prefix of every key, shared with its relay and clients.
    pub key_prefix: Option<String>,
    /// How long to keep trying to register with the relay, which may start
    /// after the engine.
    pub register_timeout: Duration,
    /// What each call may use, and how many calls run at once.
    pub limits: Limits,
}

impl EngineConfig {
    /// Checks the names and the key prefix, which become parts of Zenoh keys.
    pub fn validate(&self) -> Result<(), EngineError> {
        validate_name("engine name", &self.name)?;
        validate_name("relay name", &self.relay)?;
        KeyMap::new(self.key_prefix.as_deref())?;
        Ok(())
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            name: DEFAULT_NAME.to_owned(),
            relay: giocci::DEFAULT_RELAY.to_owned(),
            key_prefix: None,
            register_timeout: DEFAULT_REGISTER_TIMEOUT,
            limits: Limits::default(),
        }
    }
}

/// Why an engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A name or the key prefix cannot be used in Zenoh keys.
    #[error("cannot start engine; {0}")]
    InvalidName(#[from] NameError),
    /// The WebAssembly runtime could not be set up with the limits given.
    #[error("cannot start engine; {0}")]
    Runtime(String),
    /// Zenoh refused to declare one of the engine's queryables.
    #[error("cannot start engine '{engine}': declaring {key} failed; {source}")]
    Declare {
        /// The engine.
        engine: String,
        /// The key.
        key: String,
        /// Zenoh's error.
        #[source]
        source: ZenohError,
    },
    /// The relay did not accept the registration.
    #[error("engine '{engine}' could not register; {source}")]
    Register {
        /// The engine.
        engine: String,
        /// Why.
        #[source]
        source: giocci::Error,
    },
}

/// How long [`Engine::stop`] lets calls in flight finish: 5 seconds.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// A running engine. Dropping it does not stop it; call [`Engine::stop`].
#[derive(Debug)]
pub struct Engine {
    shared: Arc<Shared>,
    services: Vec<Service>,
}

impl Engine {
    /// Declares the engine's queryables on `session`, then registers with
    /// the relay, which hands over the modules it already stores.
    pub async fn start(
        session: zenoh::Session,
        config: EngineConfig,
    ) -> Result<Engine, EngineError> {
        config.validate()?;
        let keys = KeyMap::new(config.key_prefix.as_deref())?;
        let runtime = Runtime::new(config.limits.clone()).map_err(EngineError::Runtime)?;
        let shared = Arc::new(Shared::new(session, keys, config, runtime));
        let services = handlers::spawn_all(&shared).await?;
        let engine = Engine { shared, services };

        let shared = &engine.shared;
        let message = RegisterEngine {
            engine: shared.name.clone(),
        };
        let key = shared.keys.register_engine(&shared.config.relay);
        let target = Target {
            component: Component::Relay,
            name: &shared.config.relay,
        };
        let deadline = Deadline::after(shared.config.register_timeout);
        let registered = loop {
            let attempt: Result<(), _> = request(
                &shared.session,
                "register_engine",
                target,
                &key,
                &message,
                deadline,
            )
            .await;
            // The relay may start after the engine, or the session may still
            // be connecting: keep asking until the timeout.
            match attempt {
                Err(giocci::Error::ConnectionFailed { .. })
                    if deadline.remaining() > REGISTER_RETRY =>
                {
                    tokio::time::sleep(REGISTER_RETRY).await;
                }
                other => break other,
            }
        };
        if let Err(source) = registered {
            let name = shared.name.clone();
            engine.stop().await;
            return Err(EngineError::Register {
                engine: name,
                source,
            });
        }
        info!(engine = %engine.shared.name, relay = %engine.shared.config.relay, "engine started");
        Ok(engine)
    }

    /// The engine's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Stops taking calls and lets those in flight finish for up to
    /// [`DEFAULT_GRACE`]; any still running then get an error reply.
    pub async fn stop(self) {
        self.stop_within(DEFAULT_GRACE).await;
    }

    /// [`stop`](Engine::stop) with its own grace period.
    pub async fn stop_within(self, grace: Duration) {
        info!(engine = %self.shared.name, "engine stopping");
        let runtime = &self.shared;
        let shutdowns = join_all(
            self.services
                .into_iter()
                .map(|service| service.shutdown(grace)),
        );
        // Calls still running when the grace period ends are stopped, so
        // that their callers hear why.
        let interrupt = async {
            tokio::time::sleep(grace).await;
            runtime.runtime.interrupt_all();
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = shutdowns => {}
            () = interrupt => {}
        }
        info!(engine = %self.shared.name, "engine stopped");
    }
}

//! A relay and an engine inside the current process, on one Zenoh router
//! session that listens on a free loopback port. Clients connect to
//! [`Embedded::endpoint`] like they would to a deployed relay.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let stack = giocci_engine::embedded::Embedded::start().await?;
//! let client = stack.client("demo").open().await?;
//! client.register_client().await?;
//! // ... save modules and call functions ...
//! client.close().await?;
//! stack.stop().await;
//! # Ok(()) }
//! ```

use giocci::transport::{Mode, ZenohOptions, free_loopback_endpoint};
use giocci_relay::{Relay, RelayConfig, RelayError};

use crate::{Engine, EngineConfig, EngineError, Limits};

/// How many times [`EmbeddedBuilder::start`] picks a new port when the one it
/// picked was taken in the meantime.
const PORT_ATTEMPTS: usize = 5;

/// Why the embedded stack could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No free loopback port could be found or listened on.
    #[error("cannot listen on a loopback port; {0}")]
    Listen(String),
    /// The relay did not start.
    #[error(transparent)]
    Relay(#[from] RelayError),
    /// The engine did not start.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A name or the key prefix is invalid.
    #[error(transparent)]
    Config(#[from] giocci::Error),
}

/// Settings of an embedded stack.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedBuilder {
    key_prefix: Option<String>,
    relay: Option<String>,
    engine: Option<String>,
    without_engine: bool,
    limits: Limits,
}

impl EmbeddedBuilder {
    /// Puts every key under `prefix`.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = Some(prefix.into());
        self
    }

    /// Names the relay (default [`giocci::DEFAULT_RELAY`]).
    pub fn relay_name(mut self, name: impl Into<String>) -> Self {
        self.relay = Some(name.into());
        self
    }

    /// Names the engine (default [`DEFAULT_NAME`](crate::DEFAULT_NAME)).
    pub fn engine_name(mut self, name: impl Into<String>) -> Self {
        self.engine = Some(name.into());
        self
    }

    /// The limits of the engines this stack starts (default
    /// [`Limits::default`]).
    pub fn engine_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Starts only the relay; add engines later with
    /// [`Embedded::start_engine`].
    pub fn without_engine(mut self) -> Self {
        self.without_engine = true;
        self
    }

    /// Opens the session and starts the relay and, unless told otherwise,
    /// the engine.
    pub async fn start(self) -> Result<Embedded, EmbeddedError> {
        let (session, endpoint) = open_router().await?;
        let relay_config = RelayConfig {
            name: self
                .relay
                .unwrap_or_else(|| giocci::DEFAULT_RELAY.to_owned()),
            key_prefix: self.key_prefix.clone(),
            ..RelayConfig::default()
        };
        let relay = Relay::start(session.clone(), relay_config).await?;
        let mut stack = Embedded {
            session,
            endpoint,
            key_prefix: self.key_prefix,
            relay,
            engines: Vec::new(),
            limits: self.limits,
        };
        if !self.without_engine {
            let name = self
                .engine
                .unwrap_or_else(|| crate::DEFAULT_NAME.to_owned());
            stack.start_engine(&name).await?;
        }
        Ok(stack)
    }
}

async fn open_router() -> Result<(zenoh::Session, String), EmbeddedError> {
    let mut last_error = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let endpoint =
            free_loopback_endpoint().map_err(|err| EmbeddedError::Listen(err.to_string()))?;
        let options = ZenohOptions {
            mode: Some(Mode::Router),
            listen: vec![endpoint.clone()],
            ..ZenohOptions::default()
        };
        match options.open().await {
            Ok(session) => return Ok((session, endpoint)),
            Err(err) => last_error = err.to_string(),
        }
    }
    Err(EmbeddedError::Listen(last_error))
}

/// A relay and engines running in this process.
#[derive(Debug)]
pub struct Embedded {
    session: zenoh::Session,
    endpoint: String,
    key_prefix: Option<String>,
    relay: Relay,
    engines: Vec<Engine>,
    limits: Limits,
}

impl Embedded {
    /// Starts a relay and an engine with default names.
    pub async fn start() -> Result<Embedded, EmbeddedError> {
        EmbeddedBuilder::default().start().await
    }

    /// Settings for a stack that differs from the default.
    pub fn builder() -> EmbeddedBuilder {
        EmbeddedBuilder::default()
    }

    /// The loopback endpoint clients connect to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The relay's name.
    pub fn relay_name(&self) -> &str {
        self.relay.name()
    }

    /// The session the relay and engines share.
    pub fn session(&self) -> &zenoh::Session {
        &self.session
    }

    /// A client builder already pointed at this stack: its endpoint, relay
    /// and key prefix.
    pub fn client(&self, name: impl Into<String>) -> giocci::ClientBuilder {
        let builder = giocci::Client::builder(name)
            .connect(&self.endpoint)
            .relay(self.relay.name());
        match &self.key_prefix {
            Some(prefix) => builder.key_prefix(prefix),
            None => builder,
        }
    }

    /// Starts one more engine in this process, registered with the relay,
    /// with the stack's engine limits.
    pub async fn start_engine(&mut self, name: &str) -> Result<(), EmbeddedError> {
        let limits = self.limits.clone();
        self.start_engine_with(name, limits).await
    }

    /// Starts one more engine in this process with its own limits.
    pub async fn start_engine_with(
        &mut self,
        name: &str,
        limits: Limits,
    ) -> Result<(), EmbeddedError> {
        let config = EngineConfig {
            name: name.to_owned(),
            relay: self.relay.name().to_owned(),
            key_prefix: self.key_prefix.clone(),
            limits,
            ..EngineConfig::default()
        };
        self.engines
            .push(Engine::start(self.session.clone(), config).await?);
        Ok(())
    }

    /// Stops the engine called `name`, if it runs here. The relay is not
    /// told: it goes on handing the engine out, as it would for an engine
    /// that crashed.
    pub async fn stop_engine(&mut self, name: &str) {
        if let Some(index) = self.engines.iter().position(|engine| engine.name() == name) {
            self.engines.remove(index).stop().await;
        }
    }

    /// Stops the engines and the relay and closes the session.
    pub async fn stop(self) {
        for engine in self.engines {
            engine.stop().await;
        }
        self.relay.stop().await;
        if let Err(err) = self.session.close().await {
            tracing::warn!(error = %err, "closing the embedded session failed");
        }
    }
}

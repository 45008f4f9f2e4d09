use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use super::{Client, DEFAULT_RELAY, DEFAULT_TIMEOUT, ENGINE_PUBLISHERS, Inner};
use crate::error::{Error, Result};
use crate::limits::PayloadLimits;
use crate::protocol::{KeyMap, Publishers, validate_name};
use crate::transport::{DEFAULT_ENDPOINT, Mode, ZenohOptions};

/// Configures and opens a [`Client`].
///
/// By default the client opens its own Zenoh session in client mode,
/// connected to a relay on this machine ([`DEFAULT_ENDPOINT`]), talks to the
/// relay named [`DEFAULT_RELAY`], uses no key prefix and gives each call
/// [`DEFAULT_TIMEOUT`].
///
/// In client mode (the default) the session needs a router, usually the
/// relay itself, when it opens: if none of the endpoints answers, opening
/// fails with [`Error::Unreachable`](crate::Error::Unreachable).
#[derive(Debug)]
pub struct ClientBuilder {
    name: String,
    relay: String,
    key_prefix: Option<String>,
    timeout: Duration,
    limits: PayloadLimits,
    cache_engines: bool,
    zenoh: ZenohOptions,
    session: Option<zenoh::Session>,
}

impl ClientBuilder {
    pub(super) fn new(name: String) -> Self {
        ClientBuilder {
            name,
            relay: DEFAULT_RELAY.to_owned(),
            key_prefix: None,
            timeout: DEFAULT_TIMEOUT,
            limits: PayloadLimits::default(),
            cache_engines: true,
            zenoh: ZenohOptions {
                mode: Some(Mode::Client),
                ..ZenohOptions::default()
            },
            session: None,
        }
    }

    /// The name of the relay to register with.
    pub fn relay(mut self, relay: impl Into<String>) -> Self {
        self.relay = relay.into();
        self
    }

    /// A prefix for every key, to share a Zenoh network between separate
    /// giocci deployments. It must match the relay's and engines' prefix.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = Some(prefix.into());
        self
    }

    /// The timeout of calls that do not set their own.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest module and arguments this client sends (see
    /// [`PayloadLimits`]); larger ones are refused before anything is sent.
    pub fn payload_limits(mut self, limits: PayloadLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether to remember the engine the relay picks for each module and
    /// send later calls of that module straight to it (the default), asking
    /// the relay again only when that engine fails. With `false`, every call
    /// asks the relay first, which spreads calls over the engines round
    /// robin at the cost of one more round trip per call.
    pub fn cache_engines(mut self, cache: bool) -> Self {
        self.cache_engines = cache;
        self
    }

    /// Adds a Zenoh endpoint to connect to, such as `tcp/10.0.0.5:7447`.
    pub fn connect(mut self, endpoint: impl Into<String>) -> Self {
        self.zenoh.connect.push(endpoint.into());
        self
    }

    /// Reads the Zenoh configuration from a JSON5 file. Endpoints and the
    /// mode set on this builder still apply on top of it.
    pub fn zenoh_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.zenoh.config_file = Some(path.into());
        self
    }

    /// The Zenoh mode of the client's session (client mode by default).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.zenoh.mode = Some(mode);
        self
    }

    /// Uses an already open session instead of opening one.
    pub fn session(mut self, session: zenoh::Session) -> Self {
        self.session = Some(session);
        self
    }

    /// Checks the names and opens the Zenoh session.
    pub async fn open(mut self) -> Result<Client> {
        validate_name("client name", &self.name)?;
        validate_name("relay name", &self.relay)?;
        let keys = KeyMap::new(self.key_prefix.as_deref())?;
        if self.timeout.is_zero() {
            return Err(Error::Config {
                detail: "the call timeout must be positive".into(),
            });
        }

        let session = match self.session.take() {
            Some(session) => session,
            None => {
                if self.zenoh.connect.is_empty() && self.zenoh.config_file.is_none() {
                    self.zenoh.connect.push(DEFAULT_ENDPOINT.to_owned());
                }
                let config = self.zenoh.to_config()?;
                zenoh::open(config)
                    .await
                    .map_err(|source| Error::Unreachable {
                        relay: self.relay.clone(),
                        endpoints: match self.zenoh.connect.is_empty() {
                            true => "the configured endpoints".to_owned(),
                            false => self.zenoh.connect.join(", "),
                        },
                        source,
                    })?
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                publishers: Publishers::new(session.clone(), ENGINE_PUBLISHERS),
                session,
                name: self.name,
                relay: self.relay,
                keys,
                timeout: self.timeout,
                limits: self.limits,
                registered: AtomicBool::new(false),
                next_exec_id: AtomicU64::new(first_exec_id()),
                results: tokio::sync::OnceCell::new(),
                engines: self.cache_engines.then(Default::default),
            }),
        })
    }
}

/// A random first execution id, so that two processes using the same client
/// name do not hand out the same ids and take each other's results.
fn first_exec_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    // Leave room below u64::MAX so the counter never wraps in practice.
    hasher.finish() >> 1
}

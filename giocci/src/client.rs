//! The client: registers with a relay, saves modules and calls functions.

mod builder;
mod calls;
mod engines;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::stream::{self, Stream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::debug;

pub use builder::ClientBuilder;
pub use calls::AsyncCall;

use crate::codec;
use crate::error::{Component, Error, Result};
use crate::limits::PayloadLimits;
use crate::module::Module;
use crate::protocol::{
    Deadline, ExecFunc, ExecResult, InquiryEngine, KeyMap, Publishers, RegisterClient, SaveModule,
    Target, request,
};

/// How long a call may take when the caller does not say: 5 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many calls of a stream are in flight at once when the caller does
/// not say: 64.
pub const DEFAULT_IN_FLIGHT: usize = 64;

/// The relay a client talks to when the builder names none.
pub const DEFAULT_RELAY: &str = "giocci-relay";

/// Engines whose asynchronous request keys keep a declared publisher.
const ENGINE_PUBLISHERS: usize = 64;

/// A connection to one relay and the engines it hands out.
///
/// Cloning is cheap and clones share the Zenoh session. Build one with
/// [`Client::builder`], then [`register_client`](Client::register_client)
/// before saving modules or calling functions.
///
/// ```no_run
/// # async fn run() -> giocci::Result<()> {
/// let client = giocci::Client::builder("my-client")
///     .connect("tcp/127.0.0.1:7447")
///     .open()
///     .await?;
/// client.register_client().await?;
/// let sum: i64 = client.exec_func("math", "add", &(1i64, 2i64)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    session: zenoh::Session,
    /// The publishers of engines' asynchronous request keys.
    publishers: Publishers,
    name: String,
    relay: String,
    keys: KeyMap,
    timeout: Duration,
    limits: PayloadLimits,
    registered: AtomicBool,
    next_exec_id: AtomicU64,
    results: tokio::sync::OnceCell<calls::Results>,
    /// `None` when the client asks the relay before every call.
    engines: Option<Arc<engines::EngineCache>>,
}

impl Client {
    /// Starts building a client with a unique `name`.
    pub fn builder(name: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(name.into())
    }

    /// This client's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The relay this client talks to.
    pub fn relay(&self) -> &str {
        &self.inner.relay
    }

    /// The timeout of calls that do not set their own.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The Zenoh session this client uses.
    pub fn session(&self) -> &zenoh::Session {
        &self.inner.session
    }

    /// Registers this client with its relay. Saving modules and calling
    /// functions are refused until this succeeds.
    pub async fn register_client(&self) -> Result<()> {
        const OP: &str = "register_client";
        let request = RegisterClient {
            client: self.inner.name.clone(),
        };
        let key = self.inner.keys.register_client(&self.inner.relay);
        self.request::<_, ()>(OP, self.relay_target(), key, &request, self.deadline(None))
            .await?;
        self.inner.registered.store(true, Ordering::Release);
        debug!(client = %self.inner.name, relay = %self.inner.relay, "registered");
        Ok(())
    }

    /// Saves `module` with the relay, which hands it to every engine. A
    /// module of the same name saved earlier by this client is replaced.
    pub async fn save_module(&self, module: &Module) -> Result<()> {
        self.save_module_with_timeout(module, self.inner.timeout)
            .await
    }

    /// [`save_module`](Client::save_module) with its own timeout.
    pub async fn save_module_with_timeout(&self, module: &Module, timeout: Duration) -> Result<()> {
        const OP: &str = "save_module";
        self.ensure_registered(OP)?;
        check_size(OP, "module", module.wasm().len(), self.inner.limits.module)?;
        let request = SaveModule {
            client: self.inner.name.clone(),
            module: module.to_blob(),
            timeout_ms: millis(timeout),
        };
        let key = self.inner.keys.save_module_client(&self.inner.relay);
        self.request::<_, ()>(
            OP,
            self.relay_target(),
            key,
            &request,
            self.deadline(Some(timeout)),
        )
        .await?;
        debug!(
            client = %self.inner.name,
            module = module.name(),
            digest = %module.digest_hex(),
            "module saved"
        );
        Ok(())
    }

    /// Runs `module::function(args)` on an engine and returns its result.
    ///
    /// `args` is the tuple of arguments: `&(1, 2)` for two, `&(x,)` for one,
    /// `&()` for none. The call, engine inquiry included, must finish within
    /// the client's timeout.
    pub async fn exec_func<A, R>(&self, module: &str, function: &str, args: &A) -> Result<R>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.exec_func_with_timeout(module, function, args, self.inner.timeout)
            .await
    }

    /// [`exec_func`](Client::exec_func) with its own timeout.
    pub async fn exec_func_with_timeout<A, R>(
        &self,
        module: &str,
        function: &str,
        args: &A,
        timeout: Duration,
    ) -> Result<R>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        const OP: &str = "exec_func";
        let deadline = self.deadline(Some(timeout));
        let mut request = self.prepare(OP, module, function, args)?;
        let (mut engine, mut cached) = self.engine_for(module, deadline).await?;

        let result: ExecResult = loop {
            request.deadline_ms = engine_deadline(deadline);
            let key = self.inner.keys.exec_func(&engine);
            let target = Target {
                component: Component::Engine,
                name: &engine,
            };
            match self.request(OP, target, key, &request, deadline).await {
                Ok(result) => break result,
                Err(err) if engines::engine_unfit(&err) => {
                    self.forget_engine(module, &engine);
                    // An engine remembered from earlier may be gone: ask the
                    // relay once for another.
                    if !(cached && engines::worth_retrying(&err)) {
                        return Err(err);
                    }
                    debug!(%engine, error = %err, "remembered engine failed; asking the relay");
                    (engine, cached) = (self.inquiry_engine(module, deadline).await?, false);
                }
                Err(err) => return Err(err),
            }
        };
        debug!(client = %self.inner.name, %engine, module, function, exec_id = request.exec_id, "call returned");

        codec::decode(&result.value).map_err(|source| Error::Decode {
            operation: OP,
            component: Component::Engine,
            name: engine,
            source,
        })
    }

    /// Starts `module::function(args)` on an engine without waiting for it.
    ///
    /// Returns once the request is sent, with a handle to await for the
    /// result: the request goes out on the engine's asynchronous key and the
    /// result comes back on this client's result key. Failures before the
    /// request leaves (no engine registered, client not registered) are
    /// returned at once. The client's timeout covers the whole call.
    pub async fn exec_func_async<A, R>(
        &self,
        module: &str,
        function: &str,
        args: &A,
    ) -> Result<AsyncCall<R>>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.exec_func_async_with_timeout(module, function, args, self.inner.timeout)
            .await
    }

    /// [`exec_func_async`](Client::exec_func_async) with its own timeout.
    pub async fn exec_func_async_with_timeout<A, R>(
        &self,
        module: &str,
        function: &str,
        args: &A,
        timeout: Duration,
    ) -> Result<AsyncCall<R>>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        const OP: &str = "exec_func_async";
        let deadline = self.deadline(Some(timeout));
        let results = self.results().await?;
        let mut request = self.prepare(OP, module, function, args)?;
        let (engine, _) = self.engine_for(module, deadline).await?;
        request.deadline_ms = engine_deadline(deadline);
        let payload = codec::encode(&request).map_err(|source| Error::Encode {
            operation: OP,
            source,
        })?;

        // Waiting before sending: the result may come back at once.
        let (receiver, pending) = results.expect(request.exec_id);
        let key = self.inner.keys.exec_func_async_request(&engine);
        self.inner
            .publishers
            .put(&key, payload)
            .await
            .map_err(|source| Error::Zenoh {
                operation: OP,
                component: Component::Engine,
                name: engine.clone(),
                source,
            })?;
        debug!(client = %self.inner.name, %engine, module, function, exec_id = request.exec_id, "call sent");
        let forget = self
            .inner
            .engines
            .as_ref()
            .map(|cache| (Arc::clone(cache), module.to_owned()));
        Ok(AsyncCall::new(
            request.exec_id,
            engine,
            deadline.timeout(),
            deadline.remaining(),
            receiver,
            pending,
            forget,
        ))
    }

    /// Runs `module::function` once per item of `args` and yields each
    /// result, in the order they complete, with the index of its arguments.
    ///
    /// At most `in_flight` calls (at least one) are under way at once, and
    /// `args` is read only as calls finish, so an input of any length is
    /// sent at the pace the engines answer. Each call has the client's
    /// timeout.
    pub fn exec_stream<'a, A, R, I>(
        &'a self,
        module: &'a str,
        function: &'a str,
        args: I,
        in_flight: usize,
    ) -> impl Stream<Item = (usize, Result<R>)> + 'a
    where
        I: IntoIterator<Item = A> + 'a,
        A: Serialize + 'a,
        R: DeserializeOwned + 'a,
    {
        self.exec_stream_with_timeout(module, function, args, in_flight, self.inner.timeout)
    }

    /// [`exec_stream`](Client::exec_stream) with its own timeout per call.
    pub fn exec_stream_with_timeout<'a, A, R, I>(
        &'a self,
        module: &'a str,
        function: &'a str,
        args: I,
        in_flight: usize,
        timeout: Duration,
    ) -> impl Stream<Item = (usize, Result<R>)> + 'a
    where
        I: IntoIterator<Item = A> + 'a,
        A: Serialize + 'a,
        R: DeserializeOwned + 'a,
    {
        stream::iter(args.into_iter().enumerate())
            .map(move |(index, args)| async move {
                let call = self.exec_func_async_with_timeout(module, function, &args, timeout);
                let result = match call.await {
                    Ok(call) => call.await,
                    Err(err) => Err(err),
                };
                (index, result)
            })
            .buffer_unordered(in_flight.max(1))
    }

    /// How many asynchronous calls are waiting for their result.
    pub fn pending_async_calls(&self) -> usize {
        self.inner.results.get().map_or(0, calls::Results::pending)
    }

    /// The result subscriber, declared on first use.
    async fn results(&self) -> Result<&calls::Results> {
        let key = self.inner.keys.exec_func_async_result(&self.inner.name);
        self.inner
            .results
            .get_or_try_init(|| calls::Results::start(&self.inner.session, &key))
            .await
    }

    /// What every call does first: checks registration and encodes the
    /// arguments into a request.
    fn prepare<A>(
        &self,
        operation: &'static str,
        module: &str,
        function: &str,
        args: &A,
    ) -> Result<ExecFunc>
    where
        A: Serialize + ?Sized,
    {
        self.ensure_registered(operation)?;
        let args = codec::encode(args).map_err(|source| Error::Encode { operation, source })?;
        check_size(operation, "arguments", args.len(), self.inner.limits.args)?;
        Ok(ExecFunc {
            client: self.inner.name.clone(),
            exec_id: self.inner.next_exec_id.fetch_add(1, Ordering::Relaxed),
            module: module.to_owned(),
            function: function.to_owned(),
            args,
            deadline_ms: 0,
        })
    }

    /// The engine for `module`: the one remembered, if any (`true`), or the
    /// relay's pick.
    async fn engine_for(&self, module: &str, deadline: Deadline) -> Result<(String, bool)> {
        if let Some(engine) = self
            .inner
            .engines
            .as_ref()
            .and_then(|cache| cache.get(module))
        {
            return Ok((engine, true));
        }
        Ok((self.inquiry_engine(module, deadline).await?, false))
    }

    fn forget_engine(&self, module: &str, engine: &str) {
        if let Some(cache) = &self.inner.engines {
            cache.forget(module, engine);
        }
    }

    /// Asks the relay which engine should run a call of `module`.
    async fn inquiry_engine(&self, module: &str, deadline: Deadline) -> Result<String> {
        const OP: &str = "inquiry_engine";
        let request = InquiryEngine {
            client: self.inner.name.clone(),
            module: module.to_owned(),
        };
        let key = self.inner.keys.inquiry_engine(&self.inner.relay);
        let engine: String = self
            .request(OP, self.relay_target(), key, &request, deadline)
            .await?;
        if let Some(cache) = &self.inner.engines {
            cache.insert(module, &engine);
        }
        Ok(engine)
    }

    /// Closes the Zenoh session. Other clones of this client stop working.
    pub async fn close(self) -> Result<()> {
        self.inner
            .session
            .close()
            .await
            .map_err(|source| Error::Session { source })
    }

    fn ensure_registered(&self, operation: &'static str) -> Result<()> {
        if self.inner.registered.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(Error::RelayNotRegistered {
                operation,
                client: self.inner.name.clone(),
                relay: self.inner.relay.clone(),
            })
        }
    }

    fn relay_target(&self) -> Target<'_> {
        Target {
            component: Component::Relay,
            name: &self.inner.relay,
        }
    }

    fn deadline(&self, timeout: Option<Duration>) -> Deadline {
        Deadline::after(timeout.unwrap_or(self.inner.timeout))
    }

    async fn request<Q, A>(
        &self,
        operation: &'static str,
        target: Target<'_>,
        key: String,
        message: &Q,
        deadline: Deadline,
    ) -> Result<A>
    where
        Q: Serialize + ?Sized,
        A: DeserializeOwned,
    {
        request(
            &self.inner.session,
            operation,
            target,
            &key,
            message,
            deadline,
        )
        .await
    }
}

/// How long past the caller's own timeout the engine may run a call: the
/// caller's timeout fires first and reports [`Error::Timeout`], and the
/// engine stops the abandoned call shortly after.
const ENGINE_DEADLINE_GRACE: Duration = Duration::from_millis(250);

/// The deadline the engine is asked to enforce for a call.
fn engine_deadline(deadline: Deadline) -> u64 {
    millis(deadline.remaining() + ENGINE_DEADLINE_GRACE)
}

/// Refuses a payload over its limit before it is sent.
fn check_size(operation: &'static str, what: &str, len: usize, limit: usize) -> Result<()> {
    if len <= limit {
        return Ok(());
    }
    Err(Error::PayloadTooLarge {
        operation,
        what: what.to_owned(),
        len: len as u64,
        limit: limit as u64,
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

//! The engine's two keys: modules from the relay, calls from clients.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use giocci::codec;
use giocci::protocol::{
    AsyncResult, ExecFunc, ExecResult, KeyMap, ModuleUpdate, PushModule, RemoteError, Reply,
    validate_name,
};
use giocci::protocol::{InFlight, Publishers, Service, serve_with};
use tokio::sync::Semaphore;
use tracing::{debug, info, instrument, warn};

use crate::runtime::{Compiled, Runtime, SpentInstance};
use crate::{EngineConfig, EngineError};

/// Most instances kept for a reset after their result is sent. The
/// runtime's pool has room for these beyond the running calls.
const DEFERRED_RESETS: usize = 4;

/// Clients whose result keys keep a declared publisher.
const CLIENT_PUBLISHERS: usize = 256;

/// The state shared by an engine's handlers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) keys: KeyMap,
    pub(crate) session: zenoh::Session,
    pub(crate) config: EngineConfig,
    pub(crate) runtime: Runtime,
    /// The publishers of clients' result keys.
    publishers: Publishers,
    /// Each client's modules by name.
    modules: Mutex<HashMap<String, HashMap<String, Arc<Compiled>>>>,
    /// One permit per call the engine accepts, running or waiting.
    admitted: Semaphore,
    /// One permit per call that may run at once.
    running: Semaphore,
    /// Instances kept until their call's result is sent.
    deferred: Arc<AtomicUsize>,
}

impl Shared {
    pub(crate) fn new(
        session: zenoh::Session,
        keys: KeyMap,
        config: EngineConfig,
        runtime: Runtime,
    ) -> Self {
        Shared {
            name: config.name.clone(),
            keys,
            publishers: Publishers::new(session.clone(), CLIENT_PUBLISHERS),
            session,
            config,
            admitted: Semaphore::new(
                runtime.limits().max_running.max(1) + runtime.limits().max_queued,
            ),
            running: Semaphore::new(runtime.limits().max_running.max(1)),
            deferred: Arc::default(),
            runtime,
            modules: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<String, Arc<Compiled>>>> {
        self.modules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn module(&self, client: &str, module: &str) -> Option<Arc<Compiled>> {
        self.lock()
            .get(client)
            .and_then(|modules| modules.get(module))
            .cloned()
    }

    fn remove_module(&self, client: &str, module: &str) {
        if let Some(modules) = self.lock().get_mut(client) {
            modules.remove(module);
        }
    }

    fn set_module(&self, client: String, module: String, compiled: Arc<Compiled>) {
        self.lock()
            .entry(client)
            .or_default()
            .insert(module, compiled);
    }
}

pub(crate) async fn spawn_all(shared: &Arc<Shared>) -> Result<Vec<Service>, EngineError> {
    let name = &shared.name;
    Ok(vec![
        serve(shared, shared.keys.save_module_relay(name), save_module).await?,
        serve(shared, shared.keys.exec_func(name), exec_func).await?,
        subscribe_async(shared).await?,
    ])
}

/// Runs every asynchronous request in a task of its own and puts each result
/// on the calling client's result key.
async fn subscribe_async(shared: &Arc<Shared>) -> Result<Service, EngineError> {
    let key = shared.keys.exec_func_async_request(&shared.name);
    let subscriber = shared
        .session
        .declare_subscriber(&key)
        .await
        .map_err(|source| EngineError::Declare {
            engine: shared.name.clone(),
            key: key.clone(),
            source,
        })?;
    let shared = Arc::clone(shared);
    Ok(Service::spawn(move |mut shutdown| async move {
        let mut in_flight = InFlight::default();
        loop {
            tokio::select! {
                sample = subscriber.recv_async() => {
                    let Ok(sample) = sample else { break };
                    match codec::decode::<ExecFunc>(&sample.payload().to_bytes()) {
                        Ok(request) => {
                            let abandon = shutdown.clone().abandoning();
                            in_flight.spawn(exec_func_async(Arc::clone(&shared), request, abandon));
                        }
                        Err(err) => warn!(
                            engine = %shared.name,
                            error = %err,
                            "undecodable asynchronous request dropped"
                        ),
                    }
                }
                () = shutdown.draining() => break,
            }
        }
        drop(subscriber);
        in_flight.finish().await;
    }))
}

async fn serve<Q, A, F, Fut>(
    shared: &Arc<Shared>,
    key: String,
    handle: F,
) -> Result<Service, EngineError>
where
    Q: serde::de::DeserializeOwned + Send + 'static,
    A: serde::Serialize + Send + 'static,
    F: Fn(Arc<Shared>, Q) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply<A>> + Send + 'static,
{
    let who = format!("engine '{}'", shared.name);
    serve_with(&shared.session, &key, &who, shared, handle)
        .await
        .map_err(|source| EngineError::Declare {
            engine: shared.name.clone(),
            key,
            source,
        })
}

#[instrument(skip_all, fields(engine = %shared.name, client = %req.client))]
async fn save_module(shared: Arc<Shared>, req: PushModule) -> Reply<()> {
    if req.relay != shared.config.relay {
        warn!(relay = %req.relay, "module from a relay this engine is not bound to");
        return Err(RemoteError::RelayMismatch {
            expected: shared.config.relay.clone(),
            actual: req.relay,
        });
    }
    let module = match req.update {
        ModuleUpdate::Save(module) => module,
        ModuleUpdate::Remove(name) => {
            shared.remove_module(&req.client, &name);
            info!(module = %name, "module removed");
            return Ok(());
        }
    };
    let state = Arc::clone(&shared);
    let compiled = tokio::task::spawn_blocking(move || {
        let compiled = state.runtime.compile(&module)?;
        Ok::<_, RemoteError>((module.name, compiled))
    })
    .await
    .map_err(|err| RemoteError::Failed {
        detail: format!("compilation task failed: {err}"),
    })?;
    let (name, compiled) = compiled.inspect_err(|err| warn!(error = %err, "module refused"))?;
    info!(module = %name, "module loaded");
    shared.set_module(req.client, name, compiled);
    Ok(())
}

#[instrument(
    skip_all,
    fields(engine = %shared.name, client = %req.client, module = %req.module, function = %req.function, exec_id = req.exec_id)
)]
async fn exec_func(shared: Arc<Shared>, req: ExecFunc) -> Reply<Answered> {
    // The call's future is a few kilobytes: boxed, the request's task stays
    // small and cheap to spawn.
    let (result, held) = Box::pin(run(&shared, req)).await;
    result.map(|result| Answered {
        result,
        _held: held,
    })
}

/// A call's result, holding the instance the call ran in until it has
/// been sent: it encodes as the [`ExecResult`] alone.
struct Answered {
    result: ExecResult,
    _held: Option<Held>,
}

impl serde::Serialize for Answered {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.result.serialize(serializer)
    }
}

#[instrument(
    skip_all,
    fields(engine = %shared.name, client = %req.client, module = %req.module, function = %req.function, exec_id = req.exec_id)
)]
async fn exec_func_async(shared: Arc<Shared>, req: ExecFunc, abandon: impl Future<Output = ()>) {
    // The client name becomes a key chunk: never publish under a name that
    // could widen the key.
    if let Err(err) = validate_name("client name", &req.client) {
        warn!(error = %err, "asynchronous request dropped");
        return;
    }
    let key = shared.keys.exec_func_async_result(&req.client);
    let exec_id = req.exec_id;
    let (reply, _held) = tokio::select! {
        ran = Box::pin(run(&shared, req)) => ran,
        () = abandon => (Err(RemoteError::Failed {
            detail: format!("engine '{}' is shutting down", shared.name),
        }), None),
    };
    let result = AsyncResult {
        exec_id,
        engine: shared.name.clone(),
        reply,
    };
    let payload = match codec::encode(&result) {
        Ok(payload) => payload,
        Err(err) => {
            warn!(error = %err, "cannot encode asynchronous result");
            return;
        }
    };
    if let Err(err) = shared.publishers.put(&key, payload).await {
        warn!(error = %err, "cannot put asynchronous result");
    }
}

/// The instance a call ran in, kept until the call's result is sent so
/// that resetting it is off the result's path. At most [`DEFERRED_RESETS`]
/// are kept at once: a result that is slow to send, to a congested client,
/// holds an instance but never a running slot.
struct Held {
    _instance: SpentInstance,
    _count: DeferredReset,
}

/// Counts one instance in [`Shared::deferred`] while it lives.
struct DeferredReset(Arc<AtomicUsize>);

impl DeferredReset {
    /// A place among the deferred resets, if one is free.
    fn take(deferred: &Arc<AtomicUsize>) -> Option<DeferredReset> {
        if deferred.fetch_add(1, Ordering::AcqRel) < DEFERRED_RESETS {
            Some(DeferredReset(Arc::clone(deferred)))
        } else {
            deferred.fetch_sub(1, Ordering::AcqRel);
            None
        }
    }
}

impl Drop for DeferredReset {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs one call, sync or async, once the engine has a slot for it.
async fn run(shared: &Arc<Shared>, req: ExecFunc) -> (Reply<ExecResult>, Option<Held>) {
    let compiled = match shared.module(&req.client, &req.module) {
        Some(compiled) => compiled,
        None => {
            let missing = RemoteError::ModuleNotSaved {
                module: req.module,
                engine: shared.name.clone(),
            };
            return (Err(missing), None);
        }
    };
    if !compiled.has_function(&req.function) {
        let missing = RemoteError::FunctionNotDefined {
            module: req.module,
            function: req.function,
        };
        return (Err(missing), None);
    }

    // Admitted calls wait for one of the running slots; the rest are
    // turned away at once.
    let busy = || RemoteError::EngineBusy {
        engine: shared.name.clone(),
    };
    let Ok(_admitted) = shared.admitted.try_acquire() else {
        return (Err(busy()), None);
    };
    let Ok(_running) = shared.running.acquire().await else {
        return (Err(busy()), None);
    };

    let ExecFunc {
        exec_id,
        module,
        function,
        args,
        deadline_ms,
        ..
    } = req;
    let deadline = Duration::from_millis(deadline_ms);
    let (value, instance) = shared
        .runtime
        .call_keeping_instance(&compiled, &module, &function, &args, deadline)
        .await;
    // A call stopped because the engine is shutting down says so.
    let value = match value {
        Err(RemoteError::DeadlineExceeded { .. } | RemoteError::Failed { .. })
            if shared.runtime.interrupted() =>
        {
            Err(RemoteError::Failed {
                detail: format!("engine '{}' is shutting down", shared.name),
            })
        }
        other => other,
    };
    debug!(ok = value.is_ok(), "call finished");
    match value {
        Ok(value) => {
            // Without a free place, the instance is reset here and now.
            let held = DeferredReset::take(&shared.deferred).map(|count| Held {
                _instance: instance,
                _count: count,
            });
            (Ok(ExecResult { exec_id, value }), held)
        }
        // Failures are rare: reset now rather than carry the slot along.
        Err(err) => (Err(err), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferred_resets_are_bounded_and_given_back() {
        let deferred = Arc::default();
        let mut taken: Vec<DeferredReset> = (0..DEFERRED_RESETS)
            .map(|_| DeferredReset::take(&deferred).expect("a free place"))
            .collect();
        assert!(DeferredReset::take(&deferred).is_none());
        assert_eq!(deferred.load(Ordering::Acquire), DEFERRED_RESETS);
        taken.pop();
        let again = DeferredReset::take(&deferred);
        assert!(again.is_some());
        drop((taken, again));
        assert_eq!(deferred.load(Ordering::Acquire), 0);
    }
}

//! One handler per relay key; each request runs in its own task.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use giocci::protocol::{
    Deadline, InquiryEngine, PushModule, RegisterClient, RegisterEngine, RemoteError, Reply,
    SaveModule, Service, Target, request, serve_with, validate_name,
};
use giocci::{Component, Error};
use tracing::{debug, info, instrument, warn};

use crate::RelayError;
use crate::state::Shared;

/// Declares every queryable and spawns the loop that answers it.
pub(crate) async fn spawn_all(shared: &Arc<Shared>) -> Result<Vec<Service>, RelayError> {
    let keys = &shared.keys;
    let relay = &shared.name;
    Ok(vec![
        serve(shared, keys.register_client(relay), register_client).await?,
        serve(shared, keys.register_engine(relay), register_engine).await?,
        serve(shared, keys.save_module_client(relay), save_module).await?,
        serve(shared, keys.inquiry_engine(relay), inquiry_engine).await?,
    ])
}

async fn serve<Q, A, F, Fut>(
    shared: &Arc<Shared>,
    key: String,
    handle: F,
) -> Result<Service, RelayError>
where
    Q: serde::de::DeserializeOwned + Send + 'static,
    A: serde::Serialize + Send + 'static,
    F: Fn(Arc<Shared>, Q) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply<A>> + Send + 'static,
{
    let who = format!("relay '{}'", shared.name);
    serve_with(&shared.session, &key, &who, shared, handle)
        .await
        .map_err(|source| RelayError::Declare {
            relay: shared.name.clone(),
            key,
            source,
        })
}

fn refuse_name(kind: &'static str, name: &str) -> Reply<()> {
    validate_name(kind, name).map_err(|err| RemoteError::Failed {
        detail: err.to_string(),
    })
}

#[instrument(skip_all, fields(relay = %shared.name, client = %req.client))]
async fn register_client(shared: Arc<Shared>, req: RegisterClient) -> Reply<()> {
    refuse_name("client name", &req.client)?;
    shared.add_client(&req.client);
    info!("client registered");
    Ok(())
}

#[instrument(skip_all, fields(relay = %shared.name, engine = %req.engine))]
async fn register_engine(shared: Arc<Shared>, req: RegisterEngine) -> Reply<()> {
    refuse_name("engine name", &req.engine)?;

    // Listed first, so a module saved while this registration is under way
    // is pushed to the engine too.
    let modules = shared.add_engine(&req.engine);
    let deadline = Deadline::after(shared.config.push_timeout);
    let pushes = modules
        .into_iter()
        .map(|(client, module)| push(&shared, &req.engine, client, module, deadline));
    for result in join_all(pushes).await {
        if let Err(err) = result {
            shared.remove_engine(&req.engine);
            warn!(error = %err, "engine did not take a stored module; registration refused");
            return Err(RemoteError::Failed {
                detail: format!(
                    "relay '{}' could not hand its modules to the engine; {err}",
                    shared.name
                ),
            });
        }
    }
    info!("engine registered");
    Ok(())
}

#[instrument(skip_all, fields(relay = %shared.name, client = %req.client, module = %req.module.name))]
async fn save_module(shared: Arc<Shared>, req: SaveModule) -> Reply<()> {
    check_client(&shared, &req.client)?;
    if let Err(err) = validate_name("module name", &req.module.name) {
        return Err(RemoteError::InvalidModule {
            module: req.module.name,
            reason: err.to_string(),
        });
    }
    if giocci::digest(&req.module.wasm) != req.module.digest {
        return Err(RemoteError::InvalidModule {
            module: req.module.name,
            reason: "its digest does not match its bytes".into(),
        });
    }

    let deadline = Deadline::after(Duration::from_millis(req.timeout_ms));
    let engines = shared.engines();
    let pushes = engines.iter().map(|engine| {
        push(
            &shared,
            engine,
            req.client.clone(),
            req.module.clone(),
            deadline,
        )
    });
    let results = join_all(pushes).await;
    for (engine, result) in engines.iter().zip(results) {
        match result {
            Ok(()) => {}
            // The engine looked at the module and said no: the save fails.
            Err(Error::InvalidModule { module, reason }) => {
                return Err(RemoteError::InvalidModule { module, reason });
            }
            // The engine is gone; it gets every module again when it
            // registers anew.
            Err(err @ (Error::ConnectionFailed { .. } | Error::Timeout { .. })) => {
                warn!(%engine, error = %err, "engine did not answer; unregistering it");
                shared.remove_engine(engine);
            }
            Err(err) => {
                return Err(RemoteError::Failed {
                    detail: format!("engine '{engine}' did not take the module; {err}"),
                });
            }
        }
    }
    shared.store_module(&req.client, req.module);
    debug!(engines = engines.len(), "module saved");
    Ok(())
}

#[instrument(skip_all, fields(relay = %shared.name, client = %req.client, module = %req.module))]
async fn inquiry_engine(shared: Arc<Shared>, req: InquiryEngine) -> Reply<String> {
    check_client(&shared, &req.client)?;
    let engine = shared
        .pick_engine()
        .ok_or_else(|| RemoteError::EngineNotRegistered {
            relay: shared.name.clone(),
        })?;
    debug!(%engine, "engine picked");
    Ok(engine)
}

fn check_client(shared: &Shared, client: &str) -> Reply<()> {
    if shared.has_client(client) {
        Ok(())
    } else {
        Err(RemoteError::ClientNotRegistered {
            client: client.to_owned(),
            relay: shared.name.clone(),
        })
    }
}

/// Hands one module to one engine and waits for it to be taken.
async fn push(
    shared: &Shared,
    engine: &str,
    client: String,
    module: giocci::protocol::ModuleBlob,
    deadline: Deadline,
) -> Result<(), Error> {
    let message = PushModule {
        relay: shared.name.clone(),
        client,
        module,
    };
    let key = shared.keys.save_module_relay(engine);
    let target = Target {
        component: Component::Engine,
        name: engine,
    };
    request(
        &shared.session,
        "save_module",
        target,
        &key,
        &message,
        deadline,
    )
    .await
}

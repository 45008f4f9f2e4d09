//! One handler per relay key; each request runs in its own task.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use giocci::protocol::{
    Deadline, InquiryEngine, ModuleUpdate, PushModule, RegisterClient, RegisterEngine, RemoteError,
    Reply, SaveModule, Service, Target, request, serve_with, validate_name,
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
    let updates: Vec<_> = modules
        .into_iter()
        .map(|(client, module)| (client, ModuleUpdate::Save(module)))
        .collect();
    let pushes = updates
        .iter()
        .map(|(client, update)| push(&shared, &req.engine, client, update, deadline));
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
    let module = &req.module;
    if let Err(err) = validate_name("module name", &module.name) {
        let reason = err.to_string();
        return Err(RemoteError::InvalidModule {
            module: module.name.clone(),
            reason,
        });
    }
    let limit = shared.config.payload_limits.module;
    if module.wasm.len() > limit {
        return Err(RemoteError::PayloadTooLarge {
            what: "module".into(),
            len: module.wasm.len() as u64,
            limit: limit as u64,
        });
    }
    if giocci::digest(&module.wasm) != module.digest {
        return Err(RemoteError::InvalidModule {
            module: module.name.clone(),
            reason: "its digest does not match its bytes".into(),
        });
    }

    let deadline = Deadline::after(Duration::from_millis(req.timeout_ms));
    let engines = shared.engines();
    let update = ModuleUpdate::Save(module.clone());
    let pushes = engines
        .iter()
        .map(|engine| push(&shared, engine, &req.client, &update, deadline));
    let results = join_all(pushes).await;

    let mut accepted = Vec::new();
    let mut refusal = None;
    for (engine, result) in engines.iter().zip(results) {
        match result {
            Ok(()) => accepted.push(engine.clone()),
            // The engine is gone; it gets every module again when it
            // registers anew.
            Err(err @ (Error::ConnectionFailed { .. } | Error::Timeout { .. })) => {
                warn!(%engine, error = %err, "engine did not answer; unregistering it");
                shared.remove_engine(engine);
            }
            // The engine looked at the module and said no: the save fails.
            Err(err) => {
                refusal.get_or_insert_with(|| refusal_of(engine, err));
            }
        }
    }
    if let Some(refusal) = refusal {
        undo_save(&shared, &req.client, &module.name, &accepted).await;
        return Err(refusal);
    }
    shared.store_module(&req.client, req.module);
    debug!(engines = engines.len(), "module saved");
    Ok(())
}

/// What the client hears when `engine` refused a module.
fn refusal_of(engine: &str, err: Error) -> RemoteError {
    match err {
        Error::InvalidModule { module, reason } => RemoteError::InvalidModule { module, reason },
        Error::PayloadTooLarge {
            what, len, limit, ..
        } => RemoteError::PayloadTooLarge { what, len, limit },
        err => RemoteError::Failed {
            detail: format!("engine '{engine}' did not take the module; {err}"),
        },
    }
}

/// Puts the engines that took a refused module back as they were: with the
/// version the relay stores, or without the module.
async fn undo_save(shared: &Shared, client: &str, name: &str, engines: &[String]) {
    let undo = match shared.module(client, name) {
        Some(previous) => ModuleUpdate::Save(previous),
        None => ModuleUpdate::Remove(name.to_owned()),
    };
    let deadline = Deadline::after(shared.config.push_timeout);
    let undos = engines
        .iter()
        .map(|engine| push(shared, engine, client, &undo, deadline));
    for (engine, result) in engines.iter().zip(join_all(undos).await) {
        if let Err(err) = result {
            warn!(%engine, error = %err, "cannot undo a refused save; unregistering the engine");
            shared.remove_engine(engine);
        }
    }
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
    client: &str,
    update: &ModuleUpdate,
    deadline: Deadline,
) -> Result<(), Error> {
    let message = PushModule {
        relay: shared.name.clone(),
        client: client.to_owned(),
        update: update.clone(),
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

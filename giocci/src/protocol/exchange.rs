//! One query and its one reply, from both ends.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, trace, warn};
use zenoh::query::{ConsolidationMode, Query};

use super::{RemoteError, Reply};
use crate::codec;
use crate::error::{Component, Error, Result};

/// Extra time given to Zenoh to report its own query timeout.
const GRACE: Duration = Duration::from_millis(250);

/// The time budget of one operation, shared by the queries it makes.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    start: Instant,
    timeout: Duration,
}

impl Deadline {
    /// A budget of `timeout` starting now.
    pub fn after(timeout: Duration) -> Self {
        Deadline {
            start: Instant::now(),
            timeout,
        }
    }

    /// The whole budget.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// What is left of it.
    pub fn remaining(&self) -> Duration {
        self.timeout.saturating_sub(self.start.elapsed())
    }

    /// Whether nothing is left.
    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }
}

/// Who a request goes to; names it in errors.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// A relay or an engine.
    pub component: Component,
    /// Its name.
    pub name: &'a str,
}

/// Sends `request` to `key` and waits, within `deadline`, for the one
/// [`Reply`], which it unwraps into the answer or a typed error.
///
/// No reply before the deadline means nothing listens on `key`
/// ([`Error::ConnectionFailed`]); a reply that does not come in time is an
/// [`Error::Timeout`].
pub async fn request<Q, A>(
    session: &zenoh::Session,
    operation: &'static str,
    target: Target<'_>,
    key: &str,
    request: &Q,
    deadline: Deadline,
) -> Result<A>
where
    Q: Serialize + ?Sized,
    A: DeserializeOwned,
{
    let name = || target.name.to_owned();
    let timeout_error = || Error::Timeout {
        operation,
        component: target.component,
        name: name(),
        millis: u64::try_from(deadline.timeout().as_millis()).unwrap_or(u64::MAX),
    };
    if deadline.expired() {
        return Err(timeout_error());
    }
    let payload = codec::encode(request).map_err(|source| Error::Encode { operation, source })?;

    trace!(%key, bytes = payload.len(), "query");
    let remaining = deadline.remaining();
    let replies = session
        .get(key)
        .payload(payload)
        .consolidation(ConsolidationMode::None)
        .timeout(remaining)
        .await
        .map_err(|source| Error::Zenoh {
            operation,
            component: target.component,
            name: name(),
            source,
        })?;

    // Zenoh ends the query itself at its timeout; the outer bound only guards
    // against a query that is never finalised.
    let reply = match tokio::time::timeout(remaining + GRACE, replies.recv_async()).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(_)) if !deadline.expired() => {
            return Err(Error::ConnectionFailed {
                operation,
                component: target.component,
                name: name(),
            });
        }
        Ok(Err(_)) | Err(_) => return Err(timeout_error()),
    };

    match reply.result() {
        Ok(sample) => {
            let bytes = sample.payload().to_bytes();
            let reply = codec::decode::<Reply<A>>(&bytes).map_err(|source| Error::Decode {
                operation,
                component: target.component,
                name: name(),
                source,
            })?;
            reply.map_err(|remote| {
                Error::from_remote(remote, operation, target.component, target.name)
            })
        }
        // Zenoh reports its own query timeout as an error reply.
        Err(_) if deadline.expired() => Err(timeout_error()),
        Err(err) => Err(Error::Remote {
            operation,
            component: target.component,
            name: name(),
            detail: String::from_utf8_lossy(&err.payload().to_bytes()).into_owned(),
        }),
    }
}

/// Answers `query`: decodes its payload as a `Q`, runs `handle` on it and
/// replies with the encoded [`Reply`]. A payload that does not decode gets a
/// [`RemoteError::DecodeFailed`] reply without reaching `handle`.
pub async fn answer<Q, A, F, Fut>(query: Query, handle: F)
where
    Q: DeserializeOwned,
    A: Serialize,
    F: FnOnce(Q) -> Fut,
    Fut: Future<Output = Reply<A>>,
{
    answer_unless(query, handle, std::future::pending(), String::new()).await;
}

/// [`answer`], but if `abandon` completes first, replies with a
/// [`RemoteError::Failed`] carrying `why` instead of waiting for `handle`.
async fn answer_unless<Q, A, F, Fut>(
    query: Query,
    handle: F,
    abandon: impl Future<Output = ()>,
    why: String,
) where
    Q: DeserializeOwned,
    A: Serialize,
    F: FnOnce(Q) -> Fut,
    Fut: Future<Output = Reply<A>>,
{
    let decoded = match query.payload() {
        Some(payload) => codec::decode::<Q>(&payload.to_bytes()),
        None => codec::decode::<Q>(&[]),
    };
    let reply = match decoded {
        Ok(request) => {
            tokio::select! {
                reply = handle(request) => reply,
                () = abandon => Err(RemoteError::Failed { detail: why }),
            }
        }
        Err(err) => {
            warn!(key = %query.key_expr(), error = %err, "undecodable request");
            Err(RemoteError::DecodeFailed {
                detail: err.to_string(),
            })
        }
    };
    if let Err(err) = &reply {
        debug!(key = %query.key_expr(), error = %err, "request refused");
    }
    let bytes = codec::encode(&reply).unwrap_or_else(|err| {
        let failed: Reply<()> = Err(RemoteError::Failed {
            detail: err.to_string(),
        });
        codec::encode(&failed).unwrap_or_default()
    });
    if let Err(err) = query.reply(query.key_expr().clone(), bytes).await {
        warn!(key = %query.key_expr(), error = %err, "cannot send reply");
    }
}

/// Where a service stands in its shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Running,
    /// Takes no new work; work in flight may finish.
    Draining,
    /// Work still in flight is answered with an error now.
    Abandoning,
}

/// Tells a service's tasks how far its shutdown has gone.
#[derive(Debug, Clone)]
pub struct Shutdown {
    phase: watch::Receiver<Phase>,
}

impl Shutdown {
    /// Completes when the service stops taking new work.
    pub async fn draining(&mut self) {
        let _ = self.phase.wait_for(|phase| *phase >= Phase::Draining).await;
    }

    /// Completes when work still in flight must be answered with an error.
    pub async fn abandoning(mut self) {
        let _ = self
            .phase
            .wait_for(|phase| *phase >= Phase::Abandoning)
            .await;
    }
}

/// A running loop of a relay or an engine, with its graceful shutdown.
#[derive(Debug)]
pub struct Service {
    phase: watch::Sender<Phase>,
    task: JoinHandle<()>,
}

impl Service {
    /// Runs `run` with the [`Shutdown`] it must watch. `run` returns once
    /// draining has started and its work in flight has ended.
    pub fn spawn<F, Fut>(run: F) -> Service
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (phase, receiver) = watch::channel(Phase::Running);
        let task = tokio::spawn(run(Shutdown { phase: receiver }));
        Service { phase, task }
    }

    /// Stops taking work, gives the work in flight `grace` to finish, then
    /// has what is left answered with an error and waits at most one more
    /// second before abandoning it unanswered.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.phase.send(Phase::Draining);
        if tokio::time::timeout(grace, &mut self.task).await.is_ok() {
            return;
        }
        let _ = self.phase.send(Phase::Abandoning);
        if tokio::time::timeout(Duration::from_secs(1), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

/// The tasks a service started for its requests. Finished ones are
/// collected as the next one starts, so the service is not woken each time
/// one ends; dropping the set aborts those still running.
#[derive(Debug, Default)]
pub struct InFlight {
    tasks: JoinSet<()>,
}

impl InFlight {
    /// Starts `task`.
    pub fn spawn<F>(&mut self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        while self.tasks.try_join_next().is_some() {}
        self.tasks.spawn(task);
    }

    /// Waits for every task to end.
    pub async fn finish(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Declares a queryable on `key` and answers it until shut down: each query
/// is [answered](answer) by `handle` in a task of its own, so a slow request
/// never holds up the next one. On shutdown the queryable is undeclared
/// first; queries still being handled when the grace period ends are
/// answered with a [`RemoteError::Failed`] that says `who` is shutting down.
pub async fn serve<Q, A, F, Fut>(
    session: &zenoh::Session,
    key: &str,
    who: &str,
    handle: F,
) -> std::result::Result<Service, crate::ZenohError>
where
    Q: DeserializeOwned + Send + 'static,
    A: Serialize + Send + 'static,
    F: Fn(Q) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply<A>> + Send + 'static,
{
    let queryable = session.declare_queryable(key).await?;
    let handle = Arc::new(handle);
    let why = format!("{who} is shutting down");
    Ok(Service::spawn(move |mut shutdown| async move {
        let mut in_flight = InFlight::default();
        loop {
            tokio::select! {
                query = queryable.recv_async() => match query {
                    Ok(query) => {
                        let handle = Arc::clone(&handle);
                        let abandon = shutdown.clone().abandoning();
                        in_flight.spawn(answer_unless(query, move |req| handle(req), abandon, why.clone()));
                    }
                    Err(_) => break,
                },
                () = shutdown.draining() => break,
            }
        }
        drop(queryable);
        in_flight.finish().await;
    }))
}

/// [`serve`] for a handler that takes shared state: each query is handled
/// by `handle(state, request)`.
pub async fn serve_with<S, Q, A, F, Fut>(
    session: &zenoh::Session,
    key: &str,
    who: &str,
    state: &Arc<S>,
    handle: F,
) -> std::result::Result<Service, crate::ZenohError>
where
    S: Send + Sync + 'static,
    Q: DeserializeOwned + Send + 'static,
    A: Serialize + Send + 'static,
    F: Fn(Arc<S>, Q) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply<A>> + Send + 'static,
{
    let state = Arc::clone(state);
    serve(session, key, who, move |request| {
        handle(Arc::clone(&state), request)
    })
    .await
}

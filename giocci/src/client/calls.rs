//! Asynchronous calls: requests put on the engine's key, results received on
//! this client's own key and handed to whoever is waiting for them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::engines::{EngineCache, engine_unfit};
use crate::codec::{self, CodecError};
use crate::error::{Component, Error, Result};
use crate::protocol::{AsyncResult, ExecResult, Reply};

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<AsyncResult>>>>;

/// The result subscriber and the calls waiting on it.
#[derive(Debug)]
pub(super) struct Results {
    waiters: Waiters,
    task: JoinHandle<()>,
}

impl Results {
    /// Declares the subscriber on `key` and starts delivering results. It is
    /// in place when this returns, so no result can arrive before it.
    pub(super) async fn start(session: &zenoh::Session, key: &str) -> Result<Results> {
        let subscriber = session
            .declare_subscriber(key)
            .await
            .map_err(|source| Error::Session { source })?;
        let waiters = Waiters::default();
        let delivered = Arc::clone(&waiters);
        let task = tokio::spawn(async move {
            while let Ok(sample) = subscriber.recv_async().await {
                let result = match codec::decode::<AsyncResult>(&sample.payload().to_bytes()) {
                    Ok(result) => result,
                    Err(err) => {
                        warn!(error = %err, "undecodable asynchronous result dropped");
                        continue;
                    }
                };
                let waiter = lock(&delivered).remove(&result.exec_id);
                match waiter {
                    Some(waiter) => {
                        let _ = waiter.send(result);
                    }
                    None => debug!(
                        exec_id = result.exec_id,
                        engine = %result.engine,
                        "result for no waiting call (timed out, dropped or another client's) dropped"
                    ),
                }
            }
        });
        Ok(Results { waiters, task })
    }

    /// Registers a call before its request is sent.
    pub(super) fn expect(&self, exec_id: u64) -> (oneshot::Receiver<AsyncResult>, Pending) {
        let (sender, receiver) = oneshot::channel();
        lock(&self.waiters).insert(exec_id, sender);
        (
            receiver,
            Pending {
                waiters: Arc::clone(&self.waiters),
                exec_id,
            },
        )
    }

    pub(super) fn pending(&self) -> usize {
        lock(&self.waiters).len()
    }
}

impl Drop for Results {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(
    waiters: &Waiters,
) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<AsyncResult>>> {
    waiters
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A call's entry among the waiters; removed when the call ends or is
/// dropped, whichever comes first.
#[derive(Debug)]
pub(super) struct Pending {
    waiters: Waiters,
    exec_id: u64,
}

impl Drop for Pending {
    fn drop(&mut self) {
        lock(&self.waiters).remove(&self.exec_id);
    }
}

/// An asynchronous call in flight. Await it for the function's result.
///
/// The result arrives on this client's result key. If it has not arrived
/// when the call's timeout runs out, awaiting ends with
/// [`Error::Timeout`]; a result that arrives later is dropped. Dropping the
/// handle forgets the call: its result, if it still comes, is dropped too.
#[must_use = "an asynchronous call does nothing useful unless awaited"]
#[derive(Debug)]
pub struct AsyncCall<R> {
    exec_id: u64,
    engine: String,
    timeout: Duration,
    receiver: oneshot::Receiver<AsyncResult>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// Where to forget the engine if the call shows it unfit.
    forget: Option<(Arc<EngineCache>, String)>,
    /// Turns the encoded result into an `R`.
    decode: fn(&[u8]) -> std::result::Result<R, CodecError>,
    _pending: Pending,
}

impl<R: DeserializeOwned> AsyncCall<R> {
    /// A call that gives up after `remaining`, reporting `timeout` (the
    /// whole call's budget) when it does.
    pub(super) fn new(
        exec_id: u64,
        engine: String,
        timeout: Duration,
        remaining: Duration,
        receiver: oneshot::Receiver<AsyncResult>,
        pending: Pending,
        forget: Option<(Arc<EngineCache>, String)>,
    ) -> Self {
        AsyncCall {
            forget,
            exec_id,
            engine,
            timeout,
            receiver,
            sleep: Box::pin(tokio::time::sleep(remaining)),
            decode: codec::decode::<R>,
            _pending: pending,
        }
    }
}

impl<R> AsyncCall<R> {
    /// The same call, decoding its result with `decode`, which must accept
    /// what `codec::decode::<R>` accepts. The generated stubs use it to
    /// decode byte vectors in one piece.
    #[doc(hidden)]
    pub fn decoding_with(self, decode: fn(&[u8]) -> std::result::Result<R, CodecError>) -> Self {
        AsyncCall { decode, ..self }
    }

    /// The call's execution id, unique for this client.
    pub fn exec_id(&self) -> u64 {
        self.exec_id
    }

    /// The engine running the call.
    pub fn engine(&self) -> &str {
        &self.engine
    }
}

impl<R> AsyncCall<R> {
    fn forget_engine(&self) {
        if let Some((cache, module)) = &self.forget {
            cache.forget(module, &self.engine);
        }
    }
}

impl<R> Future for AsyncCall<R> {
    type Output = Result<R>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<R>> {
        const OP: &str = "exec_func_async";
        if let Poll::Ready(received) = Pin::new(&mut self.receiver).poll(cx) {
            return Poll::Ready(match received {
                Ok(result) => {
                    let value = unwrap_result(result.reply, &result.engine, self.decode);
                    if let Err(err) = &value
                        && engine_unfit(err)
                    {
                        self.forget_engine();
                    }
                    value
                }
                Err(_) => Err(Error::Remote {
                    operation: OP,
                    component: Component::Engine,
                    name: self.engine.clone(),
                    detail: "the client stopped receiving results".into(),
                }),
            });
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            // The engine may be gone: the next call asks the relay again.
            self.forget_engine();
            return Poll::Ready(Err(Error::Timeout {
                operation: OP,
                component: Component::Engine,
                name: self.engine.clone(),
                millis: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            }));
        }
        Poll::Pending
    }
}

/// Turns an engine's reply into the caller's typed result.
fn unwrap_result<R>(
    reply: Reply<ExecResult>,
    engine: &str,
    decode: fn(&[u8]) -> std::result::Result<R, CodecError>,
) -> Result<R> {
    const OP: &str = "exec_func_async";
    let result =
        reply.map_err(|remote| Error::from_remote(remote, OP, Component::Engine, engine))?;
    decode(&result.value).map_err(|source| Error::Decode {
        operation: OP,
        component: Component::Engine,
        name: engine.to_owned(),
        source,
    })
}

//! One query to a relay or an engine, with its deadline and error mapping.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::trace;
use zenoh::query::ConsolidationMode;

use super::{Client, Deadline, millis};
use crate::codec;
use crate::error::{Component, Error, Result};
use crate::protocol::Reply;

/// Who a request goes to, for error messages.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target<'a> {
    pub(super) component: Component,
    pub(super) name: &'a str,
}

impl Client {
    /// Sends `request` to `key` and waits for the one reply, within the
    /// deadline.
    pub(super) async fn request<Q, A>(
        &self,
        operation: &'static str,
        target: Target<'_>,
        key: String,
        request: &Q,
        deadline: Deadline,
    ) -> Result<A>
    where
        Q: Serialize + ?Sized,
        A: DeserializeOwned,
    {
        let timeout_error = || Error::Timeout {
            operation,
            component: target.component,
            name: target.name.to_owned(),
            millis: millis(deadline.timeout),
        };
        if deadline.expired() {
            return Err(timeout_error());
        }
        let payload =
            codec::encode(request).map_err(|source| Error::Encode { operation, source })?;

        trace!(%key, bytes = payload.len(), "query");
        let remaining = deadline.remaining();
        let replies = self
            .inner
            .session
            .get(&key)
            .payload(payload)
            .consolidation(ConsolidationMode::None)
            .timeout(remaining)
            .await
            .map_err(|source| Error::Zenoh {
                operation,
                component: target.component,
                name: target.name.to_owned(),
                source,
            })?;

        // Zenoh ends the query itself at the timeout; the outer bound only
        // guards against a query that is never finalised.
        let reply = match tokio::time::timeout(remaining + GRACE, replies.recv_async()).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_closed)) if !deadline.expired() => {
                return Err(Error::ConnectionFailed {
                    operation,
                    component: target.component,
                    name: target.name.to_owned(),
                });
            }
            Ok(Err(_)) | Err(_) => return Err(timeout_error()),
        };

        let decode_error = |source| Error::Decode {
            operation,
            component: target.component,
            name: target.name.to_owned(),
            source,
        };
        match reply.result() {
            Ok(sample) => {
                let bytes = sample.payload().to_bytes();
                match codec::decode::<Reply<A>>(&bytes).map_err(decode_error)? {
                    Ok(answer) => Ok(answer),
                    Err(remote) => {
                        Err(Error::from_remote(remote, operation, target.component, target.name))
                    }
                }
            }
            Err(err) => Err(Error::Remote {
                operation,
                component: target.component,
                name: target.name.to_owned(),
                detail: String::from_utf8_lossy(&err.payload().to_bytes()).into_owned(),
            }),
        }
    }
}

/// Extra time given to Zenoh to report its own timeout.
const GRACE: std::time::Duration = std::time::Duration::from_millis(250);

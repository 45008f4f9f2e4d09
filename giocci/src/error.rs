//! The client's error type.

use std::fmt;

use crate::codec::CodecError;
use crate::protocol::{NameError, RemoteError};

/// Result of the client's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error from Zenoh.
pub type ZenohError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The remote component an operation talked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// A giocci relay.
    Relay,
    /// A giocci engine.
    Engine,
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Component::Relay => "relay",
            Component::Engine => "engine",
        })
    }
}

/// Everything that can go wrong in a client operation.
///
/// Messages start with the operation (`register_client`, `save_module`,
/// `inquiry_engine`, `exec_func`) and name the relay or engine involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name or key prefix cannot be used in Zenoh keys.
    #[error("invalid client configuration; {0}")]
    InvalidName(#[from] NameError),

    /// The Zenoh configuration could not be built or read.
    #[error("invalid Zenoh configuration; {detail}")]
    Config {
        /// What is wrong.
        detail: String,
    },

    /// The Zenoh session could not be opened.
    #[error("cannot open a Zenoh session; {source}")]
    Session {
        /// Zenoh's error.
        #[source]
        source: ZenohError,
    },

    /// The client's Zenoh session could not reach any of its endpoints.
    #[error(
        "open: cannot reach {endpoints} to talk to relay '{relay}'; the relay (or the Zenoh \
         router in front of it) may not be running"
    )]
    Unreachable {
        /// The relay the client was built for.
        relay: String,
        /// The endpoints it tried.
        endpoints: String,
        /// Zenoh's error.
        #[source]
        source: ZenohError,
    },

    /// Nothing answered: no relay or engine of that name is reachable.
    #[error("{operation}: no answer from {component} '{name}'; it may not be running")]
    ConnectionFailed {
        /// The operation.
        operation: &'static str,
        /// What was asked.
        component: Component,
        /// Its name.
        name: String,
    },

    /// The relay or engine did not answer within the call's timeout.
    #[error(
        "{operation}: {component} '{name}' did not answer within {millis} ms; it may be busy \
         or not running"
    )]
    Timeout {
        /// The operation.
        operation: &'static str,
        /// What was asked.
        component: Component,
        /// Its name.
        name: String,
        /// How long the call waited, in milliseconds.
        millis: u64,
    },

    /// Zenoh refused to send the request.
    #[error("{operation}: request to {component} '{name}' failed; {source}")]
    Zenoh {
        /// The operation.
        operation: &'static str,
        /// What was asked.
        component: Component,
        /// Its name.
        name: String,
        /// Zenoh's error.
        #[source]
        source: ZenohError,
    },

    /// The client has not registered with its relay yet.
    #[error(
        "{operation}: client '{client}' has not registered with relay '{relay}'; \
         call register_client first"
    )]
    RelayNotRegistered {
        /// The operation.
        operation: &'static str,
        /// This client.
        client: String,
        /// Its relay.
        relay: String,
    },

    /// The relay does not know this client (it may have restarted).
    #[error("{operation}: relay '{relay}' does not know client '{client}'; register again")]
    ClientNotRegistered {
        /// The operation.
        operation: &'static str,
        /// This client.
        client: String,
        /// The relay.
        relay: String,
    },

    /// The relay has no engine to run the call.
    #[error("{operation}: no engine registered with relay '{relay}'")]
    EngineNotRegistered {
        /// The operation.
        operation: &'static str,
        /// The relay.
        relay: String,
    },

    /// The engine has no module of that name saved by this client.
    #[error("exec_func: module '{module}' is not saved on engine '{engine}'; save it first")]
    ModuleNotSaved {
        /// The module.
        module: String,
        /// The engine.
        engine: String,
    },

    /// The module has no function of that name.
    #[error("exec_func: function '{function}' is not defined in module '{module}'")]
    FunctionNotDefined {
        /// The module.
        module: String,
        /// The function.
        function: String,
    },

    /// The arguments do not match the function's parameters.
    #[error("exec_func: arguments do not match {module}::{function}; {detail}")]
    BadArguments {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The decoder's explanation.
        detail: String,
    },

    /// The function panicked on the engine.
    #[error("exec_func: {module}::{function} panicked on the engine; {message}")]
    GuestPanicked {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The panic message.
        message: String,
    },

    /// The function trapped on the engine.
    #[error("exec_func: {module}::{function} trapped on the engine; {trap}")]
    GuestTrapped {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// What the trap was.
        trap: String,
    },

    /// The call ran past its deadline on the engine and was stopped.
    #[error("exec_func: {module}::{function} ran past its deadline of {millis} ms and was stopped")]
    DeadlineExceeded {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The deadline in force, in milliseconds.
        millis: u64,
    },

    /// The call used up the fuel the engine gives each call.
    #[error("exec_func: {module}::{function} used up its fuel ({fuel} units) and was stopped")]
    FuelExhausted {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The fuel it was given.
        fuel: u64,
    },

    /// The call asked for more linear memory than the engine allows.
    #[error("exec_func: {module}::{function} exceeded the engine's memory limit of {limit} bytes")]
    MemoryLimitExceeded {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The limit, in bytes.
        limit: u64,
    },

    /// The call overflowed its stack on the engine.
    #[error("exec_func: {module}::{function} overflowed its stack on the engine")]
    StackOverflow {
        /// The module.
        module: String,
        /// The function.
        function: String,
    },

    /// The engine is running and queueing as many calls as it accepts.
    #[error("{operation}: engine '{engine}' is busy; try again later or on another engine")]
    EngineBusy {
        /// The operation.
        operation: &'static str,
        /// The engine.
        engine: String,
    },

    /// A module, arguments or result larger than the sender or receiver
    /// allows.
    #[error("{operation}: {what} of {len} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The operation.
        operation: &'static str,
        /// `module`, `arguments` or `result`.
        what: String,
        /// Its size, in bytes.
        len: u64,
        /// The limit, in bytes.
        limit: u64,
    },

    /// An engine refused the module.
    #[error("save_module: module '{module}' was refused; {reason}")]
    InvalidModule {
        /// The module.
        module: String,
        /// Why.
        reason: String,
    },

    /// The request could not be encoded.
    #[error("{operation}: cannot encode the request; {source}")]
    Encode {
        /// The operation.
        operation: &'static str,
        /// The codec's error.
        #[source]
        source: CodecError,
    },

    /// A reply or a result could not be decoded.
    #[error("{operation}: cannot decode the answer of {component} '{name}'; {source}")]
    Decode {
        /// The operation.
        operation: &'static str,
        /// Who answered.
        component: Component,
        /// Its name.
        name: String,
        /// The codec's error.
        #[source]
        source: CodecError,
    },

    /// The relay or engine failed in some other way.
    #[error("{operation}: {component} '{name}' failed; {detail}")]
    Remote {
        /// The operation.
        operation: &'static str,
        /// Who failed.
        component: Component,
        /// Its name.
        name: String,
        /// What it reported.
        detail: String,
    },
}

impl Error {
    /// Turns a failure reported by `name` during `operation` into an error.
    pub(crate) fn from_remote(
        remote: RemoteError,
        operation: &'static str,
        component: Component,
        name: &str,
    ) -> Error {
        match remote {
            RemoteError::ClientNotRegistered { client, relay } => Error::ClientNotRegistered {
                operation,
                client,
                relay,
            },
            RemoteError::EngineNotRegistered { relay } => {
                Error::EngineNotRegistered { operation, relay }
            }
            RemoteError::ModuleNotSaved { module, engine } => {
                Error::ModuleNotSaved { module, engine }
            }
            RemoteError::FunctionNotDefined { module, function } => {
                Error::FunctionNotDefined { module, function }
            }
            RemoteError::BadArguments {
                module,
                function,
                detail,
            } => Error::BadArguments {
                module,
                function,
                detail,
            },
            RemoteError::GuestPanicked {
                module,
                function,
                message,
            } => Error::GuestPanicked {
                module,
                function,
                message,
            },
            RemoteError::GuestTrapped {
                module,
                function,
                trap,
            } => Error::GuestTrapped {
                module,
                function,
                trap,
            },
            RemoteError::InvalidModule { module, reason } => {
                Error::InvalidModule { module, reason }
            }
            RemoteError::DeadlineExceeded {
                module,
                function,
                millis,
            } => Error::DeadlineExceeded {
                module,
                function,
                millis,
            },
            RemoteError::FuelExhausted {
                module,
                function,
                fuel,
            } => Error::FuelExhausted {
                module,
                function,
                fuel,
            },
            RemoteError::MemoryLimitExceeded {
                module,
                function,
                limit,
            } => Error::MemoryLimitExceeded {
                module,
                function,
                limit,
            },
            RemoteError::StackOverflow { module, function } => {
                Error::StackOverflow { module, function }
            }
            RemoteError::EngineBusy { engine } => Error::EngineBusy { operation, engine },
            RemoteError::PayloadTooLarge { what, len, limit } => Error::PayloadTooLarge {
                operation,
                what,
                len,
                limit,
            },
            other @ (RemoteError::RelayMismatch { .. }
            | RemoteError::DecodeFailed { .. }
            | RemoteError::Failed { .. }) => Error::Remote {
                operation,
                component,
                name: name.to_owned(),
                detail: other.to_string(),
            },
        }
    }
}

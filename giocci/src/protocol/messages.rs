use serde::{Deserialize, Serialize};

use crate::codec;

/// Every reply: the answer or what went wrong on the remote side.
pub type Reply<T> = Result<T, RemoteError>;

/// A client asks a relay to register it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterClient {
    /// The client's unique name.
    pub client: String,
}

/// An engine asks its relay to register it. Reply: `Reply<()>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterEngine {
    /// The engine's unique name.
    pub engine: String,
}

/// A compiled module as it travels: its name, the SHA-256 digest of its
/// WebAssembly bytes, and the bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleBlob {
    /// The module's name, unique per client.
    pub name: String,
    /// SHA-256 of `wasm`.
    pub digest: [u8; 32],
    /// The WebAssembly binary.
    #[serde(with = "codec::bytes")]
    pub wasm: Vec<u8>,
}

impl std::fmt::Debug for ModuleBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleBlob")
            .field("name", &self.name)
            .field("digest", &crate::module::hex(&self.digest[..6]))
            .field("wasm_len", &self.wasm.len())
            .finish()
    }
}

/// A client saves a module with a relay. Reply: `Reply<()>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveModule {
    /// The saving client.
    pub client: String,
    /// The module.
    pub module: ModuleBlob,
    /// How long the relay may spend distributing it, in milliseconds.
    pub timeout_ms: u64,
}

/// A relay updates an engine's copy of a client's modules. Reply:
/// `Reply<()>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushModule {
    /// The relay sending it; an engine takes modules only from its own relay.
    pub relay: String,
    /// The client the module belongs to.
    pub client: String,
    /// What to do.
    pub update: ModuleUpdate,
}

/// A change to an engine's modules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModuleUpdate {
    /// Load this module, replacing any of the same name.
    Save(ModuleBlob),
    /// Forget the module of this name. Sent to undo a save that other
    /// engines refused.
    Remove(String),
}

/// A client asks its relay which engine should run a call of `module`.
/// Reply: `Reply<String>`, the engine's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InquiryEngine {
    /// The asking client.
    pub client: String,
    /// The module to be run.
    pub module: String,
}

/// A client asks an engine to run one function. Reply: `Reply<ExecResult>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecFunc {
    /// The calling client; modules are looked up among the ones it saved.
    pub client: String,
    /// Identifies the call in logs and, for asynchronous calls, its result.
    pub exec_id: u64,
    /// The module's name.
    pub module: String,
    /// The function's name.
    pub function: String,
    /// The arguments, encoded as one tuple with the codec.
    #[serde(with = "codec::bytes")]
    pub args: Vec<u8>,
    /// How long the engine may run the call, in milliseconds: about as long
    /// as the caller waits. The engine's own deadline applies if shorter.
    pub deadline_ms: u64,
}

/// The outcome of a call: the encoded result value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResult {
    /// The call this answers.
    pub exec_id: u64,
    /// The function's return value, encoded with the codec.
    #[serde(with = "codec::bytes")]
    pub value: Vec<u8>,
}

/// An engine's answer to an asynchronous call, put on the calling client's
/// result key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsyncResult {
    /// The call this answers.
    pub exec_id: u64,
    /// The engine that ran it.
    pub engine: String,
    /// The result, or why there is none.
    pub reply: Reply<ExecResult>,
}

/// A failure reported by a relay or an engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RemoteError {
    /// The relay does not know the client.
    #[error("client '{client}' is not registered with relay '{relay}'")]
    ClientNotRegistered {
        /// The unknown client.
        client: String,
        /// The relay that refused it.
        relay: String,
    },
    /// The relay has no engine to run the call.
    #[error("no engine registered with relay '{relay}'")]
    EngineNotRegistered {
        /// The relay without engines.
        relay: String,
    },
    /// The engine has no module of that name from that client.
    #[error("module '{module}' is not saved on engine '{engine}'")]
    ModuleNotSaved {
        /// The missing module.
        module: String,
        /// The engine that lacks it.
        engine: String,
    },
    /// The module has no such function.
    #[error("function '{function}' is not defined in module '{module}'")]
    FunctionNotDefined {
        /// The module.
        module: String,
        /// The missing function.
        function: String,
    },
    /// The guest could not decode the arguments as the function's parameters.
    #[error("arguments do not match {module}::{function}; {detail}")]
    BadArguments {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The decoder's explanation.
        detail: String,
    },
    /// The function panicked.
    #[error("{module}::{function} panicked; {message}")]
    GuestPanicked {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The panic message.
        message: String,
    },
    /// The function trapped (a WebAssembly fault other than a panic).
    #[error("{module}::{function} trapped; {trap}")]
    GuestTrapped {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// What the trap was.
        trap: String,
    },
    /// The call ran past its deadline and was stopped.
    #[error("{module}::{function} ran past its deadline of {millis} ms and was stopped")]
    DeadlineExceeded {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The deadline, in milliseconds.
        millis: u64,
    },
    /// The call used up its fuel and was stopped.
    #[error("{module}::{function} used up its fuel ({fuel} units) and was stopped")]
    FuelExhausted {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The fuel it was given.
        fuel: u64,
    },
    /// The call asked for more linear memory than the engine allows.
    #[error("{module}::{function} exceeded the memory limit of {limit} bytes")]
    MemoryLimitExceeded {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The call overflowed its stack.
    #[error("{module}::{function} overflowed its stack")]
    StackOverflow {
        /// The module.
        module: String,
        /// The function.
        function: String,
    },
    /// The engine runs and queues as many calls as it accepts.
    #[error("engine '{engine}' is busy; try again later or on another engine")]
    EngineBusy {
        /// The engine.
        engine: String,
    },
    /// A module, arguments or result larger than allowed.
    #[error("{what} of {len} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// `module`, `arguments` or `result`.
        what: String,
        /// Its size, in bytes.
        len: u64,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The engine refused the module.
    #[error("module '{module}' was refused; {reason}")]
    InvalidModule {
        /// The module.
        module: String,
        /// Why it was refused.
        reason: String,
    },
    /// An engine was sent a module by a relay it is not bound to.
    #[error("engine is bound to relay '{expected}', not '{actual}'")]
    RelayMismatch {
        /// The engine's relay.
        expected: String,
        /// The relay that sent the module.
        actual: String,
    },
    /// The request could not be decoded.
    #[error("request could not be decoded; {detail}")]
    DecodeFailed {
        /// The decoder's explanation.
        detail: String,
    },
    /// Anything else, described by the component that failed.
    #[error("{detail}")]
    Failed {
        /// What went wrong.
        detail: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let msg = ExecFunc {
            client: "c".into(),
            exec_id: 7,
            module: "math".into(),
            function: "add".into(),
            args: codec::encode(&(1i64, 2i64)).unwrap(),
            deadline_ms: 5_000,
        };
        let bytes = codec::encode(&msg).unwrap();
        assert_eq!(codec::decode::<ExecFunc>(&bytes).unwrap(), msg);

        let reply: Reply<()> = Err(RemoteError::EngineNotRegistered { relay: "r".into() });
        let bytes = codec::encode(&reply).unwrap();
        assert_eq!(codec::decode::<Reply<()>>(&bytes).unwrap(), reply);
    }

    #[test]
    fn a_message_is_not_another() {
        let bytes = codec::encode(&RegisterClient { client: "c".into() }).unwrap();
        assert!(codec::decode::<SaveModule>(&bytes).is_err());
    }
}

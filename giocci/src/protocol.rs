//! What clients, relays and engines say to each other, and on which keys.
//!
//! The key map follows GiocciPlatform's, optionally under a key prefix:
//!
//! | purpose | key | pattern |
//! |---|---|---|
//! | client registration | `giocci/register/client/{relay}` | query to relay |
//! | engine registration | `giocci/register/engine/{relay}` | query to relay |
//! | save module, client to relay | `giocci/save_module/client/{relay}` | query to relay |
//! | distribute module, relay to engine | `giocci/save_module/relay/{engine}` | query to engine |
//! | which engine should run this? | `giocci/inquiry_engine/client/{relay}` | query to relay |
//! | sync execution | `giocci/exec_func/client/{engine}` | query to engine |
//! | async execution request | `giocci/exec_func_async/client/{engine}` | put to engine |
//! | async execution result | `giocci/exec_func_async/engine/{client}` | put to client |
//!
//! Every request and every reply is one [`codec`](crate::codec) message. A
//! reply is always a [`Reply`]: the answer, or a [`RemoteError`] that the
//! client turns into a typed [`Error`](crate::Error).

mod exchange;
mod keys;
mod messages;
mod names;
mod publishers;

pub use exchange::{
    Deadline, InFlight, Service, Shutdown, Target, answer, request, serve, serve_with,
};
pub use keys::KeyMap;
pub use messages::{
    AsyncResult, ExecFunc, ExecResult, InquiryEngine, ModuleBlob, ModuleUpdate, PushModule,
    RegisterClient, RegisterEngine, RemoteError, Reply, SaveModule,
};
pub use names::{NameError, validate_key_prefix, validate_name};
pub use publishers::Publishers;

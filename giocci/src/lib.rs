//! Run ordinary Rust functions on remote WebAssembly engines over Zenoh.
//!
//! Annotate an inline module with [`remote`]. At build time the module is
//! compiled to WebAssembly and embedded; the macro keeps the module's items
//! for local use and adds typed async stubs that run them on an engine:
//!
//! ```no_run
//! #[giocci::remote]
//! pub mod math {
//!     pub fn add(a: i64, b: i64) -> i64 {
//!         a + b
//!     }
//! }
//!
//! # async fn run() -> giocci::Result<()> {
//! let client = giocci::Client::builder("my-client").open().await?;
//! client.register_client().await?;
//! client.save_module(&math::module()).await?;
//! assert_eq!(math::remote(&client).add(1, 2).await?, 3);
//! # Ok(()) }
//! ```
//!
//! The pieces:
//!
//! - [`Client`] registers with a relay, saves [`Module`]s and calls functions;
//! - a relay (`giocci-relay`) registers clients and engines, stores modules,
//!   hands them to engines and picks the engine for each call;
//! - an engine (`giocci-engine`) runs modules in wasmtime.
//!
//! They talk over Zenoh with the keys and messages of [`protocol`], encoded
//! with [`codec`].
//!
//! # Features
//!
//! - `client` (default): the client, the protocol and the macro.
//! - `guest`: the module side of the [`abi`], for WebAssembly. It needs
//!   neither Zenoh nor tokio. The crates the macro generates use a copy of
//!   it that the macro carries, so they build without these sources.
#![deny(missing_docs)]

pub mod abi;
pub mod codec;

#[cfg(all(feature = "guest", target_family = "wasm"))]
#[doc(hidden)]
pub mod guest;

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod error;
#[cfg(feature = "client")]
pub mod limits;
#[cfg(feature = "client")]
mod module;
#[cfg(feature = "client")]
pub mod protocol;
#[cfg(feature = "client")]
pub mod transport;

#[cfg(feature = "client")]
pub use client::{
    AsyncCall, Client, ClientBuilder, DEFAULT_IN_FLIGHT, DEFAULT_RELAY, DEFAULT_TIMEOUT,
};
#[cfg(feature = "client")]
pub use error::{Component, Error, Result, ZenohError};
#[cfg(feature = "client")]
pub use futures;
#[cfg(feature = "client")]
pub use giocci_macros::remote;
#[cfg(feature = "client")]
pub use limits::PayloadLimits;
#[cfg(feature = "client")]
pub use module::{Module, digest, hex};
#[cfg(feature = "client")]
pub use zenoh;

//! A compiled module, ready to be saved with a relay.

use std::borrow::Cow;
use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::protocol::{ModuleBlob, NameError, validate_name};

/// A WebAssembly module with the name it is saved and called under.
///
/// `#[giocci::remote]` makes one for each annotated module, reachable as
/// `the_module::module()`; [`Module::from_wasm`] wraps bytes built some other
/// way. Saving it with [`Client::save_module`](crate::Client::save_module)
/// replaces any module of the same name the client saved before.
#[derive(Clone)]
pub struct Module {
    name: Cow<'static, str>,
    digest: [u8; 32],
    wasm: Cow<'static, [u8]>,
}

impl Module {
    /// Wraps a WebAssembly binary built elsewhere. Engines refuse it at save
    /// time unless it exports giocci's guest ABI.
    pub fn from_wasm(name: impl Into<String>, wasm: Vec<u8>) -> Result<Module, NameError> {
        let name = name.into();
        validate_name("module name", &name)?;
        Ok(Module {
            digest: digest(&wasm),
            name: Cow::Owned(name),
            wasm: Cow::Owned(wasm),
        })
    }

    #[doc(hidden)]
    pub const fn __from_macro(name: &'static str, wasm: &'static [u8], digest: [u8; 32]) -> Self {
        Module {
            name: Cow::Borrowed(name),
            digest,
            wasm: Cow::Borrowed(wasm),
        }
    }

    /// The name the module is saved and called under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the WebAssembly bytes.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// The digest in lowercase hexadecimal.
    pub fn digest_hex(&self) -> String {
        hex(&self.digest)
    }

    /// The WebAssembly binary.
    pub fn wasm(&self) -> &[u8] {
        &self.wasm
    }

    pub(crate) fn to_blob(&self) -> ModuleBlob {
        ModuleBlob {
            name: self.name.to_string(),
            digest: self.digest,
            wasm: self.wasm.to_vec(),
        }
    }
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field("digest", &hex(&self.digest[..6]))
            .field("wasm_len", &self.wasm.len())
            .finish()
    }
}

/// SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `bytes` in lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256() {
        assert_eq!(
            hex(&digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn from_wasm_checks_the_name() {
        let module = Module::from_wasm("math", vec![0, 97, 115, 109]).unwrap();
        assert_eq!(module.name(), "math");
        assert_eq!(module.digest(), digest(&[0, 97, 115, 109]));
        assert!(Module::from_wasm("a/b", vec![]).is_err());
    }
}

//! The contract between an engine and a compiled module.
//!
//! A module is a `wasm32-unknown-unknown` binary that imports nothing and
//! exports:
//!
//! - `memory`, its linear memory;
//! - `giocci_abi_version() -> i32`, returning [`VERSION`];
//! - `giocci_alloc(len: i32) -> i32`, reserving `len` bytes for the engine to
//!   write arguments into;
//! - `giocci_panic_message() -> i64`, the packed location of the message of
//!   the last panic, or 0;
//! - one `giocci_fn_{name}(ptr: i32, len: i32) -> i64` per remote function;
//! - optionally `__stack_pointer`, the global holding the top of the stack
//!   the guest keeps in its linear memory, so that the engine can tell an
//!   overflow of that stack from any other out-of-bounds access.
//!
//! A call writes the arguments, encoded as one tuple with the
//! [`codec`](crate::codec), into memory reserved by `giocci_alloc`, then
//! calls the function's entry. The entry returns the location of its output
//! packed as `ptr << 32 | len`. The output's first byte is a tag
//! ([`OUTPUT_OK`], [`OUTPUT_BAD_ARGUMENTS`], [`OUTPUT_ENCODE_FAILED`]); the
//! rest is the encoded return value, or a UTF-8 message for the other tags.

/// Version of this contract; an engine refuses modules built for another.
pub const VERSION: u32 = 1;

/// Name of the linear memory export.
pub const MEMORY: &str = "memory";
/// Name of the version export.
pub const ABI_VERSION_EXPORT: &str = "giocci_abi_version";
/// Name of the allocator export.
pub const ALLOC_EXPORT: &str = "giocci_alloc";
/// Name of the panic message export.
pub const PANIC_MESSAGE_EXPORT: &str = "giocci_panic_message";
/// Name of the optional stack pointer export.
pub const STACK_POINTER_EXPORT: &str = "__stack_pointer";

/// A stack pointer below this many bytes after an out-of-bounds trap means
/// the guest's in-memory stack overflowed (it grows down towards 0).
pub const STACK_GUARD_BYTES: u32 = 4_096;

/// Prefix of each function's entry export.
pub const FUNCTION_EXPORT_PREFIX: &str = "giocci_fn_";

/// Output tag: the return value follows.
pub const OUTPUT_OK: u8 = 0;
/// Output tag: the arguments did not decode as the function's parameters; a
/// message follows.
pub const OUTPUT_BAD_ARGUMENTS: u8 = 1;
/// Output tag: the return value could not be encoded; a message follows.
pub const OUTPUT_ENCODE_FAILED: u8 = 2;

/// Packs a guest memory location into an entry's return value.
pub const fn pack(ptr: u32, len: u32) -> u64 {
    ((ptr as u64) << 32) | len as u64
}

/// Splits an entry's return value into `(ptr, len)`.
pub const fn unpack(packed: u64) -> (u32, u32) {
    ((packed >> 32) as u32, packed as u32)
}

/// The entry export of function `name`.
pub fn function_export(name: &str) -> String {
    format!("{FUNCTION_EXPORT_PREFIX}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        assert_eq!(unpack(pack(0xdead_beef, 17)), (0xdead_beef, 17));
        assert_eq!(unpack(pack(0, 0)), (0, 0));
    }
}

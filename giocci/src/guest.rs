//! The guest side of the [`abi`](crate::abi), compiled into every module.
//!
//! `#[giocci::remote]` generates a guest crate that enables this crate's
//! `guest` feature, calls [`exports!`](crate::guest_exports) once and wraps each
//! remote function with [`entry`]. Nothing here is meant to be called by hand.

use std::sync::{Mutex, Once};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi;
use crate::codec;

static PANIC_MESSAGE: Mutex<Option<Box<[u8]>>> = Mutex::new(None);
static PANIC_HOOK: Once = Once::new();

/// Reserves `len` zeroed bytes and leaks them to the caller.
pub fn alloc(len: u32) -> u32 {
    let buffer = vec![0u8; len as usize].into_boxed_slice();
    Box::into_raw(buffer).cast::<u8>() as usize as u32
}

/// Frees memory returned by [`alloc`] or by an entry.
///
/// # Safety
///
/// `ptr` and `len` must describe a buffer from [`alloc`] or from an entry's
/// output that has not been freed yet.
pub unsafe fn dealloc(ptr: u32, len: u32) {
    let slice = std::ptr::slice_from_raw_parts_mut(ptr as usize as *mut u8, len as usize);
    // SAFETY: the caller passes a buffer this module leaked as a boxed slice.
    drop(unsafe { Box::from_raw(slice) });
}

/// Location of the last panic's message, packed, or 0 if nothing panicked.
pub fn panic_message() -> u64 {
    let guard = PANIC_MESSAGE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match guard.as_deref() {
        Some(message) => abi::pack(message.as_ptr() as usize as u32, message.len() as u32),
        None => 0,
    }
}

/// Runs one call: takes the argument buffer at `ptr`, decodes it as `A`,
/// calls `function` and returns the packed location of the output.
///
/// # Safety
///
/// `ptr` and `len` must describe a buffer returned by [`alloc`], which this
/// call takes ownership of.
pub unsafe fn entry<A, R>(ptr: u32, len: u32, function: impl FnOnce(A) -> R) -> u64
where
    A: DeserializeOwned,
    R: Serialize,
{
    PANIC_HOOK.call_once(|| std::panic::set_hook(Box::new(record_panic)));

    let slice = std::ptr::slice_from_raw_parts_mut(ptr as usize as *mut u8, len as usize);
    // SAFETY: the caller hands over a buffer from `alloc`.
    let input = unsafe { Box::from_raw(slice) };
    let output = match codec::decode::<A>(&input) {
        Ok(args) => {
            drop(input);
            match codec::encode(&function(args)) {
                Ok(mut value) => {
                    value.insert(0, abi::OUTPUT_OK);
                    value
                }
                Err(err) => tagged(abi::OUTPUT_ENCODE_FAILED, &err.to_string()),
            }
        }
        Err(err) => tagged(abi::OUTPUT_BAD_ARGUMENTS, &err.to_string()),
    };
    let len = output.len() as u32;
    let ptr = Box::into_raw(output.into_boxed_slice()).cast::<u8>() as usize as u32;
    abi::pack(ptr, len)
}

fn tagged(tag: u8, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + message.len());
    out.push(tag);
    out.extend_from_slice(message.as_bytes());
    out
}

fn record_panic(info: &std::panic::PanicHookInfo<'_>) {
    let message = match info.payload_as_str() {
        Some(text) => text.to_owned(),
        None => "panic with a non-string payload".to_owned(),
    };
    let mut guard = PANIC_MESSAGE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *guard = Some(message.into_bytes().into_boxed_slice());
}

/// Defines the module-wide exports of the [`abi`](crate::abi): the
/// allocator, the panic message and the version. Called once by the guest
/// crate that `#[giocci::remote]` generates.
#[macro_export]
#[doc(hidden)]
macro_rules! guest_exports {
    () => {
        #[unsafe(no_mangle)]
        pub extern "C" fn giocci_abi_version() -> u32 {
            $crate::abi::VERSION
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn giocci_alloc(len: u32) -> u32 {
            $crate::guest::alloc(len)
        }

        /// # Safety
        ///
        /// Only the engine calls this, with a buffer the module handed out.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn giocci_dealloc(ptr: u32, len: u32) {
            // SAFETY: forwarded contract.
            unsafe { $crate::guest::dealloc(ptr, len) }
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn giocci_panic_message() -> u64 {
            $crate::guest::panic_message()
        }
    };
}

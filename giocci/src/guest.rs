//! The guest side of the [`abi`](crate::abi), compiled into every module.
//!
//! `#[giocci::remote]` generates a guest crate that calls
//! [`exports!`](crate::guest_exports) once and wraps each remote function
//! with [`entry`]. The macro carries a copy of this module (with the ABI and
//! the codec) and builds guests against that copy. Nothing here is meant to
//! be called by hand.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, UnsafeCell};
use std::sync::{Mutex, Once};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi;
use crate::codec;

static PANIC_MESSAGE: Mutex<Option<Box<[u8]>>> = Mutex::new(None);
static PANIC_HOOK: Once = Once::new();

/// Reserves `len` bytes for the engine to write into and leaks them to the
/// caller. The bytes are not zeroed: the engine overwrites all of them.
pub fn alloc(len: u32) -> u32 {
    let Ok(layout) = Layout::array::<u8>(len as usize) else {
        panic!("cannot reserve {len} bytes for arguments");
    };
    if layout.size() == 0 {
        // What an empty boxed slice points to.
        return std::ptr::NonNull::<u8>::dangling().as_ptr() as usize as u32;
    }
    // SAFETY: the layout is not zero-sized.
    let ptr = unsafe { std::alloc::alloc(layout) };
    if ptr.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    ptr as usize as u32
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
            let mut output = vec![abi::OUTPUT_OK];
            match codec::encode_into(&function(args), &mut output) {
                Ok(()) => output,
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

/// Bytes of the region that serves a call's first allocations.
const REGION_BYTES: usize = 256 << 10;

/// Room for the first allocations of a call, in the module's initial memory.
#[repr(C, align(16))]
struct Region(UnsafeCell<[u8; REGION_BYTES]>);

// SAFETY: guests are single-threaded WebAssembly; nothing else can touch
// the region.
unsafe impl Sync for Region {}

/// Zero-initialised, so it takes no space in the module and is part of the
/// memory every instance starts with.
static REGION: Region = Region(UnsafeCell::new([0; REGION_BYTES]));

/// Bytes of the region handed out so far, from its start.
struct Used(Cell<usize>);

// SAFETY: as for `Region`.
unsafe impl Sync for Used {}

static USED: Used = Used(Cell::new(0));

// The allocator relies on nothing running alongside it.
#[cfg(target_feature = "atomics")]
compile_error!("giocci guests are single-threaded: build them without the `atomics` feature");

/// The guest's global allocator: serves allocations from a region that is
/// part of the module's initial memory while it has room, and from the
/// standard allocator after that.
///
/// Every call runs in a fresh instance, so the region only has to last one
/// call: it hands out memory in order and takes back only the most recent
/// block. Memory freed out of order inside the region is not handed out
/// again during the call, which costs a long-running call at most the
/// region's size. In exchange a small call never grows its memory, and
/// growing is what makes an engine change page protections around a call.
///
/// Every value of this type shares the one region.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallAllocator;

impl CallAllocator {
    fn used() -> usize {
        USED.0.get()
    }

    fn set_used(used: usize) {
        USED.0.set(used);
    }

    fn base() -> usize {
        REGION.0.get() as usize
    }

    /// The offset of `ptr` in the region, if it lies there.
    fn offset_of(ptr: *mut u8) -> Option<usize> {
        (ptr as usize)
            .checked_sub(Self::base())
            .filter(|offset| *offset < REGION_BYTES)
    }

    /// A block from the region, if it has room.
    fn take(&self, layout: Layout) -> Option<*mut u8> {
        let base = Self::base();
        let start = (base + Self::used()).checked_next_multiple_of(layout.align())? - base;
        let end = start.checked_add(layout.size())?;
        if end > REGION_BYTES {
            return None;
        }
        Self::set_used(end);
        Some((base + start) as *mut u8)
    }
}

// SAFETY: blocks from the region never overlap (`used` only moves past a
// block handed out, or back over the most recent one when it is freed), and
// everything else is the standard allocator's.
unsafe impl GlobalAlloc for CallAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.take(layout) {
            Some(ptr) => ptr,
            // SAFETY: forwarded contract.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match self.take(layout) {
            Some(ptr) => {
                // The region's bytes may hold an earlier block's data.
                // SAFETY: the block is `layout.size()` bytes of the region.
                unsafe { ptr.write_bytes(0, layout.size()) };
                ptr
            }
            // SAFETY: forwarded contract.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match Self::offset_of(ptr) {
            Some(offset) => {
                if offset + layout.size() == Self::used() {
                    Self::set_used(offset);
                }
            }
            // SAFETY: forwarded contract.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(offset) = Self::offset_of(ptr) else {
            // SAFETY: forwarded contract.
            return unsafe { System.realloc(ptr, layout, new_size) };
        };
        let is_last = offset + layout.size() == Self::used();
        if is_last && offset + new_size <= REGION_BYTES {
            Self::set_used(offset + new_size);
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `new_size` is non-zero and, per the contract, does not
        // overflow when rounded up to the alignment.
        let grown = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as above.
        let moved = unsafe { self.alloc(grown) };
        if !moved.is_null() {
            // SAFETY: both blocks are at least `layout.size()` bytes and
            // distinct.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        moved
    }
}

/// Defines the module-wide exports of the [`abi`](crate::abi): the
/// allocator, the panic message and the version, and installs
/// [`CallAllocator`] as the module's global allocator. Called once by the guest
/// crate that `#[giocci::remote]` generates.
#[macro_export]
#[doc(hidden)]
macro_rules! guest_exports {
    () => {
        #[global_allocator]
        static GIOCCI_ALLOCATOR: $crate::guest::CallAllocator = $crate::guest::CallAllocator;

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

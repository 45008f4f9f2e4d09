//! A length prefix inside a message cannot make the decoder reserve what it
//! claims: the reservation is bounded by about twice the message's size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use giocci::codec;
use giocci::protocol::{ExecFunc, ModuleBlob};

/// The system allocator, recording the largest single request.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout, same contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

#[test]
fn lying_length_prefixes_reserve_little() {
    // Names claiming 16 MiB (within the largest message size) and 512 MiB
    // (beyond it), each in a 40-byte message.
    for claim in [16u32 << 20, 512 << 20] {
        let mut lie = vec![252u8];
        lie.extend_from_slice(&claim.to_le_bytes());
        lie.extend_from_slice(&[b'x'; 35]);
        LARGEST.store(0, Ordering::Relaxed);
        assert!(codec::decode::<ModuleBlob>(&lie).is_err());
        assert!(codec::decode::<ExecFunc>(&lie).is_err());
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(
            largest < 64 << 10,
            "the decoder reserved {largest} bytes for a 40-byte lie"
        );
    }
}

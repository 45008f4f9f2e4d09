//! How a module's memory behaves on an engine: small calls run in the memory
//! an instance starts with, large ones grow it, and the guest's allocator
//! keeps every byte intact under any order of allocations and frees.

use giocci::Error;
use giocci_engine::embedded::Embedded;
use tokio::time::timeout;

mod common;
use common::{LIMIT, open_saving, start_stack};

#[giocci::remote]
pub mod heap {
    /// The pages of linear memory an instance starts with, and the pages it
    /// has after holding a buffer of `bytes` bytes; and the buffer's checksum.
    pub fn pages_around(bytes: u32) -> (u32, u32, u64) {
        let data: Vec<u8> = (0..bytes).map(|i| i as u8).collect();
        let (initial, now) = pages();
        (initial, now, data.iter().map(|&b| u64::from(b)).sum())
    }

    #[cfg(target_arch = "wasm32")]
    fn pages() -> (u32, u32) {
        unsafe extern "C" {
            /// Set by the linker: where memory past the stack and the
            /// statics begins. An instance starts with memory up to there.
            static __heap_base: u8;
        }
        let heap_base = (&raw const __heap_base) as usize;
        let initial = heap_base.div_ceil(65_536) as u32;
        (initial, core::arch::wasm32::memory_size(0) as u32)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn pages() -> (u32, u32) {
        (0, 0)
    }

    /// Allocates, grows, shrinks and frees buffers in a random order for
    /// `rounds` rounds, checking each buffer's contents at every step, and
    /// returns a checksum of what is left. Panics on the first corrupted
    /// byte.
    pub fn churn(seed: u64, rounds: u32) -> u64 {
        let mut state = seed.max(1);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Each buffer is filled with one byte, its tag.
        let mut slots: Vec<(u8, Vec<u8>)> = vec![(0, Vec::new()); 48];
        for round in 0..rounds {
            let pick = (next() % slots.len() as u64) as usize;
            let (tag, buffer) = &mut slots[pick];
            assert!(
                buffer.iter().all(|b| b == tag),
                "round {round}: buffer {pick} lost its contents"
            );
            match next() % 6 {
                // A new buffer, mostly small, sometimes larger than the
                // region the allocator starts from.
                0 | 1 => {
                    let len = match next() % 16 {
                        0 => 100_000 + (next() % 300_000) as usize,
                        _ => (next() % 4_096) as usize,
                    };
                    *tag = next() as u8;
                    *buffer = vec![*tag; len];
                }
                // Grow in place or by moving.
                2 | 3 => {
                    let more = (next() % 20_000) as usize;
                    buffer.extend(std::iter::repeat_n(*tag, more));
                }
                // Shrink and give memory back.
                4 => {
                    let keep = buffer.len() / 2;
                    buffer.truncate(keep);
                    buffer.shrink_to_fit();
                }
                // Free.
                _ => *buffer = Vec::new(),
            }
        }
        slots.iter().fold(0u64, |sum, (tag, buffer)| {
            sum.wrapping_mul(31)
                .wrapping_add(u64::from(*tag) * buffer.len() as u64)
        })
    }

    /// Keeps `count` strings of `len` bytes alive at once.
    pub fn hold(count: u32, len: u32) -> u64 {
        let strings: Vec<String> = (0..count)
            .map(|i| {
                char::from(b'a' + (i % 26) as u8)
                    .to_string()
                    .repeat(len as usize)
            })
            .collect();
        strings.iter().map(|s| s.len() as u64).sum()
    }
}

async fn ready(stack: &Embedded, name: &str) -> giocci::Client {
    open_saving(stack.client(name), &heap::module()).await
}

async fn start() -> Embedded {
    start_stack(Embedded::builder()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_calls_run_in_the_memory_an_instance_starts_with() {
    let stack = start().await;
    let client = ready(&stack, "small").await;
    let remote = heap::remote(&client);

    for bytes in [0, 1, 100, 4_096, 60_000] {
        let (initial, now, sum) = timeout(LIMIT, remote.pages_around(bytes))
            .await
            .unwrap()
            .unwrap();
        assert!(initial > 0, "the module reports no memory");
        assert_eq!(
            initial, now,
            "holding {bytes} bytes grew memory from {initial} to {now} pages"
        );
        assert_eq!(sum, heap::pages_around(bytes).2);
    }

    // Beyond the region, memory grows, and the contents are still right.
    let bytes = 3 << 20;
    let (initial, now, sum) = timeout(LIMIT, remote.pages_around(bytes))
        .await
        .unwrap()
        .unwrap();
    assert!(now >= initial + 48, "{initial} -> {now} pages");
    assert_eq!(sum, heap::pages_around(bytes).2);

    client.close().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocations_in_any_order_keep_their_contents() {
    let stack = start().await;
    let client = ready(&stack, "churn").await;
    let remote = heap::remote(&client);

    for seed in 1..=6u64 {
        let remote_sum = timeout(LIMIT, remote.churn(seed, 3_000))
            .await
            .unwrap()
            .unwrap_or_else(|err| panic!("seed {seed}: {err}"));
        assert_eq!(remote_sum, heap::churn(seed, 3_000), "seed {seed}");
    }

    // Many small blocks alive at once overflow the region into the
    // standard allocator.
    let held = timeout(LIMIT, remote.hold(20_000, 40))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held, 800_000);

    client.close().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_churn_within_one_call_stays_within_the_limit() {
    let stack = start().await;
    let client = ready(&stack, "limit").await;
    let remote = heap::remote(&client);

    // Freeing out of order inside the region wastes at most the region:
    // 100,000 rounds of churn stay far below the engine's memory limit.
    let sum = timeout(LIMIT, remote.churn(99, 100_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sum, heap::churn(99, 100_000));

    // Holding more than the limit is still refused as before.
    let err = timeout(LIMIT, remote.hold(1, 300 << 20))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, Error::MemoryLimitExceeded { .. }),
        "unexpected error: {err:?}"
    );
    assert!(
        err.to_string()
            .contains("exceeded the engine's memory limit"),
        "{err}"
    );

    client.close().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_running_call_at_a_time_serves_a_burst() {
    use futures::StreamExt;
    use giocci_engine::Limits;

    // Each call keeps its instance until its result is sent; with one
    // running slot, the burst must still never run short of instances.
    let limits = Limits {
        max_running: 1,
        max_queued: 512,
        ..Limits::default()
    };
    let stack = start_stack(Embedded::builder().engine_limits(limits)).await;
    let client = ready(&stack, "burst").await;
    let remote = heap::remote(&client).with_in_flight(128);

    let sums = remote.pages_around_stream((0..400u32).map(|i| (i % 300,)));
    let results = timeout(LIMIT, sums.collect::<Vec<_>>()).await.unwrap();
    assert_eq!(results.len(), 400);
    for (index, result) in results {
        let (_, _, sum) = result.unwrap_or_else(|err| panic!("call {index}: {err}"));
        assert_eq!(sum, heap::pages_around(index as u32 % 300).2);
    }
    // The synchronous path too, with calls in parallel.
    let calls = (0..16u32).map(|i| remote.pages_around(i));
    for (i, result) in futures::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(result.unwrap().2, heap::pages_around(i as u32).2);
    }

    client.close().await.unwrap();
    stack.stop().await;
}

#[test]
fn back_to_back_calls_that_never_yield_do_not_run_out_of_instances() {
    use giocci_engine::{Limits, Runtime};

    // One running call: the pool holds few instance slots beyond it.
    let limits = Limits {
        max_running: 1,
        ..Limits::default()
    };
    let runtime = Runtime::new(limits).unwrap();
    let compiled = common::compile(&runtime, &heap::module());
    let args = giocci::codec::encode(&(64u32,)).unwrap();

    // On a single-threaded runtime, a task that never yields leaves no room
    // for the resets handed off to other tasks: they must not pile up.
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tokio.block_on(async {
        for round in 0..200 {
            let call = runtime.call(&compiled, "heap", "pages_around", &args, LIMIT);
            let output = call
                .await
                .unwrap_or_else(|err| panic!("call {round}: {err}"));
            let (_, _, sum): (u32, u32, u64) = giocci::codec::decode(&output).unwrap();
            assert_eq!(sum, heap::pages_around(64).2);
        }
    });
}

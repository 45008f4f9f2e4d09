//! What an engine allows each call, and how many calls it takes at once.

use std::time::Duration;

use giocci::PayloadLimits;

/// Wall-clock time one call may run when the engine is not told otherwise:
/// 10 seconds.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// Linear memory one call may use when the engine is not told otherwise:
/// 256 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 << 20;

/// WebAssembly stack one call may use when the engine is not told
/// otherwise: 512 KiB.
pub const DEFAULT_STACK_LIMIT: usize = 512 << 10;

/// Calls that may wait for a free slot when the engine is not told
/// otherwise: 64.
pub const DEFAULT_MAX_QUEUED: usize = 64;

/// How often the engine checks running calls against their deadlines.
pub(crate) const DEADLINE_TICK: Duration = Duration::from_millis(10);

/// The limits an engine enforces. Every call runs in a fresh instance under
/// all of them; a call that breaks one is stopped and its caller gets the
/// error named below, and the next call to the same module runs normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one call may run. Default [`DEFAULT_DEADLINE`]. A
    /// caller's shorter timeout shortens it for that call. Checked every 10
    /// ms; exceeding it stops the call with
    /// [`Error::DeadlineExceeded`](giocci::Error::DeadlineExceeded).
    pub deadline: Duration,
    /// Fuel one call may burn, about one unit per WebAssembly instruction;
    /// `None` (the default) for no fuel accounting, which keeps calls
    /// faster. Running out stops the call with
    /// [`Error::FuelExhausted`](giocci::Error::FuelExhausted).
    pub fuel: Option<u64>,
    /// Linear memory one call may use, in bytes. Default
    /// [`DEFAULT_MEMORY_LIMIT`]. A guest that grows past it sees the growth
    /// fail; if it then aborts, the caller gets
    /// [`Error::MemoryLimitExceeded`](giocci::Error::MemoryLimitExceeded).
    /// A module whose initial memory is larger is refused when saved.
    pub memory: usize,
    /// WebAssembly stack one call may use, in bytes. Default
    /// [`DEFAULT_STACK_LIMIT`]. Exceeding it stops the call with
    /// [`Error::StackOverflow`](giocci::Error::StackOverflow).
    pub stack: usize,
    /// Calls that run at once. Default: the number of cores.
    pub max_running: usize,
    /// Calls that may wait for a free slot beyond those running. Default
    /// [`DEFAULT_MAX_QUEUED`]. Any call past that is answered at once with
    /// [`Error::EngineBusy`](giocci::Error::EngineBusy).
    pub max_queued: usize,
    /// The largest module, arguments and result the engine takes or sends.
    /// Larger ones get
    /// [`Error::PayloadTooLarge`](giocci::Error::PayloadTooLarge).
    pub payload: PayloadLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: DEFAULT_DEADLINE,
            fuel: None,
            memory: DEFAULT_MEMORY_LIMIT,
            stack: DEFAULT_STACK_LIMIT,
            max_running: std::thread::available_parallelism().map_or(1, usize::from),
            max_queued: DEFAULT_MAX_QUEUED,
            payload: PayloadLimits::default(),
        }
    }
}

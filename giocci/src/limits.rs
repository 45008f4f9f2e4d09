//! Size limits on what crosses the network.

/// Largest module accepted, in bytes of WebAssembly (16 MiB).
pub const DEFAULT_MAX_MODULE_BYTES: usize = 16 << 20;

/// Largest encoded arguments of one call, in bytes (16 MiB).
pub const DEFAULT_MAX_ARGS_BYTES: usize = 16 << 20;

/// Largest encoded result of one call, in bytes (16 MiB).
pub const DEFAULT_MAX_RESULT_BYTES: usize = 16 << 20;

/// Size limits on modules, arguments and results, in bytes.
///
/// A client refuses to send a module or arguments over its limits, with
/// [`Error::PayloadTooLarge`](crate::Error::PayloadTooLarge), before anything
/// goes out. Relays and engines apply their own limits to what they receive
/// (and engines to the results they would send back) and answer with the
/// same error. Every limit must stay below the codec's
/// [`MAX_MESSAGE_BYTES`](crate::codec::MAX_MESSAGE_BYTES).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadLimits {
    /// Largest module, default [`DEFAULT_MAX_MODULE_BYTES`].
    pub module: usize,
    /// Largest encoded arguments, default [`DEFAULT_MAX_ARGS_BYTES`].
    pub args: usize,
    /// Largest encoded result, default [`DEFAULT_MAX_RESULT_BYTES`].
    pub result: usize,
}

impl Default for PayloadLimits {
    fn default() -> Self {
        PayloadLimits {
            module: DEFAULT_MAX_MODULE_BYTES,
            args: DEFAULT_MAX_ARGS_BYTES,
            result: DEFAULT_MAX_RESULT_BYTES,
        }
    }
}

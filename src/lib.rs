//! Shared helpers for giocci's examples, tests and benchmarks.

//! Quickstart: run Rust functions on a WebAssembly engine through a relay.
//!
//! Starts a relay and an engine inside this process (on a free loopback port,
//! with Zenoh multicast scouting off), then acts as a client: it registers,
//! saves the `math` module compiled below to WebAssembly, and calls its
//! functions remotely. Run it with:
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! Nothing needs to be started first. `RUST_LOG=debug` shows each request.

use giocci_engine::embedded::Embedded;

/// The functions to run remotely. `#[giocci::remote]` compiles this module to
/// WebAssembly when the example is built and adds `math::module()` and the
/// typed stubs of `math::remote(&client)`.
#[giocci::remote]
pub mod math {
    use serde::{Deserialize, Serialize};

    /// A point in the plane.
    #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
    pub struct Point {
        pub x: f64,
        pub y: f64,
    }

    /// Adds two integers.
    pub fn add(a: i64, b: i64) -> i64 {
        a + b
    }

    /// The point halfway between `a` and `b`.
    pub fn midpoint(a: Point, b: Point) -> Point {
        Point {
            x: (a.x + b.x) / 2.0,
            y: (a.y + b.y) / 2.0,
        }
    }

    /// The first `n` Fibonacci numbers.
    pub fn fibonacci(n: u32) -> Vec<u64> {
        let mut out = Vec::with_capacity(n as usize);
        let (mut a, mut b) = (0u64, 1u64);
        for _ in 0..n {
            out.push(a);
            (a, b) = (b, a.wrapping_add(b));
        }
        out
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    println!("[1/5] starting a relay and an engine in this process");
    let stack = Embedded::start().await?;
    println!(
        "      relay '{}' listening on {}",
        stack.relay_name(),
        stack.endpoint()
    );

    println!("[2/5] opening a client and registering it with the relay");
    let client = stack.client("quickstart").open().await?;
    client.register_client().await?;

    let module = math::module();
    println!(
        "[3/5] saving module '{}' ({} bytes of WebAssembly, sha256 {}...)",
        module.name(),
        module.wasm().len(),
        &module.digest_hex()[..12]
    );
    client.save_module(&module).await?;

    println!("[4/5] calling its functions on the engine");
    let remote = math::remote(&client);
    let sum = remote.add(1, 2).await?;
    println!("      add(1, 2) = {sum}");
    let a = math::Point { x: 0.0, y: 0.0 };
    let b = math::Point { x: 4.0, y: -2.0 };
    let middle = remote.midpoint(a, b).await?;
    println!("      midpoint({a:?}, {b:?}) = {middle:?}");
    let fib = remote.fibonacci(10).await?;
    println!("      fibonacci(10) = {fib:?}");
    match client
        .exec_func::<_, i64>("math", "subtract", &(5i64, 3i64))
        .await
    {
        Ok(value) => println!("      subtract(5, 3) = {value} (unexpected)"),
        Err(err) => println!("      subtract(5, 3) failed as expected: {err}"),
    }

    println!("[5/5] shutting down");
    client.close().await?;
    stack.stop().await;
    Ok(())
}

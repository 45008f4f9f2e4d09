//! What the cross-component tests share: a remote module, and the relay and
//! engine binaries started as child processes.
#![allow(dead_code, reason = "each test binary uses part of this")]

pub mod processes;

use std::time::Duration;

use tokio::time::timeout;

/// Every await in the tests ends within this bound.
pub const LIMIT: Duration = Duration::from_secs(60);

/// A small deterministic generator of test bytes (xorshift64*).
#[derive(Debug, Clone)]
pub struct Bytes(u64);

impl Bytes {
    pub fn seeded(seed: u64) -> Self {
        Bytes(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `len` random bytes.
    pub fn fill(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// Random bytes of a random length below `max`.
    pub fn any(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next_u64() % max as u64) as usize;
        self.fill(len)
    }

    /// Variations of a valid encoding: truncated, extended, with flipped
    /// bytes and with an inflated length prefix.
    pub fn mutations(&mut self, valid: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for cut in (0..valid.len()).step_by((valid.len() / 16).max(1)) {
            out.push(valid[..cut].to_vec());
        }
        for extra in [1, 7, 300] {
            let mut longer = valid.to_vec();
            longer.extend(self.fill(extra));
            out.push(longer);
        }
        for _ in 0..16 {
            let mut flipped = valid.to_vec();
            if !flipped.is_empty() {
                let at = (self.next_u64() % flipped.len() as u64) as usize;
                flipped[at] ^= (self.next_u64() as u8) | 1;
            }
            out.push(flipped);
        }
        // A varint length claiming u64::MAX - 1 bytes, wherever it lands.
        for at in [0, 1, valid.len() / 2] {
            let mut inflated = valid.to_vec();
            let at = at.min(inflated.len());
            inflated.splice(
                at..at,
                [253u8].into_iter().chain((u64::MAX - 1).to_le_bytes()),
            );
            out.push(inflated);
        }
        out
    }
}

/// `module` compiled by `runtime`, as an engine compiles a module it is sent.
pub fn compile(
    runtime: &giocci_engine::Runtime,
    module: &giocci::Module,
) -> std::sync::Arc<giocci_engine::Compiled> {
    let blob = giocci::protocol::ModuleBlob {
        name: module.name().to_owned(),
        digest: module.digest(),
        wasm: module.wasm().to_vec(),
    };
    runtime.compile(&blob).expect("compile")
}

/// Opens a client from `builder` and registers it.
pub async fn open_registered(builder: giocci::ClientBuilder) -> giocci::Client {
    let client = timeout(LIMIT, builder.open())
        .await
        .expect("open timed out")
        .expect("open");
    timeout(LIMIT, client.register_client())
        .await
        .expect("register timed out")
        .expect("register");
    client
}

/// Opens a client from `builder`, registers it and saves [`shapes`].
pub async fn open_ready(builder: giocci::ClientBuilder) -> giocci::Client {
    open_saving(builder, &shapes::module()).await
}

/// Opens a client from `builder`, registers it and saves `module`.
pub async fn open_saving(
    builder: giocci::ClientBuilder,
    module: &giocci::Module,
) -> giocci::Client {
    let client = open_registered(builder).await;
    let saved = timeout(LIMIT, client.save_module(module)).await;
    saved.expect("save timed out").expect("save");
    client
}

/// Starts the embedded stack `builder` describes.
pub async fn start_stack(
    builder: giocci_engine::embedded::EmbeddedBuilder,
) -> giocci_engine::embedded::Embedded {
    timeout(LIMIT, builder.start())
        .await
        .expect("stack start timed out")
        .expect("stack start")
}

#[giocci::remote]
pub mod shapes {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub enum Shape {
        Circle { radius: f64 },
        Rect { width: f64, height: f64 },
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Summary {
        pub count: usize,
        pub total_area: f64,
        pub largest: Option<Shape>,
    }

    pub fn add(a: i64, b: i64) -> i64 {
        a + b
    }

    pub fn area(shape: Shape) -> f64 {
        match shape {
            Shape::Circle { radius } => 3.0 * radius * radius,
            Shape::Rect { width, height } => width * height,
        }
    }

    pub fn summarize(shapes: Vec<Shape>) -> Summary {
        let mut largest: Option<(f64, Shape)> = None;
        let mut total_area = 0.0;
        for shape in &shapes {
            let area = area(shape.clone());
            total_area += area;
            if largest.as_ref().is_none_or(|(best, _)| area > *best) {
                largest = Some((area, shape.clone()));
            }
        }
        Summary {
            count: shapes.len(),
            total_area,
            largest: largest.map(|(_, shape)| shape),
        }
    }

    /// Where the function runs: "wasm32" on an engine, "native" here.
    pub fn runs_on() -> String {
        if cfg!(target_family = "wasm") {
            "wasm32".into()
        } else {
            "native".into()
        }
    }

    pub fn divide(a: i32, b: i32) -> i32 {
        if b == 0 {
            panic!("cannot divide {a} by zero");
        }
        a / b
    }

    /// Busy work that takes time proportional to `rounds`.
    pub fn spin(rounds: u64) -> u64 {
        let mut x = 0u64;
        for i in 0..rounds {
            x = std::hint::black_box(x.rotate_left(5) ^ i);
        }
        x
    }

    pub fn greet(name: String) -> String {
        format!("hello, {name}")
    }
}

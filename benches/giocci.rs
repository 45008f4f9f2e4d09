//! How close giocci comes to the transport's own limit. Each group runs
//! giocci and its baseline side by side in the same process, so their ratio
//! holds on a noisy machine:
//!
//! - `remote_call`: a synchronous call of `add(i64, i64)`, against a raw
//!   Zenoh query and reply of the same sizes, within one session and across
//!   a loopback TCP link, with the engine already known and with an engine
//!   inquiry per call;
//! - `wasm_invoke`: one engine-side call in a fresh instance (driven by a
//!   minimal executor), against calling the same function natively;
//! - `async_throughput`: a stream of asynchronous calls, against a raw Zenoh
//!   pub/sub echo with the same payloads and as many in flight;
//! - `payload_size`: synchronous calls with 64 B, 64 KiB and 1 MiB arguments,
//!   against raw queries of the same sizes;
//! - `module_save`: saving a module the engine must compile, and one it has
//!   already compiled.
//!
//! Criterion measures each side in its own stretch of time, and on a shared
//! machine those stretches can differ by more than the gap being measured.
//! So `remote_call` and `async_throughput` end with the same comparison
//! interleaved, call by call or round by round, and print its ratio.
//!
//! Run with `cargo bench --bench giocci` (or `-- remote_call` for one
//! group). Everything listens on 127.0.0.1 only.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use giocci::codec;
use giocci::protocol::{ExecFunc, ExecResult, ModuleBlob, Reply};
use giocci::transport::{Mode, ZenohOptions};
use giocci_engine::embedded::Embedded;
use giocci_engine::{Limits, Runtime};
use tokio::runtime::Runtime as Tokio;

#[giocci::remote]
pub mod bench {
    pub fn add(a: i64, b: i64) -> i64 {
        a + b
    }

    pub fn echo(data: Vec<u8>) -> Vec<u8> {
        data
    }
}

const FIVE_SECONDS: Duration = Duration::from_secs(5);

/// Calls in flight in the throughput group, for giocci and the baseline.
const IN_FLIGHT: usize = 64;

/// Round trips per throughput iteration.
const ROUND_TRIPS: usize = 1_000;

fn tokio() -> Tokio {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Times `iters` sequential runs of `call`.
fn timed<F, Fut>(rt: &Tokio, iters: u64, mut call: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    rt.block_on(async {
        let started = Instant::now();
        for _ in 0..iters {
            call().await;
        }
        started.elapsed()
    })
}

/// Calls per side in the interleaved comparisons.
const PAIRED_CALLS: usize = 3_000;

/// Rounds per side in the interleaved throughput comparison.
const PAIRED_ROUNDS: usize = 9;

/// How long `work` takes, in seconds.
async fn time<T>(work: impl Future<Output = T>) -> f64 {
    let started = Instant::now();
    black_box(work.await);
    started.elapsed().as_secs_f64()
}

/// The median of `samples`.
fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Whether to run the interleaved comparison of `group`: when benchmarking
/// (`cargo bench` passes `--bench`; `cargo test` runs each benchmark once
/// without it), with no filter or a filter with an alternative (`a|b`) that
/// names part of the group or starts with it. Criterion options that take
/// a value (such as `--save-baseline name`) look like filters here and turn
/// the comparisons off.
fn selected(group: &str) -> bool {
    if !std::env::args().any(|arg| arg == "--bench") {
        return false;
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    filters.is_empty()
        || filters
            .iter()
            .flat_map(|filter| filter.split('|'))
            .any(|part| group.contains(part) || part.starts_with(group))
}

/// A client session in client mode, linked to `endpoint` over TCP.
async fn linked_session(endpoint: &str) -> zenoh::Session {
    let options = ZenohOptions {
        mode: Some(Mode::Client),
        connect: vec![endpoint.to_owned()],
        ..Default::default()
    };
    options.open().await.expect("client session")
}

/// A queryable on `session` that answers every query with `reply`.
async fn raw_responder(session: &zenoh::Session, key: &'static str, reply: Vec<u8>) {
    let queryable = session.declare_queryable(key).await.expect("queryable");
    tokio::spawn(async move {
        while let Ok(query) = queryable.recv_async().await {
            let _ = query.reply(key, reply.clone()).await;
        }
    });
}

/// One raw query and its reply.
async fn raw_query(session: &zenoh::Session, key: &str, payload: &[u8]) {
    let replies = session
        .get(key)
        .payload(payload.to_vec())
        .consolidation(zenoh::query::ConsolidationMode::None)
        .await
        .expect("get");
    let reply = replies.recv_async().await.expect("reply");
    black_box(reply.result().expect("ok reply").payload().len());
}

/// The sizes of giocci's request and reply for one call of `bench::add`.
fn add_sizes() -> (usize, usize) {
    let request = ExecFunc {
        client: "bench-client".into(),
        exec_id: u64::MAX / 3,
        module: "bench".into(),
        function: "add".into(),
        args: codec::encode(&(1i64, 2i64)).unwrap(),
        deadline_ms: 5_000,
    };
    let reply: Reply<ExecResult> = Ok(ExecResult {
        exec_id: u64::MAX / 3,
        value: codec::encode(&3i64).unwrap(),
    });
    (
        codec::encode(&request).unwrap().len(),
        codec::encode(&reply).unwrap().len(),
    )
}

async fn ready_client(builder: giocci::ClientBuilder) -> giocci::Client {
    let client = builder.open().await.expect("client");
    client.register_client().await.expect("register");
    client.save_module(&bench::module()).await.expect("save");
    client
}

fn remote_call(c: &mut Criterion) {
    let rt = tokio();
    let stack = rt.block_on(Embedded::start()).expect("embedded stack");
    let (request_len, reply_len) = add_sizes();
    let request = vec![7u8; request_len];
    rt.block_on(raw_responder(
        stack.session(),
        "bench/raw/call",
        vec![7u8; reply_len],
    ));
    let linked = rt.block_on(linked_session(stack.endpoint()));

    let same_session = |name: &str| stack.client(name).session(stack.session().clone());
    let over_tcp = |name: &str| stack.client(name);
    let clients = [
        (
            "one_session/known_engine",
            rt.block_on(ready_client(same_session("s-known"))),
        ),
        (
            "one_session/with_inquiry",
            rt.block_on(ready_client(same_session("s-ask").cache_engines(false))),
        ),
        (
            "loopback_tcp/known_engine",
            rt.block_on(ready_client(over_tcp("t-known"))),
        ),
        (
            "loopback_tcp/with_inquiry",
            rt.block_on(ready_client(over_tcp("t-ask").cache_engines(false))),
        ),
    ];

    let mut group = c.benchmark_group("remote_call");
    group.measurement_time(Duration::from_secs(4));
    for (name, session) in [
        ("one_session/raw_zenoh", stack.session()),
        ("loopback_tcp/raw_zenoh", &linked),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed(&rt, iters, || {
                    raw_query(session, "bench/raw/call", &request)
                })
            })
        });
    }
    for (name, client) in &clients {
        let remote = bench::remote(client);
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                timed(&rt, iters, || async move {
                    black_box(remote.add(black_box(1), black_box(2)).await.expect("add"));
                })
            })
        });
    }
    group.finish();

    if selected("remote_call") {
        // The same comparison with the calls interleaved, so that both sides
        // see the same moments of a noisy machine.
        let [_, _, (_, known), (_, ask)] = &clients;
        let (known, ask) = (bench::remote(known), bench::remote(ask));
        let mut raw = Vec::with_capacity(PAIRED_CALLS);
        let mut with_known = Vec::with_capacity(PAIRED_CALLS);
        let mut with_inquiry = Vec::with_capacity(PAIRED_CALLS);
        rt.block_on(async {
            for _ in 0..PAIRED_CALLS {
                raw.push(time(raw_query(&linked, "bench/raw/call", &request)).await);
                with_known.push(time(async { known.add(1, 2).await.expect("add") }).await);
                with_inquiry.push(time(async { ask.add(1, 2).await.expect("add") }).await);
            }
        });
        let raw = median(&mut raw);
        println!(
            "remote_call/loopback_tcp paired over {PAIRED_CALLS} interleaved calls: raw_zenoh {:.1} us, \
             known_engine {:.3}x, with_inquiry {:.3}x",
            raw * 1e6,
            median(&mut with_known) / raw,
            median(&mut with_inquiry) / raw,
        );
    }
    rt.block_on(stack.stop());
}

fn wasm_invoke(c: &mut Criterion) {
    let runtime = Runtime::new(Limits::default()).expect("runtime");
    let module = bench::module();
    let blob = ModuleBlob {
        name: "bench".into(),
        digest: module.digest(),
        wasm: module.wasm().to_vec(),
    };
    let compiled = runtime.compile(&blob).expect("compile");
    let args = codec::encode(&(1i64, 2i64)).unwrap();

    let mut group = c.benchmark_group("wasm_invoke");
    group.bench_function("native", |b| {
        b.iter(|| bench::add(black_box(1), black_box(2)))
    });
    group.bench_function("fresh_instance", |b| {
        b.iter(|| {
            let call = runtime.call(&compiled, "bench", "add", black_box(&args), FIVE_SECONDS);
            black_box(futures::executor::block_on(call).expect("call"))
        })
    });
    group.finish();
}

fn async_throughput(c: &mut Criterion) {
    let rt = tokio();
    let stack = rt.block_on(Embedded::start()).expect("embedded stack");
    let client = rt.block_on(ready_client(stack.client("throughput")));
    let (request_len, reply_len) = add_sizes();

    // The echo: the requester puts, a subscriber on the other side puts the
    // reply, and the requester's subscriber counts it.
    let linked = rt.block_on(linked_session(stack.endpoint()));
    let (replies, mut received) = tokio::sync::mpsc::unbounded_channel();
    rt.block_on(async {
        let echo = stack
            .session()
            .declare_subscriber("bench/raw/req")
            .await
            .expect("sub");
        let session = stack.session().clone();
        let reply = vec![7u8; reply_len];
        tokio::spawn(async move {
            while let Ok(_sample) = echo.recv_async().await {
                let _ = session.put("bench/raw/rep", reply.clone()).await;
            }
        });
        let counter = linked
            .declare_subscriber("bench/raw/rep")
            .await
            .expect("sub");
        tokio::spawn(async move {
            while let Ok(_sample) = counter.recv_async().await {
                let _ = replies.send(());
            }
        });
    });
    let request = vec![7u8; request_len];

    let mut group = c.benchmark_group("async_throughput");
    group.throughput(Throughput::Elements(ROUND_TRIPS as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    let remote = bench::remote(&client).with_in_flight(IN_FLIGHT);
    let giocci_round = || async {
        let inputs = (0..ROUND_TRIPS as i64).map(|i| (i, 1i64));
        let mut results = remote.add_stream(inputs);
        while let Some((_, result)) = results.next().await {
            black_box(result.expect("add"));
        }
    };
    group.bench_function("raw_zenoh_echo", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    raw_echo_round(&linked, &request, &mut received).await;
                }
                started.elapsed()
            })
        })
    });
    group.bench_function("giocci_stream", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    giocci_round().await;
                }
                started.elapsed()
            })
        })
    });
    group.finish();

    if selected("async_throughput") {
        // Rounds of ten streams each, alternating between the two sides.
        let (mut raw, mut giocci) = (Vec::new(), Vec::new());
        rt.block_on(async {
            for _ in 0..PAIRED_ROUNDS {
                let raw_rounds = async {
                    for _ in 0..10 {
                        raw_echo_round(&linked, &request, &mut received).await;
                    }
                };
                raw.push(time(raw_rounds).await);
                let giocci_rounds = async {
                    for _ in 0..10 {
                        giocci_round().await;
                    }
                };
                giocci.push(time(giocci_rounds).await);
            }
        });
        let rate = |seconds: f64| (10 * ROUND_TRIPS) as f64 / seconds;
        let (raw, giocci) = (rate(median(&mut raw)), rate(median(&mut giocci)));
        println!(
            "async_throughput paired over {PAIRED_ROUNDS} alternating rounds: raw_zenoh_echo \
             {:.0}/s, giocci_stream {:.0}/s, ratio {:.3}",
            raw,
            giocci,
            giocci / raw
        );
    }
    rt.block_on(stack.stop());
}

/// One round of the raw echo: [`ROUND_TRIPS`] requests put on `linked`,
/// at most [`IN_FLIGHT`] unanswered, each reply counted on `received`.
async fn raw_echo_round(
    linked: &zenoh::Session,
    request: &[u8],
    received: &mut tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    let (mut sent, mut done) = (0, 0);
    while done < ROUND_TRIPS {
        while sent < ROUND_TRIPS && sent - done < IN_FLIGHT {
            linked
                .put("bench/raw/req", request.to_vec())
                .await
                .expect("put");
            sent += 1;
        }
        received.recv().await.expect("echo");
        done += 1;
    }
}

fn payload_size(c: &mut Criterion) {
    let rt = tokio();
    let stack = rt.block_on(Embedded::start()).expect("embedded stack");
    let client = rt.block_on(ready_client(stack.client("payloads")));
    let linked = rt.block_on(linked_session(stack.endpoint()));
    let remote = bench::remote(&client);

    let mut group = c.benchmark_group("payload_size");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    for (label, size) in [("64B", 64usize), ("64KiB", 64 << 10), ("1MiB", 1 << 20)] {
        let data = vec![5u8; size];
        let encoded_len = codec::encode(&(data.clone(),)).unwrap().len();
        let key: &'static str = Box::leak(format!("bench/raw/payload/{label}").into_boxed_str());
        rt.block_on(raw_responder(stack.session(), key, vec![5u8; encoded_len]));
        let request = vec![5u8; encoded_len];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("raw_zenoh", label), &size, |b, _| {
            b.iter_custom(|iters| timed(&rt, iters, || raw_query(&linked, key, &request)))
        });
        group.bench_with_input(BenchmarkId::new("giocci", label), &size, |b, _| {
            b.iter_custom(|iters| {
                timed(&rt, iters, || {
                    let data = data.clone();
                    async move {
                        black_box(remote.echo(data).await.expect("echo"));
                    }
                })
            })
        });
    }
    group.finish();
    rt.block_on(stack.stop());
}

fn module_save(c: &mut Criterion) {
    let rt = tokio();
    let stack = rt.block_on(Embedded::start()).expect("embedded stack");
    let client = rt.block_on(ready_client(stack.client("saver")));
    let module = bench::module();

    let mut group = c.benchmark_group("module_save");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("known_digest", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || async {
                client.save_module(&module).await.expect("save");
            })
        })
    });
    // A custom section changes the digest without changing the code, so the
    // engine compiles every one anew.
    let mut serial = 0u64;
    group.bench_function("new_digest", |b| {
        b.iter_custom(|iters| {
            let fresh: Vec<giocci::Module> = (0..iters)
                .map(|_| {
                    serial += 1;
                    giocci::Module::from_wasm("bench", with_custom_section(module.wasm(), serial))
                        .unwrap()
                })
                .collect();
            rt.block_on(async {
                let started = Instant::now();
                for module in &fresh {
                    client.save_module(module).await.expect("save");
                }
                started.elapsed()
            })
        })
    });
    group.finish();
    rt.block_on(stack.stop());
}

/// `wasm` with a custom section holding `serial` appended.
fn with_custom_section(wasm: &[u8], serial: u64) -> Vec<u8> {
    let name = b"giocci-bench";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&serial.to_le_bytes());
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    out.push(section.len() as u8);
    out.extend_from_slice(&section);
    out
}

criterion_group!(
    benches,
    remote_call,
    wasm_invoke,
    async_throughput,
    payload_size,
    module_save
);
criterion_main!(benches);

//! Engines under hostile modules and hostile bytes: every misbehaviour ends
//! in a typed error for its caller, and the engine stays up for the next
//! call. The relay and the engine run in the test process.

use std::time::{Duration, Instant};

use giocci::{Error, Module, PayloadLimits};
use giocci_engine::Limits;
use giocci_engine::embedded::Embedded;
use tokio::time::timeout;

mod common;
use common::{LIMIT, open_registered};

#[giocci::remote]
pub mod hostile {
    /// Never returns.
    pub fn forever() -> u64 {
        let mut x = 0u64;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    /// Allocates `mib` MiB and touches it.
    pub fn hog(mib: u32) -> usize {
        let block = vec![7u8; (mib as usize) << 20];
        std::hint::black_box(&block).len()
    }

    /// Recurses `depth` levels deep.
    pub fn recurse(depth: u64) -> u64 {
        if depth == 0 {
            return 0;
        }
        1 + std::hint::black_box(recurse(std::hint::black_box(depth - 1)))
    }

    /// Recurses with a large frame, to exhaust the stack the guest keeps
    /// in its linear memory rather than the WebAssembly stack.
    pub fn recurse_wide(depth: u64) -> u64 {
        let frame = [depth as u8; 4_096];
        if depth == 0 {
            return u64::from(std::hint::black_box(&frame)[0]);
        }
        u64::from(std::hint::black_box(&frame)[1]) + recurse_wide(std::hint::black_box(depth - 1))
    }

    pub fn fail(message: String) -> u8 {
        panic!("{message}")
    }

    pub fn add(a: i64, b: i64) -> i64 {
        a + b
    }

    pub fn echo(data: Vec<u8>) -> Vec<u8> {
        data
    }

    pub fn fill(len: u32) -> Vec<u8> {
        vec![1; len as usize]
    }

    pub fn spin(rounds: u64) -> u64 {
        let mut x = 0u64;
        for i in 0..rounds {
            x = std::hint::black_box(x.rotate_left(5) ^ i);
        }
        x
    }
}

async fn stack_with(limits: Limits) -> Embedded {
    let stack = Embedded::builder().engine_limits(limits).start();
    timeout(LIMIT, stack).await.unwrap().unwrap()
}

async fn ready(stack: &Embedded, name: &str) -> giocci::Client {
    let client = open_registered(stack.client(name).timeout(Duration::from_secs(30))).await;
    timeout(LIMIT, client.save_module(&hostile::module()))
        .await
        .unwrap()
        .unwrap();
    client
}

async fn still_works(client: &giocci::Client) {
    let sum = timeout(LIMIT, hostile::remote(client).add(20, 22))
        .await
        .unwrap();
    assert_eq!(sum.unwrap(), 42, "the engine must still answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_loops_hit_the_deadline_while_fast_calls_go_on() {
    let limits = Limits {
        deadline: Duration::from_millis(1_500),
        max_running: 8,
        ..Limits::default()
    };
    let stack = stack_with(limits).await;
    let client = ready(&stack, "loops").await;
    let remote = hostile::remote(&client);

    // Three endless calls, each followed by fast calls that must not wait
    // for it.
    let mut loops = Vec::new();
    let mut slowest_fast = Duration::ZERO;
    for round in 0..3i64 {
        loops.push(
            timeout(LIMIT, remote.forever_async())
                .await
                .unwrap()
                .unwrap(),
        );
        for i in 0..5 {
            let started = Instant::now();
            assert_eq!(
                timeout(LIMIT, remote.add(round, i)).await.unwrap().unwrap(),
                round + i
            );
            slowest_fast = slowest_fast.max(started.elapsed());
        }
    }
    for call in loops {
        let err = timeout(LIMIT, call).await.unwrap().unwrap_err();
        assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "exec_func: hostile::forever ran past its deadline of 1500 ms and was stopped"
        );
    }
    // A fast call takes milliseconds; the loops run for a second and a half.
    assert!(
        slowest_fast < Duration::from_millis(750),
        "a fast call took {slowest_fast:?}"
    );
    still_works(&client).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tighter_client_timeout_stops_the_call_on_the_engine_too() {
    let stack = stack_with(Limits::default()).await;
    let client = ready(&stack, "tight").await;

    let started = Instant::now();
    let call = hostile::remote(&client)
        .with_timeout(Duration::from_millis(400))
        .forever_async();
    let err = timeout(LIMIT, timeout(LIMIT, call).await.unwrap().unwrap())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, Error::DeadlineExceeded { .. } | Error::Timeout { .. }),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The engine stopped the loop: its only slot is free again at once.
    still_works(&client).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stack_and_panics_are_typed_errors() {
    let limits = Limits {
        memory: 64 << 20,
        ..Limits::default()
    };
    let stack = stack_with(limits).await;
    let client = ready(&stack, "faults").await;
    let remote = hostile::remote(&client);

    let err = timeout(LIMIT, remote.hog(1_024))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MemoryLimitExceeded {
                limit: 67_108_864,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "exec_func: hostile::hog exceeded the engine's memory limit of 67108864 bytes"
    );
    assert_eq!(
        remote.hog(16).await.unwrap(),
        16 << 20,
        "memory under the cap is fine"
    );

    let err = timeout(LIMIT, remote.recurse(u64::MAX))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::StackOverflow { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "exec_func: hostile::recurse overflowed its stack on the engine"
    );
    assert_eq!(remote.recurse(1_000).await.unwrap(), 1_000);
    let err = timeout(LIMIT, remote.recurse_wide(1_000_000))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::StackOverflow { .. }), "{err:?}");
    assert_eq!(remote.recurse_wide(10).await.unwrap(), 55);

    let err = timeout(LIMIT, remote.fail("out of cheese".into()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::GuestPanicked { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "exec_func: hostile::fail panicked on the engine; out of cheese"
    );
    still_works(&client).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_runs_out() {
    let limits = Limits {
        fuel: Some(5_000_000),
        ..Limits::default()
    };
    let stack = stack_with(limits).await;
    let client = ready(&stack, "fuel").await;

    let err = timeout(LIMIT, hostile::remote(&client).spin(1_000_000_000))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::FuelExhausted {
                fuel: 5_000_000,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "exec_func: hostile::spin used up its fuel (5000000 units) and was stopped"
    );
    still_works(&client).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_past_the_queue_get_engine_busy_and_the_rest_complete() {
    let limits = Limits {
        max_running: 1,
        max_queued: 2,
        ..Limits::default()
    };
    let stack = stack_with(limits).await;
    let client = ready(&stack, "crowd").await;
    let remote = hostile::remote(&client);
    let rounds = 400_000_000;
    let expected = remote.spin(rounds).await.unwrap();

    let mut calls = Vec::new();
    for _ in 0..10 {
        calls.push(
            timeout(LIMIT, remote.spin_async(rounds))
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let (mut done, mut busy) = (0, 0);
    for call in calls {
        match timeout(LIMIT, call).await.unwrap() {
            Ok(value) => {
                assert_eq!(value, expected);
                done += 1;
            }
            Err(Error::EngineBusy { engine, .. }) => {
                assert_eq!(engine, "giocci-engine");
                busy += 1;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(done + busy, 10);
    assert!(
        done >= 3,
        "at least the running and the queued calls complete: {done}"
    );
    assert!(
        busy >= 1,
        "calls past the queue are refused: {busy} busy, {done} done"
    );
    still_works(&client).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_up_to_the_limits_arrive_intact_and_larger_ones_are_refused() {
    let payload = PayloadLimits {
        args: 64 << 10,
        result: 64 << 10,
        ..PayloadLimits::default()
    };
    let stack = stack_with(Limits {
        payload,
        ..Limits::default()
    })
    .await;
    let client = ready(&stack, "payloads").await;
    let remote = hostile::remote(&client);

    // Encoded, a Vec<u8> is its bytes plus a length prefix of up to 9 bytes.
    let largest: Vec<u8> = (0..(64 << 10) - 9).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        timeout(LIMIT, remote.echo(largest.clone()))
            .await
            .unwrap()
            .unwrap(),
        largest
    );

    let err = remote.echo(vec![0; 70 << 10]).await.unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "exec_func: arguments of 71685 bytes exceeds the limit of 65536 bytes"
    );
    let err = remote.fill(70 << 10).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec_func: result of 71685 bytes exceeds the limit of 65536 bytes"
    );

    // The client refuses before sending anything over its own limits.
    let small = PayloadLimits {
        module: 1_000,
        args: 1_000,
        ..PayloadLimits::default()
    };
    let limited = open_registered(stack.client("limited").payload_limits(small)).await;
    let err = limited.save_module(&hostile::module()).await.unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("save_module: module of "),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with(" bytes exceeds the limit of 1000 bytes"),
        "{err}"
    );
    let err = hostile::remote(&limited)
        .echo(vec![0; 2_000])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec_func: arguments of 2003 bytes exceeds the limit of 1000 bytes"
    );
    still_works(&client).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_one_engine_refuses_is_saved_nowhere() {
    let mut stack = timeout(LIMIT, Embedded::builder().without_engine().start())
        .await
        .unwrap()
        .unwrap();
    timeout(LIMIT, stack.start_engine("roomy"))
        .await
        .unwrap()
        .unwrap();
    let payload = PayloadLimits {
        module: 1_000,
        ..PayloadLimits::default()
    };
    let cramped = Limits {
        payload,
        ..Limits::default()
    };
    timeout(LIMIT, stack.start_engine_with("cramped", cramped))
        .await
        .unwrap()
        .unwrap();
    let client = open_registered(stack.client("half")).await;

    let err = timeout(LIMIT, client.save_module(&hostile::module()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err:?}");
    // Round robin reaches both engines: neither has the module.
    for _ in 0..4 {
        let err = hostile::remote(&client).add(1, 2).await.unwrap_err();
        assert!(matches!(err, Error::ModuleNotSaved { .. }), "{err:?}");
    }
    stack.stop().await;
}

/// A WebAssembly module in the text format.
fn wat(name: &str, text: &str) -> Module {
    Module::from_wasm(name, wat::parse_str(text).expect("valid text format")).unwrap()
}

/// The guest ABI's required exports, for crafted modules.
const ABI: &str = r#"
    (memory (export "memory") 1)
    (func (export "giocci_abi_version") (result i32) i32.const 1)
    (func (export "giocci_alloc") (param i32) (result i32) i32.const 1024)
    (func (export "giocci_panic_message") (result i64) i64.const 0)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_modules_are_refused_when_saved() {
    let stack = stack_with(Limits {
        memory: 1 << 20,
        ..Limits::default()
    })
    .await;
    let client = open_registered(stack.client("crafted")).await;

    let cases = [
        (
            Module::from_wasm("junk", b"this is not wasm".to_vec()).unwrap(),
            "save_module: module 'junk' was refused; it is not a WebAssembly module",
        ),
        (
            wat("empty", "(module)"),
            "save_module: module 'empty' was refused; it does not export the giocci guest ABI: \
             missing memory `memory`, function `giocci_alloc(i32) -> i32`, function \
             `giocci_abi_version() -> i32`",
        ),
        (
            wat(
                "importer",
                &format!(r#"(module (import "env" "clock" (func)) {ABI})"#),
            ),
            "save_module: module 'importer' was refused; it imports `env::clock`, and engines \
             provide no imports",
        ),
        (
            wat(
                "future",
                r#"(module (memory (export "memory") 1)
                    (func (export "giocci_abi_version") (result i32) i32.const 99)
                    (func (export "giocci_alloc") (param i32) (result i32) i32.const 0))"#,
            ),
            "save_module: module 'future' was refused; it was built for guest ABI 99; this \
             engine runs ABI 1",
        ),
        (
            wat(
                "starter",
                &format!("(module {ABI} (func $boom unreachable) (start $boom))"),
            ),
            "save_module: module 'starter' was refused; cannot be instantiated within the \
             engine's limits",
        ),
        (
            wat(
                "greedy",
                r#"(module (memory (export "memory") 100)
                    (func (export "giocci_abi_version") (result i32) i32.const 1)
                    (func (export "giocci_alloc") (param i32) (result i32) i32.const 0))"#,
            ),
            "save_module: module 'greedy' was refused; it does not compile within the engine's \
             limits: module memory does not fit",
        ),
    ];
    for (module, expected) in cases {
        let err = timeout(LIMIT, client.save_module(&module))
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidModule { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with(expected),
            "{err}\nexpected: {expected}"
        );
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_guests_get_typed_errors() {
    let stack = stack_with(Limits::default()).await;
    let client = open_registered(stack.client("liars")).await;
    let liar = wat(
        "liar",
        &format!(
            r#"(module {ABI}
                (func (export "giocci_fn_out_of_bounds") (param i32 i32) (result i64)
                    i64.const 0x7fff000000001000)
                (func (export "giocci_fn_empty") (param i32 i32) (result i64) i64.const 0)
                (func (export "giocci_fn_bad_tag") (param i32 i32) (result i64)
                    (i32.store8 (i32.const 2048) (i32.const 9))
                    i64.const 0x0000080000000001)
                (func (export "giocci_fn_trap") (param i32 i32) (result i64)
                    (i32.div_u (i32.const 1) (i32.const 0)) drop i64.const 0))"#
        ),
    );
    timeout(LIMIT, client.save_module(&liar))
        .await
        .unwrap()
        .unwrap();

    let cases = [
        (
            "out_of_bounds",
            "liar::out_of_bounds could not run; the guest returned output out of bounds",
        ),
        (
            "empty",
            "liar::empty could not run; the guest returned no output",
        ),
        (
            "bad_tag",
            "liar::bad_tag could not run; the guest returned unknown output tag 9",
        ),
        (
            "trap",
            "exec_func: liar::trap trapped on the engine; wasm trap: integer divide by zero",
        ),
    ];
    for (function, expected) in cases {
        let err = timeout(LIMIT, client.exec_func::<_, u8>("liar", function, &()))
            .await
            .unwrap();
        let message = err.unwrap_err().to_string();
        assert!(message.contains(expected), "{function}: {message}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_crafted_bytes_on_every_key() {
    use giocci::codec;
    use giocci::protocol::{
        ExecFunc, ExecResult, InquiryEngine, KeyMap, ModuleUpdate, PushModule, RegisterClient,
        RegisterEngine, Reply, SaveModule,
    };

    let stack = stack_with(Limits::default()).await;
    let client = ready(&stack, "target").await;
    let keys = KeyMap::default();
    let session = stack.session();
    let mut bytes = common::Bytes::seeded(0x5eed);

    let exec = ExecFunc {
        client: "target".into(),
        exec_id: 1,
        module: "hostile".into(),
        function: "add".into(),
        args: codec::encode(&(1i64, 2i64)).unwrap(),
        deadline_ms: 1_000,
    };
    let module = hostile::module();
    let blob = giocci::protocol::ModuleBlob {
        name: "hostile".into(),
        digest: module.digest(),
        wasm: module.wasm()[..512].to_vec(),
    };
    let queried: [(String, Vec<u8>); 6] = [
        (
            keys.register_client("giocci-relay"),
            codec::encode(&RegisterClient { client: "c".into() }).unwrap(),
        ),
        (
            keys.register_engine("giocci-relay"),
            codec::encode(&RegisterEngine { engine: "e".into() }).unwrap(),
        ),
        (
            keys.save_module_client("giocci-relay"),
            codec::encode(&SaveModule {
                client: "target".into(),
                module: blob.clone(),
                timeout_ms: 500,
            })
            .unwrap(),
        ),
        (
            keys.inquiry_engine("giocci-relay"),
            codec::encode(&InquiryEngine {
                client: "target".into(),
                module: "hostile".into(),
            })
            .unwrap(),
        ),
        (
            keys.save_module_relay("giocci-engine"),
            codec::encode(&PushModule {
                relay: "giocci-relay".into(),
                client: "other".into(),
                update: ModuleUpdate::Save(blob),
            })
            .unwrap(),
        ),
        (
            keys.exec_func("giocci-engine"),
            codec::encode(&exec).unwrap(),
        ),
    ];

    let started = Instant::now();
    let mut sent = 0;
    for (key, valid) in &queried {
        let mut payloads: Vec<Vec<u8>> = (0..60).map(|_| bytes.any(2_048)).collect();
        payloads.extend(bytes.mutations(valid));
        for payload in payloads {
            let replies = timeout(LIMIT, session.get(key).payload(payload).timeout(LIMIT))
                .await
                .unwrap()
                .unwrap();
            let reply = timeout(LIMIT, replies.recv_async()).await.unwrap();
            let reply = reply.expect("every query gets a reply");
            let answer = reply
                .result()
                .expect("replies are never Zenoh errors")
                .payload()
                .to_bytes();
            // Whatever the request, the reply is a well-formed `Reply`.
            let well_formed = codec::decode::<Reply<()>>(&answer).is_ok()
                || codec::decode::<Reply<String>>(&answer).is_ok()
                || codec::decode::<Reply<ExecResult>>(&answer).is_ok();
            assert!(well_formed, "{key}: malformed reply");
            sent += 1;
        }
    }

    // Puts have no reply: the engine and the client drop what they cannot
    // decode.
    let put_keys = [
        keys.exec_func_async_request("giocci-engine"),
        keys.exec_func_async_result("target"),
    ];
    for key in &put_keys {
        let mut payloads: Vec<Vec<u8>> = (0..60).map(|_| bytes.any(2_048)).collect();
        payloads.extend(bytes.mutations(&codec::encode(&exec).unwrap()));
        for payload in payloads {
            timeout(LIMIT, session.put(key, payload))
                .await
                .unwrap()
                .unwrap();
            sent += 1;
        }
    }
    assert!(
        started.elapsed() < LIMIT,
        "hostile bytes took {:?}",
        started.elapsed()
    );
    assert!(sent > 500, "{sent}");

    still_works(&client).await;
    let call = timeout(LIMIT, hostile::remote(&client).add_async(2, 3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(timeout(LIMIT, call).await.unwrap().unwrap(), 5);
    assert_eq!(client.pending_async_calls(), 0);
    stack.stop().await;
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    giocci::codec::encode(value).unwrap()
}

#[test]
fn random_arguments_at_the_guest_boundary() {
    use giocci_engine::Runtime;

    let limits = Limits {
        deadline: Duration::from_millis(200),
        memory: 32 << 20,
        ..Limits::default()
    };
    let runtime = Runtime::new(limits).unwrap();
    let compiled = common::compile(&runtime, &hostile::module());

    let mut bytes = common::Bytes::seeded(0xab1);
    let started = Instant::now();
    let mut calls = 0;
    // Bounded in count and in time.
    while calls < 3_000 && started.elapsed() < Duration::from_secs(20) {
        let n = bytes.next_u64();
        // Well-formed arguments with random values, then raw random bytes.
        let well_formed = [
            ("add", encode(&(n as i64, bytes.next_u64() as i64))),
            ("echo", encode(&(bytes.any(4_096),))),
            ("fill", encode(&((n % (1 << 20)) as u32,))),
            ("hog", encode(&((n % 64) as u32,))),
            ("recurse", encode(&(n % 100_000,))),
            ("recurse_wide", encode(&(n % 1_000,))),
            (
                "fail",
                encode(&(String::from_utf8_lossy(&bytes.any(32)).into_owned(),)),
            ),
            ("spin", encode(&(n % 10_000_000,))),
        ];
        for (function, args) in well_formed {
            let raw = bytes.any(64);
            for args in [args, raw] {
                // Ok or a typed error; never a panic.
                let call = runtime.call(&compiled, "hostile", function, &args, ms(200));
                let _ = futures::executor::block_on(call);
                calls += 1;
            }
        }
    }
    assert!(calls >= 14, "{calls}");
    let args = giocci::codec::encode(&(20i64, 22i64)).unwrap();
    let value = runtime.call(&compiled, "hostile", "add", &args, Duration::from_secs(1));
    let value = futures::executor::block_on(value).unwrap();
    assert_eq!(giocci::codec::decode::<i64>(&value).unwrap(), 42);
}

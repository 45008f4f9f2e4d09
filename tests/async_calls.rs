//! Asynchronous calls over pub/sub and result streams, against a relay and
//! an engine running in the test process.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use giocci::Error;
use giocci_engine::embedded::Embedded;
use tokio::time::timeout;

mod common;
use common::{LIMIT, open_ready, shapes};

async fn ready(stack: &Embedded, name: &str, call_timeout: Duration) -> giocci::Client {
    open_ready(stack.client(name).timeout(call_timeout)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_call_delivers_its_result() {
    let stack = timeout(LIMIT, Embedded::start()).await.unwrap().unwrap();
    let client = ready(&stack, "async-one", Duration::from_secs(10)).await;
    let remote = shapes::remote(&client);

    let call = timeout(LIMIT, remote.add_async(1, 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.engine(), "giocci-engine");
    assert_eq!(timeout(LIMIT, call).await.unwrap().unwrap(), 3);

    let call = client
        .exec_func_async::<_, String>("shapes", "greet", &("async",))
        .await
        .unwrap();
    assert_eq!(call.await.unwrap(), "hello, async");

    // Failures come back typed, like synchronous ones.
    let call = remote.divide_async(1, 0).await.unwrap();
    let err = call.await.unwrap_err();
    assert!(matches!(err, Error::GuestPanicked { .. }), "{err:?}");
    let call = client
        .exec_func_async::<_, i64>("shapes", "nope", &())
        .await
        .unwrap();
    let err = call.await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec_func: function 'nope' is not defined in module 'shapes'"
    );

    assert_eq!(client.pending_async_calls(), 0);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_streamed_calls_each_matched_to_its_input() {
    let stack = timeout(LIMIT, Embedded::start()).await.unwrap().unwrap();
    let client = ready(&stack, "stream", Duration::from_secs(30)).await;
    let inputs: Vec<(i64, i64)> = (0..1_000).map(|i| (i, i * 1_000)).collect();

    let stream = shapes::remote(&client)
        .with_in_flight(32)
        .add_stream(inputs.clone());
    let results: Vec<(usize, giocci::Result<i64>)> = timeout(LIMIT, stream.collect())
        .await
        .expect("stream timed out");

    assert_eq!(results.len(), 1_000);
    let mut seen = HashSet::new();
    for (index, result) in results {
        let (a, b) = inputs[index];
        assert_eq!(result.unwrap(), a + b, "input {index}");
        assert!(seen.insert(index), "index {index} delivered twice");
    }
    assert_eq!(client.pending_async_calls(), 0);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sync_and_async_calls_each_end_once_with_their_own_result() {
    let stack = timeout(LIMIT, Embedded::start()).await.unwrap().unwrap();
    let client = ready(&stack, "mixed", Duration::from_secs(30)).await;

    let mut tasks = Vec::new();
    for task in 0..16i64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let remote = shapes::remote(&client);
            let mut answers = Vec::new();
            for call in 0..25i64 {
                let (a, b) = (task * 1_000, call);
                let sum = if call % 2 == 0 {
                    remote.add(a, b).await
                } else {
                    remote.add_async(a, b).await.unwrap().await
                };
                answers.push((a + b, sum.unwrap()));
            }
            answers
        }));
    }
    let mut count = 0;
    for task in tasks {
        for (expected, got) in timeout(LIMIT, task).await.unwrap().unwrap() {
            assert_eq!(expected, got);
            count += 1;
        }
    }
    assert_eq!(count, 16 * 25);
    assert_eq!(client.pending_async_calls(), 0);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_that_never_comes_times_out_and_leaves_nothing_pending() {
    let mut stack = timeout(LIMIT, Embedded::start()).await.unwrap().unwrap();
    let client = ready(&stack, "stopped-engine", Duration::from_secs(10)).await;

    // The relay still hands out the engine, but nothing answers any more.
    stack.stop_engine("giocci-engine").await;
    let call_timeout = Duration::from_millis(800);
    let started = Instant::now();
    let call = shapes::remote(&client)
        .with_timeout(call_timeout)
        .add_async(1, 2);
    let call = timeout(LIMIT, call).await.unwrap().unwrap();
    assert_eq!(client.pending_async_calls(), 1);
    let err = timeout(LIMIT, call).await.unwrap().unwrap_err();
    let waited = started.elapsed();

    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "exec_func_async: engine 'giocci-engine' did not answer within 800 ms; it may be busy \
         or not running"
    );
    assert!(waited >= call_timeout, "gave up early, after {waited:?}");
    assert!(
        waited < call_timeout + Duration::from_secs(2),
        "gave up late, after {waited:?}"
    );
    assert_eq!(client.pending_async_calls(), 0);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_result_is_dropped_not_delivered_to_another_call() {
    let stack = timeout(LIMIT, Embedded::start()).await.unwrap().unwrap();
    let client = ready(&stack, "late", Duration::from_secs(30)).await;
    let remote = shapes::remote(&client);

    // About half a second of work on this machine's engine, given 200 ms.
    let slow = remote
        .with_timeout(Duration::from_millis(200))
        .spin_async(1_000_000_000);
    let slow = timeout(LIMIT, slow).await.unwrap().unwrap();
    let err = timeout(LIMIT, slow).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(client.pending_async_calls(), 0);

    // Calls made while the late result is on its way, and after it came,
    // get their own results.
    let window = Instant::now();
    let mut round = 0i64;
    while window.elapsed() < Duration::from_secs(3) && round < 1_000 {
        let mut calls = Vec::new();
        for i in 0..8 {
            calls.push((i, remote.add_async(round, i).await.unwrap()));
        }
        for (i, call) in calls {
            assert_eq!(timeout(LIMIT, call).await.unwrap().unwrap(), round + i);
        }
        round += 1;
    }
    assert_eq!(client.pending_async_calls(), 0);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_call_forgets_it() {
    let mut stack = timeout(LIMIT, Embedded::start()).await.unwrap().unwrap();
    let client = ready(&stack, "dropper", Duration::from_secs(10)).await;
    stack.stop_engine("giocci-engine").await;

    let call = shapes::remote(&client).add_async(1, 2).await.unwrap();
    assert_eq!(client.pending_async_calls(), 1);
    drop(call);
    assert_eq!(client.pending_async_calls(), 0);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_engine_sync_and_async_calls_fail_at_once() {
    let stack = timeout(LIMIT, Embedded::builder().without_engine().start())
        .await
        .unwrap()
        .unwrap();
    let client = ready(&stack, "no-engine", Duration::from_secs(10)).await;
    let remote = shapes::remote(&client);

    let started = Instant::now();
    let err = timeout(LIMIT, remote.add_async(1, 2))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::EngineNotRegistered { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "inquiry_engine: no engine registered with relay 'giocci-relay'"
    );
    let err = timeout(LIMIT, remote.add(1, 2)).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::EngineNotRegistered { .. }), "{err:?}");
    // "At once": far below the 10 s call timeout.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(client.pending_async_calls(), 0);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_is_remembered_until_it_fails() {
    let stack = Embedded::builder().without_engine().start();
    let mut stack = timeout(LIMIT, stack).await.unwrap().unwrap();
    timeout(LIMIT, stack.start_engine("engine-a"))
        .await
        .unwrap()
        .unwrap();
    timeout(LIMIT, stack.start_engine("engine-b"))
        .await
        .unwrap()
        .unwrap();

    async fn engines_used(client: &giocci::Client, calls: i64) -> HashSet<String> {
        let mut used = HashSet::new();
        for i in 0..calls {
            let call = shapes::remote(client).add_async(i, i).await.unwrap();
            used.insert(call.engine().to_owned());
            assert_eq!(timeout(LIMIT, call).await.unwrap().unwrap(), 2 * i);
        }
        used
    }

    // Without the cache every call asks the relay, which takes turns.
    let asking = open_ready(stack.client("asking").cache_engines(false)).await;
    assert_eq!(engines_used(&asking, 6).await.len(), 2);

    // With it, the first pick serves every later call.
    let client = ready(&stack, "remembering", Duration::from_secs(10)).await;
    let used = engines_used(&client, 6).await;
    assert_eq!(used.len(), 1, "{used:?}");
    let first = used.into_iter().next().unwrap();

    // When that engine goes, the next call falls back to the relay's pick.
    stack.stop_engine(&first).await;
    assert_eq!(
        timeout(LIMIT, shapes::remote(&client).add(2, 2))
            .await
            .unwrap()
            .unwrap(),
        4
    );
    let now = engines_used(&client, 3).await;
    assert_eq!(now.len(), 1);
    assert!(!now.contains(&first), "{now:?} still uses {first}");
    stack.stop().await;
}

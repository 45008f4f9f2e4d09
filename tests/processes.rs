//! The relay and the engine as separate processes, started from the built
//! `giocci-relay` and `giocci-engine` binaries, with the client in the test.

use std::time::Duration;

use giocci::Error;
use giocci::transport::free_loopback_endpoint;
use tokio::time::timeout;

mod common;
use common::processes::{start_engine, start_relay};
use common::shapes;

const LIMIT: Duration = Duration::from_secs(30);

async fn client(name: &str, relay: &str, endpoint: &str) -> giocci::Client {
    let client = giocci::Client::builder(name)
        .relay(relay)
        .connect(endpoint)
        .timeout(Duration::from_secs(5))
        .open();
    let client = timeout(LIMIT, client).await.unwrap().unwrap();
    timeout(LIMIT, client.register_client())
        .await
        .unwrap()
        .unwrap();
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_across_processes() {
    let endpoint = free_loopback_endpoint().unwrap();
    let _relay = start_relay("relay-p1", &endpoint, &[]);
    let mut engine = start_engine("engine-p1", "relay-p1", &endpoint, &[]);

    let client = client("client-p1", "relay-p1", &endpoint).await;
    timeout(LIMIT, client.save_module(&shapes::module()))
        .await
        .unwrap()
        .unwrap();
    let remote = shapes::remote(&client);

    assert_eq!(timeout(LIMIT, remote.add(1, 2)).await.unwrap().unwrap(), 3);
    // The answer comes from a 32-bit WebAssembly instance, not this process.
    assert_eq!(remote.runs_on().await.unwrap(), "wasm32");
    let rect = shapes::Shape::Rect {
        width: 3.0,
        height: 4.0,
    };
    let summary = remote.summarize(vec![rect.clone()]).await.unwrap();
    assert_eq!(summary.count, 1);
    assert_eq!(summary.total_area, 12.0);
    assert_eq!(summary.largest, Some(rect));

    let err = client
        .exec_func::<_, i64>("shapes", "nope", &(1i64,))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FunctionNotDefined { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "exec_func: function 'nope' is not defined in module 'shapes'"
    );

    // With the engine gone, the same call cannot succeed: it ran there.
    engine.kill();
    assert!(!engine.is_running());
    let err = timeout(LIMIT, remote.add(1, 2)).await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::ConnectionFailed { .. } | Error::Timeout { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("engine 'engine-p1'"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_process_started_after_save_runs_the_module() {
    let endpoint = free_loopback_endpoint().unwrap();
    let _relay = start_relay("relay-p2", &endpoint, &[]);
    let client = client("client-p2", "relay-p2", &endpoint).await;
    timeout(LIMIT, client.save_module(&shapes::module()))
        .await
        .unwrap()
        .unwrap();

    let err = shapes::remote(&client).add(1, 2).await.unwrap_err();
    assert!(matches!(err, Error::EngineNotRegistered { .. }), "{err:?}");

    let _engine = start_engine("engine-p2", "relay-p2", &endpoint, &[]);
    let sum = timeout(LIMIT, shapes::remote(&client).add(30, 12))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sum, 42);
}

//! GiocciPlatform's integration scenarios with the relay and the engine as
//! separate processes, started from the built `giocci-relay` and
//! `giocci-engine` binaries, and the client in the test. Everything listens
//! and connects on 127.0.0.1 only.

use std::time::{Duration, Instant};

use giocci::Error;
use giocci::transport::free_loopback_endpoint;
use tokio::time::timeout;

mod common;
use common::processes::{Binary, Service, run_to_exit, start_engine, start_relay};
use common::{LIMIT, open_registered, shapes};

/// About a second and a half of work for the engine on this machine.
const SLOW_ROUNDS: u64 = 2_500_000_000;

fn builder(name: &str, relay: &str, endpoint: &str) -> giocci::ClientBuilder {
    giocci::Client::builder(name)
        .relay(relay)
        .connect(endpoint)
        .timeout(Duration::from_secs(5))
}

/// A relay and an engine process named after `tag`, and a registered
/// client that has saved `shapes`.
async fn stack(tag: &str, engine_args: &[&str]) -> (Service, Service, giocci::Client) {
    let endpoint = free_loopback_endpoint().unwrap();
    let relay_name = format!("relay-{tag}");
    let relay = start_relay(&relay_name, &endpoint, &[]);
    let engine = start_engine(
        &format!("engine-{tag}"),
        &relay_name,
        &endpoint,
        engine_args,
    );
    let client = client(&format!("client-{tag}"), &relay_name, &endpoint).await;
    let saved = timeout(LIMIT, client.save_module(&shapes::module())).await;
    saved.unwrap().unwrap();
    (relay, engine, client)
}

async fn client(name: &str, relay: &str, endpoint: &str) -> giocci::Client {
    open_registered(builder(name, relay, endpoint)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_then_the_engine_dies() {
    let (_relay, mut engine, client) = stack("p1", &[]).await;
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

    let call = timeout(LIMIT, remote.add_async(1, 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(timeout(LIMIT, call).await.unwrap().unwrap(), 3);

    // With the engine gone, the same call fails within its timeout: it ran
    // there, not here.
    engine.kill();
    assert!(!engine.is_running());
    let started = Instant::now();
    let err = timeout(LIMIT, remote.add(1, 2)).await.unwrap().unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5) + Duration::from_secs(1));
    assert!(
        matches!(err, Error::ConnectionFailed { .. } | Error::Timeout { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("engine 'engine-p1'"), "{message}");
    assert!(
        message.contains("may not be running") || message.contains("or not running"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_started_after_register_but_before_save() {
    let endpoint = free_loopback_endpoint().unwrap();
    let _relay = start_relay("relay-p3", &endpoint, &[]);
    let client = client("client-p3", "relay-p3", &endpoint).await;

    let _engine = start_engine("engine-p3", "relay-p3", &endpoint, &[]);
    timeout(LIMIT, client.save_module(&shapes::module()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        timeout(LIMIT, shapes::remote(&client).add(4, 5))
            .await
            .unwrap()
            .unwrap(),
        9
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_started_after_save_and_no_engine_before() {
    let endpoint = free_loopback_endpoint().unwrap();
    let _relay = start_relay("relay-p2", &endpoint, &[]);
    let client = client("client-p2", "relay-p2", &endpoint).await;
    timeout(LIMIT, client.save_module(&shapes::module()))
        .await
        .unwrap()
        .unwrap();

    let err = shapes::remote(&client).add(1, 2).await.unwrap_err();
    assert!(matches!(err, Error::EngineNotRegistered { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "inquiry_engine: no engine registered with relay 'relay-p2'"
    );
    let err = shapes::remote(&client).add_async(1, 2).await.unwrap_err();
    assert!(matches!(err, Error::EngineNotRegistered { .. }), "{err:?}");

    let _engine = start_engine("engine-p2", "relay-p2", &endpoint, &[]);
    let sum = timeout(LIMIT, shapes::remote(&client).add(30, 12))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sum, 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_not_started_fails_registration_within_its_timeout() {
    // Nothing listens on this endpoint.
    let endpoint = free_loopback_endpoint().unwrap();
    let call_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let client = builder("client-p4", "relay-p4", &endpoint)
        .timeout(call_timeout)
        .open();
    let err = timeout(LIMIT, client).await.unwrap().unwrap_err();
    assert!(started.elapsed() < call_timeout, "{:?}", started.elapsed());
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "open: cannot reach {endpoint} to talk to relay 'relay-p4'; the relay (or the Zenoh \
             router in front of it) may not be running"
        )
    );

    // Reachable router, but no relay of that name: registration says so.
    let _other = start_relay("another-relay", &endpoint, &[]);
    let client = builder("client-p4", "relay-p4", &endpoint)
        .timeout(call_timeout)
        .open();
    let client = timeout(LIMIT, client).await.unwrap().unwrap();
    let started = Instant::now();
    let err = timeout(LIMIT, client.register_client())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        started.elapsed() < call_timeout + Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::ConnectionFailed { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "register_client: no answer from relay 'relay-p4'; it may not be running"
    );

    // An engine without its relay gives up after its registration timeout.
    let args = [
        "--name",
        "engine-p4",
        "--relay",
        "relay-p4",
        "--connect",
        &endpoint,
    ];
    let (status, stderr) = run_to_exit(
        Binary::Engine,
        &[&args[..], &["--register-timeout-ms", "1000"]].concat(),
        LIMIT,
    );
    assert!(!status.success());
    assert!(
        stderr.contains(
            "giocci-engine: engine 'engine-p4' could not register; register_engine: no answer \
             from relay 'relay-p4'; it may not be running"
        ),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stacks_with_different_prefixes_never_see_each_other() {
    // Stack A's relay is the router both stacks' traffic crosses; stack B's
    // relay is a second router connected to it. Both stacks use the same
    // relay, engine and client names.
    let endpoint_a = free_loopback_endpoint().unwrap();
    let endpoint_b = free_loopback_endpoint().unwrap();
    let _relay_a = start_relay("relay", &endpoint_a, &["--key-prefix", "lab-a"]);
    let _engine_a = start_engine("engine", "relay", &endpoint_a, &["--key-prefix", "lab-a"]);
    let _relay_b = start_relay(
        "relay",
        &endpoint_b,
        &["--key-prefix", "lab-b", "--connect", &endpoint_a],
    );

    let client_a = builder("client", "relay", &endpoint_a)
        .key_prefix("lab-a")
        .open();
    let client_a = timeout(LIMIT, client_a).await.unwrap().unwrap();
    client_a.register_client().await.unwrap();
    client_a.save_module(&shapes::module()).await.unwrap();
    assert_eq!(shapes::remote(&client_a).add(1, 2).await.unwrap(), 3);

    // B's relay has no engine: A's registration did not reach it.
    let client_b = builder("client", "relay", &endpoint_b)
        .key_prefix("lab-b")
        .open();
    let client_b = timeout(LIMIT, client_b).await.unwrap().unwrap();
    client_b.register_client().await.unwrap();
    let err = shapes::remote(&client_b).add(1, 2).await.unwrap_err();
    assert!(matches!(err, Error::EngineNotRegistered { .. }), "{err:?}");

    // B's engine has no module: A's save did not reach it, and B's call did
    // not reach A's engine, which has the module.
    let _engine_b = start_engine("engine", "relay", &endpoint_b, &["--key-prefix", "lab-b"]);
    let err = shapes::remote(&client_b).add(1, 2).await.unwrap_err();
    assert!(matches!(err, Error::ModuleNotSaved { .. }), "{err:?}");
    let err = client_b
        .exec_func_async::<_, i64>("shapes", "add", &(1i64, 2i64))
        .await;
    let err = timeout(LIMIT, err.unwrap()).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::ModuleNotSaved { .. }), "{err:?}");

    client_b.save_module(&shapes::module()).await.unwrap();
    assert_eq!(shapes::remote(&client_b).add(2, 2).await.unwrap(), 4);
    assert_eq!(shapes::remote(&client_a).add(3, 3).await.unwrap(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_call_timeout_bounds_a_slow_function() {
    let (_relay, _engine, client) = stack("p5", &[]).await;

    let short = Duration::from_millis(300);
    let started = Instant::now();
    let err = shapes::remote(&client)
        .with_timeout(short)
        .spin(SLOW_ROUNDS)
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "exec_func: engine 'engine-p5' did not answer within 300 ms; it may be busy or not running"
    );
    assert!(
        waited >= short && waited < short + Duration::from_secs(1),
        "{waited:?}"
    );

    let long = Duration::from_secs(50);
    let value = shapes::remote(&client).with_timeout(long).spin(SLOW_ROUNDS);
    timeout(LIMIT, value)
        .await
        .unwrap()
        .expect("a long enough timeout gets the result");
}

#[test]
fn invalid_names_are_refused_at_start() {
    let limit = Duration::from_secs(30);
    let endpoint = free_loopback_endpoint().unwrap();

    let (status, stderr) = run_to_exit(
        Binary::Relay,
        &["--name", "bad/name", "--listen", &endpoint],
        limit,
    );
    assert!(!status.success());
    assert!(
        stderr.contains(
            "giocci-relay: cannot start relay; invalid relay name \"bad/name\"; only ASCII \
             letters, digits, '-', '_' and '.' are allowed"
        ),
        "{stderr}"
    );

    let args = [
        "--name",
        "engine",
        "--key-prefix",
        "lab/**",
        "--connect",
        &endpoint,
    ];
    let (status, stderr) = run_to_exit(Binary::Engine, &args, limit);
    assert!(!status.success());
    assert!(
        stderr.contains(
            "giocci-engine: cannot start engine; invalid key prefix \"lab/**\"; only ASCII \
             letters, digits, '-', '_' and '.' are allowed"
        ),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_calls_in_flight_then_exits() {
    let (_relay, mut engine, client) = stack("p6", &[]).await;
    let slow = tokio::spawn(async move {
        let remote = shapes::remote(&client).with_timeout(Duration::from_secs(30));
        remote.spin(SLOW_ROUNDS / 2).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    engine.terminate();

    // The call in flight finishes within the grace period and is answered.
    let value = timeout(LIMIT, slow).await.unwrap().unwrap();
    assert!(value.is_ok(), "{value:?}");
    let status = engine
        .wait_exit(Duration::from_secs(15))
        .expect("engine did not exit");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_calls_that_outlast_the_grace_period_with_an_error() {
    let (_relay, mut engine, client) = stack("p7", &["--shutdown-grace-ms", "100"]).await;
    let slow = tokio::spawn(async move {
        let remote = shapes::remote(&client).with_timeout(Duration::from_secs(30));
        remote.spin(SLOW_ROUNDS * 2).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    engine.terminate();

    let err = timeout(LIMIT, slow).await.unwrap().unwrap().unwrap_err();
    assert!(matches!(err, Error::Remote { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "exec_func: engine 'engine-p7' failed; engine 'engine-p7' is shutting down"
    );
    let status = engine
        .wait_exit(Duration::from_secs(15))
        .expect("engine did not exit");
    assert!(status.success(), "{status:?}");
}

#[test]
fn an_engine_with_an_unusable_configuration_fails_at_once() {
    // Builds the binaries first, so that the timing below is the engine's.
    let (status, _) = run_to_exit(Binary::Engine, &["--help"], Duration::from_secs(600));
    assert!(status.success());

    let started = Instant::now();
    let args = ["--zenoh-config", "/nonexistent/giocci-test.json5"];
    let (status, stderr) = run_to_exit(Binary::Engine, &args, Duration::from_secs(30));
    assert!(!status.success());
    assert!(
        stderr.contains(
            "giocci-engine: invalid Zenoh configuration; cannot read /nonexistent/giocci-test.json5"
        ),
        "{stderr}"
    );
    // Well before the ten seconds it would keep trying an unreachable relay.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

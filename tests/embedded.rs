//! The whole path, client to relay to engine, with the relay and the engine
//! running inside the test process on a loopback port.

use std::time::Duration;

use giocci::Error;
use giocci_engine::embedded::Embedded;
use tokio::time::timeout;

mod common;
use common::{LIMIT, open_ready, shapes};

async fn stack() -> Embedded {
    timeout(LIMIT, Embedded::start())
        .await
        .expect("stack start timed out")
        .expect("stack start")
}

async fn ready_client(stack: &Embedded, name: &str) -> giocci::Client {
    open_ready(stack.client(name)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path() {
    let stack = stack().await;
    let client = ready_client(&stack, "happy").await;
    let remote = shapes::remote(&client);

    assert_eq!(timeout(LIMIT, remote.add(1, 2)).await.unwrap().unwrap(), 3);
    assert_eq!(remote.runs_on().await.unwrap(), "wasm32");
    assert_eq!(shapes::runs_on(), "native");

    let rect = shapes::Shape::Rect {
        width: 2.0,
        height: 5.0,
    };
    assert_eq!(remote.area(rect.clone()).await.unwrap(), 10.0);
    let circle = shapes::Shape::Circle { radius: 2.0 };
    let summary = remote
        .summarize(vec![rect.clone(), circle.clone()])
        .await
        .unwrap();
    assert_eq!(summary, shapes::summarize(vec![rect, circle]));
    assert_eq!(
        remote.greet("giocci".into()).await.unwrap(),
        "hello, giocci"
    );

    // The dynamic form reaches the same function.
    let sum: i64 = client
        .exec_func("shapes", "add", &(40i64, 2i64))
        .await
        .unwrap();
    assert_eq!(sum, 42);

    client.close().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undefined_function_is_a_typed_error() {
    let stack = stack().await;
    let client = ready_client(&stack, "undefined").await;

    let err = timeout(
        LIMIT,
        client.exec_func::<_, i64>("shapes", "subtract", &(1i64, 2i64)),
    )
    .await
    .unwrap()
    .unwrap_err();
    match &err {
        Error::FunctionNotDefined { module, function } => {
            assert_eq!((module.as_str(), function.as_str()), ("shapes", "subtract"));
        }
        other => panic!("expected FunctionNotDefined, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "exec_func: function 'subtract' is not defined in module 'shapes'"
    );

    let err = client
        .exec_func::<_, i64>("geometry", "add", &(1i64, 2i64))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ModuleNotSaved { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "exec_func: module 'geometry' is not saved on engine 'giocci-engine'; save it first"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_failures_are_typed_and_the_module_keeps_working() {
    let stack = stack().await;
    let client = ready_client(&stack, "failures").await;
    let remote = shapes::remote(&client);

    let err = timeout(LIMIT, remote.divide(7, 0))
        .await
        .unwrap()
        .unwrap_err();
    match &err {
        Error::GuestPanicked {
            module,
            function,
            message,
        } => {
            assert_eq!((module.as_str(), function.as_str()), ("shapes", "divide"));
            assert_eq!(message, "cannot divide 7 by zero");
        }
        other => panic!("expected GuestPanicked, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "exec_func: shapes::divide panicked on the engine; cannot divide 7 by zero"
    );
    assert_eq!(remote.divide(7, 2).await.unwrap(), 3);

    // Arguments of the wrong shape are caught by the guest's decoder.
    let err = client
        .exec_func::<_, i64>("shapes", "add", &("one",))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadArguments { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("exec_func: arguments do not match shapes::add; "),
        "{err}"
    );

    // A result of the wrong type is caught by the client's decoder.
    let err = client
        .exec_func::<_, String>("shapes", "add", &(1i64, 2i64))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("exec_func: cannot decode the answer of engine 'giocci-engine'"),
        "{err}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_started_after_save_gets_the_module() {
    let mut stack = timeout(LIMIT, Embedded::builder().without_engine().start())
        .await
        .unwrap()
        .unwrap();
    let client = ready_client(&stack, "early").await;

    let err = client
        .exec_func::<_, i64>("shapes", "add", &(1i64, 2i64))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EngineNotRegistered { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "inquiry_engine: no engine registered with relay 'giocci-relay'"
    );

    timeout(LIMIT, stack.start_engine("late-engine"))
        .await
        .unwrap()
        .unwrap();
    let sum = timeout(LIMIT, shapes::remote(&client).add(2, 3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sum, 5);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_started_between_register_and_save_gets_the_module() {
    let mut stack = timeout(LIMIT, Embedded::builder().without_engine().start())
        .await
        .unwrap()
        .unwrap();
    let client = timeout(LIMIT, stack.client("between").open())
        .await
        .unwrap()
        .unwrap();
    timeout(LIMIT, client.register_client())
        .await
        .unwrap()
        .unwrap();
    timeout(LIMIT, stack.start_engine("engine-b"))
        .await
        .unwrap()
        .unwrap();
    timeout(LIMIT, client.save_module(&shapes::module()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shapes::remote(&client).add(20, 22).await.unwrap(), 42);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_before_registration_are_refused_locally() {
    let stack = stack().await;
    let client = timeout(LIMIT, stack.client("unregistered").open())
        .await
        .unwrap()
        .unwrap();

    let err = client.save_module(&shapes::module()).await.unwrap_err();
    assert!(matches!(err, Error::RelayNotRegistered { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "save_module: client 'unregistered' has not registered with relay 'giocci-relay'; \
         call register_client first"
    );
    let err = shapes::remote(&client).add(1, 2).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::RelayNotRegistered {
                operation: "exec_func",
                ..
            }
        ),
        "{err:?}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_is_not_there_is_reported() {
    let stack = stack().await;
    let client = timeout(
        LIMIT,
        stack
            .client("lost")
            .relay("no-such-relay")
            .timeout(Duration::from_secs(2))
            .open(),
    )
    .await
    .unwrap()
    .unwrap();
    let err = timeout(LIMIT, client.register_client())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, Error::ConnectionFailed { .. } | Error::Timeout { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message == "register_client: no answer from relay 'no-such-relay'; it may not be running"
            || message == "register_client: relay 'no-such-relay' did not answer within 2000 ms",
        "{message}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_do_not_see_each_others_modules() {
    let stack = stack().await;
    let owner = ready_client(&stack, "owner").await;
    let other = timeout(LIMIT, stack.client("other").open())
        .await
        .unwrap()
        .unwrap();
    other.register_client().await.unwrap();

    assert_eq!(shapes::remote(&owner).add(1, 1).await.unwrap(), 2);
    let err = shapes::remote(&other).add(1, 1).await.unwrap_err();
    assert!(matches!(err, Error::ModuleNotSaved { .. }), "{err:?}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_requests_get_decode_errors_and_the_relay_keeps_working() {
    use giocci::protocol::{KeyMap, RemoteError, Reply};

    let stack = stack().await;
    let keys = KeyMap::default();
    let session = stack.session();
    for key in [
        keys.register_client("giocci-relay"),
        keys.save_module_client("giocci-relay"),
        keys.inquiry_engine("giocci-relay"),
        keys.exec_func("giocci-engine"),
        keys.save_module_relay("giocci-engine"),
    ] {
        for payload in [
            vec![],
            vec![0xff; 64],
            vec![250, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
        ] {
            let replies = timeout(LIMIT, session.get(&key).payload(payload).timeout(LIMIT))
                .await
                .unwrap()
                .unwrap();
            let reply = timeout(LIMIT, replies.recv_async()).await.unwrap().unwrap();
            let bytes = reply.result().unwrap().payload().to_bytes().into_owned();
            let reply: Reply<()> = giocci::codec::decode(&bytes).unwrap_or(Ok(()));
            assert!(
                matches!(reply, Err(RemoteError::DecodeFailed { .. })),
                "{key}: {reply:?}"
            );
        }
    }

    let client = ready_client(&stack, "after-garbage").await;
    assert_eq!(shapes::remote(&client).add(1, 2).await.unwrap(), 3);
    stack.stop().await;
}

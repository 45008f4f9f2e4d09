//! `Vec<u8>` arguments and results: they cross between client, engine and
//! guest in one piece, with the same encoding as any other `Vec<u8>`.

use futures::StreamExt;
use giocci_engine::Limits;
use giocci_engine::embedded::Embedded;
use tokio::time::timeout;

mod common;
use common::{Bytes, LIMIT, open_saving, start_stack};

#[giocci::remote]
pub mod blobs {
    use serde::{Deserialize, Serialize};

    /// A named buffer whose bytes are encoded in one piece.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Named {
        pub name: String,
        #[serde(with = "giocci::codec::bytes")]
        pub data: Vec<u8>,
    }

    pub fn rename(named: Named, name: String) -> Named {
        Named { name, ..named }
    }
    pub fn echo(data: Vec<u8>) -> Vec<u8> {
        data
    }

    /// `data` reversed, with `tag` appended.
    pub fn reverse(tag: u8, data: std::vec::Vec<u8>) -> Vec<u8> {
        let mut out: Vec<u8> = data.into_iter().rev().collect();
        out.push(tag);
        out
    }

    pub fn checksum(data: Vec<u8>) -> u64 {
        data.iter().fold(0u64, |sum, &b| {
            sum.wrapping_mul(31).wrapping_add(u64::from(b))
        })
    }

    pub fn filled(len: u32, byte: u8) -> Vec<u8> {
        vec![byte; len as usize]
    }
}

/// Items whose names the generated stubs must not trip over.
#[giocci::remote]
#[allow(non_upper_case_globals)]
pub mod clashing {
    use serde::{Deserialize, Serialize};

    pub const bytes: u32 = 1;
    pub const index: usize = 2;
    pub const result: u8 = 3;
    pub const call: u8 = 4;
    pub const results: u8 = 5;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct I(pub u32);

    pub fn echo(data: Vec<u8>) -> Vec<u8> {
        data
    }

    pub fn twice(i: I) -> I {
        I(i.0 * 2)
    }
}

/// A module whose `Vec` is its own type.
#[giocci::remote]
pub mod own_vec {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Vec<T>(pub std::vec::Vec<T>);

    pub fn first(v: Vec<u8>) -> Option<u8> {
        v.0.first().copied()
    }

    pub fn wrap(b: u8) -> Vec<u8> {
        Vec(vec![b, b])
    }
}

async fn start(limits: Limits) -> Embedded {
    start_stack(Embedded::builder().engine_limits(limits)).await
}

async fn ready(stack: &Embedded, name: &str) -> giocci::Client {
    open_saving(stack.client(name), &blobs::module()).await
}

const SIZES: [usize; 7] = [0, 1, 250, 251, 65_535, 65_536, 1 << 20];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_vectors_round_trip_through_every_stub() {
    let stack = start(Limits::default()).await;
    let client = ready(&stack, "bytes").await;
    let remote = blobs::remote(&client);
    let mut bytes = Bytes::seeded(0xb17e5);

    for len in SIZES {
        let data = bytes.fill(len);
        let echoed = timeout(LIMIT, remote.echo(data.clone())).await.unwrap();
        assert_eq!(echoed.unwrap(), data, "echo of {len} bytes");

        let reversed = timeout(LIMIT, remote.reverse(9, data.clone()))
            .await
            .unwrap();
        assert_eq!(reversed.unwrap(), blobs::reverse(9, data.clone()));

        let sum = timeout(LIMIT, remote.checksum(data.clone())).await.unwrap();
        assert_eq!(sum.unwrap(), blobs::checksum(data.clone()));

        let call = timeout(LIMIT, remote.echo_async(data.clone()))
            .await
            .unwrap();
        let echoed = timeout(LIMIT, call.unwrap()).await.unwrap();
        assert_eq!(echoed.unwrap(), data, "asynchronous echo of {len} bytes");
    }

    let named = blobs::Named {
        name: "a".into(),
        data: bytes.fill(100_000),
    };
    let renamed = timeout(LIMIT, remote.rename(named.clone(), "b".into())).await;
    assert_eq!(renamed.unwrap().unwrap(), blobs::rename(named, "b".into()));

    let filled = timeout(LIMIT, remote.filled(300_000, 7)).await.unwrap();
    assert_eq!(filled.unwrap(), vec![7u8; 300_000]);

    let inputs: Vec<(u8, Vec<u8>)> = (0..40u8).map(|i| (i, bytes.any(5_000))).collect();
    let stream = remote.reverse_stream(inputs.clone()).collect::<Vec<_>>();
    let results = timeout(LIMIT, stream).await.unwrap();
    assert_eq!(results.len(), inputs.len());
    for (index, result) in results {
        let (tag, data) = inputs[index].clone();
        assert_eq!(result.unwrap(), blobs::reverse(tag, data), "item {index}");
    }

    client.close().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_vectors_keep_the_plain_encoding() {
    let stack = start(Limits::default()).await;
    let client = ready(&stack, "plain").await;
    let data = Bytes::seeded(77).fill(70_000);

    // The dynamic call encodes a plain `Vec<u8>`, one element at a time;
    // the guest takes it all the same, and its answer decodes as one.
    let args = (3u8, data.clone());
    let call = client.exec_func::<_, Vec<u8>>("blobs", "reverse", &args);
    let reversed = timeout(LIMIT, call).await.unwrap().unwrap();
    assert_eq!(reversed, blobs::reverse(3, data.clone()));

    let args = (data.clone(),);
    let call = client.exec_func_async::<_, Vec<u8>>("blobs", "echo", &args);
    let call = timeout(LIMIT, call).await.unwrap().unwrap();
    assert_eq!(timeout(LIMIT, call).await.unwrap().unwrap(), data);

    client.close().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_crosses_the_guest_without_a_decoding_step_per_byte() {
    // Fuel counts WebAssembly instructions. Decoding and encoding a
    // megabyte one element at a time takes over 70 million; in one piece,
    // the guest only copies it, about 3 million.
    let limits = Limits {
        fuel: Some(16_000_000),
        ..Limits::default()
    };
    let stack = start(limits).await;
    let client = ready(&stack, "fuel").await;
    let remote = blobs::remote(&client);

    let data = Bytes::seeded(5).fill(1 << 20);
    let echoed = timeout(LIMIT, remote.echo(data.clone())).await.unwrap();
    assert_eq!(echoed.unwrap(), data);
    let call = timeout(LIMIT, remote.echo_async(data.clone()))
        .await
        .unwrap();
    assert_eq!(timeout(LIMIT, call.unwrap()).await.unwrap().unwrap(), data);

    client.close().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_with_clashing_names_or_their_own_vec_work() {
    let stack = start(Limits::default()).await;
    let client = open_saving(stack.client("names"), &clashing::module()).await;
    let saved = timeout(LIMIT, client.save_module(&own_vec::module())).await;
    saved.expect("save timed out").expect("save");

    let remote = clashing::remote(&client);
    let echoed = timeout(LIMIT, remote.echo(vec![1, 2, 3])).await.unwrap();
    assert_eq!(echoed.unwrap(), [1, 2, 3]);
    let call = timeout(LIMIT, remote.echo_async(vec![4])).await.unwrap();
    assert_eq!(timeout(LIMIT, call.unwrap()).await.unwrap().unwrap(), [4]);
    let stream = remote
        .echo_stream([(vec![5],), (vec![6],)])
        .collect::<Vec<_>>();
    let mut results = timeout(LIMIT, stream).await.unwrap();
    results.sort_by_key(|(index, _)| *index);
    let values: Vec<Vec<u8>> = results.into_iter().map(|(_, r)| r.unwrap()).collect();
    assert_eq!(values, [vec![5], vec![6]]);
    let doubled = timeout(LIMIT, remote.twice(clashing::I(21))).await.unwrap();
    assert_eq!(doubled.unwrap(), clashing::I(42));

    let remote = own_vec::remote(&client);
    let first = timeout(LIMIT, remote.first(own_vec::Vec(vec![7, 8]))).await;
    assert_eq!(first.unwrap().unwrap(), Some(7));
    let wrapped = timeout(LIMIT, remote.wrap(9)).await.unwrap();
    assert_eq!(wrapped.unwrap(), own_vec::Vec(vec![9, 9]));

    client.close().await.unwrap();
    stack.stop().await;
}

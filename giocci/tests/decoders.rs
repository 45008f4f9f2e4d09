//! Property checks of every decoder on the wire: random, truncated, extended
//! and corrupted input decodes to a value or a `CodecError`, never a panic,
//! within a bounded time; every valid message decodes to itself.

use std::time::{Duration, Instant};

use giocci::codec::{self, CodecError};
use giocci::protocol::{
    AsyncResult, ExecFunc, ExecResult, InquiryEngine, ModuleBlob, ModuleUpdate, PushModule,
    RegisterClient, RegisterEngine, RemoteError, Reply, SaveModule,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// xorshift64*: deterministic, so a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() % (max as u64 + 1)) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn text(&mut self) -> String {
        String::from_utf8_lossy(&self.bytes(24)).into_owned()
    }
}

fn samples(rng: &mut Rng) -> Vec<Box<dyn Fn() -> Vec<u8>>> {
    let blob = ModuleBlob {
        name: rng.text(),
        digest: [rng.next() as u8; 32],
        wasm: rng.bytes(300),
    };
    let exec = ExecFunc {
        client: rng.text(),
        exec_id: rng.next(),
        module: rng.text(),
        function: rng.text(),
        args: rng.bytes(100),
        deadline_ms: rng.next(),
    };
    let failure = RemoteError::GuestTrapped {
        module: rng.text(),
        function: rng.text(),
        trap: rng.text(),
    };
    let (client, engine) = (rng.text(), rng.text());
    let save = SaveModule {
        client: rng.text(),
        module: blob.clone(),
        timeout_ms: rng.next(),
    };
    let push = PushModule {
        relay: rng.text(),
        client: rng.text(),
        update: ModuleUpdate::Save(blob),
    };
    let async_result = AsyncResult {
        exec_id: rng.next(),
        engine: rng.text(),
        reply: Ok(ExecResult {
            exec_id: rng.next(),
            value: rng.bytes(50),
        }),
    };
    let reply: Reply<String> = Err(failure);
    vec![
        Box::new(move || {
            checked(&RegisterClient {
                client: client.clone(),
            })
        }),
        Box::new(move || {
            checked(&RegisterEngine {
                engine: engine.clone(),
            })
        }),
        Box::new(move || checked(&save)),
        Box::new(move || checked(&push)),
        Box::new(move || {
            checked(&InquiryEngine {
                client: "c".into(),
                module: "m".into(),
            })
        }),
        Box::new(move || checked(&exec)),
        Box::new(move || checked(&async_result)),
        Box::new(move || checked(&reply)),
    ]
}

/// Encodes `value`, checks it decodes to itself, and returns the encoding.
fn checked<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) -> Vec<u8> {
    let bytes = codec::encode(value).unwrap();
    assert_eq!(&codec::decode::<T>(&bytes).unwrap(), value);
    bytes
}

/// Decodes `input` as every message type; none may panic.
fn decode_all(input: &[u8]) {
    fn one<T: DeserializeOwned>(input: &[u8]) {
        match codec::decode::<T>(input) {
            Ok(_) | Err(CodecError::Malformed(_) | CodecError::TrailingBytes { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    one::<RegisterClient>(input);
    one::<RegisterEngine>(input);
    one::<SaveModule>(input);
    one::<PushModule>(input);
    one::<InquiryEngine>(input);
    one::<ExecFunc>(input);
    one::<AsyncResult>(input);
    one::<Reply<()>>(input);
    one::<Reply<String>>(input);
    one::<Reply<ExecResult>>(input);
}

#[test]
fn every_decoder_survives_hostile_input() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    let mut inputs = 0u64;
    while inputs < 200_000 && started.elapsed() < Duration::from_secs(20) {
        decode_all(&rng.bytes(512));
        inputs += 1;

        for sample in samples(&mut rng) {
            let valid = sample();
            let cut = (rng.next() as usize) % (valid.len() + 1);
            decode_all(&valid[..cut]);

            let mut corrupted = valid.clone();
            for _ in 0..=(rng.next() % 4) {
                let at = (rng.next() as usize) % corrupted.len().max(1);
                if let Some(byte) = corrupted.get_mut(at) {
                    *byte ^= rng.next() as u8 | 1;
                }
            }
            decode_all(&corrupted);

            let mut extended = valid;
            extended.extend(rng.bytes(16));
            decode_all(&extended);
            inputs += 3;
        }
    }
    assert!(inputs > 1_000, "{inputs}");
}

#[test]
fn oversized_input_is_refused_whatever_the_type() {
    let big = vec![0u8; codec::MAX_MESSAGE_BYTES + 1];
    let err = codec::decode::<ExecFunc>(&big).unwrap_err();
    assert!(matches!(err, CodecError::TooLarge { .. }), "{err:?}");
}

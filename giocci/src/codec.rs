//! The one wire codec: serde values as bincode 2 (standard configuration).
//!
//! Every message that crosses Zenoh and every argument or result that crosses
//! the WebAssembly boundary goes through [`encode`] and [`decode`]. The
//! decoder is strict: it refuses input longer than [`MAX_MESSAGE_BYTES`],
//! malformed input, and input with bytes left over after the value. A length
//! prefix inside the input can make it reserve at most about twice the input's
//! own size, never what the prefix claims.

use std::fmt;

use bincode::config::{self, Configuration};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest encoded message the decoder accepts, in bytes (64 MiB).
///
/// A module, its arguments and its results each travel in one message, so this
/// is also the ceiling for each of them. Decoding a longer input fails with
/// [`CodecError::TooLarge`].
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Why a value could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input is longer than the decoder accepts.
    #[error("payload of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Length of the refused input, in bytes.
        len: usize,
        /// The limit in force, in bytes.
        limit: usize,
    },
    /// The input is not a valid encoding of the expected type.
    #[error("malformed payload; {0}")]
    Malformed(String),
    /// A valid value was decoded but bytes were left after it.
    #[error("malformed payload; {extra} unexpected bytes after the value")]
    TrailingBytes {
        /// Number of bytes left over.
        extra: usize,
    },
    /// The value could not be encoded (a serde implementation refused it).
    #[error("cannot encode value; {0}")]
    Encode(String),
}

fn standard() -> Configuration {
    config::standard()
}

/// Encodes `value` into a new buffer.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, standard())
        .map_err(|err| CodecError::Encode(err.to_string()))
}

/// Encodes `value` at the end of `out`.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    bincode::serde::encode_into_std_write(value, out, standard())
        .map(drop)
        .map_err(|err| CodecError::Encode(err.to_string()))
}

/// Decodes a `T` that must span all of `bytes`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_with_limit(bytes, MAX_MESSAGE_BYTES)
}

/// Decodes a `T` that must span all of `bytes`, refusing input longer than
/// `limit` bytes (capped at [`MAX_MESSAGE_BYTES`]).
pub fn decode_with_limit<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, CodecError> {
    let limit = limit.min(MAX_MESSAGE_BYTES);
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }

    // bincode takes its allocation budget as a constant. Pick the smallest
    // budget that still fits this input, so a lying length prefix inside a
    // small message cannot reserve megabytes.
    let (value, read) = match bytes.len() {
        0..=1_024 => decode_bounded::<T, 2_048>(bytes),
        1_025..=65_536 => decode_bounded::<T, 131_072>(bytes),
        65_537..=1_048_576 => decode_bounded::<T, 2_097_152>(bytes),
        1_048_577..=16_777_216 => decode_bounded::<T, 33_554_432>(bytes),
        _ => decode_bounded::<T, { 2 * MAX_MESSAGE_BYTES }>(bytes),
    }?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes {
            extra: bytes.len() - read,
        });
    }
    Ok(value)
}

fn decode_bounded<T: DeserializeOwned, const BUDGET: usize>(
    bytes: &[u8],
) -> Result<(T, usize), CodecError> {
    let config = standard().with_limit::<BUDGET>();
    bincode::serde::decode_from_slice(bytes, config)
        .map_err(|err| CodecError::Malformed(err.to_string()))
}

/// A byte buffer that encodes exactly as a `Vec<u8>` does, a length then the
/// bytes, but in one piece: serde otherwise handles a `Vec<u8>` one byte at
/// a time.
///
/// The stubs and guest entries of `#[giocci::remote]` carry `Vec<u8>`
/// arguments and results in this type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByteBuf(pub Vec<u8>);

impl Serialize for ByteBuf {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ByteBuf {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bytes::deserialize(deserializer).map(ByteBuf)
    }
}

/// The borrowed form of [`ByteBuf`], for encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSlice<'a>(pub &'a [u8]);

impl Serialize for ByteSlice<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Decodes a `Vec<u8>` that must span all of `bytes`, in one piece (see
/// [`ByteBuf`]).
pub fn decode_byte_vec(bytes: &[u8]) -> Result<Vec<u8>, CodecError> {
    decode::<ByteBuf>(bytes).map(|buf| buf.0)
}

/// Serde adapter that writes a `Vec<u8>` as one length-prefixed byte string
/// instead of a sequence of separately encoded bytes.
///
/// Use it as `#[serde(with = "giocci::codec::bytes")]`.
pub mod bytes {
    use super::fmt;
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};
    use serde::ser::Serializer;

    /// Serializes `value` as a byte string.
    pub fn serialize<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(value)
    }

    /// Deserializes a byte string into an owned buffer.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_byte_buf(ByteBuf)
    }

    struct ByteBuf;

    impl<'de> Visitor<'de> for ByteBuf {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            // Self-describing formats may present bytes as a sequence; never
            // trust their size hint for the reservation.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4_096));
            while let Some(byte) = seq.next_element()? {
                out.push(byte);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        name: String,
        #[serde(with = "bytes")]
        data: Vec<u8>,
        values: Vec<u32>,
    }

    fn sample() -> Sample {
        Sample {
            name: "math".into(),
            data: vec![1, 2, 3],
            values: vec![7, 8],
        }
    }

    #[test]
    fn round_trips() {
        let encoded = encode(&sample()).unwrap();
        assert_eq!(decode::<Sample>(&encoded).unwrap(), sample());
    }

    #[test]
    fn bytes_are_one_string() {
        let encoded = encode(&sample()).unwrap();
        // name: 1 length byte + 4; data: 1 length byte + 3; values: 1 + 2.
        assert_eq!(encoded.len(), 5 + 4 + 3);
    }

    #[test]
    fn byte_buffers_encode_as_vectors_do() {
        for len in [0usize, 1, 250, 251, 70_000] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let plain = encode(&(data.clone(), 7u32)).unwrap();
            assert_eq!(encode(&(ByteBuf(data.clone()), 7u32)).unwrap(), plain);
            assert_eq!(encode(&(ByteSlice(&data), 7u32)).unwrap(), plain);
            let (buf, n): (ByteBuf, u32) = decode(&plain).unwrap();
            assert_eq!((buf.0, n), (data, 7));
        }
    }

    #[test]
    fn truncated_input_is_malformed() {
        let encoded = encode(&sample()).unwrap();
        for cut in 0..encoded.len() {
            let err = decode::<Sample>(&encoded[..cut]).unwrap_err();
            assert!(
                matches!(err, CodecError::Malformed(_)),
                "cut at {cut}: {err:?}"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut encoded = encode(&sample()).unwrap();
        encoded.extend_from_slice(&[0, 0]);
        let err = decode::<Sample>(&encoded).unwrap_err();
        assert_eq!(err, CodecError::TrailingBytes { extra: 2 });
        assert_eq!(
            err.to_string(),
            "malformed payload; 2 unexpected bytes after the value"
        );
    }

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        let big = vec![0u8; 2_000];
        let err = decode_with_limit::<Sample>(&big, 1_000).unwrap_err();
        assert_eq!(
            err,
            CodecError::TooLarge {
                len: 2_000,
                limit: 1_000
            }
        );
        assert_eq!(
            err.to_string(),
            "payload of 2000 bytes exceeds the limit of 1000 bytes"
        );
    }

    #[test]
    fn lying_length_prefix_is_refused() {
        // A byte string claiming u64::MAX - 1 bytes (varint tag 253 = u64).
        let mut evil = vec![253];
        evil.extend_from_slice(&(u64::MAX - 1).to_le_bytes());
        evil.extend_from_slice(b"abc");
        #[derive(Debug, Deserialize)]
        struct Blob(
            #[serde(with = "bytes")]
            #[allow(dead_code, reason = "only decoded")]
            Vec<u8>,
        );
        let err = decode::<Blob>(&evil).unwrap_err();
        assert!(matches!(err, CodecError::Malformed(_)), "{err:?}");

        // A claim of 1 MiB inside a 12-byte message is beyond its budget too.
        let mut evil = vec![252];
        evil.extend_from_slice(&(1u32 << 20).to_le_bytes());
        evil.extend_from_slice(b"abcdefg");
        let err = decode::<Blob>(&evil).unwrap_err();
        assert!(matches!(err, CodecError::Malformed(_)), "{err:?}");
    }

    #[test]
    fn garbage_is_refused() {
        let err = decode::<Sample>(&[0xff; 16]).unwrap_err();
        assert!(err.to_string().starts_with("malformed payload; "), "{err}");
        let err = decode::<String>(&[3, 0xff, 0xfe, 0xfd]).unwrap_err();
        assert!(matches!(err, CodecError::Malformed(_)), "{err:?}");
    }
}

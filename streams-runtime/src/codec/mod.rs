//! Codecs: how keys and values become bytes on topics and in state stores.
//!
//! A codec is a zero-sized type implementing [`Codec<T>`]; it travels in the type of every
//! [`Topic`](crate::Topic) and store handle, so the encoding of each edge is fixed at compile time
//! and no type is looked up at run time. Three defaults cover most programs:
//!
//! | where | default | encoding |
//! |---|---|---|
//! | topics (key and value) | [`TopicCodec`] = [`Auto<Json>`] | native Kafka encodings for primitives, JSON otherwise |
//! | store keys | [`StoreKeyCodec`] = [`Auto<Binary>`] | native encodings for primitives, [`Binary`] otherwise |
//! | store values | [`StoreValueCodec`] = [`Binary`] | compact binary (postcard) |
//!
//! "Native" means what Kafka's own serdes write, so topics interoperate with other clients:
//! `String`/`&str` as UTF-8, `Vec<u8>` as raw bytes, integers as fixed-width big-endian,
//! floats as big-endian IEEE 754, `bool` as one byte, `()` and `None` as a null key or value.
//! (Because serde does not tell a `Vec<u8>` from other sequences until it sees an element, an
//! *empty* sequence of any element type is written as an empty byte array; reading accepts both
//! that and the fallback's own empty sequence.)
//! A type that does not implement `serde::Serialize` and `serde::Deserialize` cannot be given one of
//! the default codecs: that is a compile error at the topic or store that needs it.

mod auto;
mod windowed;

pub use auto::{Auto, is_null};
pub use windowed::{SessionWindowedCodec, TimeWindowedCodec};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Whether an encoded key or value is present or a Kafka null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoded {
    /// The bytes written to the output buffer are the encoding.
    Bytes,
    /// The value is a Kafka null (no key, or a tombstone value); the buffer is untouched.
    Null,
}

/// A failure to encode or decode a key or value.
///
/// Decoding untrusted bytes never panics; it returns this error, which the runtime reports with the
/// record's coordinates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{codec} codec cannot {direction} `{type_name}`: {message}")]
pub struct CodecError {
    /// The codec's name, such as `json`.
    pub codec: &'static str,
    /// Encoding or decoding.
    pub direction: Direction,
    /// The Rust type being encoded or decoded.
    pub type_name: &'static str,
    /// What went wrong.
    pub message: String,
}

/// Which way a codec failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Turning a value into bytes.
    Encode,
    /// Turning bytes into a value.
    Decode,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Encode => "encode",
            Direction::Decode => "decode",
        })
    }
}

impl CodecError {
    /// A decoding failure of `T` by the codec named `codec`.
    pub fn decode<T: ?Sized>(codec: &'static str, message: impl ToString) -> Self {
        Self {
            codec,
            direction: Direction::Decode,
            type_name: std::any::type_name::<T>(),
            message: message.to_string(),
        }
    }

    /// An encoding failure of `T` by the codec named `codec`.
    pub fn encode<T: ?Sized>(codec: &'static str, message: impl ToString) -> Self {
        Self {
            codec,
            direction: Direction::Encode,
            type_name: std::any::type_name::<T>(),
            message: message.to_string(),
        }
    }
}

/// Turns values of `T` into bytes and back.
///
/// Implement it on a zero-sized marker type to add an encoding (Avro, Protobuf, ...); then name the
/// marker in a [`Topic`](crate::Topic) or store type. `None` bytes stand for a Kafka null.
#[diagnostic::on_unimplemented(
    message = "the codec `{Self}` cannot encode or decode `{T}`",
    label = "no codec for `{T}` here",
    note = "the default codecs need `{T}: serde::Serialize + serde::de::DeserializeOwned`: add `#[derive(Serialize, Deserialize)]` to the type, or name another codec in the topic or store type (a `Windowed<K>` key on a topic names `TimeWindowedCodec<SIZE_MS>` or `SessionWindowedCodec`)"
)]
pub trait Codec<T>: 'static {
    /// A short name for messages, such as `json`.
    const NAME: &'static str;

    /// Appends the encoding of `value` to `out`, or reports that it is a Kafka null.
    fn encode(value: &T, out: &mut Vec<u8>) -> Result<Encoded, CodecError>;

    /// Decodes a value from the record's bytes; `None` is a Kafka null.
    fn decode(bytes: Option<&[u8]>) -> Result<T, CodecError>;

    /// Decodes a value from a buffer the caller gives up: a codec whose value can keep the
    /// buffer itself (raw bytes, UTF-8 text) takes it out of `bytes` instead of copying it. On
    /// an error the buffer is left in place, so the record can still be reported or sent to a
    /// dead-letter queue whole. The default decodes a copy through [`decode`](Self::decode).
    fn decode_owned(bytes: &mut Option<Vec<u8>>) -> Result<T, CodecError> {
        Self::decode(bytes.as_deref())
    }
}

/// Plain JSON through `serde_json`, for every type and at every level. A null decodes only into
/// types that accept JSON `null` (such as `Option<T>` and `()`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl<T: Serialize + DeserializeOwned> Codec<T> for Json {
    const NAME: &'static str = "json";

    fn encode(value: &T, out: &mut Vec<u8>) -> Result<Encoded, CodecError> {
        serde_json::to_writer(out, value).map_err(|e| CodecError::encode::<T>("json", e))?;
        Ok(Encoded::Bytes)
    }

    fn decode(bytes: Option<&[u8]>) -> Result<T, CodecError> {
        serde_json::from_slice(bytes.unwrap_or(b"null"))
            .map_err(|e| CodecError::decode::<T>("json", e))
    }
}

/// A compact binary encoding (postcard: varints, no field names), for state the application
/// itself reads back. Not self-describing: both sides must agree on the type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Binary;

impl<T: Serialize + DeserializeOwned> Codec<T> for Binary {
    const NAME: &'static str = "binary";

    fn encode(value: &T, out: &mut Vec<u8>) -> Result<Encoded, CodecError> {
        let buffer = std::mem::take(out);
        *out =
            postcard::to_extend(value, buffer).map_err(|e| CodecError::encode::<T>("binary", e))?;
        Ok(Encoded::Bytes)
    }

    fn decode(bytes: Option<&[u8]>) -> Result<T, CodecError> {
        let bytes = bytes.ok_or_else(|| CodecError::decode::<T>("binary", "null bytes"))?;
        let (value, rest) =
            postcard::take_from_bytes(bytes).map_err(|e| CodecError::decode::<T>("binary", e))?;
        if rest.is_empty() {
            Ok(value)
        } else {
            Err(CodecError::decode::<T>(
                "binary",
                format!("{} trailing bytes", rest.len()),
            ))
        }
    }
}

/// The default codec of topic keys and values: native encodings for primitives, JSON otherwise.
pub type TopicCodec = Auto<Json>;
/// The default codec of store keys: native encodings for primitives, [`Binary`] otherwise.
pub type StoreKeyCodec = Auto<Binary>;
/// The default codec of store values: [`Binary`].
pub type StoreValueCodec = Binary;

/// Encodes `value` into a fresh buffer; `None` for a Kafka null.
pub fn encode_to_vec<T, C: Codec<T>>(value: &T) -> Result<Option<Vec<u8>>, CodecError> {
    let mut out = Vec::new();
    Ok(match C::encode(value, &mut out)? {
        Encoded::Bytes => Some(out),
        Encoded::Null => None,
    })
}

/// Adapts a codec of `T` to `Option<T>`, with `None` as the Kafka null: how table sources read
/// tombstones whatever the value codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nullable<C>(std::marker::PhantomData<C>);

impl<T, C: Codec<T>> Codec<Option<T>> for Nullable<C> {
    const NAME: &'static str = C::NAME;

    fn encode(value: &Option<T>, out: &mut Vec<u8>) -> Result<Encoded, CodecError> {
        match value {
            Some(v) => C::encode(v, out),
            None => Ok(Encoded::Null),
        }
    }

    fn decode(bytes: Option<&[u8]>) -> Result<Option<T>, CodecError> {
        bytes.map(|b| C::decode(Some(b))).transpose()
    }
}

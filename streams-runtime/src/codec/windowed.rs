//! Codecs of windowed keys ([`Windowed<K>`]) on topics, in Kafka's own layouts so that a JVM
//! consumer with Kafka Streams' `TimeWindowedDeserializer` or `SessionWindowedDeserializer`
//! reads what we write, and in stores.
//!
//! | codec | layout |
//! |---|---|
//! | [`TimeWindowedCodec<SIZE_MS, KC>`] (topics) | key bytes, window start (8 bytes big-endian) |
//! | [`SessionWindowedCodec<KC>`] (topics) | key bytes, window end (8), window start (8) |
//! | [`StoreKeyCodec`](super::StoreKeyCodec) (stores) | key bytes, window start (8), window end (8) |
//!
//! A time-windowed key on a topic does not carry its window's end, so the reader must know the
//! window size: it is the `SIZE_MS` parameter of the codec's type. The default topic codec has no
//! `Windowed` encoding, so a topic of windowed keys that does not name a size does not compile.

use std::marker::PhantomData;

use super::{Auto, Binary, Codec, CodecError, Encoded, TopicCodec};
use crate::record::Windowed;

/// Encodes the key part of a windowed key; a windowed key cannot be a Kafka null.
fn encode_key<K, KC: Codec<K>>(
    codec: &'static str,
    key: &K,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    match KC::encode(key, out)? {
        Encoded::Bytes => Ok(()),
        Encoded::Null => Err(CodecError::encode::<Windowed<K>>(
            codec,
            "the key of a windowed key encodes to null",
        )),
    }
}

/// Splits `bytes` into the key part and `N` trailing big-endian `i64`s.
fn split_times<const N: usize>(bytes: &[u8]) -> Option<(&[u8], [i64; N])> {
    let key_len = bytes.len().checked_sub(8 * N)?;
    let (key, times) = bytes.split_at(key_len);
    let mut out = [0; N];
    for (slot, chunk) in out.iter_mut().zip(times.chunks_exact(8)) {
        *slot = i64::from_be_bytes(chunk.try_into().ok()?);
    }
    Some((key, out))
}

fn decode_with<K, KC: Codec<K>, const N: usize>(
    codec: &'static str,
    bytes: Option<&[u8]>,
) -> Result<(K, [i64; N]), CodecError> {
    let bytes = bytes
        .ok_or_else(|| CodecError::decode::<Windowed<K>>(codec, "a windowed key cannot be null"))?;
    let (key, times) = split_times::<N>(bytes).ok_or_else(|| {
        CodecError::decode::<Windowed<K>>(
            codec,
            format!("{} bytes are too few for a windowed key", bytes.len()),
        )
    })?;
    Ok((KC::decode(Some(key))?, times))
}

/// Time-windowed keys on topics, as Kafka's `TimeWindowedSerializer` writes them: the key's
/// bytes (by `KC`), then the window start as 8 bytes big-endian. Reading takes the window end
/// as start + `SIZE_MS` (saturating), as `TimeWindowedDeserializer` does with its window size.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::codec::{Codec, TimeWindowedCodec, encode_to_vec};
/// use streams::Windowed;
///
/// type PerMinute = TimeWindowedCodec<60_000>;
/// let key = Windowed::new("home".to_owned(), 60_000, 120_000);
/// let bytes = encode_to_vec::<_, PerMinute>(&key)?.expect("not null");
/// assert_eq!(bytes, [&b"home"[..], &60_000i64.to_be_bytes()].concat());
/// assert_eq!(<PerMinute as Codec<Windowed<String>>>::decode(Some(&bytes))?, key);
/// # Ok::<(), streams::codec::CodecError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeWindowedCodec<const SIZE_MS: i64, KC = TopicCodec>(PhantomData<KC>);

impl<K, KC, const SIZE_MS: i64> Codec<Windowed<K>> for TimeWindowedCodec<SIZE_MS, KC>
where
    K: 'static,
    KC: Codec<K>,
{
    const NAME: &'static str = "time-windowed";

    fn encode(value: &Windowed<K>, out: &mut Vec<u8>) -> Result<Encoded, CodecError> {
        const {
            assert!(
                SIZE_MS > 0,
                "a time-windowed codec needs a window size above zero"
            )
        };
        encode_key::<K, KC>(Self::NAME, &value.key, out)?;
        out.extend_from_slice(&value.window.start.to_be_bytes());
        Ok(Encoded::Bytes)
    }

    fn decode(bytes: Option<&[u8]>) -> Result<Windowed<K>, CodecError> {
        const {
            assert!(
                SIZE_MS > 0,
                "a time-windowed codec needs a window size above zero"
            )
        };
        let (key, [start]) = decode_with::<K, KC, 1>(Self::NAME, bytes)?;
        Ok(Windowed::new(key, start, start.saturating_add(SIZE_MS)))
    }
}

/// Session-windowed keys on topics, as Kafka's `SessionWindowedSerializer` writes them: the
/// key's bytes (by `KC`), then the session end and the session start, 8 bytes big-endian each.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::codec::{Codec, SessionWindowedCodec, encode_to_vec};
/// use streams::Windowed;
///
/// let key = Windowed::new("ann".to_owned(), 10, 25);
/// let bytes = encode_to_vec::<_, SessionWindowedCodec>(&key)?.expect("not null");
/// assert_eq!(bytes, [&b"ann"[..], &25i64.to_be_bytes(), &10i64.to_be_bytes()].concat());
/// assert_eq!(<SessionWindowedCodec as Codec<Windowed<String>>>::decode(Some(&bytes))?, key);
/// # Ok::<(), streams::codec::CodecError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionWindowedCodec<KC = TopicCodec>(PhantomData<KC>);

impl<K, KC> Codec<Windowed<K>> for SessionWindowedCodec<KC>
where
    K: 'static,
    KC: Codec<K>,
{
    const NAME: &'static str = "session-windowed";

    fn encode(value: &Windowed<K>, out: &mut Vec<u8>) -> Result<Encoded, CodecError> {
        encode_key::<K, KC>(Self::NAME, &value.key, out)?;
        out.extend_from_slice(&value.window.end.to_be_bytes());
        out.extend_from_slice(&value.window.start.to_be_bytes());
        Ok(Encoded::Bytes)
    }

    fn decode(bytes: Option<&[u8]>) -> Result<Windowed<K>, CodecError> {
        let (key, [end, start]) = decode_with::<K, KC, 2>(Self::NAME, bytes)?;
        Ok(Windowed::new(key, start, end))
    }
}

/// Windowed keys in stores (a suppression buffer, a table keyed by window): the key's bytes by
/// the store key codec, then the window start and end. Both bounds are kept, so every window
/// kind reads back whole.
// Not offered as a fix in errors about other codecs: it applies to stores only.
#[diagnostic::do_not_recommend]
impl<K> Codec<Windowed<K>> for Auto<Binary>
where
    K: 'static,
    Auto<Binary>: Codec<K>,
{
    const NAME: &'static str = "windowed";

    fn encode(value: &Windowed<K>, out: &mut Vec<u8>) -> Result<Encoded, CodecError> {
        encode_key::<K, Self>(Self::NAME, &value.key, out)?;
        out.extend_from_slice(&value.window.start.to_be_bytes());
        out.extend_from_slice(&value.window.end.to_be_bytes());
        Ok(Encoded::Bytes)
    }

    fn decode(bytes: Option<&[u8]>) -> Result<Windowed<K>, CodecError> {
        let (key, [start, end]) = decode_with::<K, Self, 2>(Self::NAME, bytes)?;
        Ok(Windowed::new(key, start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{StoreKeyCodec, encode_to_vec};

    #[test]
    fn short_or_null_bytes_are_decode_errors() {
        type C = TimeWindowedCodec<10>;
        assert!(<C as Codec<Windowed<String>>>::decode(None).is_err());
        assert!(<C as Codec<Windowed<String>>>::decode(Some(b"abc")).is_err());
        assert!(<SessionWindowedCodec as Codec<Windowed<String>>>::decode(Some(&[0; 15])).is_err());
    }

    #[test]
    fn store_keys_keep_both_bounds() {
        let key = Windowed::new(7u32, 3, 9);
        let bytes = encode_to_vec::<_, StoreKeyCodec>(&key).unwrap().unwrap();
        assert_eq!(bytes.len(), 4 + 16);
        assert_eq!(
            <StoreKeyCodec as Codec<Windowed<u32>>>::decode(Some(&bytes)),
            Ok(key)
        );
    }

    #[test]
    fn a_time_windowed_end_saturates() {
        let bytes = [&b"k"[..], &(i64::MAX - 1).to_be_bytes()].concat();
        let key = <TimeWindowedCodec<10> as Codec<Windowed<String>>>::decode(Some(&bytes)).unwrap();
        assert_eq!(key.window.end, i64::MAX);
    }
}

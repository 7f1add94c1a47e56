//! [`Auto`]: native Kafka encodings for primitive values, a fallback format for everything else.
//!
//! The choice follows the shape serde reports for the type, so it is made by monomorphized code
//! with no run-time type lookup: a `String` goes out as UTF-8, a struct through the fallback. The
//! top level is peeled through `Option` (null), newtype structs and `()` before deciding, so
//! `Option<Order>` is a nullable JSON object and `struct UserId(String)` is plain UTF-8.
//!
//! The parts: this module holds the codec and the error its layers share; [`fallback`] the sealed
//! trait naming the two fallback formats; [`ser`] the writing side, [`de`] the reading side;
//! [`probe`] the questions asked of a type or value without encoding it (is it self-describing,
//! is it a Kafka null).
//!
//! Nothing here but [`Auto`] and [`is_null`] is API: the module is private, and the one helper
//! that shows in a public signature, the [`Fallback`] bound of `Auto`'s `Codec` impl, is sealed.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, CodecError, Encoded};

/// The serializer methods for shapes that are not primitives: each reports
/// [`AutoError::Compound`], the signal to use the fallback. (Defined before the submodules, which
/// use it.)
macro_rules! compound {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {$(
        fn $method(self, $($arg: $ty),*) -> Result<$ret, AutoError> {
            $(let _ = $arg;)*
            Err(AutoError::Compound)
        }
    )*};
}

mod de;
mod fallback;
mod probe;
mod ser;

pub use probe::is_null;

use fallback::Fallback;
use probe::reads_any;
use ser::encode_top;

/// Native encodings for primitives, `F` ([`Json`](super::Json) or [`Binary`](super::Binary)) for
/// compound values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Auto<F>(PhantomData<F>);

// Not recommended in errors: a type without serde support then gets `Codec`'s own message,
// which also names the codecs of windowed keys, rather than a bare missing-`Serialize` bound.
#[diagnostic::do_not_recommend]
impl<T, F> Codec<T> for Auto<F>
where
    T: Serialize + DeserializeOwned + 'static,
    F: Fallback,
{
    const NAME: &'static str = F::NAME;

    fn encode(value: &T, out: &mut Vec<u8>) -> Result<Encoded, CodecError> {
        // Serde hands a `Vec<u8>` over one element at a time; its encoding is its own bytes.
        // (The type test is decided at compile time.)
        if let Some(bytes) = (value as &dyn Any).downcast_ref::<Vec<u8>>() {
            out.extend_from_slice(bytes);
            return Ok(Encoded::Bytes);
        }
        if reads_any::<T>() {
            // A self-describing type (`serde_json::Value`, untagged enums) reads itself through
            // the fallback, so it must be written through it too.
            F::encode(value, out).map_err(|e| CodecError::encode::<T>(F::NAME, e))?;
            return Ok(Encoded::Bytes);
        }
        encode_top::<T, F>(value, out).map_err(|e| CodecError::encode::<T>(F::NAME, e))
    }

    fn decode(bytes: Option<&[u8]>) -> Result<T, CodecError> {
        // A `Vec<u8>` is a copy of the bytes, not a sequence read element by element.
        let mut copied: Option<T> = None;
        if let Some(slot) = (&mut copied as &mut dyn Any).downcast_mut::<Option<Vec<u8>>>() {
            *slot = bytes.map(<[u8]>::to_vec);
        }
        if let Some(value) = copied {
            return Ok(value);
        }
        F::decode(bytes).map_err(|e| CodecError::decode::<T>(F::NAME, e))
    }

    fn decode_owned(bytes: &mut Option<Vec<u8>>) -> Result<T, CodecError> {
        // Raw bytes and UTF-8 text are their own buffers: keep the record's instead of copying
        // it (byte by byte, for a `Vec<u8>` through serde). The type tests are decided at
        // compile time.
        let mut decoded: Option<T> = None;
        let slot = &mut decoded as &mut dyn Any;
        if let Some(slot) = slot.downcast_mut::<Option<Vec<u8>>>() {
            *slot = bytes.take();
        } else if let Some(slot) = slot.downcast_mut::<Option<String>>()
            && let Some(buffer) = bytes.take()
        {
            match String::from_utf8(buffer) {
                Ok(text) => *slot = Some(text),
                // Not UTF-8: put the bytes back and let `decode` report it.
                Err(error) => *bytes = Some(error.into_bytes()),
            }
        }
        match decoded {
            Some(value) => Ok(value),
            None => Self::decode(bytes.as_deref()),
        }
    }
}

/// The error of the native layer; `Compound` is the internal signal to use the fallback.
#[derive(Debug)]
enum AutoError {
    /// The value is not a primitive (internal: the caller switches to the fallback).
    Compound,
    /// A real failure.
    Message(String),
}

impl fmt::Display for AutoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AutoError::Compound => f.write_str("compound value"),
            AutoError::Message(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for AutoError {}

impl serde::ser::Error for AutoError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        AutoError::Message(msg.to_string())
    }
}

impl serde::de::Error for AutoError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        AutoError::Message(msg.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Binary, Json, encode_to_vec};
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Order {
        id: u32,
        item: String,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct UserId(String);

    fn round_trip<T, C>(value: T) -> Option<Vec<u8>>
    where
        T: PartialEq + fmt::Debug,
        C: Codec<T>,
    {
        let bytes = encode_to_vec::<T, C>(&value).expect("encode");
        assert_eq!(C::decode(bytes.as_deref()).expect("decode"), value);
        bytes
    }

    #[test]
    fn primitives_use_kafka_native_encodings() {
        type C = Auto<Json>;
        assert_eq!(round_trip::<_, C>("héllo".to_owned()), Some("héllo".into()));
        assert_eq!(round_trip::<_, C>(7u64), Some(vec![0, 0, 0, 0, 0, 0, 0, 7]));
        assert_eq!(round_trip::<_, C>(-2i32), Some(vec![255, 255, 255, 254]));
        assert_eq!(round_trip::<_, C>(true), Some(vec![1]));
        assert_eq!(round_trip::<_, C>(()), None);
        assert_eq!(
            round_trip::<_, C>(UserId("u1".into())),
            Some(b"u1".to_vec())
        );
        assert_eq!(
            round_trip::<_, C>(Some("x".to_owned())),
            Some(b"x".to_vec())
        );
        assert_eq!(round_trip::<Option<String>, C>(None), None);
        assert_eq!(round_trip::<_, C>(vec![0u8, 255]), Some(vec![0, 255]));
        assert_eq!(round_trip::<_, C>(Some(vec![7u8])), Some(vec![7]));
        assert_eq!(
            round_trip::<_, Auto<Binary>>(vec![1u8, 2]),
            Some(vec![1, 2])
        );
    }

    #[test]
    fn compound_values_use_the_fallback() {
        let order = Order {
            id: 1,
            item: "book".into(),
        };
        assert_eq!(
            round_trip::<_, Auto<Json>>(Some(Order {
                id: 1,
                item: "book".into()
            })),
            Some(br#"{"id":1,"item":"book"}"#.to_vec())
        );
        assert_eq!(
            round_trip::<_, Auto<Binary>>(order),
            Some(vec![1, 4, b'b', b'o', b'o', b'k'])
        );
        round_trip::<_, Auto<Binary>>(Some(vec![1u8, 2]));
        assert_eq!(
            round_trip::<_, Auto<Json>>(vec!["a".to_owned()]),
            Some(br#"["a"]"#.to_vec())
        );
        assert_eq!(
            round_trip::<_, Auto<Json>>(vec![1u32, 300]),
            Some(b"[1,300]".to_vec())
        );
        assert_eq!(
            round_trip::<_, Auto<Binary>>(vec![1u32, 300]),
            Some(vec![2, 1, 172, 2])
        );
        // An empty sequence is an empty byte array, whatever its element type.
        assert_eq!(round_trip::<_, Auto<Json>>(Vec::<u32>::new()), Some(vec![]));
        assert_eq!(
            <Auto<Json> as Codec<Vec<u32>>>::decode(Some(b"[]")).unwrap(),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn self_describing_types_round_trip_through_the_fallback() {
        let value = serde_json::json!({"a": [1, "x"]});
        assert_eq!(
            round_trip::<_, Auto<Json>>(value),
            Some(br#"{"a":[1,"x"]}"#.to_vec())
        );
        assert_eq!(
            round_trip::<_, Auto<Json>>(serde_json::json!("hi")),
            Some(br#""hi""#.to_vec())
        );
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        #[serde(untagged)]
        enum Either {
            N(u32),
            S(String),
        }
        assert_eq!(
            round_trip::<_, Auto<Json>>(Either::N(5)),
            Some(b"5".to_vec())
        );
        assert_eq!(
            round_trip::<_, Auto<Json>>(Either::S("x".into())),
            Some(br#""x""#.to_vec())
        );
        assert_eq!(round_trip::<_, Auto<Json>>(7u8), Some(vec![7]));
    }

    #[test]
    fn owned_bytes_and_text_keep_the_record_buffer() {
        type C = Auto<Json>;
        let buffer = vec![0u8, 159, 255];
        let address = buffer.as_ptr();
        let mut bytes = Some(buffer);
        let value = <C as Codec<Vec<u8>>>::decode_owned(&mut bytes).unwrap();
        assert_eq!(
            (value.as_ptr(), &value[..]),
            (address, &[0u8, 159, 255][..])
        );
        assert_eq!(bytes, None);

        let buffer = "héllo".as_bytes().to_vec();
        let address = buffer.as_ptr();
        let mut bytes = Some(buffer);
        let text = <C as Codec<String>>::decode_owned(&mut bytes).unwrap();
        assert_eq!((text.as_ptr(), text.as_str()), (address, "héllo"));

        // Not UTF-8: an error, and the bytes stay for the dead-letter queue.
        let mut bytes = Some(vec![0xff, 0xfe]);
        assert!(<C as Codec<String>>::decode_owned(&mut bytes).is_err());
        assert_eq!(bytes, Some(vec![0xff, 0xfe]));
        // A null is not a `Vec<u8>` (nor was it before the shortcut).
        assert!(<C as Codec<Vec<u8>>>::decode_owned(&mut None).is_err());
        assert!(<C as Codec<Vec<u8>>>::decode(None).is_err());
        // Other types decode from the buffer and leave it in place.
        let mut bytes = Some(vec![0, 0, 0, 9]);
        assert_eq!(<C as Codec<u32>>::decode_owned(&mut bytes), Ok(9));
        assert_eq!(bytes, Some(vec![0, 0, 0, 9]));
        assert_eq!(
            <C as Codec<Option<Vec<u8>>>>::decode_owned(&mut Some(vec![4])),
            Ok(Some(vec![4]))
        );
    }

    #[test]
    fn malformed_bytes_are_errors_not_panics() {
        let err = <Auto<Json> as Codec<Order>>::decode(Some(b"{not json")).unwrap_err();
        assert_eq!(err.direction, crate::codec::Direction::Decode);
        assert!(err.type_name.ends_with("Order"), "{err}");
        assert!(<Auto<Json> as Codec<u64>>::decode(Some(b"abc")).is_err());
        assert!(<Auto<Json> as Codec<String>>::decode(Some(&[0xff, 0xfe])).is_err());
        assert!(<Auto<Json> as Codec<String>>::decode(None).is_err());
        assert!(<Auto<Binary> as Codec<Order>>::decode(Some(&[1, 9, b'x'])).is_err());
        assert!(<Auto<Json> as Codec<Order>>::decode(Some(br#"{"id":1,"item":"a"} x"#)).is_err());
    }
}

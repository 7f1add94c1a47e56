//! The reading side of [`Auto`](super::Auto): a deserializer over a record's bytes that reads
//! primitives natively and hands compound values to the fallback format's own deserializer.
//!
//! The fallback's deserializer is a concrete type per format, so the compound methods are written
//! out once per format (by `fallback_readers!`); everything else is shared.

use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{self, DeserializeOwned, Visitor};

use super::AutoError;
use crate::codec::{Binary, Json};

/// Reads a whole top-level value of `T` in the fallback format `F`.
///
/// A sequence is first read as raw bytes (a `Vec<u8>`); if its elements are not bytes, it is
/// read again through the fallback.
pub(super) fn decode_top<T, F>(bytes: Option<&[u8]>) -> Result<T, AutoError>
where
    T: DeserializeOwned,
    for<'de> TopLevel<'de, F>: Deserializer<'de, Error = AutoError>,
{
    let attempt = |seq_as_bytes| {
        T::deserialize(TopLevel::<F> {
            bytes,
            seq_as_bytes,
            fallback: PhantomData,
        })
    };
    match attempt(true) {
        Err(AutoError::Compound) => attempt(false),
        other => other,
    }
}

/// The top-level deserializer of [`Auto`](super::Auto): reads primitives natively and hands
/// compound values to the fallback format.
pub(super) struct TopLevel<'de, F> {
    bytes: Option<&'de [u8]>,
    seq_as_bytes: bool,
    fallback: PhantomData<F>,
}

impl<'de, F> TopLevel<'de, F> {
    fn present(&self) -> Result<&'de [u8], AutoError> {
        self.bytes
            .ok_or_else(|| AutoError::Message("unexpected null".to_owned()))
    }

    fn fixed<const N: usize>(&self) -> Result<[u8; N], AutoError> {
        let bytes = self.present()?;
        bytes
            .try_into()
            .map_err(|_| AutoError::Message(format!("expected {N} bytes, found {}", bytes.len())))
    }

    fn text(&self) -> Result<&'de str, AutoError> {
        std::str::from_utf8(self.present()?)
            .map_err(|e| AutoError::Message(format!("invalid UTF-8: {e}")))
    }
}

macro_rules! native_number_readers {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AutoError> {
            visitor.$visit(<$ty>::from_be_bytes(self.fixed()?))
        }
    )*};
}

/// The deserializer methods shared by every fallback: primitives, null and newtypes.
macro_rules! native_readers {
    () => {
        native_number_readers!(
            deserialize_i8 => visit_i8: i8, deserialize_i16 => visit_i16: i16,
            deserialize_i32 => visit_i32: i32, deserialize_i64 => visit_i64: i64,
            deserialize_i128 => visit_i128: i128, deserialize_u8 => visit_u8: u8,
            deserialize_u16 => visit_u16: u16, deserialize_u32 => visit_u32: u32,
            deserialize_u64 => visit_u64: u64, deserialize_u128 => visit_u128: u128,
            deserialize_f32 => visit_f32: f32, deserialize_f64 => visit_f64: f64,
        );

        fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AutoError> {
            match self.fixed::<1>()? {
                [0] => visitor.visit_bool(false),
                [1] => visitor.visit_bool(true),
                [b] => Err(AutoError::Message(format!("invalid bool byte {b}"))),
            }
        }

        fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AutoError> {
            let text = self.text()?;
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => visitor.visit_char(c),
                _ => Err(AutoError::Message(format!("expected one character, found {text:?}"))),
            }
        }

        fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AutoError> {
            visitor.visit_borrowed_str(self.text()?)
        }

        fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AutoError> {
            visitor.visit_borrowed_str(self.text()?)
        }

        fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AutoError> {
            visitor.visit_borrowed_bytes(self.present()?)
        }

        fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AutoError> {
            visitor.visit_borrowed_bytes(self.present()?)
        }

        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AutoError> {
            match self.bytes {
                None => visitor.visit_none(),
                Some(_) => visitor.visit_some(self),
            }
        }

        fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AutoError> {
            match self.bytes {
                None | Some([]) => visitor.visit_unit(),
                Some(b) => Err(AutoError::Message(format!("expected null, found {} bytes", b.len()))),
            }
        }

        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            visitor: V,
        ) -> Result<V::Value, AutoError> {
            self.deserialize_unit(visitor)
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            visitor: V,
        ) -> Result<V::Value, AutoError> {
            visitor.visit_newtype_struct(self)
        }

        fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AutoError> {
            if self.seq_as_bytes {
                visitor.visit_seq(ByteSeqAccess(self.present()?.iter()))
            } else {
                self.deserialize_seq_fallback(visitor)
            }
        }
    };
}

/// Reads raw bytes as a sequence of `u8` elements.
struct ByteSeqAccess<'de>(std::slice::Iter<'de, u8>);

impl<'de> de::SeqAccess<'de> for ByteSeqAccess<'de> {
    type Error = AutoError;

    fn next_element_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, AutoError> {
        self.0
            .next()
            .map(|&b| seed.deserialize(ByteValue(b)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// One byte of a raw byte sequence; only a `u8` may be read from it.
struct ByteValue(u8);

impl<'de> Deserializer<'de> for ByteValue {
    type Error = AutoError;

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AutoError> {
        visitor.visit_u8(self.0)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, AutoError> {
        Err(AutoError::Compound)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// Compound methods: run the fallback deserializer `$de` over the bytes, then `$finish` it.
macro_rules! fallback_readers {
    ($bytes:ident => $make:expr, $finish:expr) => {
        fallback_readers!(@one $bytes => $make, $finish; deserialize_any());
        fallback_readers!(@one $bytes => $make, $finish; deserialize_map());
        fallback_readers!(@one $bytes => $make, $finish; deserialize_identifier());
        fallback_readers!(@one $bytes => $make, $finish; deserialize_ignored_any());
        fallback_readers!(@one $bytes => $make, $finish; deserialize_tuple(len: usize));
        fallback_readers!(@one $bytes => $make, $finish;
            deserialize_tuple_struct(name: &'static str, len: usize));
        fallback_readers!(@one $bytes => $make, $finish;
            deserialize_struct(name: &'static str, fields: &'static [&'static str]));
        fallback_readers!(@one $bytes => $make, $finish;
            deserialize_enum(name: &'static str, variants: &'static [&'static str]));
    };
    (@one $bytes:ident => $make:expr, $finish:expr; $method:ident($($arg:ident: $ty:ty),*)) => {
        fallback_readers!(@one $bytes => $make, $finish; $method => $method($($arg: $ty),*));
    };
    (@one $bytes:ident => $make:expr, $finish:expr; $name:ident => $method:ident($($arg:ident: $ty:ty),*)) => {
        fn $name<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, AutoError> {
            let $bytes = self.present()?;
            #[allow(clippy::redundant_closure_call)]
            let mut de = $make;
            let value = (&mut de)
                .$method($($arg,)* visitor)
                .map_err(|e| AutoError::Message(e.to_string()))?;
            #[allow(clippy::redundant_closure_call)]
            ($finish)(de)?;
            Ok(value)
        }
    };
}

impl<'de> TopLevel<'de, Json> {
    fallback_readers!(@one bytes => serde_json::Deserializer::from_slice(bytes),
        |mut de: serde_json::Deserializer<serde_json::de::SliceRead<'de>>| de.end()
            .map_err(|e| AutoError::Message(e.to_string())); deserialize_seq_fallback => deserialize_seq());
}

impl<'de> TopLevel<'de, Binary> {
    fallback_readers!(@one bytes => postcard::Deserializer::from_bytes(bytes),
        |de: postcard::Deserializer<'de, postcard::de_flavors::Slice<'de>>| match de.finalize() {
            Ok([]) => Ok(()),
            Ok(rest) => Err(AutoError::Message(format!("{} trailing bytes", rest.len()))),
            Err(e) => Err(AutoError::Message(e.to_string())),
        }; deserialize_seq_fallback => deserialize_seq());
}

impl<'de> Deserializer<'de> for TopLevel<'de, Json> {
    type Error = AutoError;
    native_readers!();
    fallback_readers!(bytes => serde_json::Deserializer::from_slice(bytes),
        |mut de: serde_json::Deserializer<serde_json::de::SliceRead<'de>>| de.end()
            .map_err(|e| AutoError::Message(e.to_string())));
}

impl<'de> Deserializer<'de> for TopLevel<'de, Binary> {
    type Error = AutoError;
    native_readers!();
    fallback_readers!(bytes => postcard::Deserializer::from_bytes(bytes),
    |de: postcard::Deserializer<'de, postcard::de_flavors::Slice<'de>>| match de.finalize() {
        Ok([]) => Ok(()),
        Ok(rest) => Err(AutoError::Message(format!("{} trailing bytes", rest.len()))),
        Err(e) => Err(AutoError::Message(e.to_string())),
    });
}

//! [`Auto`]: native Kafka encodings for primitive values, a fallback format for everything else.
//!
//! The choice follows the shape serde reports for the type, so it is made by monomorphized code
//! with no run-time type lookup: a `String` goes out as UTF-8, a struct through the fallback. The
//! top level is peeled through `Option` (null), newtype structs and `()` before deciding, so
//! `Option<Order>` is a nullable JSON object and `struct UserId(String)` is plain UTF-8.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::ser::{self, Impossible};
use serde::{Deserializer, Serialize, Serializer};

use super::{Binary, Codec, CodecError, Encoded, Json};

/// Native encodings for primitives, `F` ([`Json`] or [`Binary`]) for compound values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Auto<F>(PhantomData<F>);

/// The compound-value format behind [`Auto`].
pub trait Fallback: 'static {
    /// The name used in messages.
    const NAME: &'static str;
    /// Appends `value` in this format.
    fn encode<T: ?Sized + Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), String>;
}

impl Fallback for Json {
    const NAME: &'static str = "json";
    fn encode<T: ?Sized + Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        serde_json::to_writer(out, value).map_err(|e| e.to_string())
    }
}

impl Fallback for Binary {
    const NAME: &'static str = "binary";
    fn encode<T: ?Sized + Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        let buffer = std::mem::take(out);
        *out = postcard::to_extend(value, buffer).map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl<T, F> Codec<T> for Auto<F>
where
    T: Serialize + DeserializeOwned + 'static,
    F: Fallback,
    for<'de> TopLevel<'de, F>: Deserializer<'de, Error = AutoError>,
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
        // A sequence is first read as raw bytes (a `Vec<u8>`); if its elements are not bytes,
        // it is read again through the fallback.
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
        .map_err(|e| CodecError::decode::<T>(F::NAME, e))
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

fn encode_top<T: ?Sized + Serialize, F: Fallback>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<Encoded, AutoError> {
    let start = out.len();
    match value.serialize(NativeSerializer::<F> {
        out,
        fallback: PhantomData,
    }) {
        Err(AutoError::Compound) => {
            out.truncate(start);
            F::encode(value, out).map_err(AutoError::Message)?;
            Ok(Encoded::Bytes)
        }
        other => other,
    }
}

/// The error of the native layer; `Compound` is the internal signal to use the fallback.
#[derive(Debug)]
pub enum AutoError {
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

impl ser::Error for AutoError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        AutoError::Message(msg.to_string())
    }
}

impl de::Error for AutoError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        AutoError::Message(msg.to_string())
    }
}

struct NativeSerializer<'a, F> {
    out: &'a mut Vec<u8>,
    fallback: PhantomData<F>,
}

macro_rules! native_numbers {
    ($($method:ident: $ty:ty),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Result<Encoded, AutoError> {
            self.out.extend_from_slice(&v.to_be_bytes());
            Ok(Encoded::Bytes)
        }
    )*};
}

macro_rules! compound {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {$(
        fn $method(self, $($arg: $ty),*) -> Result<$ret, AutoError> {
            $(let _ = $arg;)*
            Err(AutoError::Compound)
        }
    )*};
}

impl<'a, F: Fallback> Serializer for NativeSerializer<'a, F> {
    type Ok = Encoded;
    type Error = AutoError;
    type SerializeSeq = ByteSeq<'a>;
    type SerializeTuple = Impossible<Encoded, AutoError>;
    type SerializeTupleStruct = Impossible<Encoded, AutoError>;
    type SerializeTupleVariant = Impossible<Encoded, AutoError>;
    type SerializeMap = Impossible<Encoded, AutoError>;
    type SerializeStruct = Impossible<Encoded, AutoError>;
    type SerializeStructVariant = Impossible<Encoded, AutoError>;

    native_numbers!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128, serialize_f32: f32, serialize_f64: f64,
    );

    fn serialize_bool(self, v: bool) -> Result<Encoded, AutoError> {
        self.out.push(u8::from(v));
        Ok(Encoded::Bytes)
    }

    fn serialize_char(self, v: char) -> Result<Encoded, AutoError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<Encoded, AutoError> {
        self.out.extend_from_slice(v.as_bytes());
        Ok(Encoded::Bytes)
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Encoded, AutoError> {
        self.out.extend_from_slice(v);
        Ok(Encoded::Bytes)
    }

    fn serialize_none(self) -> Result<Encoded, AutoError> {
        Ok(Encoded::Null)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<Encoded, AutoError> {
        encode_top::<T, F>(value, self.out)
    }

    fn serialize_unit(self) -> Result<Encoded, AutoError> {
        Ok(Encoded::Null)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Encoded, AutoError> {
        Ok(Encoded::Null)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Encoded, AutoError> {
        encode_top::<T, F>(value, self.out)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
    ) -> Result<Encoded, AutoError> {
        Err(AutoError::Compound)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<Encoded, AutoError> {
        Err(AutoError::Compound)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<ByteSeq<'a>, AutoError> {
        Ok(ByteSeq { out: self.out })
    }

    compound! {
        serialize_tuple(len: usize) -> Self::SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeTupleVariant;
        serialize_map(len: Option<usize>) -> Self::SerializeMap;
        serialize_struct(name: &'static str, len: usize) -> Self::SerializeStruct;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeStructVariant;
    }
}

/// Whether `T` deserializes through `deserialize_any` (decided by asking its `Deserialize` impl
/// which method it calls first; nothing is read).
fn reads_any<T: DeserializeOwned>() -> bool {
    matches!(T::deserialize(FirstCall), Err(FirstCallError::Any))
}

struct FirstCall;

#[derive(Debug)]
enum FirstCallError {
    Any,
    Other,
}

impl fmt::Display for FirstCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for FirstCallError {}

impl de::Error for FirstCallError {
    fn custom<M: fmt::Display>(_: M) -> Self {
        FirstCallError::Other
    }
}

macro_rules! first_call_other {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* _visitor: V) -> Result<V::Value, FirstCallError> {
            $(let _ = $arg;)*
            Err(FirstCallError::Other)
        }
    )*};
}

impl<'de> Deserializer<'de> for FirstCall {
    type Error = FirstCallError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, FirstCallError> {
        Err(FirstCallError::Any)
    }

    first_call_other! {
        deserialize_bool(); deserialize_i8(); deserialize_i16(); deserialize_i32(); deserialize_i64();
        deserialize_i128(); deserialize_u8(); deserialize_u16(); deserialize_u32(); deserialize_u64();
        deserialize_u128(); deserialize_f32(); deserialize_f64(); deserialize_char(); deserialize_str();
        deserialize_string(); deserialize_bytes(); deserialize_byte_buf(); deserialize_option();
        deserialize_unit(); deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str); deserialize_seq(); deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize); deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier(); deserialize_ignored_any();
    }
}

/// Whether `value` is a Kafka null under [`Auto`]: `None`, `()` or a unit struct, seen through
/// `Some` and newtypes. Decides without encoding anything.
pub fn is_null<T: ?Sized + Serialize>(value: &T) -> bool {
    matches!(value.serialize(NullProbe), Ok(true))
}

struct NullProbe;

macro_rules! not_null {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method(self, $($arg: $ty),*) -> Result<bool, AutoError> {
            $(let _ = $arg;)*
            Ok(false)
        }
    )*};
}

impl Serializer for NullProbe {
    type Ok = bool;
    type Error = AutoError;
    type SerializeSeq = Impossible<bool, AutoError>;
    type SerializeTuple = Impossible<bool, AutoError>;
    type SerializeTupleStruct = Impossible<bool, AutoError>;
    type SerializeTupleVariant = Impossible<bool, AutoError>;
    type SerializeMap = Impossible<bool, AutoError>;
    type SerializeStruct = Impossible<bool, AutoError>;
    type SerializeStructVariant = Impossible<bool, AutoError>;

    not_null! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_none(self) -> Result<bool, AutoError> {
        Ok(true)
    }

    fn serialize_unit(self) -> Result<bool, AutoError> {
        Ok(true)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<bool, AutoError> {
        Ok(true)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<bool, AutoError> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<bool, AutoError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<bool, AutoError> {
        Ok(false)
    }

    compound! {
        serialize_seq(len: Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(len: usize) -> Self::SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeTupleVariant;
        serialize_map(len: Option<usize>) -> Self::SerializeMap;
        serialize_struct(name: &'static str, len: usize) -> Self::SerializeStruct;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeStructVariant;
    }
}

/// A top-level sequence written as raw bytes while every element is a `u8` (so `Vec<u8>` is
/// Kafka's byte array); any other element makes it compound.
pub(super) struct ByteSeq<'a> {
    out: &'a mut Vec<u8>,
}

impl ser::SerializeSeq for ByteSeq<'_> {
    type Ok = Encoded;
    type Error = AutoError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), AutoError> {
        self.out.push(value.serialize(ByteElement)?);
        Ok(())
    }

    fn end(self) -> Result<Encoded, AutoError> {
        Ok(Encoded::Bytes)
    }
}

/// Accepts exactly a `u8`.
struct ByteElement;

impl Serializer for ByteElement {
    type Ok = u8;
    type Error = AutoError;
    type SerializeSeq = Impossible<u8, AutoError>;
    type SerializeTuple = Impossible<u8, AutoError>;
    type SerializeTupleStruct = Impossible<u8, AutoError>;
    type SerializeTupleVariant = Impossible<u8, AutoError>;
    type SerializeMap = Impossible<u8, AutoError>;
    type SerializeStruct = Impossible<u8, AutoError>;
    type SerializeStructVariant = Impossible<u8, AutoError>;

    fn serialize_u8(self, v: u8) -> Result<u8, AutoError> {
        Ok(v)
    }

    compound! {
        serialize_bool(v: bool) -> u8;
        serialize_i8(v: i8) -> u8;
        serialize_i16(v: i16) -> u8;
        serialize_i32(v: i32) -> u8;
        serialize_i64(v: i64) -> u8;
        serialize_u16(v: u16) -> u8;
        serialize_u32(v: u32) -> u8;
        serialize_u64(v: u64) -> u8;
        serialize_f32(v: f32) -> u8;
        serialize_f64(v: f64) -> u8;
        serialize_char(v: char) -> u8;
        serialize_str(v: &str) -> u8;
        serialize_bytes(v: &[u8]) -> u8;
        serialize_none() -> u8;
        serialize_unit() -> u8;
        serialize_unit_struct(name: &'static str) -> u8;
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str) -> u8;
        serialize_seq(len: Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(len: usize) -> Self::SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeTupleVariant;
        serialize_map(len: Option<usize>) -> Self::SerializeMap;
        serialize_struct(name: &'static str, len: usize) -> Self::SerializeStruct;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeStructVariant;
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _value: &T) -> Result<u8, AutoError> {
        Err(AutoError::Compound)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _value: &T,
    ) -> Result<u8, AutoError> {
        Err(AutoError::Compound)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<u8, AutoError> {
        Err(AutoError::Compound)
    }
}

/// The top-level deserializer of [`Auto`]: reads primitives natively and hands compound values
/// to the fallback format.
pub struct TopLevel<'de, F> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode_to_vec;
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
    fn null_probe() {
        assert!(is_null(&()));
        assert!(is_null(&None::<Order>));
        assert!(is_null(&Some(None::<u8>)));
        assert!(!is_null(&Some(1)));
        assert!(!is_null(&"".to_owned()));
        assert!(!is_null(&Order {
            id: 1,
            item: "x".into()
        }));
        assert!(!is_null(&Vec::<u8>::new()));
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

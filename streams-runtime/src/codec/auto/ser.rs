//! The writing side of [`Auto`](super::Auto): a serializer that writes primitives in Kafka's
//! native encodings and reports [`AutoError::Compound`] for anything else, which
//! [`encode_top`] then writes through the fallback format.

use std::marker::PhantomData;

use serde::ser::{self, Impossible};
use serde::{Serialize, Serializer};

use super::AutoError;
use super::fallback::Fallback;
use crate::codec::Encoded;

/// Appends `value`: natively if it is a primitive (seen through `Some` and newtypes), else in the
/// fallback format `F`.
pub(super) fn encode_top<T: ?Sized + Serialize, F: Fallback>(
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

/// Writes a primitive natively into `out`; any other shape is [`AutoError::Compound`].
struct NativeSerializer<'a, F> {
    out: &'a mut Vec<u8>,
    fallback: PhantomData<F>,
}

/// Numbers are fixed-width big-endian, as Kafka's own serdes write them.
macro_rules! native_numbers {
    ($($method:ident: $ty:ty),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Result<Encoded, AutoError> {
            self.out.extend_from_slice(&v.to_be_bytes());
            Ok(Encoded::Bytes)
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

/// A top-level sequence written as raw bytes while every element is a `u8` (so `Vec<u8>` is
/// Kafka's byte array); any other element makes it compound.
struct ByteSeq<'a> {
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

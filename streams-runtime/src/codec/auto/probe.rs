//! Questions [`Auto`](super::Auto) asks of a type or a value without encoding anything: does the
//! type read itself through `deserialize_any` (so it must be written through the fallback too),
//! and is the value a Kafka null.
//!
//! Each is a tiny serde (de)serializer that answers from the first call the type makes on it.

use std::fmt;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::ser::Impossible;
use serde::{Deserializer, Serialize, Serializer};

use super::AutoError;

/// Whether `T` deserializes through `deserialize_any` (decided by asking its `Deserialize` impl
/// which method it calls first; nothing is read).
pub(super) fn reads_any<T: DeserializeOwned>() -> bool {
    matches!(T::deserialize(FirstCall), Err(FirstCallError::Any))
}

/// Records which method a `Deserialize` impl calls first, and stops there.
struct FirstCall;

/// The answer of [`FirstCall`], carried as its error.
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

/// Whether `value` is a Kafka null under [`Auto`](super::Auto): `None`, `()` or a unit struct,
/// seen through `Some` and newtypes. Decides without encoding anything.
pub fn is_null<T: ?Sized + Serialize>(value: &T) -> bool {
    matches!(value.serialize(NullProbe), Ok(true))
}

/// Answers whether a value serializes as a Kafka null, looking through `Some` and newtypes.
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Order {
        id: u32,
        item: String,
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
}

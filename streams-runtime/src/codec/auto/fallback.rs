//! The compound-value formats [`Auto`](super::Auto) falls back to: [`Json`] and [`Binary`], and no
//! others.
//!
//! [`Fallback`] bounds `Auto`'s public `Codec` impl, so it must be `pub`; it is sealed so that
//! this is all it is. Its module is private (users cannot name it, and the docs list no page for
//! it), and its supertrait lives in a module private to this one, so it cannot be implemented
//! outside this file even if it were ever re-exported: each format's reading side is written out
//! per format in [`de`](super::de), so a third format would need code there anyway. The bound
//! is the whole trait: the per-format deserializers stay behind [`Fallback::decode`] rather than
//! in `Auto`'s where-clause.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::de::decode_top;
use crate::codec::{Binary, Json};

/// Keeps [`Fallback`] to the formats in this file.
mod sealed {
    /// Implemented for [`Json`](crate::codec::Json) and [`Binary`](crate::codec::Binary) only.
    pub trait Sealed {}
}

/// The compound-value format behind [`Auto`](super::Auto). Sealed: [`Json`] and [`Binary`].
pub trait Fallback: sealed::Sealed + 'static {
    /// The name used in messages.
    const NAME: &'static str;

    /// Appends `value` in this format.
    fn encode<T: ?Sized + Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), String>;

    /// Reads a whole top-level value: primitives natively, compound values in this format.
    fn decode<T: DeserializeOwned>(bytes: Option<&[u8]>) -> Result<T, String>;
}

impl sealed::Sealed for Json {}

impl Fallback for Json {
    const NAME: &'static str = "json";

    fn encode<T: ?Sized + Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        serde_json::to_writer(out, value).map_err(|e| e.to_string())
    }

    fn decode<T: DeserializeOwned>(bytes: Option<&[u8]>) -> Result<T, String> {
        decode_top::<T, Self>(bytes).map_err(|e| e.to_string())
    }
}

impl sealed::Sealed for Binary {}

impl Fallback for Binary {
    const NAME: &'static str = "binary";

    fn encode<T: ?Sized + Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        let buffer = std::mem::take(out);
        *out = postcard::to_extend(value, buffer).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn decode<T: DeserializeOwned>(bytes: Option<&[u8]>) -> Result<T, String> {
        decode_top::<T, Self>(bytes).map_err(|e| e.to_string())
    }
}

//! The expansion uses absolute paths only: strict lints and user types that shadow prelude names
//! do not disturb it.
#![deny(unused_qualifications, missing_docs, unsafe_code, warnings)]

use streams::prelude::*;

/// Shadows `Result`.
#[allow(dead_code)]
pub struct Result;
/// Shadows `Option`.
#[allow(dead_code)]
pub struct Option;
/// Shadows `Vec`.
#[allow(dead_code)]
pub struct Vec;
/// Shadows `Clone`.
#[allow(dead_code)]
pub trait Clone {}
/// Shadows `Ok` and `Some`.
#[allow(dead_code)]
pub enum Shadows {
    /// A variant named like `Ok`.
    Ok,
    /// A variant named like `Some`.
    Some,
}

/// Doubles a value.
#[processor]
pub fn double(value: u64) -> u64 {
    value * 2
}

/// A local binding may share the function's name.
#[processor]
pub fn total(value: u64) -> u64 {
    let total = value + 1;
    total
}

/// Named like the expansion's locals once were.
#[processor]
pub fn value(key: &String, value: &u64) -> u64 {
    key.len() as u64 + value
}

/// Lifetimes alone are not generics that matter.
#[processor]
pub fn state<'a>(ctx: &'a RecordContext, value: &'a u64) -> u64 {
    ctx.offset as u64 + value
}

/// Any displayable error is accepted.
#[processor]
pub fn checked(value: u64) -> std::result::Result<u64, Box<dyn std::error::Error>> {
    if value > 100 { Err("too big".into()) } else { Ok(value) }
}

/// Keeps even values.
#[processor]
pub fn even(value: &u64) -> std::option::Option<u64> {
    (value % 2 == 0).then_some(*value)
}

/// Counts per key.
#[processor]
pub fn count(key: &String, _value: &u64, counts: &mut KeyValueStore<String, u64>) -> std::result::Result<std::vec::Vec<u64>, StoreError> {
    let n = counts.get(key)?.unwrap_or(0) + 1;
    counts.put(key, &n)?;
    Ok(vec![n])
}

fn main() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&Topic::<String, u64>::new("in"))
        .process(double::Function)
        .process(value::Function)
        .process(state::Function)
        .process(checked::Function)
        .process(total::Function)
        .map_values(total)
        .process(even::Function)
        .process(count::Function)
        .to(&Topic::<String, u64>::new("out"));
    let _ = builder.build();
}

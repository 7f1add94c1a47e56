#![doc = include_str!("../README.md")]

pub use streams_macros::{main, processor};
pub use streams_runtime::*;

/// The names most programs need, for a glob import, with the `#[processor]` macro.
pub mod prelude {
    pub use streams_macros::processor;
    pub use streams_runtime::prelude::*;
}

#![doc = include_str!("../README.md")]

pub use streams_macros::{main, processor};
pub use streams_runtime::*;

/// Writing processors: each parameter kind, each return shape, stores, timers, and the common
/// compile errors with what to change.
#[doc = include_str!("writing_processors.md")]
pub mod writing_processors {}

/// The names most programs need, for a glob import, with the `#[processor]` macro.
pub mod prelude {
    pub use streams_macros::processor;
    pub use streams_runtime::prelude::*;
}

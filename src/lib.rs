//! # streams
//!
//! Kafka Streams' architecture in Rust, typed at compile time. This is the crate to depend on: it
//! re-exports the runtime ([`streams_runtime`]) and the `#[processor]` attribute macro.
//!
//! ```
//! use streams::prelude::*;
//!
//! /// Counts each word and forwards its running count.
//! #[processor]
//! fn count_word(word: &String, counts: &mut KeyValueStore<String, u64>) -> Result<u64, StoreError> {
//!     let count = counts.get(word)?.unwrap_or(0) + 1;
//!     counts.put(word, &count)?;
//!     Ok(count)
//! }
//!
//! const LINES: Topic<(), String> = Topic::new("lines");
//! const COUNTS: Topic<(), u64> = Topic::new("counts");
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream(&LINES)
//!     .flat_map_values(|line: String| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
//!     .process(count_word::Processor)
//!     .to(&COUNTS);
//! let mut driver = TopologyTestDriver::new(builder.build()?)?;
//! driver.pipe(&LINES, (), "to be or not to be".into())?;
//! assert_eq!(driver.read_values(&COUNTS)?, vec![1, 1, 1, 1, 2, 2]);
//! # Ok::<(), streams::StreamsError>(())
//! ```

pub use streams_macros::{main, processor};
pub use streams_runtime::*;

/// The names most programs need, for a glob import, with the `#[processor]` macro.
pub mod prelude {
    pub use streams_macros::processor;
    pub use streams_runtime::prelude::*;
}

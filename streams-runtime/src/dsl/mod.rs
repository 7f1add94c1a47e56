//! The typed DSL: [`StreamsBuilder`], [`KStream`], [`KTable`] and the grouped handles.
//!
//! Each handle carries its key and value types, so wiring an operator that expects other types, or
//! writing to a topic of other types, does not compile. Operators add processor nodes to the graph
//! the builder shares with its handles; [`StreamsBuilder::build`] freezes it into a
//! [`Topology`](crate::Topology). Operators that change the key mark the stream, and a later
//! aggregation then routes it through a repartition topic, as in Kafka Streams.

mod aggregate;
mod branch;
mod builder;
mod consumed;
mod grouped;
mod kstream;
mod ktable;
mod ops;
mod print;
mod produced;
mod repartition;
mod session_aggregate;
mod sliding_aggregate;
mod suppress;
mod to_table;
mod window_aggregate;
mod windowed;
mod windows;

pub use aggregate::Change;
pub use branch::BranchedKStream;
pub use builder::{StreamsBuilder, Topic};
pub use consumed::{
    AutoOffsetReset, Consumed, ConsumedRecord, EventTime, EventTimeOf, RecordTime,
    TimestampExtractor,
};
pub use grouped::KGroupedStream;
pub use kstream::KStream;
pub use ktable::KTable;
pub use print::Printed;
pub use produced::Produced;
pub use repartition::{Grouped, Repartitioned};
pub use suppress::{BufferConfig, Eager, Strict, Suppressed};
pub use windowed::{SessionWindowedKStream, TimeWindowedKStream, WindowedBy};
pub use windows::{EmitStrategy, InvalidWindows, SessionWindows, SlidingWindows, TimeWindows};

//! The runtime of `streams`: Kafka Streams' architecture in Rust, typed at compile time.
//!
//! Use it through the `streams` crate, which adds the `#[processor]` macro. The modules, bottom-up:
//! each uses only those listed before it (`tests/layers.rs` checks it).
//!
//! - [`record`], [`codec`], [`error`], [`config`]: records as processors see them and as bytes,
//!   the record collector they leave through; how keys and values become bytes, fixed by type;
//!   errors and the exception handlers; configuration (with the legal-name rule, locks that
//!   survive a panicking thread and a task's environment, these are the crate's leaf);
//! - [`state`]: typed state stores over byte-level backends, the record cache, change logging,
//!   the state directory;
//! - [`processor`]: the Processor API every node implements, and `#[processor]` functions;
//! - [`topology`]: the graph a builder produces, cut into sub-topologies, and `describe()`;
//! - [`task`]: a sub-topology running on one partition, in timestamp order;
//! - [`dsl`]: the typed builder ([`StreamsBuilder`], [`KStream`], [`KTable`]) that wires a topology;
//! - [`test_driver`]: the same tasks fed from memory, for tests;
//! - `kafka`, then `app` (feature `kafka`): stream threads over Kafka, and `KafkaStreams`, an
//!   application instance;
//! - `cli` (feature `cli`): what a binary needs: flags, log output, signals.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `kafka` | on | `KafkaStreams`, stream threads, the embedded broker (librdkafka, built from C) |
//! | `rocksdb` | on | RocksDB stores (built from C++; needs libclang); without it every store is in memory |
//! | `cli` | on | `#[streams::main]`: the standard flags (clap), log output (tracing-subscriber), signal handling; implies `kafka` |
//!
//! Without default features the crate is the typed DSL, `#[processor]`, codecs, in-memory
//! stores and the test driver, and needs no C compiler.

#[cfg(feature = "kafka")]
pub mod app;
#[cfg(feature = "cli")]
pub mod cli;
pub mod codec;
pub mod config;
pub mod dsl;
pub mod error;
#[cfg(feature = "kafka")]
pub mod kafka;
mod names;
pub mod processor;
pub mod record;
pub mod state;
mod sync;
pub mod task;
mod task_env;
pub mod test_driver;
pub mod topology;

#[cfg(feature = "kafka")]
pub use app::{KafkaStreams, ShutdownHandle, State, StreamsMetrics, UncaughtErrorPolicy};
pub use codec::{Codec, CodecError, TopicCodec};
pub use config::{ConfigError, StreamsConfig};
pub use dsl::{
    AutoOffsetReset, BranchedKStream, BufferConfig, Change, Consumed, ConsumedRecord, EmitStrategy,
    Grouped, KGroupedStream, KStream, KTable, Printed, Produced, Repartitioned,
    SessionWindowedKStream, SessionWindows, SlidingWindows, StreamsBuilder, Suppressed,
    TimeWindowedKStream, TimeWindows, TimestampExtractor, Topic,
};
pub use error::{InvalidWindows, ProcessError, StoreError, StreamsError, TopologyError};
#[cfg(feature = "kafka")]
pub use kafka::{EmbeddedBroker, StateRestoreListener, StoreSnapshot};
pub use processor::{
    Data, InitContext, Processor, ProcessorContext, ProcessorFunction, PunctuationType,
    PunctuatorId, TaskId,
};
pub use record::{Header, Headers, Record, RecordContext};
pub use state::{
    KeyValueStore, Materialized, SessionStore, StateStore, StoreBackend, StoreSpec, Window,
    WindowStore, Windowed,
};
pub use test_driver::{TestDriverConfig, TopologyTestDriver};
pub use topology::{Topology, TopologyDescription};

/// The names most programs need, for a glob import.
pub mod prelude {
    #[cfg(feature = "kafka")]
    pub use crate::app::KafkaStreams;
    pub use crate::codec::{Codec, SessionWindowedCodec, TimeWindowedCodec, TopicCodec};
    pub use crate::config::StreamsConfig;
    pub use crate::dsl::{
        AutoOffsetReset, BufferConfig, Change, Consumed, EmitStrategy, Grouped, KGroupedStream,
        KStream, KTable, Printed, Produced, Repartitioned, SessionWindows, SlidingWindows,
        StreamsBuilder, Suppressed, TimeWindows, Topic,
    };
    pub use crate::error::{ProcessError, StoreError, StreamsError};
    pub use crate::processor::{
        InitContext, Processor, ProcessorContext, ProcessorFunction, PunctuationType, PunctuatorId,
    };
    pub use crate::record::{Headers, Record, RecordContext};
    pub use crate::state::{
        KeyValueStore, Materialized, SessionStore, StateStore, StoreBackend, StoreSpec, Window,
        WindowStore, Windowed,
    };
    pub use crate::test_driver::{TestDriverConfig, TopologyTestDriver};
    pub use crate::topology::Topology;
}

/// What `#[processor]` expansions use. Not a stable API: the macro and this module change together.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "cli")]
    pub use crate::cli::run_main;
    pub use crate::dsl::StreamsBuilder;
    pub use crate::error::ProcessError;
    pub use crate::processor::{
        Data, InitContext, ProcessorContext, ProcessorFunction, PunctuationType, Timer, emit,
    };
    pub use crate::record::{Record, RecordContext};
    pub use crate::state::{StateStore, StoreSpec};
    #[cfg(not(feature = "cli"))]
    pub use crate::without_cli::run_main;
}

/// `#[streams::main]` without the `cli` feature: a compile error that says which feature to turn
/// on, rather than "cannot find `run_main`".
#[cfg(not(feature = "cli"))]
mod without_cli {
    /// Implemented by nothing, so that a call to [`run_main`] fails to compile with its message.
    #[diagnostic::on_unimplemented(
        message = "`#[streams::main]` needs the `cli` feature of `streams` (on by default)",
        label = "`#[streams::main]` needs the `cli` feature",
        note = "depend on `streams` with `features = [\"cli\"]`, or keep its default features"
    )]
    pub trait CliFeatureEnabled {}

    /// Never callable: its bound has no implementations.
    pub fn run_main<F>(_default_application_id: &'static str, _build: F) -> std::process::ExitCode
    where
        F: CliFeatureEnabled,
    {
        std::process::ExitCode::FAILURE
    }
}

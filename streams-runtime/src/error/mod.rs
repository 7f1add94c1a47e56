//! The errors of building topologies, processing records and using state stores, and the
//! handlers that decide what an error in one record does ([`DeserializationErrorHandler`] and its two siblings).

mod handler;

pub use handler::{DeserializationErrorHandler, ProcessingErrorHandler, ProductionErrorHandler};

use std::error::Error as StdError;

use crate::codec::CodecError;

/// A boxed error from user code (the `E` of a processor returning `Result<T, E>`).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A mistake in the topology that only shows when it is built (the compiler catches the rest).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// Two sources read the same topic.
    #[error("topic `{topic}` is already registered by source `{existing}`")]
    DuplicateSourceTopic {
        /// The topic.
        topic: String,
        /// The source that registered it first.
        existing: String,
    },
    /// `Printed::to_file` names a file that cannot be written.
    #[error("cannot print to `{path}`: {reason}")]
    PrintFile {
        /// The file.
        path: String,
        /// Why it cannot be created.
        reason: String,
    },
    /// A repartition topic was given fewer than one partition.
    #[error("repartition topic `{topic}` cannot have {partitions} partitions: give it at least 1")]
    InvalidPartitionCount {
        /// The topic.
        topic: String,
        /// The count given.
        partitions: i32,
    },
    /// A windowed aggregation's store keeps its windows for less time than they accept
    /// records.
    #[error(
        "the retention period of the store `{store}` ({retention_ms} ms) must be no smaller than {what} ({required_ms} ms)"
    )]
    RetentionTooShort {
        /// The store.
        store: String,
        /// The retention asked for.
        retention_ms: i64,
        /// What the windows need, such as `its window size plus the grace period`.
        what: &'static str,
        /// The least retention that keeps every window until it closes.
        required_ms: i64,
    },
    /// `suppress(Suppressed::until_window_closes(..))` on a table that is not the result of a
    /// windowed aggregation: only those know when a window closes.
    #[error(
        "suppress node `{node}` waits until windows close, but its table is not the result of a windowed aggregation: suppress right after `windowed_by(..).count()` (or reduce/aggregate), or use `until_time_limit`"
    )]
    SuppressWithoutWindows {
        /// The suppress node.
        node: String,
    },
    /// Two `stream()` calls read one topic with different types or codecs.
    #[error(
        "topic `{topic}` is read twice with different key/value types or codecs (first by source `{existing}`): read it once and convert the stream"
    )]
    SourceTypesDiffer {
        /// The topic.
        topic: String,
        /// The source that read it first.
        existing: String,
    },
    /// A processor names a store that was never added.
    #[error(
        "processor `{processor}` uses store `{store}`, which is not added: add it with `StreamsBuilder::add_state_store` first"
    )]
    UnknownStore {
        /// The processor node.
        processor: String,
        /// The store name.
        store: String,
    },
    /// Two nodes share a name.
    #[error("two nodes are named `{0}`; give one of them another name")]
    DuplicateNodeName(String),
    /// Two stores of different types share a name.
    #[error("store `{name}` is declared twice with different types: `{first}` and `{second}`")]
    ConflictingStore {
        /// The store name.
        name: String,
        /// The first declaration's handle type.
        first: &'static str,
        /// The second declaration's handle type.
        second: &'static str,
    },
    /// A name that cannot be a Kafka topic (or part of one).
    #[error("`{0}` is not a legal name: use {rule}", rule = crate::names::NAME_RULE)]
    IllegalName(String),
    /// An edge joins nodes of different record types (a bug in code that wires nodes by hand).
    #[error("the edge from `{from}` to `{to}` joins nodes of different record types")]
    EdgeType {
        /// The parent node.
        from: String,
        /// The child node.
        to: String,
    },
    /// A task was asked for a sub-topology the topology does not have.
    #[error("the topology has no sub-topology {0}")]
    UnknownSubtopology(u32),
    /// A handle of another builder, or of one already built, was wired into this one.
    #[error("a stream handle from another StreamsBuilder (or one already built) was used")]
    ForeignHandle,
    /// The topology has no source.
    #[error("the topology has no source: add `StreamsBuilder::stream` or `StreamsBuilder::table`")]
    NoSources,
}

/// A store could not be opened or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No store of that name is connected to the processor (or exists in the task).
    #[error("no state store named `{0}` here; declare it on the processor that uses it")]
    NotFound(String),
    /// The store exists with another type than the handle asked for.
    #[error("state store `{name}` holds `{actual}`, not `{requested}`")]
    TypeMismatch {
        /// The store name.
        name: String,
        /// The handle type the caller asked for.
        requested: &'static str,
        /// The handle type the store was declared with.
        actual: &'static str,
    },
    /// A key or value could not be encoded or decoded.
    #[error("state store `{store}`: {source}")]
    Codec {
        /// The store name.
        store: String,
        /// The codec failure.
        source: CodecError,
    },
    /// A window or session store was given a negative timestamp: windows start at 0 or later,
    /// and the stores' keys order timestamps as unsigned big-endian bytes (as Kafka Streams').
    #[error(
        "state store `{store}`: timestamp {timestamp} is negative; window and session stores take timestamps >= 0"
    )]
    NegativeTimestamp {
        /// The store name.
        store: String,
        /// The rejected timestamp.
        timestamp: i64,
    },
    /// A store was declared with settings that cannot work together.
    #[error("state store `{store}` is misconfigured: {message}")]
    InvalidConfig {
        /// The store name.
        store: String,
        /// What is wrong.
        message: String,
    },
    /// A store key does not have the layout of the store's kind (a changelog record of another
    /// store, or damaged data).
    #[error("state store `{store}` found a malformed key: {message}")]
    MalformedKey {
        /// The store name.
        store: String,
        /// What is wrong.
        message: String,
    },
    /// The storage engine failed.
    #[error("state store `{store}` failed: {message}")]
    Backend {
        /// The store name.
        store: String,
        /// The engine's message.
        message: String,
    },
    /// RocksDB failed.
    #[cfg(feature = "rocksdb")]
    #[error("state store `{store}` failed: {source}")]
    RocksDb {
        /// The store name.
        store: String,
        /// RocksDB's error.
        #[source]
        source: rocksdb::Error,
    },
    /// A task's checkpoint file could not be read, written or deleted.
    #[error("cannot {action} the checkpoint {}: {source}", .path.display())]
    CheckpointIo {
        /// "read", "write" or "delete".
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A task's checkpoint file is damaged.
    #[error("the checkpoint {}: line {line} is not `topic partition offset`", .path.display())]
    CheckpointDamaged {
        /// The file.
        path: std::path::PathBuf,
        /// The first damaged line (from 1).
        line: usize,
    },
    /// A file or directory of the store could not be read, written or deleted.
    #[error("state store `{store}`: cannot {action} {}: {source}", .path.display())]
    Io {
        /// The store name.
        store: String,
        /// What was being done: "delete", "create", "write the checkpoint" ...
        action: &'static str,
        /// The file or directory.
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A persistent store was opened without a state directory to keep it in.
    #[error("state store `{store}` is persistent and needs a state directory")]
    NoStateDirectory {
        /// The store name.
        store: String,
    },
    /// The store was used while it was already in use further up the same call (a processor
    /// that writes to a store from inside that store's flush listener).
    #[error("state store `{store}` is already in use further up this call")]
    Busy {
        /// The store name.
        store: String,
    },
    /// A change could not be written to the store's changelog.
    #[error("state store `{store}`: cannot log a change: {source}")]
    ChangeLog {
        /// The store name.
        store: String,
        /// Why the record collector refused the changelog record.
        source: Box<ProcessError>,
    },
    /// Restoring the store from its changelog made no progress for too long.
    #[error(
        "restoring state store `{store}` from {topic}-{partition} stalled at offset {position} of {end}"
    )]
    RestoreStalled {
        /// The store name.
        store: String,
        /// The changelog topic.
        topic: String,
        /// The changelog partition.
        partition: i32,
        /// The offset the restore reached.
        position: i64,
        /// The offset it was reading to.
        end: i64,
    },
    /// A change log cannot be read even from its beginning (the broker reports every offset
    /// out of range).
    #[error(
        "cannot restore state store `{store}`: change log {topic}-{partition} cannot be read from its beginning"
    )]
    ChangelogUnreadable {
        /// The store name.
        store: String,
        /// The changelog topic.
        topic: String,
        /// The changelog partition.
        partition: i32,
    },
}

/// Which part of a record a codec failed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordPart {
    /// The key.
    Key,
    /// The value.
    Value,
}

impl std::fmt::Display for RecordPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordPart::Key => "key",
            RecordPart::Value => "value",
        })
    }
}

/// A window definition that cannot describe windows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidWindows {
    /// A window size, time difference or inactivity gap of zero.
    #[error("{what} must be larger than zero")]
    Zero {
        /// What was zero, such as `window size`.
        what: &'static str,
    },
    /// A hopping window's advance that is zero or larger than its size.
    #[error(
        "the window advance ({advance_ms} ms) must be more than zero and no more than the window size ({size_ms} ms)"
    )]
    Advance {
        /// The advance asked for.
        advance_ms: u64,
        /// The window size.
        size_ms: i64,
    },
    /// A length too large to count in milliseconds as an `i64`, alone or added to the others.
    #[error("{what} of {ms} ms does not fit: windows count time in i64 milliseconds")]
    TooLong {
        /// What was too long, such as `grace period`.
        what: &'static str,
        /// The length asked for.
        ms: u64,
    },
}

/// Processing one record (or one punctuation) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// An input record's key or value could not be decoded.
    #[error(
        "cannot deserialize the {part} of the record at topic `{topic}` partition {partition} offset {offset}: {source}"
    )]
    Deserialization {
        /// The input topic.
        topic: String,
        /// The input partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// Key or value.
        part: RecordPart,
        /// The codec failure.
        source: CodecError,
    },
    /// An output record's key or value could not be encoded.
    #[error(
        "cannot serialize the {part} of a record for topic `{topic}` (sink `{node}`): {source}"
    )]
    Serialization {
        /// The sink node.
        node: String,
        /// The output topic.
        topic: String,
        /// Key or value.
        part: RecordPart,
        /// The codec failure.
        source: CodecError,
    },
    /// User code in a processor returned an error.
    #[error("processor `{node}` failed: {source}")]
    Processor {
        /// The processor node.
        node: String,
        /// The processor's error.
        source: BoxError,
    },
    /// A state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A suppression buffer told to shut down when full (`BufferConfig::shut_down_when_full`,
    /// and every `until_window_closes` buffer) went over its bounds.
    #[error(
        "{node} buffer exceeded its max capacity. Currently [{records}/{max_records}] records and [{bytes}/{max_bytes}] bytes; the buffer is set to shut down when full: raise its bounds or let it emit early"
    )]
    BufferFull {
        /// The suppress node.
        node: String,
        /// Records buffered.
        records: u64,
        /// Bytes buffered.
        bytes: u64,
        /// The record bound (`u64::MAX`: none).
        max_records: u64,
        /// The byte bound (`u64::MAX`: none).
        max_bytes: u64,
    },
    /// A partitioner chose a partition the topic does not have.
    #[error(
        "the partitioner of sink `{node}` chose partition {partition} of topic `{topic}`, which has {partitions}"
    )]
    PartitionOutOfRange {
        /// The sink node.
        node: String,
        /// The output topic.
        topic: String,
        /// The partition chosen.
        partition: i32,
        /// The topic's partition count.
        partitions: i32,
    },
    /// The producer refused an output record.
    #[cfg(feature = "kafka")]
    #[error("cannot send a record to topic `{topic}`: {source}")]
    Send {
        /// The output topic.
        topic: String,
        /// The producer's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
}

impl ProcessError {
    /// Wraps an error returned by user code in the processor `node`.
    pub fn processor(node: impl Into<String>, error: impl Into<BoxError>) -> Self {
        ProcessError::Processor {
            node: node.into(),
            source: error.into(),
        }
    }
}

/// Any error of this crate, for callers that handle them alike.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamsError {
    /// The topology is invalid.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A record could not be processed.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key or value could not be encoded or decoded outside a task.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A window definition cannot describe windows.
    #[error(transparent)]
    Windows(#[from] InvalidWindows),
    /// A Kafka client call failed in a way the runtime cannot recover from.
    #[cfg(feature = "kafka")]
    #[error("kafka: {context}: {source}")]
    Kafka {
        /// What the runtime was doing.
        context: String,
        /// The client's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The producer could not deliver a record and the production-exception handler is `fail`.
    #[cfg(feature = "kafka")]
    #[error("kafka: cannot deliver a record to topic `{topic}` partition {partition}: {source}")]
    Delivery {
        /// The output topic.
        topic: String,
        /// The partition the record was sent to.
        partition: i32,
        /// The producer's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A record timed out in the producer (`message.timeout.ms`) without an answer from the
    /// brokers, and the production-exception handler is `fail`: the cause is what the producer
    /// met talking to them.
    #[cfg(feature = "kafka")]
    #[error(
        "kafka: cannot deliver a record to topic `{topic}` partition {partition}: Message production error: MessageTimedOut (Local: Message timed out); the broker's last error: {broker_error}"
    )]
    DeliveryTimedOut {
        /// The output topic.
        topic: String,
        /// The partition the record was sent to.
        partition: i32,
        /// The last error the producer met talking to the brokers (a refused connection, a
        /// failed authentication), as `Code: reason`.
        broker_error: String,
    },
    /// The brokers answered a lookup of a topic with an error other than "unknown topic":
    /// typically `TopicAuthorizationFailed` (the application's principal may not use it).
    #[cfg(feature = "kafka")]
    #[error("kafka: topic `{topic}` cannot be used: {code}")]
    TopicUnavailable {
        /// The topic.
        topic: String,
        /// The broker's error code.
        code: rdkafka::types::RDKafkaErrorCode,
    },
    /// No broker answered a lookup of a topic within `task.timeout.ms`.
    #[cfg(feature = "kafka")]
    #[error(
        "kafka: no broker answered about topic `{topic}` within task.timeout.ms ({waited_ms} ms): {cause}"
    )]
    BrokerUnreachable {
        /// The topic looked up.
        topic: String,
        /// How long the lookup was tried.
        waited_ms: u64,
        /// The last error the client met talking to the brokers, as `Code: reason` (a refused
        /// connection, a failed authentication), or the lookup's own error when it met none.
        cause: String,
    },
    /// A topic the topology reads does not exist (source topics are the user's to create).
    #[error("kafka: source topic `{topic}` does not exist; create it first")]
    SourceTopicMissing {
        /// The topic.
        topic: String,
    },
    /// A topic the topology writes by name does not exist (output topics are the user's to
    /// create).
    #[error("kafka: output topic `{topic}` does not exist; create it first")]
    SinkTopicMissing {
        /// The topic.
        topic: String,
    },
    /// The dead-letter topic `deserialization.exception.handler` sends bad records to does not
    /// exist.
    #[error(
        "kafka: dead-letter topic `{topic}` (errors.dead.letter.queue.topic.name) does not exist; create it first"
    )]
    DeadLetterTopicMissing {
        /// The topic.
        topic: String,
    },
    /// Two topics one task reads have different partition counts.
    #[error(
        "kafka: topics `{first}` ({first_partitions} partitions) and `{second}` ({second_partitions} partitions) are read by one task and must be co-partitioned: give them the same number of partitions"
    )]
    NotCopartitioned {
        /// One topic.
        first: String,
        /// Its partition count.
        first_partitions: i32,
        /// The other topic.
        second: String,
        /// Its partition count.
        second_partitions: i32,
    },
    /// An internal (changelog or repartition) topic did not appear after it was created.
    #[error("kafka: internal topic `{topic}` could not be created; create it by hand")]
    InternalTopicMissing {
        /// The topic.
        topic: String,
    },
    /// A changelog topic exists with fewer partitions than the tasks whose stores it logs.
    #[error("kafka: changelog topic `{topic}` has {actual} partitions but its tasks need {needed}")]
    ChangelogTooSmall {
        /// The topic.
        topic: String,
        /// Its partition count.
        actual: i32,
        /// The number of tasks writing to it.
        needed: i32,
    },
    /// The caller named a store the topology does not have.
    #[error("the topology has no store named `{name}`; its stores: {stores}")]
    UnknownStore {
        /// The name asked for.
        name: String,
        /// The stores the topology has, comma-separated (`none` if it has none).
        stores: String,
    },
    /// The caller named a topic the topology does not know.
    #[error("topic `{0}` is neither read nor written by this topology")]
    UnknownTopic(String),
    /// Another instance holds the state directory.
    #[error(
        "the state directory {} is in use by another instance of this application; give each instance its own `state.dir`",
        .0.display()
    )]
    StateDirLocked(std::path::PathBuf),
    /// The state directory cannot be created or locked.
    #[error("cannot use the state directory {}: {source}", .path.display())]
    StateDir {
        /// The directory (or the file in it that failed).
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `KafkaStreams::start` was called on an instance that was already started.
    #[error("the instance was already started")]
    AlreadyStarted,
    /// The operating system refused to start a thread.
    #[error("cannot start thread `{name}`: {source}")]
    ThreadSpawn {
        /// The thread's name.
        name: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A thread of the instance panicked (the panic's message is in the log).
    #[error("thread `{name}` panicked")]
    ThreadPanicked {
        /// The thread's name.
        name: String,
    },
    /// SIGINT and SIGTERM cannot be watched (a binary's run loop, feature `cli`).
    #[error("cannot watch for stop signals: {0}")]
    Signals(#[source] std::io::Error),
}

#[cfg(feature = "kafka")]
impl StreamsError {
    /// For `map_err`: a Kafka client error, with what the runtime was doing when it failed.
    pub(crate) fn kafka(
        context: impl Into<String>,
    ) -> impl FnOnce(rdkafka::error::KafkaError) -> StreamsError {
        let context = context.into();
        move |source| StreamsError::Kafka { context, source }
    }
}

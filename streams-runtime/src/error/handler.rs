//! What to do about an error in a record: the three exception handlers of Kafka Streams
//! (`deserialization.exception.handler`, `processing.exception.handler`,
//! `production.exception.handler`), one enum each. The configuration parses them, the task and
//! the record collector apply them.

use std::sync::Arc;

/// What to do with an input record whose key or value cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DeserializationErrorHandler {
    /// Stop with an error naming the topic, partition and offset (Kafka Streams' default).
    #[default]
    Fail,
    /// Log the error, count the record as dropped, and go on.
    LogAndContinue,
    /// Send the raw record to `topic` with the error and its coordinates in `__streams.errors.*`
    /// headers (as Kafka Streams' dead-letter queue does), count it as dropped, and go on.
    DeadLetterQueue {
        /// The dead-letter topic.
        topic: Arc<str>,
    },
}

/// What to do when a processor returns an error (a `#[processor]` function's `Err`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProcessingErrorHandler {
    /// Stop with the error (Kafka Streams' default).
    #[default]
    Fail,
    /// Log the error, count the record as dropped, and go on.
    LogAndContinue,
}

/// What to do when the producer reports that an output record could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProductionErrorHandler {
    /// Stop the stream thread with the error (Kafka Streams' default).
    #[default]
    Fail,
    /// Log the error, count the record as dropped, and go on (configured as `log_and_continue`
    /// or `continue`).
    LogAndContinue,
}

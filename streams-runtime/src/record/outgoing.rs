//! Records as bytes on their way out, and the record collector they go to: every record a task
//! produces (sinks, repartition topics, changelogs, dead letters). The stream thread's collector
//! hands records to its Kafka producer; the test driver's keeps them in memory.

use super::Headers;
use crate::error::ProcessError;

// Public for the integration tests and benchmarks, which drive tasks directly; not part of the
// API (hidden from the docs, may change without notice).
#[doc(hidden)]
/// An encoded output record, borrowed from the sink that produced it.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingRecord<'a> {
    /// The topic (full name).
    pub topic: &'a str,
    /// The partition; `None` lets the collector choose from the key (changelogs name theirs).
    pub partition: Option<i32>,
    /// The encoded key; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// The encoded value; `None` is a null value.
    pub value: Option<&'a [u8]>,
    /// The timestamp.
    pub timestamp: i64,
    /// The headers.
    pub headers: &'a Headers,
}

// Public for the integration tests and benchmarks, which drive tasks directly; not part of the
// API (hidden from the docs, may change without notice).
#[doc(hidden)]
/// Receives every record the tasks of one stream thread produce.
pub trait RecordCollector {
    /// Sends one record (the collector chooses the partition from the key).
    fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), ProcessError>;

    /// How many partitions `topic` has, for a sink's partitioner. Collectors that stand in for
    /// Kafka (the test driver's, tests') model every topic as one partition, as Kafka Streams'
    /// test driver does.
    fn partition_count(&mut self, topic: &str) -> Result<i32, ProcessError> {
        let _ = topic;
        Ok(1)
    }
}

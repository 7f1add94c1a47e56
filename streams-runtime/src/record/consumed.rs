//! How a source reads its topic, as the layers below the DSL see it: where it starts without a
//! committed offset, and the timestamp each input record gets.

use std::sync::Arc;

use super::Headers;

/// Where a source starts reading a partition that has no committed offset (Kafka Streams'
/// `AutoOffsetReset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoOffsetReset {
    /// At the oldest record kept.
    Earliest,
    /// After the newest record: only records produced from now on.
    Latest,
}

/// An input record as a [`TimestampExtractor`] sees it: still encoded.
#[derive(Debug, Clone, Copy)]
pub struct ConsumedRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The timestamp Kafka gave the record (its producer's or the broker's).
    pub timestamp: i64,
    /// The encoded key; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// The encoded value; `None` is a null value.
    pub value: Option<&'a [u8]>,
    /// The headers.
    pub headers: &'a Headers,
}

/// Gives each input record of a source its timestamp (Kafka Streams' `TimestampExtractor`):
/// `extract(record, partition_time)`, where `partition_time` is the largest timestamp this
/// extractor returned so far for the record's partition (-1 before the first). The timestamp
/// decides the order a task processes its partitions in, stream time, and windows; a negative
/// one drops the record (counted in `dropped_records`).
pub type TimestampExtractor = Arc<dyn Fn(&ConsumedRecord<'_>, i64) -> i64 + Send + Sync>;

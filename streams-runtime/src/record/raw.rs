//! Records as bytes, the way they come from Kafka: a task's input before its source node decodes
//! it.

use std::sync::Arc;

use super::Headers;

// Public for the integration tests and benchmarks, which drive tasks directly; not part of the
// API (hidden from the docs, may change without notice).
#[doc(hidden)]
/// An input record as it comes from Kafka: bytes and coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The topic (full name).
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The timestamp in milliseconds since the epoch.
    pub timestamp: i64,
    /// The key; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// The headers.
    pub headers: Headers,
}

/// An input record still in the consumer's buffer, processed where it lies when its task needs
/// no buffering (see `StreamTask::takes_direct_input`).
#[cfg(feature = "kafka")]
#[derive(Debug)]
pub(crate) struct BorrowedInput<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: Headers,
}

#[cfg(feature = "kafka")]
impl BorrowedInput<'_> {
    /// A copy that outlives the consumer's buffer (`topic` is `self.topic`, shared).
    pub(crate) fn into_raw(self, topic: Arc<str>) -> RawRecord {
        RawRecord {
            topic,
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.map(<[u8]>::to_vec),
            headers: self.headers,
        }
    }
}

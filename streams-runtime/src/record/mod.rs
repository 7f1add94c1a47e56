//! Records as processors see them: a typed key and value with a timestamp and headers, plus the
//! coordinates of the input record that is being processed; and records as bytes, as they come
//! from Kafka ([`RawRecord`]) and leave for it ([`OutgoingRecord`], through a [`RecordCollector`]).

mod consumed;
mod outgoing;
mod raw;
mod windowed;

pub use consumed::{AutoOffsetReset, ConsumedRecord, TimestampExtractor};
pub use outgoing::{OutgoingRecord, RecordCollector};
#[cfg(feature = "kafka")]
pub(crate) use raw::BorrowedInput;
pub use raw::RawRecord;
pub use windowed::{Window, Windowed};

use std::sync::Arc;

/// One Kafka record header: a name and an optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header's name.
    pub key: String,
    /// The header's value; `None` is a null header value.
    pub value: Option<Vec<u8>>,
}

/// The headers of a record, in order; a name may repeat, as in Kafka.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// No headers (does not allocate).
    pub const fn new() -> Self {
        Headers(Vec::new())
    }

    /// Appends a header.
    pub fn add(&mut self, key: impl Into<String>, value: impl Into<Option<Vec<u8>>>) -> &mut Self {
        self.0.push(Header {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// The value of the last header named `key`, as Kafka's `lastHeader`.
    pub fn last(&self, key: &str) -> Option<&Header> {
        self.0.iter().rev().find(|h| h.key == key)
    }

    /// Removes every header named `key`.
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|h| h.key != key);
    }

    /// Iterates the headers in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }

    /// The number of headers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<Vec<u8>>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Headers(
            iter.into_iter()
                .map(|(k, v)| Header {
                    key: k.into(),
                    value: Some(v.into()),
                })
                .collect(),
        )
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A typed record flowing between processors.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<K, V> {
    /// The key.
    pub key: K,
    /// The value.
    pub value: V,
    /// Milliseconds since the epoch: event time, which drives stream time.
    pub timestamp: i64,
    /// The headers, carried from input to output unless a processor changes them.
    pub headers: Headers,
}

impl<K, V> Record<K, V> {
    /// A record without headers.
    pub fn new(key: K, value: V, timestamp: i64) -> Self {
        Record {
            key,
            value,
            timestamp,
            headers: Headers::new(),
        }
    }

    /// The same record with another value (key, timestamp and headers kept).
    pub fn with_value<V2>(self, value: V2) -> Record<K, V2> {
        Record {
            key: self.key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another key (value, timestamp and headers kept).
    pub fn with_key<K2>(self, key: K2) -> Record<K2, V> {
        Record {
            key,
            value: self.value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another timestamp.
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = timestamp;
        self
    }
}

/// Where the record being processed came from. During a punctuation there is no input record.
/// (The record's headers travel with the [`Record`] itself.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordContext {
    /// The input topic.
    pub topic: Arc<str>,
    /// The input partition.
    pub partition: i32,
    /// The record's offset in that partition.
    pub offset: i64,
    /// The input record's timestamp.
    pub timestamp: i64,
}

impl RecordContext {
    /// A context for calling a processor function directly, as in a unit test.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::RecordContext;
    ///
    /// let context = RecordContext::new("orders", 2, 41, 1_700_000_000_000);
    /// assert_eq!((&*context.topic, context.partition, context.offset), ("orders", 2, 41));
    /// ```
    pub fn new(topic: impl Into<Arc<str>>, partition: i32, offset: i64, timestamp: i64) -> Self {
        RecordContext {
            topic: topic.into(),
            partition,
            offset,
            timestamp,
        }
    }
}

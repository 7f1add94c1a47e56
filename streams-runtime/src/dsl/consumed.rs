//! Reading a topic: [`Consumed`], the source's name, where it starts without a committed
//! offset, and the timestamp its records carry (Kafka Streams' `Consumed`).

use std::sync::Arc;

pub use crate::record::{AutoOffsetReset, ConsumedRecord, TimestampExtractor};

/// How [`StreamsBuilder::stream_with`](super::StreamsBuilder::stream_with) and
/// [`table_consumed`](super::StreamsBuilder::table_consumed) read their topic.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::prelude::*;
///
/// let consumed = Consumed::named("orders-source").with_offset_reset(AutoOffsetReset::Latest);
/// assert_eq!(consumed.name(), Some("orders-source"));
/// assert_eq!(consumed.offset_reset(), Some(AutoOffsetReset::Latest));
/// ```
#[derive(Clone, Default)]
pub struct Consumed {
    name: Option<String>,
    offset_reset: Option<AutoOffsetReset>,
    timestamp_extractor: Option<TimestampExtractor>,
}

impl std::fmt::Debug for Consumed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumed")
            .field("name", &self.name)
            .field("offset_reset", &self.offset_reset)
            .field("timestamp_extractor", &self.timestamp_extractor.is_some())
            .finish()
    }
}

impl Consumed {
    /// A generated source name and the application's `auto.offset.reset` (earliest unless
    /// configured).
    pub fn new() -> Self {
        Self::default()
    }

    /// The source node is named `name`; a table's source processor is then
    /// `<name>-table-source`. As in Kafka Streams, the generated index is taken all the same.
    pub fn named(name: impl Into<String>) -> Self {
        Consumed {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// Where to start in a partition without a committed offset, for this topic only.
    pub fn with_offset_reset(mut self, reset: AutoOffsetReset) -> Self {
        self.offset_reset = Some(reset);
        self
    }

    /// Takes each record's timestamp from `extractor` rather than from Kafka's record
    /// timestamp, e.g. a time field of the payload.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// // Values are "<millis>,<text>": the event time leads the payload.
    /// let events = Topic::<String, String>::new("events");
    /// let stamped = Topic::<String, String>::new("stamped");
    /// let consumed = Consumed::new().with_timestamp_extractor(|record, partition_time| {
    ///     let text = std::str::from_utf8(record.value.unwrap_or_default()).unwrap_or_default();
    ///     text.trim_matches('"').split(',').next().and_then(|t| t.parse().ok()).unwrap_or(partition_time)
    /// });
    /// let builder = StreamsBuilder::new();
    /// builder.stream_with(&events, consumed).to(&stamped);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe_at(&events, "k".into(), "1700,hello".into(), 5)?;
    /// assert_eq!(driver.read_output(&stamped)?[0].timestamp, 1700);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn with_timestamp_extractor(
        mut self,
        extractor: impl Fn(&ConsumedRecord<'_>, i64) -> i64 + Send + Sync + 'static,
    ) -> Self {
        self.timestamp_extractor = Some(Arc::new(extractor));
        self
    }

    /// The chosen name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The chosen reset policy, if any.
    pub fn offset_reset(&self) -> Option<AutoOffsetReset> {
        self.offset_reset
    }

    /// The chosen timestamp extractor, if any.
    pub fn timestamp_extractor(&self) -> Option<&TimestampExtractor> {
        self.timestamp_extractor.as_ref()
    }
}

//! Reading a topic: [`Consumed`], the source's name, where it starts without a committed
//! offset, and the timestamp its records carry (Kafka Streams' `Consumed`).

use std::marker::PhantomData;
use std::sync::Arc;

use crate::codec::Codec;
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
///
/// `X` is the typed event-time extractor ([`with_event_time`](Self::with_event_time)), if any:
/// [`RecordTime`] (the default) takes the record's own timestamp.
#[derive(Clone)]
pub struct Consumed<X = RecordTime> {
    name: Option<String>,
    offset_reset: Option<AutoOffsetReset>,
    timestamp_extractor: Option<TimestampExtractor>,
    event_time: X,
}

impl Default for Consumed {
    fn default() -> Self {
        Consumed {
            name: None,
            offset_reset: None,
            timestamp_extractor: None,
            event_time: RecordTime,
        }
    }
}

impl<X> std::fmt::Debug for Consumed<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumed")
            .field("name", &self.name)
            .field("offset_reset", &self.offset_reset)
            .field("timestamp_extractor", &self.timestamp_extractor.is_some())
            .field("event_time", &std::any::type_name::<X>())
            .finish()
    }
}

/// No typed event-time extractor: records keep their own timestamps (or the
/// [bytes-level extractor's](Consumed::with_timestamp_extractor)).
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordTime;

/// A typed event-time extractor: `extract(&key, &value, record_timestamp)` of the topic's own
/// key and value types (see [`Consumed::with_event_time`]).
pub struct EventTime<K, V, F> {
    extract: Arc<F>,
    types: PhantomData<fn(&K, &V)>,
}

impl<K, V, F> std::fmt::Debug for EventTime<K, V, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventTime")
            .field("key", &std::any::type_name::<K>())
            .field("value", &std::any::type_name::<V>())
            .finish()
    }
}

impl<K, V, F> Clone for EventTime<K, V, F> {
    fn clone(&self) -> Self {
        EventTime {
            extract: Arc::clone(&self.extract),
            types: PhantomData,
        }
    }
}

/// How a source of a topic of `K` and `V` gets its records' timestamps: implemented by
/// [`RecordTime`] and by [`EventTime`] of the same `K` and `V`, so an event-time extractor of
/// other types than its topic's does not compile.
#[diagnostic::on_unimplemented(
    message = "this event-time extractor does not read the topic's key `{K}` and value `{V}`",
    label = "an extractor of other types than the topic's",
    note = "`with_event_time`'s closure takes `&K, &V, i64` with the `K` and `V` of the topic it reads"
)]
pub trait EventTimeOf<K, V> {
    /// The extractor over a record's bytes, decoding them with the topic's codecs; `None`
    /// for the record's own timestamp.
    fn extractor<KC: Codec<K>, VC: Codec<V>>(&self) -> Option<TimestampExtractor>;
}

impl<K, V> EventTimeOf<K, V> for RecordTime {
    fn extractor<KC: Codec<K>, VC: Codec<V>>(&self) -> Option<TimestampExtractor> {
        None
    }
}

impl<K, V, F> EventTimeOf<K, V> for EventTime<K, V, F>
where
    K: 'static,
    V: 'static,
    F: Fn(&K, &V, i64) -> i64 + Send + Sync + 'static,
{
    fn extractor<KC: Codec<K>, VC: Codec<V>>(&self) -> Option<TimestampExtractor> {
        let extract = Arc::clone(&self.extract);
        Some(Arc::new(
            move |record: &ConsumedRecord<'_>, _partition_time: i64| {
                // A record that does not decode keeps its own timestamp: its source reports it
                // to the deserialization handler.
                match (KC::decode(record.key), VC::decode(record.value)) {
                    (Ok(key), Ok(value)) => extract(&key, &value, record.timestamp),
                    _ => record.timestamp,
                }
            },
        ))
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

    /// Takes each record's event time from its decoded key and value: `extract(&key, &value,
    /// record_timestamp)` (Kafka Streams' `TimestampExtractor`, typed). Its `K` and `V` must
    /// be the topic's, or reading the topic with it does not compile. The time decides the
    /// order a task processes its partitions in, stream time and windows; a negative one
    /// drops the record, counted in `dropped_records`, as Kafka Streams'
    /// `LogAndSkipOnInvalidTimestamp` does.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Clone, Serialize, Deserialize)]
    /// struct Order { placed_at: i64, total: u32 }
    ///
    /// let orders = Topic::<String, Order>::new("orders");
    /// let stamped = Topic::<String, u32>::new("totals");
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream_with(&orders, Consumed::new().with_event_time(|_: &String, order: &Order, _| order.placed_at))
    ///     .map_values(|order| order.total)
    ///     .to(&stamped);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe_at(&orders, "ann".into(), Order { placed_at: 1_700, total: 12 }, 5)?;
    /// driver.pipe_at(&orders, "bob".into(), Order { placed_at: -1, total: 3 }, 6)?;
    /// assert_eq!(driver.read_output(&stamped)?.iter().map(|r| r.timestamp).collect::<Vec<_>>(), [1_700]);
    /// assert_eq!(driver.metrics().dropped_records, 1);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn with_event_time<K, V, F>(self, extract: F) -> Consumed<EventTime<K, V, F>>
    where
        F: Fn(&K, &V, i64) -> i64 + Send + Sync + 'static,
    {
        Consumed {
            name: self.name,
            offset_reset: self.offset_reset,
            timestamp_extractor: self.timestamp_extractor,
            event_time: EventTime {
                extract: Arc::new(extract),
                types: PhantomData,
            },
        }
    }
}

impl<X> Consumed<X> {
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

    /// The chosen bytes-level timestamp extractor, if any.
    pub fn timestamp_extractor(&self) -> Option<&TimestampExtractor> {
        self.timestamp_extractor.as_ref()
    }

    /// The extractor a source of `K` and `V` (decoded by `KC` and `VC`) uses: the typed one,
    /// else the bytes-level one, else none.
    pub(crate) fn extractor_for<K, V, KC, VC>(&self) -> Option<TimestampExtractor>
    where
        X: EventTimeOf<K, V>,
        KC: Codec<K>,
        VC: Codec<V>,
    {
        self.event_time
            .extractor::<KC, VC>()
            .or_else(|| self.timestamp_extractor.clone())
    }
}

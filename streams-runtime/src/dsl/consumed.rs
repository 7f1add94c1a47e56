//! Reading a topic: [`Consumed`], the source's name and where it starts without a committed
//! offset (Kafka Streams' `Consumed`).

/// Where a source starts reading a partition that has no committed offset (Kafka Streams'
/// `AutoOffsetReset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoOffsetReset {
    /// At the oldest record kept.
    Earliest,
    /// After the newest record: only records produced from now on.
    Latest,
}

/// How [`StreamsBuilder::stream_with`](super::StreamsBuilder::stream_with) and
/// [`table_with`](super::StreamsBuilder::table_with) read their topic.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::prelude::*;
///
/// let consumed = Consumed::named("orders-source").with_offset_reset(AutoOffsetReset::Latest);
/// assert_eq!(consumed.name(), Some("orders-source"));
/// assert_eq!(consumed.offset_reset(), Some(AutoOffsetReset::Latest));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consumed {
    name: Option<String>,
    offset_reset: Option<AutoOffsetReset>,
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
            offset_reset: None,
        }
    }

    /// Where to start in a partition without a committed offset, for this topic only.
    pub fn with_offset_reset(mut self, reset: AutoOffsetReset) -> Self {
        self.offset_reset = Some(reset);
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
}

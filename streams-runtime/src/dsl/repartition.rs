//! Repartition topics: the sink, filter and source every repartition adds (as Kafka Streams'
//! `createRepartitionedSource` names them), [`KStream::repartition`] with [`Repartitioned`], and
//! the name of an aggregation's repartition topic with [`Grouped`].

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use serde::Serialize;

use super::ops::NullKeyFilter;
use super::{KGroupedStream, KStream};
use crate::codec::{Codec, TopicCodec};
use crate::processor::Data;
use crate::topology::node::SourceFactory;
use crate::topology::{NodeKind, TopicRef};

/// How [`KStream::repartition_with`] names and sizes its topic.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::prelude::*;
///
/// let by_user = Repartitioned::named("by-user").with_number_of_partitions(12);
/// assert_eq!(by_user.name(), Some("by-user"));
/// assert_eq!(by_user.number_of_partitions(), Some(12));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repartitioned {
    name: Option<String>,
    partitions: Option<i32>,
}

impl Repartitioned {
    /// A generated name (`KSTREAM-REPARTITION-0000000001`) and as many partitions as the
    /// topics the stream comes from.
    pub fn new() -> Self {
        Self::default()
    }

    /// The topic is `<application.id>-<name>-repartition`, its nodes `<name>-repartition-sink`,
    /// `-filter` and `-source`, as in Kafka Streams' `Repartitioned.as(name)`.
    pub fn named(name: impl Into<String>) -> Self {
        Repartitioned {
            name: Some(name.into()),
            partitions: None,
        }
    }

    /// Creates the topic with `partitions` partitions rather than as many as the stream's
    /// source topics have.
    pub fn with_number_of_partitions(mut self, partitions: i32) -> Self {
        self.partitions = Some(partitions);
        self
    }

    /// The chosen name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The chosen partition count, if any.
    pub fn number_of_partitions(&self) -> Option<i32> {
        self.partitions
    }
}

/// How a grouping names its repartition topic (Kafka Streams' `Grouped.as(name)`).
///
/// With a name, the topic is `<application.id>-<name>-repartition` whatever the aggregation
/// and its store are called, and every aggregation of the grouped stream shares it; `group_by`
/// also gives its key selector that name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grouped {
    name: Option<String>,
}

impl Grouped {
    /// The repartition topic and nodes are named after `name`.
    pub fn named(name: impl Into<String>) -> Self {
        Grouped {
            name: Some(name.into()),
        }
    }

    /// The chosen name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// A grouped stream's repartition, once it exists: a named one is shared by every aggregation
/// of the grouped stream (Kafka Streams reuses its repartition node when the name is the
/// user's); an unnamed one is made per aggregation, named after its store.
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupedRepartition {
    pub(crate) name: Option<String>,
    pub(crate) source: Rc<Cell<Option<usize>>>,
}

/// What Kafka Streams appends to a repartition topic's name.
const REPARTITION_SUFFIX: &str = "-repartition";

/// Whether `name` is one Kafka Streams generated (`KSTREAM.*-[0-9]{10}`): a repartition topic
/// named after it gets generated node names too.
fn is_generated_name(name: &str) -> bool {
    let Some(head) = name.len().checked_sub(10).and_then(|at| name.get(..at)) else {
        return false;
    };
    name.starts_with("KSTREAM")
        && head.ends_with('-')
        && name[head.len()..].bytes().all(|b| b.is_ascii_digit())
}

impl<K, V> KStream<K, V>
where
    K: Data + Serialize,
    V: Data,
    TopicCodec: Codec<K> + Codec<V>,
{
    /// Writes this stream to the repartition topic `<prefix>-repartition` and returns the node
    /// that reads it back: Kafka Streams' `createRepartitionedSource`. Three indices are taken
    /// (sink, filter, source, in that order) whether or not the names use them: a generated
    /// prefix (`KSTREAM-…-0000000007`) gives generated node names, a chosen one gives
    /// `<topic>-filter`, `<topic>-sink` and `<topic>-source`.
    ///
    /// A record with a null key is dropped (and counted in `dropped_records`) before the topic:
    /// there is no partition it belongs to, and no aggregation could use it.
    pub(crate) fn repartition_through(&self, prefix: &str, partitions: Option<i32>) -> usize {
        let topic = if prefix.ends_with(REPARTITION_SUFFIX) {
            prefix.to_owned()
        } else {
            format!("{prefix}{REPARTITION_SUFFIX}")
        };
        let (sink, filter, source) = {
            let mut graph = self.graph.borrow_mut();
            let generated = (
                graph.generate_name("KSTREAM-SINK"),
                graph.generate_name("KSTREAM-FILTER"),
                graph.generate_name("KSTREAM-SOURCE"),
            );
            if is_generated_name(prefix) {
                generated
            } else {
                (
                    format!("{topic}-sink"),
                    format!("{topic}-filter"),
                    format!("{topic}-source"),
                )
            }
        };
        let filtered = self.then_named(filter, || NullKeyFilter, false);
        filtered.sink::<TopicCodec, TopicCodec>(sink, topic.clone(), true, None);
        let mut graph = self.graph.borrow_mut();
        if let Some(partitions) = partitions {
            graph.set_partition_count(&topic, partitions);
        }
        graph.add_node(
            source,
            NodeKind::Source {
                topics: vec![TopicRef {
                    name: topic,
                    internal: true,
                }],
            },
            &[],
            Arc::new(SourceFactory::<K, V, TopicCodec, TopicCodec>::new()),
        )
    }

    /// Writes the stream to a repartition topic the application owns and reads it back, so
    /// that records are spread by their current key (after a `select_key` or `map`), or over
    /// another number of partitions. A record with a null key has no partition to go to: it is
    /// dropped before the topic and counted in the task's `dropped_records`.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let clicks = Topic::<String, String>::new("clicks");
    /// let by_page = Topic::<String, String>::new("clicks-by-page");
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream(&clicks)
    ///     .select_key(|_user, page| page.clone())
    ///     .repartition()
    ///     .to(&by_page);
    /// let topology = builder.build()?;
    /// let topics: Vec<String> = topology.repartition_topics().into_iter().map(|t| t.name).collect();
    /// assert_eq!(topics, ["KSTREAM-REPARTITION-0000000002-repartition"]);
    /// let mut driver = TopologyTestDriver::new(topology)?;
    /// driver.pipe(&clicks, "ann".into(), "home".into())?;
    /// assert_eq!(driver.read_key_values(&by_page)?, [("home".to_owned(), "home".to_owned())]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn repartition(self) -> KStream<K, V> {
        self.repartition_with(Repartitioned::new())
    }

    /// [`repartition`](Self::repartition) with a chosen topic name or partition count.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream(&Topic::<String, u32>::new("in"))
    ///     .repartition_with(Repartitioned::named("spread").with_number_of_partitions(8))
    ///     .to(&Topic::new("out"));
    /// let topology = builder.build()?;
    /// assert_eq!(topology.repartition_topics()[0].name, "spread-repartition");
    /// assert_eq!(topology.repartition_partition_count("spread-repartition"), Some(8));
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn repartition_with(self, repartitioned: Repartitioned) -> KStream<K, V> {
        let prefix = match repartitioned.name {
            Some(name) => name,
            None => self.graph.borrow_mut().generate_name("KSTREAM-REPARTITION"),
        };
        let source = self.repartition_through(&prefix, repartitioned.partitions);
        KStream::new(Rc::clone(&self.graph), source, false)
    }

    /// [`group_by_key`](Self::group_by_key) with a chosen repartition topic name.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream(&Topic::<String, String>::new("visits"))
    ///     .select_key(|_, page| page.clone())
    ///     .group_by_key_with(Grouped::named("by-page"))
    ///     .count();
    /// let topology = builder.build()?;
    /// assert_eq!(topology.repartition_topics()[0].name, "by-page-repartition");
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn group_by_key_with(self, grouped: Grouped) -> KGroupedStream<K, V>
    where
        V: Serialize,
    {
        KGroupedStream::with_repartition(
            self,
            GroupedRepartition {
                name: grouped.name,
                source: Rc::default(),
            },
        )
    }

    /// [`group_by`](Self::group_by) with a chosen name: the key selector node and the
    /// repartition topic are named after it, as with Kafka Streams' `Grouped.as(name)`.
    pub fn group_by_with<K2, F>(self, selector: F, grouped: Grouped) -> KGroupedStream<K2, V>
    where
        K2: Data + Serialize,
        V: Serialize,
        F: Fn(&K, &V) -> K2 + Send + Sync + 'static,
        TopicCodec: Codec<K2>,
    {
        let name = self
            .graph
            .borrow_mut()
            .chosen_or_generated(grouped.name.clone(), "KSTREAM-KEY-SELECT");
        let selected = self.select_key_named(name, selector);
        selected.group_by_key_with(grouped)
    }
}

//! [`StreamsBuilder`] and typed [`Topic`]s.

use std::any::TypeId;
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::aggregate::TableSource;
use super::consumed::{EventTimeOf, TimestampExtractor};
use super::{Consumed, KStream, KTable};
use crate::codec::{Codec, Nullable, StoreKeyCodec, StoreValueCodec, TopicCodec};
use crate::error::TopologyError;
use crate::names::is_legal_name;
use crate::processor::Data;
use crate::state::{Materialized, StoreSpec};
use crate::topology::node::{ProcessorFactory, SourceFactory};
use crate::topology::{GraphBuilder, NodeKind, TopicRef, Topology};

/// A topic with its key and value types and their codecs.
///
/// Declare topics once, as constants, and use them for sources, sinks and the test driver:
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::prelude::*;
/// use streams::codec::Binary;
///
/// const LINES: Topic<(), String> = Topic::new("text-lines");
/// // Another codec for the values of this topic: named in the type.
/// const SCORES: Topic<String, Vec<u32>, TopicCodec, Binary> = Topic::with_codecs("scores");
/// assert_eq!(LINES.name(), "text-lines");
/// ```
pub struct Topic<K, V, KC = TopicCodec, VC = TopicCodec> {
    name: Cow<'static, str>,
    types: PhantomData<fn() -> (K, V, KC, VC)>,
}

impl<K, V> Topic<K, V>
where
    TopicCodec: Codec<K> + Codec<V>,
{
    /// A topic named `name`, with the default codecs.
    pub const fn new(name: &'static str) -> Self {
        Topic::with_codecs(name)
    }

    /// A topic with the default codecs whose name is only known at run time.
    pub fn named(name: impl Into<String>) -> Self {
        Topic {
            name: Cow::Owned(name.into()),
            types: PhantomData,
        }
    }
}

impl<K, V, KC, VC> Topic<K, V, KC, VC>
where
    KC: Codec<K>,
    VC: Codec<V>,
{
    /// A topic named `name` whose codecs are the ones in its type.
    pub const fn with_codecs(name: &'static str) -> Self {
        Topic {
            name: Cow::Borrowed(name),
            types: PhantomData,
        }
    }

    /// A topic whose codecs are the ones in its type and whose name is only known at run time.
    pub fn with_codecs_named(name: impl Into<String>) -> Self {
        Topic {
            name: Cow::Owned(name.into()),
            types: PhantomData,
        }
    }

    /// The same topic name with other codecs.
    pub fn recoded<KC2: Codec<K>, VC2: Codec<V>>(&self) -> Topic<K, V, KC2, VC2> {
        Topic {
            name: self.name.clone(),
            types: PhantomData,
        }
    }
}

impl<K, V, KC, VC> Topic<K, V, KC, VC> {
    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name, without copying it.
    pub(crate) fn into_name(self) -> Cow<'static, str> {
        self.name
    }
}

impl<K, V, KC, VC> Clone for Topic<K, V, KC, VC> {
    fn clone(&self) -> Self {
        Topic {
            name: self.name.clone(),
            types: PhantomData,
        }
    }
}

impl<K, V, KC, VC> fmt::Debug for Topic<K, V, KC, VC> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.name)
            .field("key", &std::any::type_name::<K>())
            .field("value", &std::any::type_name::<V>())
            .finish()
    }
}

/// Builds a topology from typed streams and tables.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::prelude::*;
///
/// const ORDERS: Topic<String, u32> = Topic::new("orders");
/// const BIG: Topic<String, u32> = Topic::new("big-orders");
///
/// let builder = StreamsBuilder::new();
/// builder.stream(&ORDERS).filter(|_, amount| *amount >= 100).to(&BIG);
/// let topology = builder.build()?;
/// assert_eq!(topology.subtopologies().len(), 1);
/// # Ok::<(), streams::StreamsError>(())
/// ```
#[derive(Default)]
pub struct StreamsBuilder {
    graph: Rc<RefCell<GraphBuilder>>,
}

impl fmt::Debug for StreamsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamsBuilder").finish_non_exhaustive()
    }
}

impl StreamsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A stream of the records of `topic`.
    ///
    /// Reading a topic twice gives two handles on one source node, as in Kafka Streams (both
    /// must name the same types and codecs); a topic read by `stream()` and by `table()` is an
    /// error.
    pub fn stream<K, V, KC, VC>(&self, topic: &Topic<K, V, KC, VC>) -> KStream<K, V>
    where
        K: Data,
        V: Data,
        KC: Codec<K>,
        VC: Codec<V>,
    {
        self.stream_with(topic, Consumed::new())
    }

    /// [`stream`](Self::stream) with a chosen source name or offset reset policy.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream_with(&Topic::<String, u8>::new("in"), Consumed::named("input"))
    ///     .to(&Topic::new("out"));
    /// let text = builder.build()?.describe().to_string();
    /// assert!(text.contains("Source: input (topics: [in])"));
    /// assert!(text.contains("Sink: KSTREAM-SINK-0000000001 (topic: out)"));
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn stream_with<K, V, KC, VC, X>(
        &self,
        topic: &Topic<K, V, KC, VC>,
        consumed: Consumed<X>,
    ) -> KStream<K, V>
    where
        K: Data,
        V: Data,
        KC: Codec<K>,
        VC: Codec<V>,
        X: EventTimeOf<K, V>,
    {
        let extractor = consumed.extractor_for::<K, V, KC, VC>();
        // Kafka Streams merges the sources of two `stream()` calls on one topic into the
        // first one (the second still takes its index); the records are decoded once, so the
        // two must agree on types and codecs, and on how they are read.
        let types = TypeId::of::<(K, V, KC, VC)>();
        let existing = self.graph.borrow().stream_source(topic.name());
        let node = match existing {
            Some((node, first)) => {
                let mut graph = self.graph.borrow_mut();
                graph.burn_index();
                let existing = graph.node_name(node).to_owned();
                if first != types {
                    graph.record_error(TopologyError::SourceTypesDiffer {
                        topic: topic.name().to_owned(),
                        existing,
                    });
                } else if consumed.name().is_some()
                    || consumed.offset_reset() != graph.offset_reset(topic.name())
                    || extractor.is_some()
                {
                    graph.record_error(TopologyError::DuplicateSourceTopic {
                        topic: topic.name().to_owned(),
                        existing,
                    });
                }
                node
            }
            None => {
                let node = self.add_source::<K, V, KC, VC, X>(topic.name(), &consumed, extractor);
                self.graph
                    .borrow_mut()
                    .register_stream_source(topic.name(), node, types);
                node
            }
        };
        KStream::new(Rc::clone(&self.graph), node, false)
    }

    /// A table of the latest value per key of `topic` (a null value deletes the key). As in
    /// Kafka Streams it is not materialized: its updates flow on without a store (see
    /// [`table_with`](Self::table_with) for one), though the store's generated name,
    /// `<topic>-STATE-STORE-<n>`, takes its index.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let prices = Topic::<String, u32>::new("prices");
    /// let changes = Topic::<String, Option<u32>>::new("price-changes");
    /// let builder = StreamsBuilder::new();
    /// builder.table(&prices).to_stream().to(&changes);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&prices, "tea".into(), 3)?;
    /// driver.pipe_raw("prices", Some(b"tea"), None, 0)?; // a tombstone
    /// assert_eq!(driver.read_values(&changes)?, vec![Some(3), None]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn table<K, V, KC, VC>(&self, topic: &Topic<K, V, KC, VC>) -> KTable<K, V>
    where
        K: Data + serde::Serialize,
        V: Data,
        KC: Codec<K>,
        VC: Codec<V>,
        StoreKeyCodec: Codec<K>,
        StoreValueCodec: Codec<V>,
    {
        self.table_source(topic, Consumed::new(), None::<Materialized<K, V>>)
    }

    /// A table of `topic` kept in a store: named by `materialized` (its changelog is
    /// `<application.id>-<name>-changelog`), or `<topic>-STATE-STORE-<n>` when it has no name.
    /// A materialized table forwards each update with the value it replaced, and with the
    /// record cache on, one change per key per commit.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let prices = Topic::<String, u32>::new("prices");
    /// let builder = StreamsBuilder::new();
    /// let table = builder.table_with(&prices, Materialized::named("prices"));
    /// assert_eq!(table.store_name(), Some("prices"));
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&prices, "tea".into(), 3)?;
    /// assert_eq!(driver.key_value_store::<String, u32>("prices")?.get(&"tea".into())?, Some(3));
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn table_with<K, V, KC, VC, SKC, SVC>(
        &self,
        topic: &Topic<K, V, KC, VC>,
        materialized: Materialized<K, V, SKC, SVC>,
    ) -> KTable<K, V>
    where
        K: Data + serde::Serialize,
        V: Data,
        KC: Codec<K>,
        VC: Codec<V>,
        SKC: Codec<K>,
        SVC: Codec<V>,
    {
        self.table_source(topic, Consumed::new(), Some(materialized))
    }

    /// [`table`](Self::table) with a chosen source name (the table's processor is then
    /// `<name>-table-source`), offset reset or timestamp extractor.
    pub fn table_consumed<K, V, KC, VC, X>(
        &self,
        topic: &Topic<K, V, KC, VC>,
        consumed: Consumed<X>,
    ) -> KTable<K, V>
    where
        K: Data + serde::Serialize,
        V: Data,
        KC: Codec<K>,
        VC: Codec<V>,
        X: EventTimeOf<K, V>,
        StoreKeyCodec: Codec<K>,
        StoreValueCodec: Codec<V>,
    {
        self.table_source(topic, consumed, None::<Materialized<K, V>>)
    }

    /// [`table_with`](Self::table_with), read as `consumed` says.
    pub fn table_consumed_with<K, V, KC, VC, SKC, SVC, X>(
        &self,
        topic: &Topic<K, V, KC, VC>,
        consumed: Consumed<X>,
        materialized: Materialized<K, V, SKC, SVC>,
    ) -> KTable<K, V>
    where
        K: Data + serde::Serialize,
        V: Data,
        KC: Codec<K>,
        VC: Codec<V>,
        X: EventTimeOf<K, V>,
        SKC: Codec<K>,
        SVC: Codec<V>,
    {
        self.table_source(topic, consumed, Some(materialized))
    }

    fn table_source<K, V, KC, VC, SKC, SVC, X>(
        &self,
        topic: &Topic<K, V, KC, VC>,
        consumed: Consumed<X>,
        materialized: Option<Materialized<K, V, SKC, SVC>>,
    ) -> KTable<K, V>
    where
        K: Data + serde::Serialize,
        V: Data,
        KC: Codec<K>,
        VC: Codec<V>,
        X: EventTimeOf<K, V>,
        SKC: Codec<K>,
        SVC: Codec<V>,
    {
        // Kafka Streams names the store first, `<topic>-STATE-STORE-0000000000`, unless its
        // `Materialized` has a name, whether or not the table is materialized.
        let generated_store = || {
            let generated = self.graph.borrow_mut().generate_name("STATE-STORE");
            format!("{}-{generated}", topic.name())
        };
        let spec = match materialized {
            Some(materialized) => Some(materialized.into_spec(generated_store)),
            None => {
                generated_store();
                None
            }
        };
        // A tombstone has no value to take a time from: it keeps its own.
        let extractor = consumed.extractor_for::<K, V, KC, VC>();
        let source = self.add_source::<K, Option<V>, KC, Nullable<VC>, X>(
            topic.name(),
            &consumed,
            extractor,
        );
        let mut graph = self.graph.borrow_mut();
        let chosen = consumed.name().map(|name| format!("{name}-table-source"));
        let name = graph.chosen_or_generated(chosen, "KTABLE-SOURCE");
        let store_name = spec.as_ref().map(|s| s.name().to_owned());
        let supplier_store = store_name.clone();
        let node = graph.add_node(
            name,
            NodeKind::Processor,
            &[source],
            Arc::new(ProcessorFactory::<K, Option<V>, _>::new(move || {
                TableSource::<K, V, SKC, SVC> {
                    store_name: supplier_store.clone(),
                    store: None,
                    cache: None,
                }
            })),
        );
        if let Some(spec) = spec {
            graph.connect_store(node, spec);
        }
        drop(graph);
        KTable::new(Rc::clone(&self.graph), node, store_name)
    }

    fn add_source<K, V, KC, VC, X>(
        &self,
        topic: &str,
        consumed: &Consumed<X>,
        extractor: Option<TimestampExtractor>,
    ) -> usize
    where
        K: Data,
        V: Data,
        KC: Codec<K>,
        VC: Codec<V>,
    {
        let mut graph = self.graph.borrow_mut();
        if !is_legal_name(topic) {
            graph.record_error(TopologyError::IllegalName(topic.to_owned()));
        }
        let name = graph.chosen_or_generated(consumed.name().map(str::to_owned), "KSTREAM-SOURCE");
        if let Some(reset) = consumed.offset_reset() {
            graph.set_offset_reset(topic, reset);
        }
        if let Some(extractor) = extractor {
            graph.set_timestamp_extractor(topic, extractor);
        }
        graph.add_node(
            name,
            NodeKind::Source {
                topics: vec![TopicRef {
                    name: topic.to_owned(),
                    internal: false,
                }],
            },
            &[],
            Arc::new(SourceFactory::<K, V, KC, VC>::new()),
        )
    }

    /// Adds a store that processors connect to by name with
    /// [`KStream::process_with_stores`] (Kafka Streams' `addStateStore`): two processors
    /// connected to one store share it, and run in one sub-topology.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder.add_state_store(<KeyValueStore<String, u64> as StateStore>::spec("seen"));
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn add_state_store(&self, spec: StoreSpec) {
        self.graph.borrow_mut().declare_store(spec);
    }

    /// Freezes the graph into a [`Topology`], reporting the first wiring mistake the compiler
    /// could not see (a topic read twice, a duplicate name, a store declared with two types).
    pub fn build(self) -> Result<Topology, TopologyError> {
        std::mem::take(&mut *self.graph.borrow_mut()).build()
    }
}

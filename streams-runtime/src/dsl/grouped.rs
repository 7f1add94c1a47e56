//! [`KGroupedStream`]: a stream grouped by key, and its aggregations into tables.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;
use std::sync::Arc;

use super::aggregate::{Aggregate, Aggregator, Counter, Fold, Reducer};
use super::repartition::GroupedRepartition;
use super::{KStream, KTable};
use crate::codec::{Codec, StoreKeyCodec, StoreValueCodec, TopicCodec};
use crate::processor::{Data, Processor};
use crate::state::{Materialized, StoreSpec};
use crate::topology::node::ProcessorFactory;
use crate::topology::{GraphBuilder, NodeKind};

/// A stream grouped by key, ready for `count`, `reduce` or `aggregate`.
///
/// Aggregations skip nothing a typed key can express: there are no null keys in a
/// `KStream<String, _>`. A key that encodes to null (`None`, `()`) is dropped at the repartition
/// topic, as Kafka Streams drops null keys.
#[must_use = "a grouped stream does nothing until it is aggregated (`count`, `reduce`, `aggregate`)"]
pub struct KGroupedStream<K, V> {
    stream: KStream<K, V>,
    repartition: GroupedRepartition,
}

impl<K, V> std::fmt::Debug for KGroupedStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KGroupedStream")
            .field("stream", &self.stream)
            .finish()
    }
}

impl<K, V> Clone for KGroupedStream<K, V> {
    fn clone(&self) -> Self {
        KGroupedStream {
            stream: self.stream.clone(),
            repartition: self.repartition.clone(),
        }
    }
}

impl<K, V> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>) -> Self {
        Self::with_repartition(stream, GroupedRepartition::default())
    }

    pub(crate) fn graph(&self) -> &Rc<RefCell<GraphBuilder>> {
        &self.stream.graph
    }

    pub(crate) fn with_repartition(stream: KStream<K, V>, repartition: GroupedRepartition) -> Self {
        KGroupedStream {
            stream,
            repartition,
        }
    }
}

impl<K, V> KGroupedStream<K, V>
where
    K: Data + Serialize,
    V: Data + Serialize,
    TopicCodec: Codec<K> + Codec<V>,
{
    /// Counts records per key.
    ///
    /// As every aggregation in Kafka Streams, `count` skips a record whose key or value is null
    /// (`None`, or `()`, which encodes to null) and counts it in the task's `dropped_records`.
    ///
    /// Words hello, kafka, streams, kafka, kafka, streams count 1, 1, 1, 2, 3, 2:
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let words = Topic::<String, u32>::new("words");
    /// let counts = Topic::<String, Option<u64>>::new("counts");
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&words).group_by_key().count().to_stream().to(&counts);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// for w in ["hello", "kafka", "streams", "kafka", "kafka", "streams"] {
    ///     driver.pipe(&words, w.to_owned(), 1)?;
    /// }
    /// let counted: Vec<u64> = driver.read_values(&counts)?.into_iter().flatten().collect();
    /// assert_eq!(counted, vec![1, 1, 1, 2, 3, 2]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn count(self) -> KTable<K, u64>
    where
        StoreKeyCodec: Codec<K>,
    {
        self.fold(
            "KSTREAM-AGGREGATE",
            Materialized::<K, u64>::unnamed(),
            Counter,
        )
    }

    /// Counts records per key into the given store.
    ///
    /// With an unnamed `Materialized`, an index is taken before the store's, as Kafka Streams'
    /// `count(Materialized)` does (it keeps its generated names compatible with older releases):
    /// the store is then `KSTREAM-AGGREGATE-STATE-STORE-0000000002` after one source.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let words = Topic::<String, u32>::new("words");
    /// let builder = StreamsBuilder::new();
    /// let table = builder.stream(&words).group_by_key().count_with(Materialized::named("counts"));
    /// assert_eq!(table.store_name(), Some("counts"));
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&words, "a".into(), 1)?;
    /// driver.pipe(&words, "a".into(), 1)?;
    /// let store = driver.key_value_store::<String, u64>("counts")?;
    /// assert_eq!(store.get(&"a".to_owned())?, Some(2));
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn count_with<KC, VC>(self, materialized: Materialized<K, u64, KC, VC>) -> KTable<K, u64>
    where
        KC: Codec<K>,
        VC: Codec<u64>,
    {
        if materialized.name().is_none() {
            self.stream.graph.borrow_mut().burn_index();
        }
        self.fold("KSTREAM-AGGREGATE", materialized, Counter)
    }

    /// Combines the values of each key: the first value is the aggregate, then
    /// `reducer(aggregate, value)`.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let input = Topic::<String, u32>::new("scores");
    /// let output = Topic::<String, Option<u32>>::new("best");
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).group_by_key().reduce(|a, b| a.max(b)).to_stream().to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// for v in [3, 9, 4] {
    ///     driver.pipe(&input, "ann".into(), v)?;
    /// }
    /// assert_eq!(driver.read_values(&output)?, vec![Some(3), Some(9), Some(9)]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn reduce<F>(self, reducer: F) -> KTable<K, V>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
        StoreKeyCodec: Codec<K>,
        StoreValueCodec: Codec<V>,
    {
        self.reduce_with(reducer, Materialized::<K, V>::unnamed())
    }

    /// [`reduce`](Self::reduce) into the given store.
    pub fn reduce_with<F, KC, VC>(
        self,
        reducer: F,
        materialized: Materialized<K, V, KC, VC>,
    ) -> KTable<K, V>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
        KC: Codec<K>,
        VC: Codec<V>,
    {
        self.fold("KSTREAM-REDUCE", materialized, Reducer(reducer))
    }

    /// Folds the values of each key into an aggregate of another type, starting from
    /// `initializer()`.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let input = Topic::<String, String>::new("tags");
    /// let output = Topic::<String, Option<Vec<String>>>::new("tag-lists");
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream(&input)
    ///     .group_by_key()
    ///     .aggregate(Vec::new, |_, tag, mut tags: Vec<String>| {
    ///         tags.push(tag);
    ///         tags
    ///     })
    ///     .to_stream()
    ///     .to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&input, "post".into(), "rust".into())?;
    /// driver.pipe(&input, "post".into(), "kafka".into())?;
    /// assert_eq!(
    ///     driver.read_values(&output)?.pop().flatten(),
    ///     Some(vec!["rust".to_owned(), "kafka".to_owned()])
    /// );
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn aggregate<VA, I, A>(self, initializer: I, aggregator: A) -> KTable<K, VA>
    where
        VA: Data,
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        StoreKeyCodec: Codec<K>,
        StoreValueCodec: Codec<VA>,
    {
        self.aggregate_with(initializer, aggregator, Materialized::<K, VA>::unnamed())
    }

    /// [`aggregate`](Self::aggregate) into the given store.
    pub fn aggregate_with<VA, I, A, KC, VC>(
        self,
        initializer: I,
        aggregator: A,
        materialized: Materialized<K, VA, KC, VC>,
    ) -> KTable<K, VA>
    where
        VA: Data,
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        KC: Codec<K>,
        VC: Codec<VA>,
    {
        self.fold(
            "KSTREAM-AGGREGATE",
            materialized,
            Aggregator {
                initializer,
                aggregator,
            },
        )
    }

    /// Adds the aggregation node (behind a repartition topic when the key may have changed).
    fn fold<VA, KC, VC, F>(
        self,
        prefix: &str,
        materialized: Materialized<K, VA, KC, VC>,
        fold: F,
    ) -> KTable<K, VA>
    where
        VA: Data,
        KC: Codec<K>,
        VC: Codec<VA>,
        F: Fold<K, V, VA>,
    {
        let fold = Arc::new(fold);
        let (graph, node, store_name) = self.add_aggregation(
            prefix,
            |g| materialized.into_spec(|| g.generate_name(&format!("{prefix}-STATE-STORE"))),
            move |store_name| Aggregate::<K, VA, KC, VC, F> {
                store_name: store_name.to_owned(),
                store: None,
                cache: None,
                fold: Arc::clone(&fold),
            },
        );
        KTable::new(graph, node, Some(store_name))
    }

    /// Adds an aggregation node named with `prefix`, over the store `spec` declares (named
    /// first, as Kafka Streams names the store before the node), reading the stream behind a
    /// repartition topic when the key may have changed; `make` builds the node's processor for
    /// each task from the store's name. Returns the graph, the node and the store's name.
    pub(crate) fn add_aggregation<P, M>(
        self,
        prefix: &str,
        spec: impl FnOnce(&mut GraphBuilder) -> StoreSpec,
        make: M,
    ) -> (Rc<RefCell<GraphBuilder>>, usize, String)
    where
        P: Processor<K, V>,
        M: Fn(&str) -> P + Send + Sync + 'static,
    {
        let graph = Rc::clone(&self.stream.graph);
        let spec = spec(&mut graph.borrow_mut());
        let store_name = spec.name().to_owned();
        // Kafka Streams names the aggregation before it adds the repartition topic.
        let name = graph.borrow_mut().generate_name(prefix);
        let input = if !self.stream.repartition_required {
            self.stream.node
        } else if let Some(topic) = &self.repartition.name {
            // A named repartition is made once and shared; Kafka Streams still takes its three
            // indices again for each aggregation.
            match self.repartition.source.get() {
                Some(source) => {
                    let mut g = graph.borrow_mut();
                    (0..3).for_each(|_| g.burn_index());
                    source
                }
                None => {
                    let source = self.stream.repartition_through(topic, None);
                    self.repartition.source.set(Some(source));
                    source
                }
            }
        } else {
            self.stream.repartition_through(&store_name, None)
        };
        let supplier_store = store_name.clone();
        let mut g = graph.borrow_mut();
        let node = g.add_node(
            name,
            NodeKind::Processor,
            &[input],
            Arc::new(ProcessorFactory::<K, V, _>::new(move || {
                make(&supplier_store)
            })),
        );
        g.connect_store(node, spec);
        drop(g);
        (graph, node, store_name)
    }
}

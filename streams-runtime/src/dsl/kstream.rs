//! [`KStream`]: a typed stream of records and its stateless operators.
//!
//! Longer than most files here, on purpose: it is one type's public API, and about half of it is
//! the runnable example each operator documents. The operators' processors live in `ops`, their
//! grouping and branching handles in `grouped` and `branch`; what stays here is the handle itself.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::ops::{
    Filter, FlatMap, FlatMapValues, FunctionProcessor, Map, MapValues, PassThrough, Peek, SelectKey,
};
use super::{BranchedKStream, KGroupedStream, Topic};
use crate::codec::{Codec, TopicCodec};
use crate::processor::{Data, Processor, ProcessorFunction};
use crate::state::StoreSpec;
use crate::topology::node::ProcessorFactory;
use crate::topology::sink::{Partitioner, SinkFactory, SinkTopic};
use crate::topology::{GraphBuilder, NodeKind, TopicRef};

/// A stream of `Record<K, V>`: every record is an independent event.
///
/// Operators consume the handle and return a new one; clone a handle to attach several
/// operators to the same node. Every example below runs on the [test
/// driver](crate::TopologyTestDriver).
#[must_use = "a stream does nothing until it reaches a sink (`to`, `foreach`, `print`) or a processor"]
pub struct KStream<K, V> {
    pub(crate) graph: Rc<RefCell<GraphBuilder>>,
    pub(crate) node: usize,
    /// Set once an operator may have changed the key: a later aggregation repartitions.
    pub(crate) repartition_required: bool,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream {
            graph: Rc::clone(&self.graph),
            node: self.node,
            repartition_required: self.repartition_required,
            types: PhantomData,
        }
    }
}

impl<K, V> fmt::Debug for KStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KStream")
            .field("node", &self.graph.borrow().node_name(self.node))
            .field("key", &std::any::type_name::<K>())
            .field("value", &std::any::type_name::<V>())
            .finish()
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    pub(crate) fn new(
        graph: Rc<RefCell<GraphBuilder>>,
        node: usize,
        repartition_required: bool,
    ) -> Self {
        KStream {
            graph,
            node,
            repartition_required,
            types: PhantomData,
        }
    }

    /// Adds a processor node fed by this stream.
    pub(crate) fn then<P, S>(
        &self,
        prefix: &str,
        supplier: S,
        key_changes: bool,
    ) -> KStream<P::KeyOut, P::ValueOut>
    where
        P: Processor<K, V>,
        S: Fn() -> P + Send + Sync + 'static,
    {
        let name = self.graph.borrow_mut().generate_name(prefix);
        self.then_named(name, supplier, key_changes)
    }

    /// Adds a processor node with the given name fed by this stream.
    pub(crate) fn then_named<P, S>(
        &self,
        name: String,
        supplier: S,
        key_changes: bool,
    ) -> KStream<P::KeyOut, P::ValueOut>
    where
        P: Processor<K, V>,
        S: Fn() -> P + Send + Sync + 'static,
    {
        let node = self.graph.borrow_mut().add_node(
            name,
            NodeKind::Processor,
            &[self.node],
            Arc::new(ProcessorFactory::<K, V, S>::new(supplier)),
        );
        KStream::new(
            Rc::clone(&self.graph),
            node,
            self.repartition_required || key_changes,
        )
    }

    /// Renames the node that produces this stream (generated names follow Kafka Streams'
    /// `KSTREAM-FILTER-0000000001` pattern).
    ///
    /// This is Kafka Streams' `Named` argument: as there, the node's generated index stays
    /// taken, so the generated names after it (and the store, changelog and repartition topic
    /// names derived from them) are the ones Kafka Streams gives.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream(&Topic::<String, String>::new("in"))
    ///     .filter(|_, v| !v.is_empty())
    ///     .named("drop-empty")
    ///     .to(&Topic::new("out"));
    /// let text = builder.build()?.describe().to_string();
    /// assert!(text.contains("Processor: drop-empty (stores: [])"));
    /// assert!(text.contains("Sink: KSTREAM-SINK-0000000002 (topic: out)"), "index 1 stays taken");
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn named(self, name: impl Into<String>) -> Self {
        self.graph.borrow_mut().rename(self.node, name.into());
        self
    }

    /// Keeps the records for which `predicate` holds.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let (input, output) = (Topic::<String, i64>::new("in"), Topic::<String, i64>::new("out"));
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).filter(|_, v| *v > 0).to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// for v in [3, -1, 7] {
    ///     driver.pipe(&input, "k".into(), v)?;
    /// }
    /// assert_eq!(driver.read_values(&output)?, vec![3, 7]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn filter<F>(self, predicate: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        self.then(
            "KSTREAM-FILTER",
            move || Filter {
                predicate: Arc::clone(&predicate),
                keep: true,
            },
            false,
        )
    }

    /// Drops the records for which `predicate` holds.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let (input, output) = (Topic::<String, i64>::new("in"), Topic::<String, i64>::new("out"));
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).filter_not(|_, v| *v > 0).to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// for v in [3, -1, 7] {
    ///     driver.pipe(&input, "k".into(), v)?;
    /// }
    /// assert_eq!(driver.read_values(&output)?, vec![-1]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn filter_not<F>(self, predicate: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        self.then(
            "KSTREAM-FILTER",
            move || Filter {
                predicate: Arc::clone(&predicate),
                keep: false,
            },
            false,
        )
    }

    /// Replaces key and value; marks the stream for repartitioning.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let input = Topic::<String, u32>::new("in");
    /// let output = Topic::<u32, String>::new("out");
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).map(|k, v| (v, k)).to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&input, "a".into(), 1)?;
    /// assert_eq!(driver.read_key_values(&output)?, vec![(1, "a".to_owned())]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn map<K2, V2, F>(self, mapper: F) -> KStream<K2, V2>
    where
        K2: Data,
        V2: Data,
        F: Fn(K, V) -> (K2, V2) + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        self.then(
            "KSTREAM-MAP",
            move || Map {
                mapper: Arc::clone(&mapper),
                output: PhantomData,
            },
            true,
        )
    }

    /// Replaces the value, keeping the key (no repartitioning).
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let input = Topic::<String, String>::new("in");
    /// let output = Topic::<String, usize>::new("out");
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).map_values(|v| v.len()).to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&input, "a".into(), "four".into())?;
    /// assert_eq!(driver.read_key_values(&output)?, vec![("a".to_owned(), 4)]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn map_values<V2, F>(self, mapper: F) -> KStream<K, V2>
    where
        V2: Data,
        F: Fn(V) -> V2 + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        self.then(
            "KSTREAM-MAPVALUES",
            move || MapValues {
                mapper: Arc::clone(&mapper),
                output: PhantomData,
            },
            false,
        )
    }

    /// Replaces each record by zero or more records; marks the stream for repartitioning.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let input = Topic::<String, String>::new("in");
    /// let output = Topic::<String, usize>::new("out");
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream(&input)
    ///     .flat_map(|_, line: String| {
    ///         line.split(' ').map(|w| (w.to_owned(), w.len())).collect::<Vec<_>>()
    ///     })
    ///     .to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&input, "k".into(), "hi there".into())?;
    /// assert_eq!(
    ///     driver.read_key_values(&output)?,
    ///     vec![("hi".to_owned(), 2), ("there".to_owned(), 5)]
    /// );
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn flat_map<K2, V2, I, F>(self, mapper: F) -> KStream<K2, V2>
    where
        K2: Data,
        V2: Data,
        I: IntoIterator<Item = (K2, V2)>,
        F: Fn(K, V) -> I + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        self.then(
            "KSTREAM-FLATMAP",
            move || FlatMap {
                mapper: Arc::clone(&mapper),
                output: PhantomData,
            },
            true,
        )
    }

    /// Replaces each value by zero or more values, keeping the key.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let input = Topic::<(), String>::new("in");
    /// let output = Topic::<(), String>::new("out");
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream(&input)
    ///     .flat_map_values(|line: String| line.split(',').map(str::to_owned).collect::<Vec<_>>())
    ///     .to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&input, (), "a,b".into())?;
    /// assert_eq!(driver.read_values(&output)?, vec!["a".to_owned(), "b".to_owned()]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn flat_map_values<V2, I, F>(self, mapper: F) -> KStream<K, V2>
    where
        V2: Data,
        I: IntoIterator<Item = V2>,
        F: Fn(V) -> I + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        self.then(
            "KSTREAM-FLATMAPVALUES",
            move || FlatMapValues {
                mapper: Arc::clone(&mapper),
                output: PhantomData,
            },
            false,
        )
    }

    /// Sets a new key computed from key and value; marks the stream for repartitioning.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let input = Topic::<(), String>::new("in");
    /// let output = Topic::<String, String>::new("out");
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).select_key(|_, v| v.to_uppercase()).to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&input, (), "x".into())?;
    /// assert_eq!(driver.read_key_values(&output)?, vec![("X".to_owned(), "x".to_owned())]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn select_key<K2, F>(self, selector: F) -> KStream<K2, V>
    where
        K2: Data,
        F: Fn(&K, &V) -> K2 + Send + Sync + 'static,
    {
        let name = self.graph.borrow_mut().generate_name("KSTREAM-KEY-SELECT");
        self.select_key_named(name, selector)
    }

    /// `select_key` as a node named `name`.
    pub(crate) fn select_key_named<K2, F>(self, name: String, selector: F) -> KStream<K2, V>
    where
        K2: Data,
        F: Fn(&K, &V) -> K2 + Send + Sync + 'static,
    {
        let selector = Arc::new(selector);
        self.then_named(
            name,
            move || SelectKey {
                selector: Arc::clone(&selector),
                output: PhantomData,
            },
            true,
        )
    }

    /// Calls `action` on each record and forwards it unchanged.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use streams::prelude::*;
    ///
    /// let (input, output) = (Topic::<String, u8>::new("in"), Topic::<String, u8>::new("out"));
    /// let seen = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&seen);
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream(&input)
    ///     .peek(move |_, _| {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///     })
    ///     .to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&input, "k".into(), 1)?;
    /// assert_eq!(seen.load(Ordering::Relaxed), 1);
    /// assert_eq!(driver.read_values(&output)?, vec![1]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn peek<F>(self, action: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) + Send + Sync + 'static,
    {
        let action = Arc::new(action);
        self.then(
            "KSTREAM-PEEK",
            move || Peek {
                action: Arc::clone(&action),
            },
            false,
        )
    }

    /// Calls `action` on each record; the end of this branch of the topology.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use std::sync::{Arc, Mutex};
    /// use streams::prelude::*;
    ///
    /// let input = Topic::<String, u8>::new("in");
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&seen);
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).foreach(move |k, v| sink.lock().unwrap().push((k.clone(), *v)));
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&input, "k".into(), 9)?;
    /// assert_eq!(*seen.lock().unwrap(), vec![("k".to_owned(), 9)]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn foreach<F>(self, action: F)
    where
        F: Fn(&K, &V) + Send + Sync + 'static,
    {
        self.foreach_node(None, action);
    }

    /// [`foreach`](Self::foreach) as a node named `name` (Kafka Streams' `foreach(action,
    /// Named)`; the generated index is taken all the same).
    pub fn foreach_named<F>(self, name: impl Into<String>, action: F)
    where
        F: Fn(&K, &V) + Send + Sync + 'static,
    {
        self.foreach_node(Some(name.into()), action);
    }

    fn foreach_node<F>(self, name: Option<String>, action: F)
    where
        F: Fn(&K, &V) + Send + Sync + 'static,
    {
        let name = self
            .graph
            .borrow_mut()
            .chosen_or_generated(name, "KSTREAM-FOREACH");
        let action = Arc::new(action);
        // The end of this branch: nothing follows a foreach.
        let _end = self.then_named(
            name,
            move || Peek {
                action: Arc::clone(&action),
            },
            false,
        );
    }

    /// Splits the stream into branches by predicates; see [`BranchedKStream`].
    pub fn split(self) -> BranchedKStream<K, V> {
        BranchedKStream::new(self, None)
    }

    /// [`split`](Self::split) with the splitter named `name` (Kafka Streams' `split(Named)`):
    /// the branches are then `<name>1`, `<name>2`, … and the default branch `<name>0`.
    pub fn split_named(self, name: impl Into<String>) -> BranchedKStream<K, V> {
        BranchedKStream::new(self, Some(name.into()))
    }

    /// One stream of the records of both (in the order they are processed).
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let (a, b) = (Topic::<String, u8>::new("a"), Topic::<String, u8>::new("b"));
    /// let output = Topic::<String, u8>::new("out");
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&a).merge(builder.stream(&b)).to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&a, "x".into(), 1)?;
    /// driver.pipe(&b, "y".into(), 2)?;
    /// assert_eq!(driver.read_values(&output)?, vec![1, 2]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn merge(self, other: KStream<K, V>) -> KStream<K, V> {
        if !Rc::ptr_eq(&self.graph, &other.graph) {
            self.graph
                .borrow_mut()
                .record_error(crate::error::TopologyError::ForeignHandle);
            return self;
        }
        let node = {
            let mut graph = self.graph.borrow_mut();
            let name = graph.generate_name("KSTREAM-MERGE");
            graph.add_node(
                name,
                NodeKind::Processor,
                &[self.node, other.node],
                Arc::new(ProcessorFactory::<K, V, _>::new(|| PassThrough)),
            )
        };
        KStream::new(
            Rc::clone(&self.graph),
            node,
            self.repartition_required || other.repartition_required,
        )
    }

    /// Writes every record to `topic`, encoded with the topic's codecs. The topic's key and value
    /// types must be the stream's.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let (input, output) = (Topic::<String, u8>::new("in"), Topic::<String, u8>::new("out"));
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe_at(&input, "k".into(), 1, 42)?;
    /// let records = driver.read_output(&output)?;
    /// assert_eq!((records[0].value, records[0].timestamp), (1, 42));
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn to<KC, VC>(self, topic: &Topic<K, V, KC, VC>)
    where
        KC: Codec<K>,
        VC: Codec<V>,
    {
        let name = self.graph.borrow_mut().generate_name("KSTREAM-SINK");
        self.sink::<KC, VC>(name, topic.name().to_owned(), false, None);
    }

    pub(crate) fn sink<KC: Codec<K>, VC: Codec<V>>(
        &self,
        name: String,
        topic: String,
        internal: bool,
        partitioner: Option<Partitioner<K, V>>,
    ) -> usize {
        let mut graph = self.graph.borrow_mut();
        let factory = Arc::new(SinkFactory::<K, V, KC, VC>::new(
            SinkTopic::Fixed {
                name: topic.clone(),
                internal,
            },
            partitioner,
        ));
        graph.add_node(
            name,
            NodeKind::Sink {
                topic: TopicRef {
                    name: topic,
                    internal,
                },
            },
            &[self.node],
            factory,
        )
    }

    /// Groups by the current key, for an aggregation. If the key may have changed upstream, the
    /// aggregation reads the records through a repartition topic.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let input = Topic::<String, u32>::new("scores");
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).group_by_key().reduce_with(|a, b| a + b, Materialized::named("sums"));
    /// let topology = builder.build()?;
    /// assert!(topology.repartition_topics().is_empty(), "the key did not change");
    /// let mut driver = TopologyTestDriver::new(topology)?;
    /// driver.pipe(&input, "ann".into(), 2)?;
    /// driver.pipe(&input, "ann".into(), 5)?;
    /// assert_eq!(driver.key_value_store::<String, u32>("sums")?.get(&"ann".into())?, Some(7));
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn group_by_key(self) -> KGroupedStream<K, V>
    where
        TopicCodec: Codec<K> + Codec<V>,
    {
        KGroupedStream::new(self)
    }

    /// Groups by a new key computed from key and value (always through a repartition topic).
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let input = Topic::<String, String>::new("purchases");
    /// let output = Topic::<String, Option<u64>>::new("per-item");
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream(&input)
    ///     .group_by(|_user, item| item.clone())
    ///     .count()
    ///     .to_stream()
    ///     .to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&input, "ann".into(), "tea".into())?;
    /// driver.pipe(&input, "bob".into(), "tea".into())?;
    /// assert_eq!(driver.read_values(&output)?, vec![Some(1), Some(2)]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn group_by<K2, F>(self, selector: F) -> KGroupedStream<K2, V>
    where
        K2: Data,
        F: Fn(&K, &V) -> K2 + Send + Sync + 'static,
        TopicCodec: Codec<K2> + Codec<V>,
    {
        self.select_key(selector).group_by_key()
    }

    /// Runs a `#[processor]` function (or any [`ProcessorFunction`]) on each record; the
    /// function's return type decides how many records it forwards, and whether it keeps the key
    /// (a value) or sets it (`(key, value)` pairs: the stream is then marked for
    /// repartitioning, as after `select_key`).
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// /// Running total per key, written by hand as `#[processor]` would generate it.
    /// struct Total;
    ///
    /// impl ProcessorFunction<String, u64> for Total {
    ///     type KeyOut = String;
    ///     type Output = u64;
    ///     type State = KeyValueStore<String, u64>;
    ///     fn name(&self) -> &'static str { "total" }
    ///     fn stores(&self) -> Vec<StoreSpec> {
    ///         vec![<KeyValueStore<String, u64> as StateStore>::spec("total-sums")]
    ///     }
    ///     fn open(&self, ctx: &mut InitContext<'_>) -> Result<Self::State, ProcessError> {
    ///         Ok(ctx.store("total-sums")?)
    ///     }
    ///     fn call(
    ///         &self,
    ///         sums: &mut Self::State,
    ///         record: Record<String, u64>,
    ///         ctx: &mut ProcessorContext<'_, String, u64>,
    ///     ) -> Result<(), ProcessError> {
    ///         let sum = sums.get(&record.key)?.unwrap_or(0) + record.value;
    ///         sums.put(&record.key, &sum)?;
    ///         ctx.forward(record.with_value(sum))
    ///     }
    /// }
    ///
    /// let (input, output) = (Topic::<String, u64>::new("in"), Topic::<String, u64>::new("out"));
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).process(Total).to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&input, "a".into(), 2)?;
    /// driver.pipe(&input, "a".into(), 3)?;
    /// assert_eq!(driver.read_values(&output)?, vec![2, 5]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn process<P>(self, function: P) -> KStream<P::KeyOut, P::Output>
    where
        P: ProcessorFunction<K, V>,
    {
        let stores = function.stores();
        let name = function.name().to_owned();
        let key_changes = function.changes_key();
        let function = Arc::new(function);
        // A named node takes no generated index, as with Kafka Streams' `Named`.
        let stream = self.then_named(
            name,
            move || FunctionProcessor {
                function: Arc::clone(&function),
                state: None,
                timers: Vec::new(),
            },
            key_changes,
        );
        let mut graph = stream.graph.borrow_mut();
        for spec in stores {
            graph.connect_store(stream.node, spec);
        }
        drop(graph);
        stream
    }

    /// Runs a hand-written [`Processor`] (one instance per task from `supplier`) with access to
    /// `stores`. The processor may change the key, so the stream is marked for repartitioning.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use std::time::Duration;
    /// use streams::prelude::*;
    ///
    /// /// Emits how many records arrived per 10 ms of stream time.
    /// #[derive(Default)]
    /// struct Rate { seen: u64 }
    ///
    /// impl Processor<String, u8> for Rate {
    ///     type KeyOut = String;
    ///     type ValueOut = u64;
    ///     fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
    ///         ctx.schedule(Duration::from_millis(10), PunctuationType::StreamTime);
    ///         Ok(())
    ///     }
    ///     fn process(&mut self, _: Record<String, u8>, _: &mut ProcessorContext<'_, String, u64>)
    ///         -> Result<(), ProcessError> {
    ///         self.seen += 1;
    ///         Ok(())
    ///     }
    ///     fn punctuate(&mut self, _: PunctuatorId, now: i64, ctx: &mut ProcessorContext<'_, String, u64>)
    ///         -> Result<(), ProcessError> {
    ///         ctx.forward(Record::new("rate".to_owned(), std::mem::take(&mut self.seen), now))
    ///     }
    /// }
    ///
    /// let (input, output) = (Topic::<String, u8>::new("in"), Topic::<String, u64>::new("out"));
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).process_with("rate", Rate::default, []).to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// for ts in [0, 3, 12] {
    ///     driver.pipe_at(&input, "k".into(), 1, ts)?;
    /// }
    /// assert_eq!(driver.read_values(&output)?, vec![1, 2]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn process_with<P, S>(
        self,
        name: &str,
        supplier: S,
        stores: impl IntoIterator<Item = StoreSpec>,
    ) -> KStream<P::KeyOut, P::ValueOut>
    where
        P: Processor<K, V>,
        S: Fn() -> P + Send + Sync + 'static,
    {
        self.processor_node(name, supplier, |graph, node| {
            for spec in stores {
                graph.connect_store(node, spec);
            }
        })
    }

    /// [`process_with`](Self::process_with), connected to stores added before with
    /// [`StreamsBuilder::add_state_store`](super::StreamsBuilder::add_state_store), by name
    /// (Kafka Streams' `process(supplier, storeNames...)`). A name that was not added is an
    /// error at build.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// /// Remembers each key's last value; forwards nothing.
    /// struct Remember(Option<KeyValueStore<String, u64>>);
    ///
    /// impl Processor<String, u64> for Remember {
    ///     type KeyOut = String;
    ///     type ValueOut = u64;
    ///     fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
    ///         self.0 = Some(ctx.store("last")?);
    ///         Ok(())
    ///     }
    ///     fn process(&mut self, r: Record<String, u64>, _: &mut ProcessorContext<'_, String, u64>)
    ///         -> Result<(), ProcessError> {
    ///         let store = self.0.as_mut().ok_or_else(|| ProcessError::processor("remember", "not opened"))?;
    ///         Ok(store.put(&r.key, &r.value)?)
    ///     }
    /// }
    ///
    /// let builder = StreamsBuilder::new();
    /// builder.add_state_store(<KeyValueStore<String, u64> as StateStore>::spec("last"));
    /// builder
    ///     .stream(&Topic::<String, u64>::new("in"))
    ///     .process_with_stores("remember", || Remember(None), ["last"]);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&Topic::<String, u64>::new("in"), "k".into(), 7)?;
    /// assert_eq!(driver.key_value_store::<String, u64>("last")?.get(&"k".into())?, Some(7));
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn process_with_stores<'a, P, S>(
        self,
        name: &str,
        supplier: S,
        store_names: impl IntoIterator<Item = &'a str>,
    ) -> KStream<P::KeyOut, P::ValueOut>
    where
        P: Processor<K, V>,
        S: Fn() -> P + Send + Sync + 'static,
    {
        self.processor_node(name, supplier, |graph, node| {
            for store in store_names {
                graph.connect_store_named(node, store);
            }
        })
    }

    /// A hand-written processor's node, named `name` (no index taken, as Kafka Streams'
    /// `process(.., Named)`), then `connect`ed to its stores.
    fn processor_node<P, S>(
        self,
        name: &str,
        supplier: S,
        connect: impl FnOnce(&mut GraphBuilder, usize),
    ) -> KStream<P::KeyOut, P::ValueOut>
    where
        P: Processor<K, V>,
        S: Fn() -> P + Send + Sync + 'static,
    {
        let stream = self.then_named(name.to_owned(), supplier, true);
        connect(&mut stream.graph.borrow_mut(), stream.node);
        stream
    }
}

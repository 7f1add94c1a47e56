//! [`KTable`]: a changelog stream read as a table of the latest value per key.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use super::KStream;
use super::aggregate::{Change, ToStream};
use crate::processor::Data;
use crate::topology::GraphBuilder;

/// A table: the latest value per key. Its nodes forward [`Change`]s. An aggregation's table
/// is kept in a store; a table read from a topic or a stream only when it is materialized
/// (`table_with`, `to_table_with`), as in Kafka Streams.
#[must_use = "a table's updates go nowhere unless it is read (`to_stream`) or queried by its store"]
pub struct KTable<K, V> {
    graph: Rc<RefCell<GraphBuilder>>,
    node: usize,
    store: Option<String>,
    /// For a windowed aggregation's table: how long after a window's end it closes (the grace
    /// period; for sessions the inactivity gap too), which `suppress` waits for.
    window_close_ms: Option<i64>,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> std::fmt::Debug for KTable<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KTable")
            .field("node", &self.node)
            .field("store", &self.store)
            .field("key", &std::any::type_name::<K>())
            .field("value", &std::any::type_name::<V>())
            .finish()
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    pub(crate) fn new(
        graph: Rc<RefCell<GraphBuilder>>,
        node: usize,
        store: Option<String>,
    ) -> Self {
        KTable {
            graph,
            node,
            store,
            window_close_ms: None,
            types: PhantomData,
        }
    }

    /// Marks the table as a windowed aggregation's whose windows close `after_end_ms` after
    /// they end.
    pub(crate) fn with_window_close(mut self, after_end_ms: i64) -> Self {
        self.window_close_ms = Some(after_end_ms);
        self
    }

    pub(crate) fn window_close_ms(&self) -> Option<i64> {
        self.window_close_ms
    }

    pub(crate) fn graph(&self) -> &Rc<RefCell<GraphBuilder>> {
        &self.graph
    }

    pub(crate) fn node(&self) -> usize {
        self.node
    }

    /// Renames the node that produces this table (Kafka Streams' `Named` argument of `count`,
    /// `reduce`, `aggregate`: as there, its generated index stays taken). A `to_table` behind a
    /// repartition is named with [`KStream::to_table_named`], which names the repartition too.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&Topic::<String, String>::new("words")).group_by_key().count().named("word-count");
    /// assert!(builder.build()?.describe().to_string().contains("Processor: word-count"));
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn named(self, name: impl Into<String>) -> Self {
        self.graph.borrow_mut().rename(self.node, name.into());
        self
    }

    /// The name of the store that holds the table (readable through the test driver), if the
    /// table is materialized (Kafka Streams' `queryableStoreName`).
    pub fn store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// The table's updates as a stream: each update's new value, `None` for a deletion (written
    /// as a tombstone by an `Option` value codec).
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let words = Topic::<String, String>::new("words");
    /// let counts = Topic::<String, String>::new("counts");
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream(&words)
    ///     .group_by_key()
    ///     .count()
    ///     .to_stream()
    ///     .map_values(|count| count.unwrap_or_default().to_string())
    ///     .to(&counts);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&words, "kafka".into(), String::new())?;
    /// driver.pipe(&words, "kafka".into(), String::new())?;
    /// assert_eq!(driver.read_values(&counts)?, vec!["1".to_owned(), "2".to_owned()]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn to_stream(&self) -> KStream<K, Option<V>> {
        KStream::<K, Change<V>>::new(Rc::clone(&self.graph), self.node, false).then(
            "KTABLE-TOSTREAM",
            || ToStream,
            false,
        )
    }
}

//! Writing a stream: [`KStream::to_with`] and [`Produced`] (the sink's name and partitioner),
//! and [`KStream::to_dynamic`], which chooses the topic per record.

use std::sync::Arc;

use super::{KStream, Topic};
use crate::codec::Codec;
use crate::processor::Data;
use crate::record::RecordContext;
use crate::topology::NodeKind;
use crate::topology::sink::{Partitioner, SinkFactory, SinkTopic};

/// How [`KStream::to_with`] writes: the sink node's name and the partitioner (Kafka Streams'
/// `Produced`). The topic's codecs come from the [`Topic`].
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::prelude::*;
///
/// // Orders of one region always on the same partition, whatever their key.
/// let produced = Produced::<String, (String, u32)>::named("orders-out")
///     .with_partitioner(|_id, (region, _), partitions| {
///         Some((region.bytes().map(i32::from).sum::<i32>()).rem_euclid(partitions))
///     });
/// # let _ = produced;
/// ```
pub struct Produced<K, V> {
    name: Option<String>,
    partitioner: Option<Partitioner<K, V>>,
}

impl<K, V> std::fmt::Debug for Produced<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Produced")
            .field("name", &self.name)
            .field("partitioner", &self.partitioner.is_some())
            .finish()
    }
}

impl<K, V> Default for Produced<K, V> {
    fn default() -> Self {
        Produced {
            name: None,
            partitioner: None,
        }
    }
}

impl<K, V> Produced<K, V> {
    /// A generated sink name (`KSTREAM-SINK-<n>`) and the producer's partitioner (murmur2 of
    /// the key bytes, as Kafka's Java producer).
    pub fn new() -> Self {
        Self::default()
    }

    /// The sink node is named `name` (its generated index is taken all the same, as in Kafka
    /// Streams).
    pub fn named(name: impl Into<String>) -> Self {
        Produced {
            name: Some(name.into()),
            partitioner: None,
        }
    }

    /// Chooses each record's partition: `partitioner(key, value, partition_count)`, where
    /// `None` leaves the choice to the producer. A partition the topic does not have is a
    /// processing error naming the sink.
    pub fn with_partitioner(
        mut self,
        partitioner: impl Fn(&K, &V, i32) -> Option<i32> + Send + Sync + 'static,
    ) -> Self {
        self.partitioner = Some(Arc::new(partitioner));
        self
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    /// [`to`](Self::to) with a chosen sink name or partitioner.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let (input, output) = (Topic::<String, u8>::new("in"), Topic::<String, u8>::new("out"));
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).to_with(&output, Produced::named("to-out"));
    /// assert!(builder.build()?.describe().to_string().contains("Sink: to-out (topic: out)"));
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn to_with<KC, VC>(self, topic: &Topic<K, V, KC, VC>, produced: Produced<K, V>)
    where
        KC: Codec<K>,
        VC: Codec<V>,
    {
        let name = self
            .graph
            .borrow_mut()
            .chosen_or_generated(produced.name, "KSTREAM-SINK");
        self.sink::<KC, VC>(name, topic.name().to_owned(), false, produced.partitioner);
    }

    /// Writes each record to the topic `choose(key, value, context)` returns (Kafka Streams'
    /// `to(TopicNameExtractor)`). The returned [`Topic`]'s type fixes the codecs of every topic
    /// it may name; the context is the input record's (`None` for a record a punctuation
    /// produced). The topics must exist: they are not created, and one that is missing fails
    /// its records as any refused send does.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let orders = Topic::<String, u32>::new("orders");
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream(&orders)
    ///     .to_dynamic(|region, _, _| Topic::<String, u32>::named(format!("orders-{region}")));
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&orders, "eu".into(), 7)?;
    /// driver.pipe(&orders, "us".into(), 9)?;
    /// assert_eq!(driver.read_values(&Topic::<String, u32>::new("orders-eu"))?, [7]);
    /// assert_eq!(driver.read_values(&Topic::<String, u32>::new("orders-us"))?, [9]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn to_dynamic<KC, VC, F>(self, choose: F)
    where
        KC: Codec<K>,
        VC: Codec<V>,
        F: Fn(&K, &V, Option<&RecordContext>) -> Topic<K, V, KC, VC> + Send + Sync + 'static,
    {
        self.to_dynamic_with(choose, Produced::new());
    }

    /// [`to_dynamic`](Self::to_dynamic) with a chosen sink name or partitioner.
    pub fn to_dynamic_with<KC, VC, F>(self, choose: F, produced: Produced<K, V>)
    where
        KC: Codec<K>,
        VC: Codec<V>,
        F: Fn(&K, &V, Option<&RecordContext>) -> Topic<K, V, KC, VC> + Send + Sync + 'static,
    {
        let mut graph = self.graph.borrow_mut();
        let name = graph.chosen_or_generated(produced.name, "KSTREAM-SINK");
        let factory = SinkFactory::<K, V, KC, VC>::new(
            SinkTopic::PerRecord(Arc::new(move |key: &K, value: &V, context| {
                choose(key, value, context).into_name()
            })),
            produced.partitioner,
        );
        graph.add_node(
            name,
            NodeKind::DynamicSink {
                extractor: std::any::type_name::<F>().to_owned(),
            },
            &[self.node],
            Arc::new(factory),
        );
    }
}

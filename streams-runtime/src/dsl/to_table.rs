//! [`KStream::to_table`]: a stream read as a table, the latest value per key.

use std::rc::Rc;
use std::sync::Arc;

use serde::Serialize;

use super::aggregate::{StreamToTable, TableSource};
use super::{KStream, KTable};
use crate::codec::{Codec, StoreKeyCodec, StoreValueCodec, TopicCodec};
use crate::processor::Data;
use crate::state::Materialized;
use crate::topology::NodeKind;
use crate::topology::node::ProcessorFactory;

impl<K, V> KStream<K, V>
where
    K: Data + Serialize,
    V: Data + Serialize,
    TopicCodec: Codec<K> + Codec<V>,
{
    /// The stream as a table: each record upserts its key, a null value (`None`, `()`) deletes
    /// it. Through a repartition topic when the key may have changed, as an aggregation. Not
    /// materialized, as in Kafka Streams (see [`to_table_with`](Self::to_table_with)); the node
    /// is `KSTREAM-TOTABLE-<n>` and the store name it would have takes the next index.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let prices = Topic::<String, Option<u32>>::new("prices");
    /// let latest = Topic::<String, Option<Option<u32>>>::new("latest-prices");
    /// let builder = StreamsBuilder::new();
    /// let table = builder.stream(&prices).to_table();
    /// assert_eq!(table.store_name(), None);
    /// table.to_stream().to(&latest);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&prices, "tea".into(), Some(3))?;
    /// driver.pipe(&prices, "tea".into(), None)?; // deletes "tea"
    /// assert_eq!(driver.read_values(&latest)?, [Some(Some(3)), None]);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn to_table(self) -> KTable<K, V>
    where
        StoreKeyCodec: Codec<K>,
        StoreValueCodec: Codec<V>,
    {
        self.into_table(None, None::<Materialized<K, V>>)
    }

    /// [`to_table`](Self::to_table), materialized in the store `materialized` names
    /// (`KSTREAM-TOTABLE-STATE-STORE-<n>` when it has no name).
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let prices = Topic::<String, u32>::new("prices");
    /// let builder = StreamsBuilder::new();
    /// let table = builder.stream(&prices).to_table_with(Materialized::unnamed());
    /// assert_eq!(table.store_name(), Some("KSTREAM-TOTABLE-STATE-STORE-0000000002"));
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn to_table_with<KC, VC>(self, materialized: Materialized<K, V, KC, VC>) -> KTable<K, V>
    where
        KC: Codec<K>,
        VC: Codec<V>,
    {
        self.into_table(None, Some(materialized))
    }

    /// [`to_table`](Self::to_table) as a node named `name` (Kafka Streams' `toTable(Named)`):
    /// a repartition in front of it is named after it too, `<name>-repartition`.
    pub fn to_table_named(self, name: impl Into<String>) -> KTable<K, V>
    where
        StoreKeyCodec: Codec<K>,
        StoreValueCodec: Codec<V>,
    {
        self.into_table(Some(name.into()), None::<Materialized<K, V>>)
    }

    fn into_table<KC, VC>(
        self,
        name: Option<String>,
        materialized: Option<Materialized<K, V, KC, VC>>,
    ) -> KTable<K, V>
    where
        KC: Codec<K>,
        VC: Codec<V>,
    {
        let graph = Rc::clone(&self.graph);
        let (name, spec) = {
            let mut g = graph.borrow_mut();
            let name = g.chosen_or_generated(name, "KSTREAM-TOTABLE");
            // The store's generated name takes an index unless `Materialized` names it.
            let spec = match materialized {
                Some(m) => Some(m.into_spec(|| g.generate_name("KSTREAM-TOTABLE-STATE-STORE"))),
                None => {
                    g.burn_index();
                    None
                }
            };
            (name, spec)
        };
        let input = if self.repartition_required {
            // Kafka Streams names this repartition after the node, not the store.
            self.repartition_through(&name, None)
        } else {
            self.node
        };
        let store_name = spec.as_ref().map(|s| s.name().to_owned());
        let supplier_store = store_name.clone();
        let mut g = graph.borrow_mut();
        let node = g.add_node(
            name,
            NodeKind::Processor,
            &[input],
            Arc::new(ProcessorFactory::<K, V, _>::new(move || {
                StreamToTable(TableSource::<K, V, KC, VC> {
                    store_name: supplier_store.clone(),
                    store: None,
                    cache: None,
                })
            })),
        );
        if let Some(spec) = spec {
            g.connect_store(node, spec);
        }
        drop(g);
        KTable::new(graph, node, store_name)
    }
}

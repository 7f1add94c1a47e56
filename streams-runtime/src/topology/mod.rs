//! The topology graph: nodes, edges, stores and topics, cut into sub-topologies.
//!
//! The DSL (or a user, by hand) adds nodes to a graph builder; [`Topology`] is the frozen result.
//! A sub-topology is a connected set of nodes: nodes joined by edges or sharing a store. A
//! repartition topic cuts the graph, because its sink and its source are different nodes joined only
//! through Kafka. A task is one sub-topology on one partition; [`describe`](Topology::describe)
//! prints the graph the way Kafka Streams' `Topology#describe()` does.

mod describe;
mod java_order;
pub(crate) mod node;
pub(crate) mod sink;

pub use describe::TopologyDescription;

use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::error::TopologyError;
use crate::names::is_legal_name;
use crate::record::{AutoOffsetReset, TimestampExtractor};
use crate::state::StoreSpec;
use node::NodeFactory;

/// A topic as a node refers to it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicRef {
    /// The name as written in the topology (internal topics without the application id prefix).
    pub name: String,
    /// Whether the topology owns the topic (repartition topics): its full name is
    /// `<application.id>-<name>`.
    pub internal: bool,
}

impl TopicRef {
    /// The topic's name in Kafka for the given application id.
    pub fn full_name(&self, application_id: &str) -> String {
        if self.internal {
            node::internal_topic_name(application_id, &self.name)
        } else {
            self.name.clone()
        }
    }
}

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Source {
        topics: Vec<TopicRef>,
    },
    Processor,
    Sink {
        topic: TopicRef,
    },
    /// A sink whose topic each record chooses; `extractor` names the chooser's type.
    DynamicSink {
        extractor: String,
    },
}

pub(crate) struct NodeDef {
    pub(crate) name: String,
    pub(crate) kind: NodeKind,
    pub(crate) parents: Vec<usize>,
    pub(crate) children: Vec<usize>,
    pub(crate) stores: Vec<String>,
    pub(crate) factory: Arc<dyn NodeFactory>,
}

/// Accumulates nodes; the DSL's handles share one.
#[derive(Default)]
pub(crate) struct GraphBuilder {
    nodes: Vec<NodeDef>,
    stores: Vec<StoreSpec>,
    errors: Vec<TopologyError>,
    next_index: usize,
    /// The sources `stream()` added: topic, node, and the identity of its types and codecs.
    stream_sources: Vec<(String, usize, TypeId)>,
    /// Repartition topics created with a chosen partition count.
    partition_counts: BTreeMap<String, i32>,
    /// Source topics read from a chosen position when no offset is committed.
    offset_resets: BTreeMap<String, AutoOffsetReset>,
    /// Source topics whose records get their timestamps from a chosen extractor.
    timestamp_extractors: BTreeMap<String, TimestampExtractor>,
}

impl GraphBuilder {
    /// A Kafka Streams style generated name: `PREFIX-0000000007`.
    pub(crate) fn generate_name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}-{:010}", self.next_index);
        self.next_index += 1;
        name
    }

    /// A node's name: the one chosen, if any, else a generated one. Kafka Streams takes the
    /// index either way (`NamedInternal#orElseGenerateWithPrefix`), so a chosen name does not
    /// shift the generated names after it.
    pub(crate) fn chosen_or_generated(&mut self, chosen: Option<String>, prefix: &str) -> String {
        let generated = self.generate_name(prefix);
        chosen.unwrap_or(generated)
    }

    /// Takes an index without using it, as Kafka Streams does in several places "for
    /// compatibility" (its index sequence is part of every generated name after it).
    pub(crate) fn burn_index(&mut self) {
        self.next_index += 1;
    }

    pub(crate) fn add_node(
        &mut self,
        name: String,
        kind: NodeKind,
        parents: &[usize],
        factory: Arc<dyn NodeFactory>,
    ) -> usize {
        let index = self.nodes.len();
        if parents.iter().any(|&p| p >= index) {
            self.errors.push(TopologyError::ForeignHandle);
            return index;
        }
        if self.nodes.iter().any(|n| n.name == name) {
            self.errors
                .push(TopologyError::DuplicateNodeName(name.clone()));
        }
        if let NodeKind::Source { topics } = &kind {
            for topic in topics {
                if let Some(existing) = self.source_of(topic) {
                    self.errors.push(TopologyError::DuplicateSourceTopic {
                        topic: topic.name.clone(),
                        existing,
                    });
                }
            }
        }
        for &parent in parents {
            self.nodes[parent].children.push(index);
        }
        self.nodes.push(NodeDef {
            name,
            kind,
            parents: parents.to_vec(),
            children: Vec::new(),
            stores: Vec::new(),
            factory,
        });
        index
    }

    /// The source node `stream()` added for `topic`, with its types' identity.
    pub(crate) fn stream_source(&self, topic: &str) -> Option<(usize, TypeId)> {
        self.stream_sources
            .iter()
            .find(|(t, _, _)| t == topic)
            .map(|&(_, node, types)| (node, types))
    }

    pub(crate) fn register_stream_source(&mut self, topic: &str, node: usize, types: TypeId) {
        self.stream_sources.push((topic.to_owned(), node, types));
    }

    /// Reads `topic` from `reset` where no offset is committed.
    pub(crate) fn set_offset_reset(&mut self, topic: &str, reset: AutoOffsetReset) {
        self.offset_resets.insert(topic.to_owned(), reset);
    }

    /// The reset policy chosen for `topic`, if one was.
    pub(crate) fn offset_reset(&self, topic: &str) -> Option<AutoOffsetReset> {
        self.offset_resets.get(topic).copied()
    }

    /// Stamps the records of `topic` with `extractor`.
    pub(crate) fn set_timestamp_extractor(&mut self, topic: &str, extractor: TimestampExtractor) {
        self.timestamp_extractors
            .insert(topic.to_owned(), extractor);
    }

    /// Creates the repartition topic `topic` with `partitions` partitions.
    pub(crate) fn set_partition_count(&mut self, topic: &str, partitions: i32) {
        if partitions < 1 {
            self.errors.push(TopologyError::InvalidPartitionCount {
                topic: topic.to_owned(),
                partitions,
            });
        }
        self.partition_counts.insert(topic.to_owned(), partitions);
    }

    fn source_of(&self, topic: &TopicRef) -> Option<String> {
        self.nodes.iter().find_map(|n| match &n.kind {
            NodeKind::Source { topics } if topics.contains(topic) => Some(n.name.clone()),
            _ => None,
        })
    }

    /// Declares `spec` (once per name) and connects it to `node`.
    pub(crate) fn connect_store(&mut self, node: usize, spec: StoreSpec) {
        if node >= self.nodes.len() {
            self.errors.push(TopologyError::ForeignHandle);
            return;
        }
        self.declare_store(spec.clone());
        let stores = &mut self.nodes[node].stores;
        if !stores.iter().any(|s| s == spec.name()) {
            stores.push(spec.name().to_owned());
        }
    }

    /// Connects the store `name`, declared before, to `node` (Kafka Streams'
    /// `connectProcessorAndStateStores`).
    pub(crate) fn connect_store_named(&mut self, node: usize, name: &str) {
        match self.stores.iter().find(|s| s.name() == name) {
            Some(spec) => {
                let spec = spec.clone();
                self.connect_store(node, spec);
            }
            None => self.errors.push(TopologyError::UnknownStore {
                processor: self.node_name(node).to_owned(),
                store: name.to_owned(),
            }),
        }
    }

    /// Declares `spec` once per name, for processors to connect (Kafka Streams'
    /// `addStateStore`); a second declaration with other types is an error.
    pub(crate) fn declare_store(&mut self, spec: StoreSpec) {
        match self.stores.iter().find(|s| s.name() == spec.name()) {
            Some(existing) if !existing.same_type(&spec) => {
                self.errors.push(TopologyError::ConflictingStore {
                    name: spec.name().to_owned(),
                    first: existing.handle_type_name(),
                    second: spec.handle_type_name(),
                });
            }
            Some(_) => {}
            None => {
                if !is_legal_name(spec.name()) {
                    self.errors
                        .push(TopologyError::IllegalName(spec.name().to_owned()));
                }
                self.stores.push(spec);
            }
        }
    }

    pub(crate) fn node_name(&self, node: usize) -> &str {
        self.nodes.get(node).map_or("", |n| n.name.as_str())
    }

    pub(crate) fn record_error(&mut self, error: TopologyError) {
        self.errors.push(error);
    }

    pub(crate) fn rename(&mut self, node: usize, name: String) {
        if node >= self.nodes.len() {
            self.errors.push(TopologyError::ForeignHandle);
            return;
        }
        if self
            .nodes
            .iter()
            .enumerate()
            .any(|(i, n)| i != node && n.name == name)
        {
            self.errors
                .push(TopologyError::DuplicateNodeName(name.clone()));
        }
        self.nodes[node].name = name;
    }

    pub(crate) fn build(self) -> Result<Topology, TopologyError> {
        if let Some(error) = self.errors.into_iter().next() {
            return Err(error);
        }
        if !self
            .nodes
            .iter()
            .any(|n| matches!(n.kind, NodeKind::Source { .. }))
        {
            return Err(TopologyError::NoSources);
        }
        let subtopologies = group_nodes(&self.nodes, &self.stores);
        Ok(Topology {
            nodes: self.nodes,
            stores: self.stores,
            subtopologies,
            partition_counts: self.partition_counts,
            offset_resets: self.offset_resets,
            timestamp_extractors: self.timestamp_extractors,
        })
    }
}

/// One connected part of the topology: the unit a task runs.
#[derive(Debug, Clone)]
pub struct Subtopology {
    /// The sub-topology's number (tasks are named `<id>_<partition>`).
    pub id: u32,
    pub(crate) nodes: Vec<usize>,
    /// The topics its sources read.
    pub source_topics: Vec<TopicRef>,
    /// The stores its processors use.
    pub stores: Vec<StoreSpec>,
}

/// Groups nodes connected by edges or shared stores; numbers groups by their first node.
fn group_nodes(nodes: &[NodeDef], stores: &[StoreSpec]) -> Vec<Subtopology> {
    let mut root: Vec<usize> = (0..nodes.len()).collect();
    fn find(root: &mut [usize], mut i: usize) -> usize {
        while root[i] != i {
            root[i] = root[root[i]];
            i = root[i];
        }
        i
    }
    let union = |root: &mut Vec<usize>, a: usize, b: usize| {
        let (ra, rb) = (find(root, a), find(root, b));
        root[ra.max(rb)] = ra.min(rb);
    };
    for (i, node) in nodes.iter().enumerate() {
        for &p in &node.parents {
            union(&mut root, i, p);
        }
    }
    for spec in stores {
        let users: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].stores.iter().any(|s| s == spec.name()))
            .collect();
        for pair in users.windows(2) {
            union(&mut root, pair[0], pair[1]);
        }
    }
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for i in 0..nodes.len() {
        let r = find(&mut root, i);
        match groups.iter_mut().find(|(gr, _)| *gr == r) {
            Some((_, members)) => members.push(i),
            None => groups.push((r, vec![i])),
        }
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(id, (_, members))| {
            let source_topics = members
                .iter()
                .filter_map(|&i| match &nodes[i].kind {
                    NodeKind::Source { topics } => Some(topics.clone()),
                    _ => None,
                })
                .flatten()
                .collect();
            let store_names: BTreeSet<&str> = members
                .iter()
                .flat_map(|&i| nodes[i].stores.iter().map(String::as_str))
                .collect();
            Subtopology {
                id: id as u32,
                nodes: members,
                source_topics,
                stores: stores
                    .iter()
                    .filter(|s| store_names.contains(s.name()))
                    .cloned()
                    .collect(),
            }
        })
        .collect()
}

/// A built, immutable topology: what the test driver and the stream threads run. Cheap to share
/// between threads.
pub struct Topology {
    pub(crate) nodes: Vec<NodeDef>,
    stores: Vec<StoreSpec>,
    subtopologies: Vec<Subtopology>,
    partition_counts: BTreeMap<String, i32>,
    offset_resets: BTreeMap<String, AutoOffsetReset>,
    timestamp_extractors: BTreeMap<String, TimestampExtractor>,
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.describe(), f)
    }
}

impl Topology {
    /// The sub-topologies, by id.
    pub fn subtopologies(&self) -> &[Subtopology] {
        &self.subtopologies
    }

    /// Every store the topology declares.
    pub fn stores(&self) -> &[StoreSpec] {
        &self.stores
    }

    /// Every topic the topology reads.
    pub fn source_topics(&self) -> Vec<TopicRef> {
        self.subtopologies
            .iter()
            .flat_map(|s| s.source_topics.iter().cloned())
            .collect()
    }

    /// Every topic the topology writes.
    pub fn sink_topics(&self) -> Vec<TopicRef> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Sink { topic } => Some(topic.clone()),
                _ => None,
            })
            .collect()
    }

    /// The repartition topics the topology creates and owns.
    pub fn repartition_topics(&self) -> Vec<TopicRef> {
        self.sink_topics()
            .into_iter()
            .filter(|t| t.internal)
            .collect()
    }

    /// The partition count chosen for the repartition topic `topic` (its name without the
    /// application id), if one was (`Repartitioned::with_number_of_partitions`); otherwise it
    /// gets as many partitions as the topics its writers read.
    pub fn repartition_partition_count(&self, topic: &str) -> Option<i32> {
        self.partition_counts.get(topic).copied()
    }

    /// Where the source topic `topic` starts in a partition without a committed offset, if its
    /// source chose (`Consumed::with_offset_reset`); otherwise `auto.offset.reset` decides.
    pub fn offset_reset(&self, topic: &str) -> Option<AutoOffsetReset> {
        self.offset_resets.get(topic).copied()
    }

    /// The timestamp extractor of the source topic `topic`, if its source chose one
    /// (`Consumed::with_timestamp_extractor`); otherwise records keep Kafka's timestamps.
    pub fn timestamp_extractor(&self, topic: &str) -> Option<&TimestampExtractor> {
        self.timestamp_extractors.get(topic)
    }

    /// The repartition topics the sinks of sub-topology `id` write.
    pub fn repartition_sinks_of(&self, id: u32) -> Vec<TopicRef> {
        self.subtopologies
            .get(id as usize)
            .map(|sub| {
                sub.nodes
                    .iter()
                    .filter_map(|&i| match &self.nodes[i].kind {
                        NodeKind::Sink { topic } if topic.internal => Some(topic.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The sub-topology reading `topic` (full name, given the application id).
    pub fn subtopology_of(&self, topic: &str, application_id: &str) -> Option<&Subtopology> {
        self.subtopologies.iter().find(|s| {
            s.source_topics
                .iter()
                .any(|t| t.full_name(application_id) == topic)
        })
    }

    /// The graph in Kafka Streams' `describe()` layout.
    pub fn describe(&self) -> TopologyDescription {
        TopologyDescription::new(self)
    }
}

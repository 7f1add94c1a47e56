//! [`TopologyDescription`]: the graph as Kafka Streams' `Topology#describe()` prints it.

use std::cmp::Ordering;
use std::fmt;

use super::java_order::{TreeSet, compare_strings, hash_map_order};
use super::{NodeKind, Subtopology, Topology};

/// A node as `describe()` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeDescription {
    /// Reads topics.
    Source {
        /// The node name.
        name: String,
        /// The topics (internal ones without the application id prefix).
        topics: Vec<String>,
        /// Children.
        successors: Vec<String>,
    },
    /// Runs a processor.
    Processor {
        /// The node name.
        name: String,
        /// The stores it uses.
        stores: Vec<String>,
        /// Children.
        successors: Vec<String>,
        /// Parents.
        predecessors: Vec<String>,
    },
    /// Writes a topic each record chooses.
    DynamicSink {
        /// The node name.
        name: String,
        /// The type of the function that chooses the topic.
        extractor: String,
        /// Parents.
        predecessors: Vec<String>,
    },
    /// Writes a topic.
    Sink {
        /// The node name.
        name: String,
        /// The topic (internal ones without the application id prefix).
        topic: String,
        /// Parents.
        predecessors: Vec<String>,
    },
}

/// One sub-topology as `describe()` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtopologyDescription {
    /// The sub-topology's id.
    pub id: u32,
    /// Its nodes, as Kafka Streams orders them: by the number of paths from the node down
    /// (the node itself included; largest first), then by name.
    pub nodes: Vec<NodeDescription>,
}

/// The whole graph; its `Display` is Kafka Streams' text layout.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::prelude::*;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream(&Topic::<String, String>::new("in"))
///     .filter(|_, v| !v.is_empty())
///     .to(&Topic::new("out"));
/// let text = builder.build()?.describe().to_string();
/// assert!(text.starts_with("Topologies:\n   Sub-topology: 0\n    Source: KSTREAM-SOURCE-0000000000 (topics: [in])"));
/// # Ok::<(), streams::StreamsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyDescription {
    /// The sub-topologies, by id.
    pub subtopologies: Vec<SubtopologyDescription>,
}

impl TopologyDescription {
    pub(crate) fn new(topology: &Topology) -> Self {
        let subtopologies = topology
            .subtopologies
            .iter()
            .map(|sub| describe_subtopology(topology, sub))
            .collect();
        TopologyDescription { subtopologies }
    }
}

/// Kafka Streams' `InternalTopologyBuilder#describeSubtopology`: nodes ordered by the size of
/// the graph below them (largest first), then by name; each node's successors and predecessors
/// in the order of a `TreeSet` filled while those sizes were still being counted, walking the
/// nodes in `HashMap` order. See [`java_order`](super::java_order) for why that matters.
fn describe_subtopology(topology: &Topology, sub: &Subtopology) -> SubtopologyDescription {
    let members = &sub.nodes;
    let position = |node: usize| members.iter().position(|&m| m == node);
    let names: Vec<&str> = members
        .iter()
        .map(|&i| topology.nodes[i].name.as_str())
        .collect();
    // The node group is a `HashSet` filled in the order nodes were added; `nodesByName` is a
    // `HashMap` filled in the set's order.
    let group_order = hash_map_order(&names);
    let reinserted: Vec<&str> = group_order.iter().map(|&i| names[i]).collect();
    let walk: Vec<usize> = hash_map_order(&reinserted)
        .into_iter()
        .map(|i| group_order[i])
        .collect();

    // Node sizes: 1 each, then every connected edge adds the child's size to the parent and to
    // every ancestor connected so far.
    let mut sizes = vec![1usize; members.len()];
    let mut successors = vec![TreeSet::default(); members.len()];
    let mut predecessors = vec![TreeSet::default(); members.len()];
    let compare = |sizes: &[usize], a: usize, b: usize| {
        if a == b {
            Ordering::Equal
        } else {
            sizes[b]
                .cmp(&sizes[a])
                .then_with(|| compare_strings(names[a], names[b]))
        }
    };
    fn grow(sizes: &mut [usize], predecessors: &[TreeSet], node: usize, delta: usize) {
        sizes[node] += delta;
        for parent in predecessors[node].in_order() {
            grow(sizes, predecessors, parent, delta);
        }
    }
    for &child in &walk {
        for &parent_node in &topology.nodes[members[child]].parents {
            let Some(parent) = position(parent_node) else {
                continue;
            };
            predecessors[child].insert(parent, |a, b| compare(&sizes, a, b));
            successors[parent].insert(child, |a, b| compare(&sizes, a, b));
            let delta = sizes[child];
            grow(&mut sizes, &predecessors, parent, delta);
        }
    }

    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by(|&a, &b| compare(&sizes, a, b));
    let listed = |set: &TreeSet| -> Vec<String> {
        set.in_order()
            .into_iter()
            .map(|i| names[i].to_owned())
            .collect()
    };
    let nodes = order
        .into_iter()
        .map(|i| {
            let node = &topology.nodes[members[i]];
            match &node.kind {
                NodeKind::Source { topics } => NodeDescription::Source {
                    name: node.name.clone(),
                    topics: as_hash_set(topics.iter().map(|t| t.name.as_str())),
                    successors: listed(&successors[i]),
                },
                NodeKind::Processor => NodeDescription::Processor {
                    name: node.name.clone(),
                    stores: as_hash_set(node.stores.iter().map(String::as_str)),
                    successors: listed(&successors[i]),
                    predecessors: listed(&predecessors[i]),
                },
                NodeKind::DynamicSink { extractor } => NodeDescription::DynamicSink {
                    name: node.name.clone(),
                    extractor: extractor.clone(),
                    predecessors: listed(&predecessors[i]),
                },
                NodeKind::Sink { topic } => NodeDescription::Sink {
                    name: node.name.clone(),
                    topic: topic.name.clone(),
                    predecessors: listed(&predecessors[i]),
                },
            }
        })
        .collect();
    SubtopologyDescription { id: sub.id, nodes }
}

/// Names in the order Kafka Streams prints them: a `HashSet`'s.
fn as_hash_set<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let names: Vec<&str> = names.collect();
    hash_map_order(&names)
        .into_iter()
        .map(|i| names[i].to_owned())
        .collect()
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

impl fmt::Display for TopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Kafka Streams' layout, quirks included: "Topologies:\n " then each sub-topology as
        // "  Sub-topology: N\n" + nodes + a blank line.
        write!(f, "Topologies:\n ")?;
        for sub in &self.subtopologies {
            writeln!(f, "  Sub-topology: {}", sub.id)?;
            for node in &sub.nodes {
                match node {
                    NodeDescription::Source {
                        name,
                        topics,
                        successors,
                    } => {
                        writeln!(f, "    Source: {name} (topics: [{}])", topics.join(", "))?;
                        writeln!(f, "      --> {}", list(successors))?;
                    }
                    NodeDescription::Processor {
                        name,
                        stores,
                        successors,
                        predecessors,
                    } => {
                        writeln!(f, "    Processor: {name} (stores: [{}])", stores.join(", "))?;
                        writeln!(f, "      --> {}", list(successors))?;
                        writeln!(f, "      <-- {}", list(predecessors))?;
                    }
                    NodeDescription::DynamicSink {
                        name,
                        extractor,
                        predecessors,
                    } => {
                        writeln!(f, "    Sink: {name} (extractor class: {extractor})")?;
                        writeln!(f, "      <-- {}", list(predecessors))?;
                    }
                    NodeDescription::Sink {
                        name,
                        topic,
                        predecessors,
                    } => {
                        writeln!(f, "    Sink: {name} (topic: {topic})")?;
                        writeln!(f, "      <-- {}", list(predecessors))?;
                    }
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

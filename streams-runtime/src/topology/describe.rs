//! [`TopologyDescription`]: the graph as Kafka Streams' `Topology#describe()` prints it.

use std::fmt;

use super::{NodeKind, Topology};

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
    /// Its nodes: sources first, then the rest in the order they were added.
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
        let names = |ids: &[usize]| -> Vec<String> {
            ids.iter()
                .map(|&i| topology.nodes[i].name.clone())
                .collect()
        };
        let subtopologies = topology
            .subtopologies
            .iter()
            .map(|sub| {
                let (sources, others): (Vec<usize>, Vec<usize>) = sub
                    .nodes
                    .iter()
                    .partition(|&&i| matches!(topology.nodes[i].kind, NodeKind::Source { .. }));
                let nodes = sources
                    .into_iter()
                    .chain(others)
                    .map(|i| {
                        let node = &topology.nodes[i];
                        match &node.kind {
                            NodeKind::Source { topics } => NodeDescription::Source {
                                name: node.name.clone(),
                                topics: topics.iter().map(|t| t.name.clone()).collect(),
                                successors: names(&node.children),
                            },
                            NodeKind::Processor => NodeDescription::Processor {
                                name: node.name.clone(),
                                stores: node.stores.clone(),
                                successors: names(&node.children),
                                predecessors: names(&node.parents),
                            },
                            NodeKind::Sink { topic } => NodeDescription::Sink {
                                name: node.name.clone(),
                                topic: topic.name.clone(),
                                predecessors: names(&node.parents),
                            },
                        }
                    })
                    .collect();
                SubtopologyDescription { id: sub.id, nodes }
            })
            .collect();
        TopologyDescription { subtopologies }
    }
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

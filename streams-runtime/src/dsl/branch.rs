//! [`BranchedKStream`]: `split()` into branches by predicates.

use std::rc::Rc;
use std::sync::Arc;

use super::KStream;
use super::ops::{Branch, PassThrough, Predicate};
use crate::processor::Data;
use crate::topology::NodeKind;
use crate::topology::node::ProcessorFactory;

/// The branches of a split stream: each record goes to the first branch whose predicate holds.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::prelude::*;
///
/// let input = Topic::<String, i32>::new("numbers");
/// let (neg, zero, pos) = (
///     Topic::<String, i32>::new("negative"),
///     Topic::<String, i32>::new("zero"),
///     Topic::<String, i32>::new("positive"),
/// );
/// let builder = StreamsBuilder::new();
/// let branches = builder
///     .stream(&input)
///     .split()
///     .branch(|_, v| *v < 0)
///     .branch(|_, v| *v == 0)
///     .default_branch();
/// let [negative, zeros, positive]: [KStream<String, i32>; 3] =
///     branches.try_into().expect("three branches");
/// negative.to(&neg);
/// zeros.to(&zero);
/// positive.to(&pos);
/// let mut driver = TopologyTestDriver::new(builder.build()?)?;
/// for v in [-2, 0, 5, -1] {
///     driver.pipe(&input, "k".into(), v)?;
/// }
/// assert_eq!(driver.read_values(&neg)?, vec![-2, -1]);
/// assert_eq!(driver.read_values(&zero)?, vec![0]);
/// assert_eq!(driver.read_values(&pos)?, vec![5]);
/// # Ok::<(), streams::StreamsError>(())
/// ```
pub struct BranchedKStream<K, V> {
    stream: KStream<K, V>,
    predicates: Vec<Predicate<K, V>>,
}

impl<K, V> std::fmt::Debug for BranchedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BranchedKStream")
            .field("stream", &self.stream)
            .field("branches", &self.predicates.len())
            .finish()
    }
}

impl<K: Data, V: Data> BranchedKStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>) -> Self {
        BranchedKStream {
            stream,
            predicates: Vec::new(),
        }
    }

    /// Adds a branch for the records matching `predicate` (and no earlier branch).
    pub fn branch<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.predicates.push(Arc::new(predicate));
        self
    }

    /// Ends the split with a last branch for the records no predicate matched; returns the
    /// branches in order, the default one last.
    pub fn default_branch(self) -> Vec<KStream<K, V>> {
        self.finish(true)
    }

    /// Ends the split, dropping the records no predicate matched; returns the branches in order.
    pub fn no_default_branch(self) -> Vec<KStream<K, V>> {
        self.finish(false)
    }

    fn finish(self, with_default: bool) -> Vec<KStream<K, V>> {
        let branch_count = self.predicates.len() + usize::from(with_default);
        let predicates = Arc::new(self.predicates);
        let splitter = self.stream.then(
            "KSTREAM-BRANCH",
            move || Branch {
                predicates: Arc::clone(&predicates),
            },
            false,
        );
        let base = splitter.graph.borrow().node_name(splitter.node).to_owned();
        // Kafka Streams names branches `<split><position>`, counting from 1, the default `0`.
        let predicate_count = branch_count - usize::from(with_default);
        (0..branch_count)
            .map(|i| {
                let position = if i < predicate_count { i + 1 } else { 0 };
                let node = splitter.graph.borrow_mut().add_node(
                    format!("{base}{position}"),
                    NodeKind::Processor,
                    &[splitter.node],
                    Arc::new(ProcessorFactory::<K, V, _>::new(|| PassThrough)),
                );
                KStream::new(
                    Rc::clone(&splitter.graph),
                    node,
                    splitter.repartition_required,
                )
            })
            .collect()
    }
}

//! [`BranchedKStream`]: `split()` into branches by predicates.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use super::KStream;
use super::ops::{Branch, PassThrough, Predicate};
use crate::processor::Data;
use crate::sync::lock;
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
#[must_use = "a split does nothing until its branches are taken (`default_branch`, `no_default_branch`)"]
pub struct BranchedKStream<K, V> {
    /// The splitter node.
    splitter: KStream<K, V>,
    /// The predicates, shared with the splitter's processors (created when tasks start, after
    /// the last branch is added).
    predicates: Arc<Mutex<Vec<Predicate<K, V>>>>,
    branches: Vec<KStream<K, V>>,
}

impl<K, V> std::fmt::Debug for BranchedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BranchedKStream")
            .field("splitter", &self.splitter)
            .field("branches", &self.branches.len())
            .finish()
    }
}

impl<K: Data, V: Data> BranchedKStream<K, V> {
    /// Adds the splitter node now, as Kafka Streams' `split()` does: its name takes the next
    /// index, and each branch takes one more as it is added.
    pub(crate) fn new(stream: KStream<K, V>, name: Option<String>) -> Self {
        let predicates: Arc<Mutex<Vec<Predicate<K, V>>>> = Arc::default();
        let shared = Arc::clone(&predicates);
        let name = stream
            .graph
            .borrow_mut()
            .chosen_or_generated(name, "KSTREAM-BRANCH");
        let splitter = stream.then_named(
            name,
            move || Branch {
                predicates: Arc::new(lock(&shared).clone()),
            },
            false,
        );
        BranchedKStream {
            splitter,
            predicates,
            branches: Vec::new(),
        }
    }

    /// Adds a branch for the records matching `predicate` (and no earlier branch).
    pub fn branch<F>(self, predicate: F) -> Self
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.add_predicate(predicate, None)
    }

    /// [`branch`](Self::branch) with the branch node named `<splitter><suffix>` (Kafka
    /// Streams' `Branched.as(suffix)`).
    pub fn branch_named<F>(self, predicate: F, suffix: &str) -> Self
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.add_predicate(predicate, Some(suffix))
    }

    fn add_predicate<F>(mut self, predicate: F, suffix: Option<&str>) -> Self
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let position = {
            let mut predicates = lock(&self.predicates);
            predicates.push(Arc::new(predicate));
            predicates.len()
        };
        self.add_branch(suffix.map_or_else(|| position.to_string(), str::to_owned));
        self
    }

    /// Ends the split with a last branch for the records no predicate matched; returns the
    /// branches in order, the default one last.
    pub fn default_branch(mut self) -> Vec<KStream<K, V>> {
        self.add_branch("0".to_owned());
        self.branches
    }

    /// [`default_branch`](Self::default_branch) with the branch node named
    /// `<splitter><suffix>`.
    pub fn default_branch_named(mut self, suffix: &str) -> Vec<KStream<K, V>> {
        self.add_branch(suffix.to_owned());
        self.branches
    }

    /// Ends the split, dropping the records no predicate matched; returns the branches in order.
    pub fn no_default_branch(self) -> Vec<KStream<K, V>> {
        self.branches
    }

    /// [`default_branch_named`](Self::default_branch_named), handing the branches back by
    /// their node names, as Kafka Streams' `defaultBranch()` returns its map.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let mut branches = builder
    ///     .stream(&Topic::<String, i32>::new("numbers"))
    ///     .split_named("sign-")
    ///     .branch_named(|_, v| *v < 0, "negative")
    ///     .default_branch_named_by_name("other");
    /// let negative = branches.remove("sign-negative").expect("named by its suffix");
    /// negative.to(&Topic::new("negative"));
    /// assert!(branches.contains_key("sign-other"));
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn default_branch_named_by_name(mut self, suffix: &str) -> BTreeMap<String, KStream<K, V>> {
        self.add_branch(suffix.to_owned());
        self.by_name()
    }

    /// [`default_branch`](Self::default_branch), handing the branches back by their node names.
    pub fn default_branch_by_name(mut self) -> BTreeMap<String, KStream<K, V>> {
        self.add_branch("0".to_owned());
        self.by_name()
    }

    /// [`no_default_branch`](Self::no_default_branch), handing the branches back by their node
    /// names.
    pub fn no_default_branch_by_name(self) -> BTreeMap<String, KStream<K, V>> {
        self.by_name()
    }

    fn by_name(self) -> BTreeMap<String, KStream<K, V>> {
        self.branches
            .into_iter()
            .map(|branch| {
                let name = branch.graph.borrow().node_name(branch.node).to_owned();
                (name, branch)
            })
            .collect()
    }

    /// Adds the branch node `<splitter><suffix>` (unnamed, Kafka Streams counts predicates from
    /// 1 and names the default branch `0`), taking an index it does not use, as Kafka Streams
    /// does.
    fn add_branch(&mut self, suffix: String) {
        let base = self
            .splitter
            .graph
            .borrow()
            .node_name(self.splitter.node)
            .to_owned();
        let mut graph = self.splitter.graph.borrow_mut();
        graph.burn_index();
        let node = graph.add_node(
            format!("{base}{suffix}"),
            NodeKind::Processor,
            &[self.splitter.node],
            Arc::new(ProcessorFactory::<K, V, _>::new(|| PassThrough)),
        );
        drop(graph);
        self.branches.push(KStream::new(
            Rc::clone(&self.splitter.graph),
            node,
            self.splitter.repartition_required,
        ));
    }
}

//! The contexts handed to processors: what a node may see and do while a task runs it.

use std::any::Any;
use std::rc::Rc;
use std::time::Duration;

use super::node::{Node, NodeInfo, forward_all};
use crate::error::{ProcessError, StoreError};
use crate::record::{Record, RecordContext};
use crate::state::{CacheHandle, FlushedEntry, StateStore, TaskStore, TaskStores};
use crate::task_env::{PunctuationType, PunctuatorId, TaskEnv, TaskId};

/// What a processor may use in [`Processor::init`](super::Processor::init).
pub struct InitContext<'a> {
    pub(crate) node: &'a NodeInfo,
    pub(crate) env: &'a mut TaskEnv,
    pub(crate) stores: &'a TaskStores,
    /// The node's children, `Vec<Rc<dyn Node<KeyOut, ValueOut>>>`, for the store flush
    /// listeners that forward to them ([`forward_cache_flushes`](Self::forward_cache_flushes)).
    pub(crate) children: &'a dyn Any,
}

impl std::fmt::Debug for InitContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitContext")
            .field("node", &self.node.name)
            .field("task", &self.env.task_id)
            .finish_non_exhaustive()
    }
}

impl InitContext<'_> {
    /// Opens a typed handle on a store connected to this processor.
    pub fn store<H: StateStore>(&self, name: &str) -> Result<H, StoreError> {
        if !self.node.stores.iter().any(|s| s == name) {
            return Err(StoreError::NotFound(name.to_owned()));
        }
        self.stores.handle(name)
    }

    /// When the store `name` is cached, makes its flushes (on commit, or when the cache evicts)
    /// forward each flushed entry, decoded by `decode`, to this processor's children, in the
    /// context of the entry's last update (record coordinates, timestamp); returns the store's
    /// cache handle, with which the processor stages each write's record context and forwards
    /// what its own writes evicted. `None` when the store is not cached: the processor then
    /// forwards each update itself.
    pub(crate) fn forward_cache_flushes<K, V>(
        &self,
        name: &str,
        mut decode: impl FnMut(FlushedEntry) -> Result<Record<K, V>, ProcessError> + 'static,
    ) -> Result<Option<CacheHandle>, ProcessError>
    where
        K: Clone + 'static,
        V: Clone + 'static,
    {
        let Some(handle) = self.stores.get(name).and_then(TaskStore::cache) else {
            return Ok(None);
        };
        let children = self
            .children
            .downcast_ref::<Vec<Rc<dyn Node<K, V>>>>()
            .cloned()
            .ok_or_else(|| StoreError::Backend {
                store: name.to_owned(),
                message: format!(
                    "node `{}` does not forward the store's changes to its children",
                    self.node.name
                ),
            })?;
        handle.set_listener(Box::new(move |entry, env| {
            let (record, timestamp) = (entry.meta.record.clone(), entry.meta.timestamp);
            let forwarded = decode(entry)?;
            // Forwarded as if the entry's last update were being processed, as Kafka Streams
            // restores the cache entry's record context while it flushes.
            let record = std::mem::replace(&mut env.record, record);
            let current = env.current_timestamp.replace(timestamp);
            let result = forward_all(&children, forwarded, env);
            env.record = record;
            env.current_timestamp.set(current);
            result
        }));
        Ok(Some(handle.clone()))
    }

    /// Schedules a punctuation of this processor every `interval` on the given clock.
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> PunctuatorId {
        let now = self.env.wall_clock;
        self.env
            .schedule
            .schedule(self.node.index, interval, kind, now)
    }

    /// The position of the child named `name` among this processor's children.
    pub fn child_index(&self, name: &str) -> Option<usize> {
        self.node.child_names.iter().position(|c| c == name)
    }

    /// The names of this processor's children, in the order they were connected.
    pub fn child_names(&self) -> &[String] {
        &self.node.child_names
    }

    /// This processor's node name.
    pub fn node_name(&self) -> &str {
        &self.node.name
    }

    /// The task this processor instance belongs to.
    pub fn task_id(&self) -> TaskId {
        self.env.task_id
    }

    /// The application id (the consumer group and the prefix of internal topics).
    pub fn application_id(&self) -> &str {
        &self.env.application_id
    }
}

/// What a processor may use while it processes a record or a punctuation: forwarding to its
/// children, the clocks and the input record's coordinates.
pub struct ProcessorContext<'a, K, V> {
    pub(crate) node: &'a NodeInfo,
    pub(crate) children: &'a [Rc<dyn Node<K, V>>],
    pub(crate) env: &'a mut TaskEnv,
}

impl<K, V> std::fmt::Debug for ProcessorContext<'_, K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessorContext")
            .field("node", &self.node.name)
            .field("task", &self.env.task_id)
            .field("children", &self.node.child_names)
            .finish_non_exhaustive()
    }
}

impl<K: Clone, V: Clone> ProcessorContext<'_, K, V> {
    /// Forwards `record` to every child (cloned for all but the last).
    pub fn forward(&mut self, record: Record<K, V>) -> Result<(), ProcessError> {
        let Some((last, rest)) = self.children.split_last() else {
            return Ok(());
        };
        for child in rest {
            child.process(record.clone(), self.env)?;
        }
        last.process(record, self.env)
    }

    /// Forwards `record` to the child named `child`; a name that is not a child drops the record.
    /// (In a hot path, look the index up once in `init` and use [`forward_to`](Self::forward_to).)
    pub fn forward_to_child(
        &mut self,
        child: &str,
        record: Record<K, V>,
    ) -> Result<(), ProcessError> {
        match self.node.child_names.iter().position(|c| c == child) {
            Some(index) => self.forward_to(index, record),
            None => Ok(()),
        }
    }

    /// Forwards `record` to the child at `index` (see [`InitContext::child_index`]); an index
    /// past the last child drops the record.
    pub fn forward_to(&mut self, index: usize, record: Record<K, V>) -> Result<(), ProcessError> {
        match self.children.get(index) {
            Some(child) => child.process(record, self.env),
            None => Ok(()),
        }
    }
}

impl<K, V> ProcessorContext<'_, K, V> {
    /// The coordinates of the input record being processed; `None` during a punctuation.
    pub fn record_context(&self) -> Option<&RecordContext> {
        self.env.record.as_ref()
    }

    /// The task's stream time: the largest timestamp it has processed (-1 before any record).
    pub fn stream_time(&self) -> i64 {
        self.env.stream_time
    }

    /// The task's wall-clock time in milliseconds (simulated in the test driver).
    pub fn wall_clock_time(&self) -> i64 {
        self.env.wall_clock
    }

    /// The task this processor instance belongs to.
    pub fn task_id(&self) -> TaskId {
        self.env.task_id
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        &self.env.application_id
    }

    /// This processor's node name.
    pub fn node_name(&self) -> &str {
        &self.node.name
    }

    /// Schedules a punctuation of this processor.
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> PunctuatorId {
        let now = self.env.wall_clock;
        self.env
            .schedule
            .schedule(self.node.index, interval, kind, now)
    }

    /// Counts a record this processor skipped in the task's `dropped_records` metric.
    pub fn record_dropped(&mut self) {
        self.env.dropped += 1;
    }

    /// Cancels a punctuation.
    pub fn cancel(&mut self, punctuator: PunctuatorId) {
        self.env.schedule.cancel(punctuator);
    }
}

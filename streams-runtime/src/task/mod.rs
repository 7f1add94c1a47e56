//! Stream tasks: one sub-topology running on one partition, with its own stores.
//!
//! A [`StreamTask`] is the unit of work and of state. It buffers raw input records per input
//! partition, picks the buffered record with the smallest timestamp next (so a task reading several
//! co-partitioned topics processes them in event-time order), advances stream time, runs the record
//! through its typed nodes, and fires punctuations. Everything Kafka-specific stays outside: records
//! arrive as [`RawRecord`]s and leave through a [`RecordCollector`]. The test driver and the stream
//! threads feed the same tasks.

mod checkpointing;
mod error_handling;
mod partition_group;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use partition_group::PartitionGroup;

use crate::error::{
    DeserializationErrorHandler, ProcessError, ProcessingErrorHandler, StreamsError, TopologyError,
};
use crate::processor::NodeInfo;
#[cfg(feature = "kafka")]
use crate::record::BorrowedInput;
#[cfg(feature = "kafka")]
use crate::record::ConsumedRecord;
use crate::record::{RawRecord, RecordCollector, RecordContext};
use crate::state::{
    CacheContext, ChangelogContext, ChangelogOffsets, Checkpoint, StateRoot, TaskStores,
    ThreadCache, changelog_topic,
};
use crate::task_env::{PunctuationSchedule, PunctuationType, TaskEnv, TaskId};
use crate::topology::Topology;
use crate::topology::node::{BuildContext, BuiltNode, NodeLifecycle, RawSource};

/// Makes `env`'s record context that of the input record at `topic`'s (partition, offset,
/// timestamp), reusing `spare` (the previous record's) when it names the same topic.
fn set_record_context(
    env: &mut TaskEnv,
    spare: &mut Option<RecordContext>,
    topic: &Arc<str>,
    (partition, offset, timestamp): (i32, i64, i64),
) {
    let context = match spare.take() {
        Some(mut context) if Arc::ptr_eq(&context.topic, topic) => {
            context.partition = partition;
            context.offset = offset;
            context.timestamp = timestamp;
            context
        }
        _ => RecordContext {
            topic: Arc::clone(topic),
            partition,
            offset,
            timestamp,
        },
    };
    env.record = Some(context);
}

// Public for the integration tests and benchmarks, which drive tasks directly; not part of the
// API (hidden from the docs, may change without notice).
#[doc(hidden)]
/// How tasks run: the settings they share.
#[derive(Debug, Clone)]
pub struct TaskConfig {
    /// The application id: prefix of internal topics.
    pub application_id: Arc<str>,
    /// The deserialization error policy.
    pub deserialization_errors: DeserializationErrorHandler,
    /// The processing error policy.
    pub processing_errors: ProcessingErrorHandler,
    /// Where persistent stores live; without it, only in-memory stores can be opened.
    pub state: Option<StateRoot>,
    /// Whether processing is exactly-once: local state is then trusted only after a clean
    /// close (see [`StreamTask::new`]).
    pub exactly_once: bool,
    /// The stream thread's record cache, shared by the cached key-value stores of all its
    /// tasks; `None` when `statestore.cache.max.bytes` is 0 (every update reaches the stores,
    /// changelogs and downstream at once). Whoever runs the tasks flushes it through
    /// [`StreamTask::flush_cache`] before committing.
    pub cache: Option<ThreadCache>,
}

impl TaskConfig {
    /// Defaults (fail on every error, no state directory) for the given application id.
    pub fn new(application_id: &str) -> Self {
        TaskConfig {
            application_id: application_id.into(),
            deserialization_errors: DeserializationErrorHandler::Fail,
            processing_errors: ProcessingErrorHandler::Fail,
            state: None,
            exactly_once: false,
            cache: None,
        }
    }
}

/// Counters of one task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskMetrics {
    /// Records taken from the input queues and processed.
    pub processed: u64,
    /// Records skipped: undecodable, failed with a continuing handler, or with a negative timestamp.
    pub dropped_records: u64,
    /// Punctuations fired.
    pub punctuations: u64,
}

/// One sub-topology instantiated for one partition.
// Public for the integration tests and benchmarks, which drive tasks directly; not part of the
// API (hidden from the docs, may change without notice).
#[doc(hidden)]
pub struct StreamTask {
    id: TaskId,
    lifecycles: Vec<(usize, Rc<dyn NodeLifecycle>)>,
    stores: TaskStores,
    /// The task directory's checkpoint, when the task has persistent logged stores.
    checkpoint: Option<Checkpoint>,
    /// For each changelog partition of the task: the next offset its store has applied, as
    /// known from the checkpoint, the restore, and the deliveries of the task's own writes.
    changelog_offsets: ChangelogOffsets,
    /// The offsets the checkpoint file holds now.
    checkpointed: ChangelogOffsets,
    queues: PartitionGroup<Rc<dyn RawSource>>,
    env: TaskEnv,
    config: TaskConfig,
    metrics: TaskMetrics,
    /// The last input record's context, kept between records so that the next one from the
    /// same topic reuses it rather than sharing the topic's name again (an atomic count).
    spare_context: Option<RecordContext>,
}

impl std::fmt::Debug for StreamTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamTask")
            .field("id", &self.id)
            .field("stores", &self.stores)
            .field("buffered", &self.buffered())
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl StreamTask {
    /// Builds the task for `subtopology` on `partition` and opens its stores; its processors
    /// are initialized by [`initialize`](Self::initialize), once the stores are restored (as
    /// in Kafka Streams, so `init` sees the restored state).
    ///
    /// Persistent stores keep their local data only where the task directory's checkpoint
    /// vouches for it. Under exactly-once the checkpoint is deleted once read, and written again
    /// only by a clean close: a crash, or an aborted transaction whose writes already reached a
    /// store, leaves no checkpoint, so the next incarnation wipes the stores and restores them
    /// from the committed changelog instead of trusting state ahead of it.
    pub fn new(
        topology: &Topology,
        subtopology: u32,
        partition: i32,
        config: &TaskConfig,
        collector: Rc<RefCell<dyn RecordCollector>>,
        wall_clock: i64,
    ) -> Result<Self, StreamsError> {
        let sub = topology
            .subtopologies()
            .get(subtopology as usize)
            .ok_or(TopologyError::UnknownSubtopology(subtopology))?;
        let id = TaskId {
            subtopology,
            partition,
        };
        let current_timestamp = Rc::new(Cell::new(-1));
        let changelog = ChangelogContext {
            application_id: config.application_id.to_string(),
            partition,
            collector: Rc::clone(&collector),
            timestamp: Rc::clone(&current_timestamp),
        };
        let location = config.state.as_ref().map(|root| root.location(id));
        let persistent_logged: Vec<_> = sub
            .stores
            .iter()
            .filter(|spec| spec.backend().is_persistent() && spec.logging_enabled())
            .collect();
        let checkpoint = location
            .as_ref()
            .filter(|_| !persistent_logged.is_empty())
            .map(|location| Checkpoint::in_dir(&location.task_dir));
        let checkpointed = match &checkpoint {
            Some(checkpoint) => checkpoint.read().unwrap_or_else(|error| {
                tracing::warn!(task = %id, %error, "ignoring a damaged checkpoint");
                ChangelogOffsets::new()
            }),
            None => ChangelogOffsets::new(),
        };
        // Local state no checkpoint vouches for may be ahead of, or apart from, its changelog:
        // delete it, and restore the store from the changelog's beginning.
        if let Some(location) = &location {
            for spec in &persistent_logged {
                let topic = changelog_topic(&config.application_id, spec.name());
                if !checkpointed.contains_key(&(topic, partition)) {
                    location.remove_unvouched_store(spec.name())?;
                }
            }
        }
        let cache = config.cache.as_ref().map(|cache| CacheContext {
            cache: cache.clone(),
            timestamp: Rc::clone(&current_timestamp),
        });
        let stores = TaskStores::open_cached(
            &sub.stores,
            Some(&changelog),
            location.as_ref(),
            cache.as_ref(),
        )?;
        let changelog_offsets = stores
            .iter()
            .filter(|store| store.has_local_state() && store.spec().logging_enabled())
            .filter_map(|store| {
                let key = (
                    changelog_topic(&config.application_id, store.spec().name()),
                    partition,
                );
                checkpointed.get(&key).map(|&offset| (key, offset))
            })
            .collect();
        let checkpointed = match &checkpoint {
            Some(checkpoint) if config.exactly_once => {
                checkpoint.delete()?;
                ChangelogOffsets::new()
            }
            _ => checkpointed,
        };
        let ctx = BuildContext {
            application_id: &config.application_id,
        };
        let mut built: Vec<Option<BuiltNode>> = (0..topology.nodes.len()).map(|_| None).collect();
        // Children always have larger indices than their parents: build from the back.
        for &index in sub.nodes.iter().rev() {
            let def = &topology.nodes[index];
            let children: Vec<&BuiltNode> = def
                .children
                .iter()
                .filter_map(|&c| built[c].as_ref())
                .collect();
            let info = NodeInfo {
                index,
                name: def.name.clone(),
                child_names: def
                    .children
                    .iter()
                    .map(|&c| topology.nodes[c].name.clone())
                    .collect(),
                stores: def.stores.clone(),
            };
            built[index] = Some(def.factory.build(info, &children, &ctx)?);
        }
        let mut queues = PartitionGroup::default();
        let mut lifecycles = Vec::new();
        for &index in &sub.nodes {
            let Some(node) = built[index].take() else {
                continue;
            };
            if let (Some(source), crate::topology::NodeKind::Source { topics }) =
                (node.source, &topology.nodes[index].kind)
            {
                for topic in topics {
                    queues.add_partition(
                        topic.full_name(&config.application_id).into(),
                        partition,
                        Rc::clone(&source),
                        topology.timestamp_extractor(&topic.name).cloned(),
                    );
                }
            }
            if let Some(lifecycle) = node.lifecycle {
                lifecycles.push((index, lifecycle));
            }
        }
        let task = StreamTask {
            id,
            lifecycles,
            stores,
            checkpoint,
            changelog_offsets,
            checkpointed,
            queues,
            env: TaskEnv {
                task_id: id,
                application_id: Arc::clone(&config.application_id),
                stream_time: -1,
                wall_clock,
                record: None,
                current_timestamp,
                collector,
                schedule: PunctuationSchedule::default(),
                dropped: 0,
            },
            config: config.clone(),
            metrics: TaskMetrics::default(),
            spare_context: None,
        };
        Ok(task)
    }

    /// Initializes the processors (in topology order): after the stores are restored, before
    /// the first record.
    pub fn initialize(&mut self) -> Result<(), StreamsError> {
        for (_, lifecycle) in &self.lifecycles {
            lifecycle.init(&mut self.env, &self.stores)?;
        }
        Ok(())
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The task's stores.
    pub fn stores(&self) -> &TaskStores {
        &self.stores
    }

    /// The task's counters.
    pub fn metrics(&self) -> TaskMetrics {
        TaskMetrics {
            dropped_records: self.metrics.dropped_records + self.env.dropped,
            ..self.metrics
        }
    }

    /// The task's stream time (-1 before the first record).
    pub fn stream_time(&self) -> i64 {
        self.env.stream_time
    }

    /// Whether the task reads `topic` (full name).
    pub fn reads(&self, topic: &str) -> bool {
        self.queues.has_topic(topic)
    }

    /// Buffers an input record; it is processed by [`process_next`](Self::process_next).
    /// A record of a topic or partition the task does not read is ignored and returned.
    pub fn add_record(&mut self, record: RawRecord) -> Result<(), RawRecord> {
        self.queues.push(record)
    }

    /// The number of buffered input records.
    pub fn buffered(&self) -> usize {
        self.queues.len()
    }

    /// Whether the task may process now: every input partition has a buffered record, or some
    /// has and the empty ones have kept the task waiting for `max_idle` (Kafka Streams'
    /// `max.task.idle.ms`, which trades latency for timestamp order across partitions).
    pub fn is_processable(&mut self, now_ms: i64, max_idle_ms: i64) -> bool {
        self.queues.ready(now_ms, max_idle_ms)
    }

    /// For each input partition with records processed since the last call, the offset to commit
    /// (the next one to read).
    pub fn take_commit_offsets(&mut self) -> Vec<(Arc<str>, i32, i64)> {
        self.queues.take_progress()
    }

    /// The input partitions of this task.
    pub fn partitions(&self) -> Vec<(Arc<str>, i32)> {
        self.queues.partitions()
    }

    /// Processes the buffered record with the smallest timestamp. Returns `false` when nothing
    /// was buffered. Errors the configured handlers let through are returned.
    pub fn process_next(&mut self) -> Result<bool, ProcessError> {
        let Some((mut record, source)) = self.queues.pop() else {
            return Ok(false);
        };
        if record.timestamp < 0 {
            let (partition, offset) = (record.partition, record.offset);
            self.skip_negative_timestamp(&record.topic, partition, offset, record.timestamp);
            return Ok(true);
        }
        set_record_context(
            &mut self.env,
            &mut self.spare_context,
            &record.topic,
            (record.partition, record.offset, record.timestamp),
        );
        let result = source.process_raw(&mut record, &mut self.env);
        self.leave();
        match result {
            Ok(()) => Ok(true),
            Err(error) => self.handle(error, record).map(|()| true),
        }
    }

    /// Whether a record of the task's input can be processed as it arrives, straight from the
    /// consumer's buffer: the task reads a single partition (so there is no timestamp order to
    /// keep among its inputs) and has nothing buffered ahead of the record.
    #[cfg(feature = "kafka")]
    pub(crate) fn takes_direct_input(&self) -> bool {
        self.queues.len() == 0 && self.queues.direct_topic().is_some()
    }

    /// Processes a record of the task's single input partition where it lies (see
    /// [`takes_direct_input`](Self::takes_direct_input)); it counts as processed for the next
    /// commit like a buffered one. A record of another partition is ignored.
    #[cfg(feature = "kafka")]
    pub(crate) fn process_borrowed(
        &mut self,
        mut input: BorrowedInput<'_>,
    ) -> Result<(), ProcessError> {
        // Only a source with an extractor pays for one per record.
        if self.queues.stamps() {
            input.timestamp = self.queues.stamp_direct(&ConsumedRecord {
                topic: input.topic,
                partition: input.partition,
                offset: input.offset,
                timestamp: input.timestamp,
                key: input.key,
                value: input.value,
                headers: &input.headers,
            });
        }
        let Some((topic, source)) = self.queues.take_direct(input.partition, input.offset) else {
            return Ok(());
        };
        if input.timestamp < 0 {
            let (partition, offset) = (input.partition, input.offset);
            self.skip_negative_timestamp(input.topic, partition, offset, input.timestamp);
            return Ok(());
        }
        set_record_context(
            &mut self.env,
            &mut self.spare_context,
            topic,
            (input.partition, input.offset, input.timestamp),
        );
        let result = source.process_borrowed(&mut input, &mut self.env);
        self.leave();
        match result {
            Ok(()) => Ok(()),
            Err(error) => {
                let topic = self
                    .queues
                    .direct_topic()
                    .map_or_else(|| input.topic.into(), Arc::clone);
                self.handle(error, input.into_raw(topic))
            }
        }
    }

    /// Clears the record context after processing an input record (keeping it for the next).
    fn leave(&mut self) {
        self.spare_context = self.env.record.take();
        self.metrics.processed += 1;
    }

    /// Flushes the task's cached stores: their dirty entries are written to the stores (and
    /// changelogs) and their owners forward the changes downstream, as Kafka Streams flushes
    /// its caches before committing. Must run before the offsets of the processed records are
    /// committed (or handed to a rebalance's commit): the updates of those records may still be
    /// in the cache. Without a record cache it does nothing.
    pub fn flush_cache(&mut self) -> Result<(), ProcessError> {
        // What a flush forwards may update cached stores downstream in the same task: flush
        // again until nothing moves (the topology is acyclic, so this ends).
        loop {
            let mut forwarded = 0;
            for cache in self.stores.caches() {
                cache.flush()?;
            }
            for cache in self.stores.caches() {
                forwarded += cache.drain(&mut self.env)?;
            }
            if forwarded == 0 {
                return Ok(());
            }
        }
    }

    /// Drops every buffered input record (after a rebalance the consumer fetches them again).
    pub fn clear_buffers(&mut self) {
        self.queues.clear();
    }

    /// Fires every stream-time punctuation that is due; returns how many fired.
    pub fn punctuate_stream_time(&mut self) -> Result<usize, ProcessError> {
        let now = self.env.stream_time;
        if now < 0 {
            return Ok(0);
        }
        self.punctuate(PunctuationType::StreamTime, now)
    }

    /// Sets the wall clock to `now` and fires every wall-clock punctuation that is due.
    pub fn punctuate_wall_clock(&mut self, now: i64) -> Result<usize, ProcessError> {
        self.env.wall_clock = self.env.wall_clock.max(now);
        self.punctuate(PunctuationType::WallClockTime, self.env.wall_clock)
    }

    fn punctuate(&mut self, kind: PunctuationType, now: i64) -> Result<usize, ProcessError> {
        let mut fired = 0;
        self.env.current_timestamp.set(now);
        while let Some((node, id)) = self.env.schedule.take_due(kind, now) {
            if let Some((_, lifecycle)) = self.lifecycles.iter().find(|(i, _)| *i == node) {
                lifecycle.punctuate(id, now, &mut self.env)?;
                fired += 1;
            }
        }
        self.metrics.punctuations += fired as u64;
        Ok(fired)
    }

    /// Closes the processors (in topology order) and releases the stores.
    pub fn close(self) {
        for (_, lifecycle) in &self.lifecycles {
            lifecycle.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{StreamsBuilder, Topic};
    use crate::record::{Headers, OutgoingRecord};

    #[derive(Default)]
    struct Collected(Vec<(String, Option<Vec<u8>>, i64)>);

    impl RecordCollector for Collected {
        fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), ProcessError> {
            self.0.push((
                record.topic.to_owned(),
                record.value.map(<[u8]>::to_vec),
                record.timestamp,
            ));
            Ok(())
        }
    }

    fn raw(topic: &str, offset: i64, timestamp: i64, value: u8) -> RawRecord {
        RawRecord {
            topic: topic.into(),
            partition: 3,
            offset,
            timestamp,
            key: Some(b"k".to_vec()),
            value: Some(vec![value]),
            headers: Headers::new(),
        }
    }

    /// A task on partition 3 of `a` merged with `b`, writing to a collector the test reads.
    fn merged_task() -> (StreamTask, Rc<RefCell<Collected>>) {
        let (a, b) = (Topic::<String, u8>::new("a"), Topic::<String, u8>::new("b"));
        let builder = StreamsBuilder::new();
        builder
            .stream(&a)
            .merge(builder.stream(&b))
            .to(&Topic::<String, u8>::new("out"));
        let topology = builder.build().unwrap();
        let collected = Rc::new(RefCell::new(Collected::default()));
        let collector: Rc<RefCell<dyn RecordCollector>> = collected.clone();
        let mut task =
            StreamTask::new(&topology, 0, 3, &TaskConfig::new("app"), collector, 0).unwrap();
        task.initialize().unwrap();
        (task, collected)
    }

    #[test]
    fn a_task_merges_its_partitions_by_timestamp_and_reports_offsets() {
        let (mut task, collected) = merged_task();
        assert_eq!(task.id().to_string(), "0_3");
        for record in [
            raw("a", 10, 5, 1),
            raw("a", 11, 9, 2),
            raw("b", 20, 7, 3),
            raw("b", 21, 8, 4),
        ] {
            task.add_record(record).unwrap();
        }
        assert!(task.add_record(raw("c", 0, 0, 0)).is_err());
        while task.process_next().unwrap() {}
        let order: Vec<(Option<Vec<u8>>, i64)> = collected
            .borrow()
            .0
            .iter()
            .map(|(_, v, ts)| (v.clone(), *ts))
            .collect();
        assert_eq!(
            order,
            [
                (Some(vec![1]), 5),
                (Some(vec![3]), 7),
                (Some(vec![4]), 8),
                (Some(vec![2]), 9)
            ]
        );
        assert_eq!(task.stream_time(), 9);
        let mut offsets = task.take_commit_offsets();
        offsets.sort();
        assert_eq!(offsets, [("a".into(), 3, 12), ("b".into(), 3, 22)]);
        assert!(task.take_commit_offsets().is_empty());
    }

    #[test]
    fn max_task_idle_waits_for_empty_partitions() {
        let (mut task, _) = merged_task();
        task.add_record(raw("a", 0, 1, 1)).unwrap();
        assert!(task.is_processable(1_000, 0), "no idling configured");
        assert!(!task.is_processable(1_000, 100), "b is empty: wait");
        assert!(!task.is_processable(1_050, 100));
        assert!(task.is_processable(1_100, 100), "waited long enough");
    }
}

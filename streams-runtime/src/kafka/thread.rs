//! The stream thread: one consumer, one producer, and the tasks of the partitions the group
//! assigned to it.
//!
//! The loop polls a batch of records without blocking while work is buffered, hands each record
//! to its task, lets every processable task drain its buffers in timestamp order, fires
//! punctuations, and commits on the commit interval: flush the producer → commit the offsets of
//! processed records → checkpoint persistent stores. Nothing on that path takes a lock or an async hop per record;
//! the offsets a rebalance must commit are published once per loop.
//!
//! Assignment uses the consumer group's eager `range` assignor, which gives a member the same
//! partition numbers of every topic with the same partition count, so a task's co-partitioned
//! inputs always land together. On revocation (inside `poll`, in the rebalance callback) the
//! thread flushes its producer and commits what it processed; after the rebalance it closes the
//! tasks it lost, restores the stores of the tasks it gained from their changelogs, and drops
//! buffered records, which the consumer fetches again from the committed offsets.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers as _, Message};
use rdkafka::producer::Producer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

use super::collector::{DeliveryTracker, KafkaCollector, ThreadProducer, flush};
use super::restore::{ChangelogReader, StateRestoreListener};
use super::{KafkaClients, StoreSnapshot};
use crate::config::{ProductionErrorHandler, StreamsConfig};
use crate::error::StreamsError;
use crate::record::Headers;
use crate::task::{RawRecord, RecordCollector, StateRoot, StreamTask, TaskConfig, TaskId};
use crate::topology::Topology;

/// How long a thread must see no records before it asks the broker whether it is drained.
const DRAIN_CHECK: Duration = Duration::from_millis(300);

/// How many records one poll round takes at most before processing them.
const MAX_POLL_BATCH: usize = 2_000;

/// What the rebalance callback shares with the loop; touched once per loop, never per record.
pub(crate) struct ThreadShared {
    producer: Arc<ThreadProducer>,
    /// Offsets (next to read) of processed records not yet committed.
    pending: Mutex<BTreeMap<(String, i32), i64>>,
    rebalanced: AtomicBool,
    /// Between a revocation and the next assignment: the thread owns nothing it can rely on.
    in_rebalance: AtomicBool,
    commit_timeout: Duration,
}

/// The consumer context: commits processed work before partitions are revoked.
pub(crate) struct ThreadContext {
    shared: Arc<ThreadShared>,
}

impl ClientContext for ThreadContext {}

impl ConsumerContext for ThreadContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            self.shared.in_rebalance.store(true, Ordering::Release);
            // Outputs first, then the offsets that vouch for them.
            if let Err(error) = flush(&self.shared.producer, self.shared.commit_timeout) {
                tracing::warn!(%error, "cannot flush the producer before a rebalance; uncommitted work will be redone");
                return;
            }
            let pending = match self.shared.pending.lock() {
                Ok(mut pending) => std::mem::take(&mut *pending),
                Err(_) => return,
            };
            if let Err(error) = commit_offsets(consumer, &pending) {
                tracing::warn!(%error, "cannot commit before a rebalance; uncommitted work will be redone");
            }
        }
        self.shared.rebalanced.store(true, Ordering::Release);
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            self.shared.in_rebalance.store(false, Ordering::Release);
        }
        if let Rebalance::Error(error) = rebalance {
            tracing::warn!(%error, "rebalance error");
        }
        self.shared.rebalanced.store(true, Ordering::Release);
    }
}

/// Whether a commit failed because this member is no longer in the group's current generation.
fn task_migrated(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::RebalanceInProgress
            | RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::UnknownMemberId
            | RDKafkaErrorCode::FencedInstanceId
    )
}

fn commit_offsets<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    offsets: &BTreeMap<(String, i32), i64>,
) -> Result<(), rdkafka::error::KafkaError> {
    if offsets.is_empty() {
        return Ok(());
    }
    tracing::debug!(?offsets, "committing offsets");
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
    }
    consumer.commit(&list, CommitMode::Sync)
}

/// Signals between a thread and its application.
pub(crate) struct ThreadControl {
    pub(crate) shutdown: AtomicBool,
    pub(crate) failed: AtomicBool,
    /// Milliseconds (since the application's start) of the thread's last activity: a record, a
    /// rebalance, or the start; -1 while the thread has no assignment yet.
    pub(crate) last_activity_ms: AtomicI64,
    /// Whether the thread has buffered records or uncommitted work.
    pub(crate) busy: AtomicBool,
    /// Whether the thread is between a revocation and its next assignment.
    pub(crate) rebalancing: AtomicBool,
    /// Whether every assigned partition was read up to its high watermark at the last check.
    pub(crate) drained: AtomicBool,
    /// How many tasks the thread runs.
    pub(crate) tasks: std::sync::atomic::AtomicUsize,
    /// The partitions assigned to the thread, as of its last rebalance.
    pub(crate) assignment: Mutex<Vec<(String, i32)>>,
    pub(crate) started: Instant,
}

impl ThreadControl {
    pub(crate) fn new(started: Instant) -> Self {
        ThreadControl {
            shutdown: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            last_activity_ms: AtomicI64::new(-1),
            busy: AtomicBool::new(true),
            rebalancing: AtomicBool::new(true),
            drained: AtomicBool::new(false),
            tasks: std::sync::atomic::AtomicUsize::new(0),
            assignment: Mutex::new(Vec::new()),
            started,
        }
    }

    fn touch(&self) {
        let now = self.started.elapsed().as_millis() as i64;
        self.last_activity_ms.store(now, Ordering::Release);
    }
}

/// A topic the thread reads: its name, shared by every record of it, and its sub-topology.
struct SourceTopic {
    name: Arc<str>,
    subtopology: u32,
}

/// One stream thread's state.
pub(crate) struct StreamThread {
    name: String,
    topology: Arc<Topology>,
    config: Arc<StreamsConfig>,
    task_config: TaskConfig,
    consumer: BaseConsumer<ThreadContext>,
    producer: Arc<ThreadProducer>,
    collector: std::rc::Rc<std::cell::RefCell<KafkaCollector>>,
    shared: Arc<ThreadShared>,
    control: Arc<ThreadControl>,
    tasks: BTreeMap<TaskId, StreamTask>,
    /// Topic (full name) → the sub-topology reading it.
    topic_subtopology: HashMap<String, SourceTopic>,
    restorer: ChangelogReader,
    dropped_by_producer: u64,
}

impl StreamThread {
    pub(crate) fn new(
        name: String,
        topology: Arc<Topology>,
        config: Arc<StreamsConfig>,
        clients: &KafkaClients,
        control: Arc<ThreadControl>,
        state: StateRoot,
        restore_listener: Option<Arc<dyn StateRestoreListener>>,
    ) -> Result<Self, StreamsError> {
        let producer: Arc<ThreadProducer> = Arc::new(
            clients
                .producer_config(&name)
                .create_with_context(DeliveryTracker::new(&config.application_id))
                .map_err(|e| StreamsError::Kafka(format!("cannot create the producer: {e}")))?,
        );
        let shared = Arc::new(ThreadShared {
            producer: Arc::clone(&producer),
            pending: Mutex::new(BTreeMap::new()),
            rebalanced: AtomicBool::new(false),
            in_rebalance: AtomicBool::new(true),
            commit_timeout: Duration::from_secs(30),
        });
        let consumer: BaseConsumer<ThreadContext> = clients
            .consumer_config(&name)
            .create_with_context(ThreadContext {
                shared: Arc::clone(&shared),
            })
            .map_err(|e| StreamsError::Kafka(format!("cannot create the consumer: {e}")))?;
        let application_id = config.application_id.clone();
        let topic_subtopology = topology
            .subtopologies()
            .iter()
            .flat_map(|s| {
                s.source_topics
                    .iter()
                    .map(|t| {
                        let name = t.full_name(&application_id);
                        let source = SourceTopic {
                            name: name.as_str().into(),
                            subtopology: s.id,
                        };
                        (name, source)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let task_config = TaskConfig {
            application_id: application_id.as_str().into(),
            deserialization_errors: config.deserialization_errors.task_handler(),
            processing_errors: config.processing_errors,
            state: Some(state),
        };
        let restorer = ChangelogReader::new(clients.restore_config(&name), restore_listener)?;
        Ok(StreamThread {
            name,
            collector: std::rc::Rc::new(std::cell::RefCell::new(KafkaCollector::new(Arc::clone(
                &producer,
            )))),
            topology,
            config,
            task_config,
            consumer,
            producer,
            shared,
            control,
            tasks: BTreeMap::new(),
            topic_subtopology,
            restorer,
            dropped_by_producer: 0,
        })
    }

    /// Runs until shutdown is requested or an error stops the thread; returns the final contents
    /// of the stores of the tasks the thread owned.
    pub(crate) fn run(mut self) -> Result<Vec<StoreSnapshot>, StreamsError> {
        let topics: Vec<String> = self.topic_subtopology.keys().cloned().collect();
        let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&topic_refs)
            .map_err(|e| StreamsError::Kafka(format!("cannot subscribe to {topics:?}: {e}")))?;
        tracing::info!(thread = %self.name, ?topics, "stream thread started");
        let result = self.run_loop();
        let outcome = match result {
            Ok(()) => self
                .commit()
                .and_then(|()| self.checkpoint(true))
                .map(|()| self.snapshot()),
            Err(error) => Err(error),
        };
        for (_, task) in std::mem::take(&mut self.tasks) {
            task.close();
        }
        self.consumer.unsubscribe();
        tracing::info!(thread = %self.name, ok = outcome.is_ok(), "stream thread stopped");
        outcome
    }

    fn run_loop(&mut self) -> Result<(), StreamsError> {
        let mut last_commit = Instant::now();
        let mut last_record = Instant::now();
        let mut last_drain_check = Instant::now();
        let mut batch: Vec<RawRecord> = Vec::with_capacity(MAX_POLL_BATCH);
        while !self.control.shutdown.load(Ordering::Acquire) {
            let buffered: usize = self.tasks.values().map(StreamTask::buffered).sum();
            let mut timeout = if buffered > 0 {
                Duration::ZERO
            } else {
                self.config.poll
            };
            while batch.len() < MAX_POLL_BATCH {
                match self.consumer.poll(timeout) {
                    None => break,
                    Some(Ok(message)) => {
                        // Only subscribed topics arrive; their names are shared, not copied.
                        if let Some(source) = self.topic_subtopology.get(message.topic()) {
                            batch.push(raw_record(&message, Arc::clone(&source.name)));
                        }
                    }
                    Some(Err(error)) => {
                        // Broker and network errors are retried by librdkafka; keep going.
                        tracing::debug!(thread = %self.name, %error, "consumer error");
                        break;
                    }
                }
                timeout = Duration::ZERO;
            }
            self.control.rebalancing.store(
                self.shared.in_rebalance.load(Ordering::Acquire),
                Ordering::Release,
            );
            // Once shutting down, keep the tasks owned now: their work is committed on close,
            // and tasks gained now would only be restored to be closed again.
            if self.shared.rebalanced.swap(false, Ordering::AcqRel)
                && !self.control.shutdown.load(Ordering::Acquire)
            {
                self.on_rebalance()?;
                self.control.touch();
            }
            if !batch.is_empty() {
                self.control.touch();
                self.control.drained.store(false, Ordering::Release);
                last_record = Instant::now();
            } else if last_record.elapsed() >= DRAIN_CHECK
                && last_drain_check.elapsed() >= DRAIN_CHECK
            {
                // Quiet: ask the broker whether anything is left (a network round trip, so
                // only while nothing arrives).
                last_drain_check = Instant::now();
                let drained = self.drained();
                self.control.drained.store(drained, Ordering::Release);
            }
            for record in batch.drain(..) {
                self.route(record)?;
            }
            self.process()?;
            self.producer.poll(Duration::ZERO);
            self.check_deliveries()?;
            self.publish_progress();
            if last_commit.elapsed() >= self.config.commit_interval {
                self.commit()?;
                last_commit = Instant::now();
            }
            let idle = self.tasks.values().all(|t| t.buffered() == 0);
            self.control.busy.store(!idle, Ordering::Release);
        }
        Ok(())
    }

    /// Whether every assigned partition has been read up to its high watermark.
    fn drained(&self) -> bool {
        let timeout = Duration::from_secs(5);
        let (Ok(assignment), Ok(positions)) =
            (self.consumer.assignment(), self.consumer.position())
        else {
            return false;
        };
        let mut unknown = TopicPartitionList::new();
        let mut positions_by_partition = BTreeMap::new();
        for element in positions.elements() {
            match element.offset() {
                Offset::Offset(offset) => {
                    positions_by_partition
                        .insert((element.topic().to_owned(), element.partition()), offset);
                }
                _ => {
                    let _ = unknown.add_partition_offset(
                        element.topic(),
                        element.partition(),
                        Offset::Invalid,
                    );
                }
            }
        }
        if unknown.count() > 0 {
            // Nothing consumed there yet: the committed offset is where reading resumes.
            match self.consumer.committed_offsets(unknown, timeout) {
                Ok(committed) => {
                    for element in committed.elements() {
                        let offset = match element.offset() {
                            Offset::Offset(offset) => offset,
                            _ => 0,
                        };
                        positions_by_partition
                            .insert((element.topic().to_owned(), element.partition()), offset);
                    }
                }
                Err(_) => return false,
            }
        }
        assignment.elements().iter().all(|element| {
            let key = (element.topic().to_owned(), element.partition());
            match self
                .consumer
                .fetch_watermarks(element.topic(), element.partition(), timeout)
            {
                Ok((low, high)) => {
                    high <= low || positions_by_partition.get(&key).is_some_and(|&p| p >= high)
                }
                Err(_) => false,
            }
        })
    }

    fn route(&mut self, record: RawRecord) -> Result<(), StreamsError> {
        let Some(&SourceTopic { subtopology, .. }) = self.topic_subtopology.get(&*record.topic)
        else {
            return Ok(());
        };
        let id = TaskId {
            subtopology,
            partition: record.partition,
        };
        match self.tasks.get_mut(&id) {
            Some(task) => {
                // A record of a partition the task does not read cannot come from our subscription.
                let _ = task.add_record(record);
            }
            None => {
                tracing::debug!(thread = %self.name, task = %id, "dropping a record of an unassigned partition");
            }
        }
        Ok(())
    }

    fn process(&mut self) -> Result<(), StreamsError> {
        let now = self.control.started.elapsed().as_millis() as i64;
        let idle_ms = self.config.max_task_idle.as_millis() as i64;
        let wall_clock = wall_clock_ms();
        for task in self.tasks.values_mut() {
            while task.is_processable(now, idle_ms) {
                match task.process_next() {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => return Err(error.into()),
                }
                task.punctuate_stream_time()?;
            }
            task.punctuate_wall_clock(wall_clock)?;
        }
        Ok(())
    }

    fn check_deliveries(&mut self) -> Result<(), StreamsError> {
        let tracker = self.producer.context();
        let failed = tracker.failed.load(Ordering::Relaxed);
        if failed > self.dropped_by_producer {
            let error = tracker.take_error().unwrap_or_default();
            match self.config.production_errors {
                ProductionErrorHandler::Fail => {
                    return Err(StreamsError::Kafka(error));
                }
                ProductionErrorHandler::Continue => {
                    tracing::warn!(thread = %self.name, dropped = failed - self.dropped_by_producer, "continuing after failed deliveries: {error}");
                    self.dropped_by_producer = failed;
                }
            }
        }
        Ok(())
    }

    /// Hands the offsets of processed records to the shared map the rebalance callback commits.
    fn publish_progress(&mut self) {
        let progress: Vec<_> = self
            .tasks
            .values_mut()
            .flat_map(StreamTask::take_commit_offsets)
            .collect();
        if progress.is_empty() {
            return;
        }
        if let Ok(mut pending) = self.shared.pending.lock() {
            for (topic, partition, offset) in progress {
                pending.insert((topic.to_string(), partition), offset);
            }
        }
    }

    /// Writes the checkpoints of tasks with persistent stores: every task's when `force`d (a
    /// clean close), otherwise those that wrote enough changelog records since their last one.
    /// Only when every write the producer took was delivered, so a checkpoint never vouches
    /// for a store write its changelog lacks.
    fn checkpoint(&mut self, force: bool) -> Result<(), StreamsError> {
        self.checkpoint_tasks(force, |_| true)
    }

    /// [`checkpoint`](Self::checkpoint) for the tasks `pick` selects.
    fn checkpoint_tasks(
        &mut self,
        force: bool,
        pick: impl Fn(&TaskId) -> bool,
    ) -> Result<(), StreamsError> {
        if self.producer.in_flight_count() > 0 {
            return Ok(());
        }
        let ends = self.producer.context().changelog_ends();
        for (_, task) in self.tasks.iter_mut().filter(|(id, _)| pick(id)) {
            task.update_changelog_offsets(&ends);
            task.maybe_checkpoint(force)?;
        }
        Ok(())
    }

    /// flush the producer → commit the processed offsets → checkpoint persistent stores. (Store
    /// writes reach their backends and changelogs as they happen, so the stores have nothing to
    /// flush before that; RocksDB memtables are flushed with the checkpoint.)
    fn commit(&mut self) -> Result<(), StreamsError> {
        self.publish_progress();
        flush(&self.producer, self.shared.commit_timeout)
            .map_err(|e| StreamsError::Kafka(format!("cannot flush the producer: {e}")))?;
        self.check_deliveries()?;
        let pending = match self.shared.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return Ok(()),
        };
        match commit_offsets(&self.consumer, &pending) {
            Ok(()) => self.checkpoint(false)?,
            Err(KafkaError::ConsumerCommit(code)) if task_migrated(code) => {
                // The group moved on without this member: its tasks may already run elsewhere.
                // Drop them (their changelogs hold their state) and rebuild from the assignment
                // the consumer rejoins with, as Kafka Streams does on a TaskMigratedException.
                tracing::warn!(thread = %self.name, error = %code, "tasks migrated: closing them and rejoining");
                for (_, task) in std::mem::take(&mut self.tasks) {
                    task.close();
                }
                self.shared.rebalanced.store(true, Ordering::Release);
            }
            Err(error) => {
                // Redone by whoever owns the partitions next: at-least-once.
                tracing::warn!(thread = %self.name, %error, "offset commit failed; the records will be processed again");
            }
        }
        Ok(())
    }

    fn on_rebalance(&mut self) -> Result<(), StreamsError> {
        let assignment = self
            .consumer
            .assignment()
            .map_err(|e| StreamsError::Kafka(format!("cannot read the assignment: {e}")))?;
        if let Ok(mut published) = self.control.assignment.lock() {
            *published = assignment
                .elements()
                .iter()
                .map(|e| (e.topic().to_owned(), e.partition()))
                .collect();
        }
        let mut wanted: BTreeMap<TaskId, ()> = BTreeMap::new();
        for element in assignment.elements() {
            if let Some(&SourceTopic { subtopology, .. }) =
                self.topic_subtopology.get(element.topic())
            {
                wanted.insert(
                    TaskId {
                        subtopology,
                        partition: element.partition(),
                    },
                    (),
                );
            }
        }
        let lost: Vec<TaskId> = self
            .tasks
            .keys()
            .filter(|id| !wanted.contains_key(id))
            .copied()
            .collect();
        // The revocation flushed the producer: checkpoint what the lost tasks' stores hold, so
        // a later return of a task to this instance restores only the changelog's tail.
        self.checkpoint_tasks(true, |id| lost.contains(id))?;
        for id in &lost {
            if let Some(task) = self.tasks.remove(id) {
                task.close();
            }
        }
        // The consumer fetches again from the committed offsets: drop what was buffered.
        let kept: Vec<TaskId> = self.tasks.keys().copied().collect();
        for task in self.tasks.values_mut() {
            task.clear_buffers();
            let _ = task.take_commit_offsets();
        }
        if let Ok(mut pending) = self.shared.pending.lock() {
            pending.clear();
        }
        let collector: std::rc::Rc<std::cell::RefCell<dyn RecordCollector>> =
            self.collector.clone();
        let mut created = Vec::new();
        let missing: Vec<TaskId> = wanted
            .keys()
            .filter(|id| !self.tasks.contains_key(id))
            .copied()
            .collect();
        for id in &missing {
            let mut task = StreamTask::new(
                &self.topology,
                id.subtopology,
                id.partition,
                &self.task_config,
                std::rc::Rc::clone(&collector),
                wall_clock_ms(),
            )?;
            self.restorer
                .restore(&mut task, &self.config.application_id)?;
            created.push(*id);
            self.tasks.insert(*id, task);
        }
        self.control
            .tasks
            .store(self.tasks.len(), Ordering::Release);
        tracing::info!(thread = %self.name, ?created, ?kept, ?lost, "tasks after rebalance");
        Ok(())
    }

    fn snapshot(&self) -> Vec<StoreSnapshot> {
        self.tasks
            .iter()
            .flat_map(|(id, task)| {
                task.stores().iter().map(move |store| StoreSnapshot {
                    task: *id,
                    store: store.spec().name().to_owned(),
                    entries: store.entries().unwrap_or_default(),
                    timestamped: store.spec().is_timestamped(),
                })
            })
            .collect()
    }
}

pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn raw_record(message: &BorrowedMessage<'_>, topic: Arc<str>) -> RawRecord {
    let headers = message.headers().map_or_else(Headers::new, |headers| {
        let mut out = Headers::new();
        for header in headers.iter() {
            out.add(header.key, header.value.map(<[u8]>::to_vec));
        }
        out
    });
    RawRecord {
        topic,
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp().to_millis().unwrap_or(-1),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
    }
}

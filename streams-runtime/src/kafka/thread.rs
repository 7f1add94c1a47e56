//! The stream thread: one consumer, one producer, and the tasks of the partitions the group
//! assigned to it.
//!
//! The loop polls a batch of records without blocking while work is buffered, hands each record
//! to its task, lets every processable task drain its buffers in timestamp order, fires
//! punctuations, and commits on the commit interval: flush the record caches → flush the
//! producer → commit the offsets of processed records → checkpoint persistent stores. Nothing
//! on that path takes a lock or an async hop per record. While the consumer polls, the tasks
//! are lent to a thread-local slot, so a revocation (which librdkafka reports inside `poll`)
//! can flush their caches and commit their progress first.
//!
//! Under exactly-once (see [`super::transaction`]) a commit is a transaction commit instead:
//! the processed input offsets go into the thread's open transaction, which then commits with
//! every output and changelog write it holds; a transaction that fails is aborted, and the
//! thread rebuilds its tasks from their changelogs and reads their input again from the
//! committed offsets.
//!
//! Assignment uses the consumer group's eager `range` assignor, which gives a member the same
//! partition numbers of every topic with the same partition count, so a task's co-partitioned
//! inputs always land together. On revocation (inside `poll`, in the rebalance callback) the
//! thread flushes its producer and commits what it processed; after the rebalance it closes the
//! tasks it lost, restores the stores of the tasks it gained from their changelogs, and drops
//! buffered records, which the consumer fetches again from the committed offsets.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers as _, Message};
use rdkafka::producer::Producer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

use super::collector::{DeliveryTracker, KafkaCollector, ThreadProducer, flush};
use super::restore::{ChangelogReader, StateRestoreListener};
use super::standby::StandbyRegistry;
use super::transaction::{self, TransactionFailure};
use super::{KafkaClients, StoreSnapshot};
use crate::config::{ProductionErrorHandler, StreamsConfig};
use crate::error::StreamsError;
use crate::record::Headers;
use crate::task::{
    BorrowedInput, RawRecord, RecordCollector, StateRoot, StreamTask, TaskConfig, TaskId,
};
use crate::topology::Topology;

/// How long a thread must see no records before it asks the broker whether it is drained.
const DRAIN_CHECK: Duration = Duration::from_millis(300);

/// How many records one poll round takes at most before processing them.
const MAX_POLL_BATCH: usize = 2_000;

thread_local! {
    /// The tasks of the stream thread on this OS thread, lent here while the thread is inside
    /// `consumer.poll`: librdkafka runs the rebalance callback there, and a revocation must
    /// flush the tasks' record caches and take their progress before it commits their offsets
    /// (Kafka Streams does the same when it suspends revoked tasks). Outside `poll` the map is
    /// empty and the tasks are the thread's own.
    static POLLING_TASKS: RefCell<BTreeMap<TaskId, StreamTask>> = const { RefCell::new(BTreeMap::new()) };
}

/// What the rebalance callback shares with the loop; touched once per loop, never per record.
pub(crate) struct ThreadShared {
    /// The thread's producer (replaced when a transactional one is fenced).
    producer: Mutex<Arc<ThreadProducer>>,
    /// Whether commits are transactions (exactly-once).
    exactly_once: bool,
    /// Set when the transaction committed on a revocation failed and was aborted: the stores
    /// of the tasks kept may hold its writes, so the next assignment rebuilds them.
    transaction_aborted: AtomicBool,
    /// An error the rebalance callback met (a task failing while its cache flushed), for the
    /// loop to stop the thread with once `poll` returns.
    callback_error: Mutex<Option<StreamsError>>,
    control: Arc<ThreadControl>,
    /// Offsets (next to read) of processed records not yet committed.
    pending: Mutex<BTreeMap<(String, i32), i64>>,
    rebalanced: AtomicBool,
    /// Between a revocation and the next assignment: the thread owns nothing it can rely on.
    in_rebalance: AtomicBool,
    commit_timeout: Duration,
}

impl ThreadShared {
    /// Flushes the record caches of `tasks` and moves their processed offsets to the pending
    /// ones: what a commit, or a revocation inside `poll`, does before committing.
    fn collect_progress(
        &self,
        tasks: &mut BTreeMap<TaskId, StreamTask>,
    ) -> Result<(), StreamsError> {
        let mut progress = Vec::new();
        for task in tasks.values_mut() {
            task.flush_cache()?;
            progress.extend(task.take_commit_offsets());
        }
        if !progress.is_empty()
            && let Ok(mut pending) = self.pending.lock()
        {
            for (topic, partition, offset) in progress {
                pending.insert((topic.to_string(), partition), offset);
            }
        }
        Ok(())
    }

    /// Takes the pending offsets, to commit them.
    fn take_pending(&self) -> BTreeMap<(String, i32), i64> {
        self.pending
            .lock()
            .map(|mut pending| std::mem::take(&mut *pending))
            .unwrap_or_default()
    }
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
            if !self.collect_progress() {
                // The thread stops with the error; the work is redone by the next owner.
            } else if self.shared.exactly_once {
                self.commit_transaction(consumer);
            } else {
                self.commit_offsets(consumer);
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

impl ThreadContext {
    fn producer(&self) -> Option<Arc<ThreadProducer>> {
        self.shared.producer.lock().ok().map(|p| Arc::clone(&p))
    }

    /// On revocation: flushes the record caches of the thread's tasks (lent to
    /// [`POLLING_TASKS`] during `poll`) and adds their processed offsets to the pending ones.
    /// Returns false when a task failed: then nothing may be committed.
    fn collect_progress(&self) -> bool {
        let result = POLLING_TASKS.with(|slot| match slot.try_borrow_mut() {
            Ok(mut tasks) => self.shared.collect_progress(&mut tasks),
            Err(_) => Ok(()),
        });
        match result {
            Ok(()) => true,
            Err(error) => {
                if let Ok(mut slot) = self.shared.callback_error.lock() {
                    slot.get_or_insert(error);
                }
                false
            }
        }
    }

    /// At-least-once, on revocation: outputs first, then the offsets that vouch for them.
    fn commit_offsets(&self, consumer: &BaseConsumer<Self>) {
        let Some(producer) = self.producer() else {
            return;
        };
        if let Err(error) = flush(&producer, self.shared.commit_timeout) {
            tracing::warn!(%error, "cannot flush the producer before a rebalance; uncommitted work will be redone");
            return;
        }
        let pending = self.shared.take_pending();
        match commit_offsets(consumer, &pending) {
            Ok(true) => {
                self.shared.control.commits.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "cannot commit before a rebalance; uncommitted work will be redone");
            }
        }
    }

    /// Exactly-once, on revocation: commit the open transaction with the processed offsets
    /// before another member can own the partitions (its `read_committed` restore would wait
    /// for this transaction otherwise), and open the next one.
    fn commit_transaction(&self, consumer: &BaseConsumer<Self>) {
        let Some(producer) = self.producer() else {
            return;
        };
        let pending = self.shared.take_pending();
        match transaction::commit(consumer, &producer, &pending, self.shared.commit_timeout) {
            Ok(()) => {
                self.shared.control.commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(failure) => {
                tracing::warn!(%failure, "cannot commit the transaction before a rebalance; aborting it");
                // A fatal failure leaves the producer unusable: the loop replaces it.
                if let TransactionFailure::Abortable(_) = failure
                    && let Err(error) = transaction::abort(&producer, self.shared.commit_timeout)
                {
                    tracing::warn!(%error, "cannot abort the transaction");
                }
                self.shared
                    .transaction_aborted
                    .store(true, Ordering::Release);
                return;
            }
        }
        if let Err(error) = producer.begin_transaction() {
            tracing::warn!(%error, "cannot begin a transaction after a rebalance");
            self.shared
                .transaction_aborted
                .store(true, Ordering::Release);
        }
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

/// Commits `offsets` (at-least-once); returns whether there was anything to commit.
fn commit_offsets<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    offsets: &BTreeMap<(String, i32), i64>,
) -> Result<bool, rdkafka::error::KafkaError> {
    if offsets.is_empty() {
        return Ok(false);
    }
    tracing::debug!(?offsets, "committing offsets");
    consumer.commit(&transaction::offsets_list(offsets)?, CommitMode::Sync)?;
    Ok(true)
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
    /// Commits made: offset commits, or transactions under exactly-once.
    pub(crate) commits: AtomicU64,
    /// Transactions aborted after a failure.
    pub(crate) aborted: AtomicU64,
    /// Transactional producers replaced after being fenced or failing fatally.
    pub(crate) producers_replaced: AtomicU64,
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
            commits: AtomicU64::new(0),
            aborted: AtomicU64::new(0),
            producers_replaced: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = self.started.elapsed().as_millis() as i64;
        self.last_activity_ms.store(now, Ordering::Release);
    }
}

/// A topic the thread reads: its name, shared by every record of it, and its sub-topology.
#[derive(Clone)]
struct SourceTopic {
    name: Arc<str>,
    subtopology: u32,
}

/// What a stream thread gets from its instance besides the topology and configuration.
pub(crate) struct ThreadSetup {
    /// The instance's state directory and RocksDB memory.
    pub(crate) state: StateRoot,
    pub(crate) restore_listener: Option<Arc<dyn StateRestoreListener>>,
    /// The producer's `transactional.id` under exactly-once.
    pub(crate) transactional_id: Option<String>,
    /// With standby replicas: the thread's index and the instance's standby registry, told
    /// which tasks the thread owns.
    pub(crate) standby: Option<(usize, Arc<StandbyRegistry>)>,
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
    /// The producer's configuration, to replace a fenced transactional producer.
    producer_config: ClientConfig,
    /// `collector.sent` when the open transaction began: whether it holds any record.
    sent_at_begin: u64,
    /// The producer's transaction-failed deliveries already acted on.
    transaction_failures_seen: u64,
    standby: Option<(usize, Arc<StandbyRegistry>)>,
}

impl StreamThread {
    pub(crate) fn new(
        name: String,
        topology: Arc<Topology>,
        config: Arc<StreamsConfig>,
        clients: &KafkaClients,
        control: Arc<ThreadControl>,
        setup: ThreadSetup,
    ) -> Result<Self, StreamsError> {
        let ThreadSetup {
            state,
            restore_listener,
            transactional_id,
            standby,
        } = setup;
        let exactly_once = transactional_id.is_some();
        let producer_config = match &transactional_id {
            Some(id) => clients.transactional_producer_config(&name, id),
            None => clients.producer_config(&name),
        };
        let producer = new_producer(&producer_config, &config.application_id)?;
        let shared = Arc::new(ThreadShared {
            producer: Mutex::new(Arc::clone(&producer)),
            exactly_once,
            transaction_aborted: AtomicBool::new(false),
            callback_error: Mutex::new(None),
            control: Arc::clone(&control),
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
            deserialization_errors: config.deserialization_errors.clone(),
            processing_errors: config.processing_errors,
            state: Some(state),
            exactly_once,
            // `statestore.cache.max.bytes` is the instance's: each thread gets its share.
            cache: crate::state::ThreadCache::for_thread(
                config.statestore_cache_max_bytes,
                config.num_stream_threads,
            ),
        };
        let restorer = ChangelogReader::new(clients.restore_config(&name), restore_listener)?;
        Ok(StreamThread {
            name,
            collector: std::rc::Rc::new(std::cell::RefCell::new(KafkaCollector::new(
                Arc::clone(&producer),
                exactly_once,
            ))),
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
            producer_config,
            sent_at_begin: 0,
            transaction_failures_seen: 0,
            standby,
        })
    }

    fn exactly_once(&self) -> bool {
        self.shared.exactly_once
    }

    /// Exactly-once: registers the producer's `transactional.id` with the broker (fencing any
    /// earlier producer with the same id, and aborting its open transaction) and opens the
    /// first transaction.
    fn init_transactions(&mut self) -> Result<(), StreamsError> {
        self.producer
            .init_transactions(TRANSACTION_INIT_TIMEOUT)
            .map_err(|e| StreamsError::Kafka(format!("cannot initialize transactions: {e}")))?;
        self.begin_transaction()
    }

    fn begin_transaction(&mut self) -> Result<(), StreamsError> {
        self.producer
            .begin_transaction()
            .map_err(|e| StreamsError::Kafka(format!("cannot begin a transaction: {e}")))?;
        self.sent_at_begin = self.collector.borrow().sent;
        Ok(())
    }

    /// Runs until shutdown is requested or an error stops the thread; returns the final contents
    /// of the stores of the tasks the thread owned.
    pub(crate) fn run(mut self) -> Result<Vec<StoreSnapshot>, StreamsError> {
        let topics: Vec<String> = self.topic_subtopology.keys().cloned().collect();
        let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        if self.exactly_once() {
            self.init_transactions()?;
        }
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
        if outcome.is_err()
            && self.exactly_once()
            && let Err(error) = transaction::abort(&self.producer, self.shared.commit_timeout)
        {
            // The broker aborts it when `transaction.timeout.ms` passes, or when this
            // instance restarts and fences this producer.
            tracing::debug!(%error, "cannot abort the open transaction on the way out");
        }
        for (_, task) in std::mem::take(&mut self.tasks) {
            task.close();
        }
        if let Some((index, registry)) = &self.standby {
            registry.set_active(*index, &BTreeSet::new());
        }
        self.consumer.unsubscribe();
        self.serve_final_revocation();
        tracing::info!(thread = %self.name, ok = outcome.is_ok(), "stream thread stopped");
        outcome
    }

    /// Lets the revocation that unsubscribing causes run now, while the group is up, so that
    /// closing the consumer finds nothing assigned. Left to the close, the rebalance callback
    /// asks librdkafka for the rebalance protocol, which can wait forever on a closing consumer
    /// (librdkafka#4041). Every task is closed by now: records polled here are dropped, and the
    /// group hands them to the next owner.
    fn serve_final_revocation(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self
            .consumer
            .assignment()
            .is_ok_and(|assigned| assigned.count() > 0)
            && Instant::now() < deadline
        {
            let _ = self.consumer.poll(Duration::from_millis(50));
        }
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
            // The rebalance callback may need the tasks while the consumer polls.
            POLLING_TASKS.with(|slot| std::mem::swap(&mut *slot.borrow_mut(), &mut self.tasks));
            let mut received = 0;
            let mut outcome = Ok(());
            let mut last_source: Option<SourceTopic> = None;
            while received < MAX_POLL_BATCH {
                match self.consumer.poll(timeout) {
                    None => break,
                    Some(Ok(message)) => {
                        received += 1;
                        // Only subscribed topics arrive; their names are shared, not copied.
                        let topic = message.topic();
                        // Consecutive messages mostly share a topic: compare before hashing.
                        if last_source.as_ref().is_none_or(|s| *s.name != *topic) {
                            last_source = self.topic_subtopology.get(topic).cloned();
                        }
                        let Some(source) = &last_source else {
                            continue;
                        };
                        if self.shared.rebalanced.load(Ordering::Acquire) {
                            // The assignment changed in this poll: its tasks are created
                            // first, then this record is routed.
                            batch.push(raw_record(&message, &source.name));
                            break;
                        }
                        if !batch.is_empty() {
                            // Behind a record waiting for its task: keep the order.
                            batch.push(raw_record(&message, &source.name));
                            continue;
                        }
                        let id = TaskId {
                            subtopology: source.subtopology,
                            partition: message.partition(),
                        };
                        outcome = POLLING_TASKS.with(|slot| {
                            let mut tasks = slot.borrow_mut();
                            let Some(task) = tasks.get_mut(&id) else {
                                batch.push(raw_record(&message, &source.name));
                                return Ok(());
                            };
                            if task.takes_direct_input() {
                                task.process_borrowed(borrowed_input(&message, topic))?;
                                task.punctuate_stream_time()?;
                            } else {
                                let _ = task.add_record(raw_record(&message, &source.name));
                            }
                            Ok::<(), StreamsError>(())
                        });
                        if outcome.is_err() {
                            break;
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
            POLLING_TASKS.with(|slot| std::mem::swap(&mut *slot.borrow_mut(), &mut self.tasks));
            outcome?;
            let failed = self
                .shared
                .callback_error
                .lock()
                .ok()
                .and_then(|mut e| e.take());
            if let Some(error) = failed {
                return Err(error);
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
            if received > 0 {
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
            let failed = self.collector.borrow_mut().transaction_failed.take();
            if let Some(reason) = failed {
                // Nothing more can go into this transaction: abort it and redo its work now.
                self.recover(TransactionFailure::Abortable(reason))?;
                last_commit = Instant::now();
            }
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
        let doomed = tracker.transaction_failures.load(Ordering::Relaxed);
        if doomed > self.transaction_failures_seen {
            self.transaction_failures_seen = doomed;
            self.collector
                .borrow_mut()
                .transaction_failed
                .get_or_insert_with(|| "a delivery failed with its transaction".to_owned());
        }
        let failed = tracker.failed.load(Ordering::Relaxed);
        if failed > self.dropped_by_producer {
            let error = tracker.take_error().unwrap_or_default();
            match self.config.production_errors {
                ProductionErrorHandler::Fail => {
                    return Err(StreamsError::Kafka(error));
                }
                ProductionErrorHandler::Continue if self.exactly_once() => {
                    // A failed delivery dooms the whole transaction: it is aborted and its
                    // records produced again, never dropped one by one.
                    self.dropped_by_producer = failed;
                    self.collector
                        .borrow_mut()
                        .transaction_failed
                        .get_or_insert(error);
                }
                ProductionErrorHandler::Continue => {
                    tracing::warn!(thread = %self.name, dropped = failed - self.dropped_by_producer, "continuing after failed deliveries: {error}");
                    self.dropped_by_producer = failed;
                }
            }
        }
        Ok(())
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

    /// flush the record caches → flush the producer → commit the processed offsets →
    /// checkpoint persistent stores. (Uncached store writes reach their backends and changelogs
    /// as they happen; RocksDB memtables are flushed with the checkpoint.)
    fn commit(&mut self) -> Result<(), StreamsError> {
        // Cached updates first: into the producer (or the transaction) before the offsets
        // that vouch for them.
        self.shared.collect_progress(&mut self.tasks)?;
        if self.exactly_once() {
            return self.commit_transaction();
        }
        flush(&self.producer, self.shared.commit_timeout)
            .map_err(|e| StreamsError::Kafka(format!("cannot flush the producer: {e}")))?;
        self.check_deliveries()?;
        let pending = self.shared.take_pending();
        match commit_offsets(&self.consumer, &pending) {
            Ok(committed) => {
                if committed {
                    self.control.commits.fetch_add(1, Ordering::Relaxed);
                }
                self.checkpoint(false)?
            }
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

    /// Commits the open transaction with the processed offsets and opens the next one; an
    /// empty transaction (nothing processed, nothing produced) is left open.
    fn commit_transaction(&mut self) -> Result<(), StreamsError> {
        let pending = self.shared.take_pending();
        if pending.is_empty() && self.collector.borrow().sent == self.sent_at_begin {
            return Ok(());
        }
        match transaction::commit(
            &self.consumer,
            &self.producer,
            &pending,
            self.shared.commit_timeout,
        ) {
            Ok(()) => {
                self.control.commits.fetch_add(1, Ordering::Relaxed);
                self.check_deliveries()?;
                self.begin_transaction()
            }
            Err(failure) => self.recover(failure),
        }
    }

    /// After a failed transaction: abort it (or replace a fenced producer), then rebuild every
    /// task from its changelog and read its input again from the committed offsets, as Kafka
    /// Streams does with corrupted or migrated tasks. The application goes on.
    fn recover(&mut self, failure: TransactionFailure) -> Result<(), StreamsError> {
        tracing::warn!(thread = %self.name, %failure, "transaction failed: aborting it and rebuilding the tasks from their changelogs");
        self.control.aborted.fetch_add(1, Ordering::Relaxed);
        let fatal = match failure {
            TransactionFailure::Fatal(_) => true,
            TransactionFailure::Abortable(_) => {
                match transaction::abort(&self.producer, self.shared.commit_timeout) {
                    Ok(()) => false,
                    Err(error) => {
                        tracing::warn!(thread = %self.name, %error, "cannot abort the transaction; replacing the producer");
                        true
                    }
                }
            }
        };
        if fatal {
            self.replace_producer()?;
        } else {
            self.collector.borrow_mut().transaction_failed = None;
            self.begin_transaction()?;
        }
        self.rebuild_tasks()
    }

    /// Replaces a fenced (or fatally failed) transactional producer: the new one's
    /// `init_transactions` takes the `transactional.id` back.
    fn replace_producer(&mut self) -> Result<(), StreamsError> {
        let producer = new_producer(&self.producer_config, &self.config.application_id)?;
        if let Ok(mut shared) = self.shared.producer.lock() {
            *shared = Arc::clone(&producer);
        }
        self.collector
            .borrow_mut()
            .replace_producer(Arc::clone(&producer));
        self.producer = producer;
        self.dropped_by_producer = 0;
        self.transaction_failures_seen = 0;
        self.control
            .producers_replaced
            .fetch_add(1, Ordering::Relaxed);
        self.init_transactions()
    }

    /// Drops every task with its local state (no checkpoint vouches for it under
    /// exactly-once), moves the consumer back to the committed offsets, and creates the tasks
    /// again, restoring their stores from the committed changelogs.
    fn rebuild_tasks(&mut self) -> Result<(), StreamsError> {
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        for (_, task) in std::mem::take(&mut self.tasks) {
            task.close();
        }
        if let Ok(mut pending) = self.shared.pending.lock() {
            pending.clear();
        }
        self.seek_to_committed()?;
        self.create_tasks(&ids)?;
        tracing::info!(thread = %self.name, tasks = ?ids, "tasks rebuilt from their changelogs");
        Ok(())
    }

    /// Moves the consumer to the committed offset of each assigned partition (where none is
    /// committed, to where `auto.offset.reset` says).
    fn seek_to_committed(&mut self) -> Result<(), StreamsError> {
        let timeout = Duration::from_secs(30);
        let kafka = |e: KafkaError| StreamsError::Kafka(format!("cannot rewind the input: {e}"));
        let assignment = self.consumer.assignment().map_err(kafka)?;
        let committed = self
            .consumer
            .committed_offsets(assignment, timeout)
            .map_err(kafka)?;
        let reset = match self
            .config
            .consumer
            .get("auto.offset.reset")
            .map(String::as_str)
        {
            Some("latest" | "end" | "largest") => Offset::End,
            _ => Offset::Beginning,
        };
        for element in committed.elements() {
            let offset = match element.offset() {
                Offset::Offset(offset) => Offset::Offset(offset),
                _ => reset,
            };
            self.consumer
                .seek(element.topic(), element.partition(), offset, timeout)
                .map_err(kafka)?;
        }
        Ok(())
    }

    /// Creates (and restores) the tasks `ids`.
    fn create_tasks(&mut self, ids: &[TaskId]) -> Result<(), StreamsError> {
        let collector: std::rc::Rc<std::cell::RefCell<dyn RecordCollector>> =
            self.collector.clone();
        for id in ids {
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
            task.initialize()?;
            self.tasks.insert(*id, task);
        }
        self.control
            .tasks
            .store(self.tasks.len(), Ordering::Release);
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
        if self
            .shared
            .transaction_aborted
            .swap(false, Ordering::AcqRel)
        {
            // The revocation's transaction failed: the stores may hold its aborted writes.
            self.control.aborted.fetch_add(1, Ordering::Relaxed);
            for (_, task) in std::mem::take(&mut self.tasks) {
                task.close();
            }
            if self.begin_transaction().is_err() {
                self.replace_producer()?;
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
        let created: Vec<TaskId> = wanted
            .keys()
            .filter(|id| !self.tasks.contains_key(id))
            .copied()
            .collect();
        if let Some((index, registry)) = &self.standby {
            // Standbys of the gained tasks hand their stores over (checkpointed) first.
            registry.set_active(*index, &wanted.keys().copied().collect());
        }
        self.create_tasks(&created)?;
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

/// How long `init_transactions` may take (it waits for the coordinator to abort an earlier
/// incarnation's open transaction).
const TRANSACTION_INIT_TIMEOUT: Duration = Duration::from_secs(60);

fn new_producer(
    config: &ClientConfig,
    application_id: &str,
) -> Result<Arc<ThreadProducer>, StreamsError> {
    let transactional = config.get("transactional.id").is_some();
    config
        .create_with_context(DeliveryTracker::new(application_id, transactional))
        .map(Arc::new)
        .map_err(|e| StreamsError::Kafka(format!("cannot create the producer: {e}")))
}

pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A copy of the message, to buffer.
fn raw_record(message: &BorrowedMessage<'_>, topic: &Arc<str>) -> RawRecord {
    borrowed_input(message, topic).into_raw(Arc::clone(topic))
}

/// The message as a task processes it in place (see [`StreamTask::takes_direct_input`]).
fn borrowed_input<'a>(message: &'a BorrowedMessage<'_>, topic: &'a str) -> BorrowedInput<'a> {
    BorrowedInput {
        topic,
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp().to_millis().unwrap_or(-1),
        key: message.key(),
        value: message.payload(),
        headers: headers_of(message),
    }
}

/// A copy of the message's headers (none allocates nothing).
fn headers_of(message: &BorrowedMessage<'_>) -> Headers {
    message.headers().map_or_else(Headers::new, |headers| {
        let mut out = Headers::new();
        for header in headers.iter() {
            out.add(header.key, header.value.map(<[u8]>::to_vec));
        }
        out
    })
}

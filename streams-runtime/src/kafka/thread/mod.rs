//! The stream thread: one consumer, one producer, and the tasks of the partitions the group
//! assigned to it.
//!
//! Read bottom-up:
//! - [`status`]: what the thread and its application share (the stop request, liveness,
//!   metrics);
//! - `task_manager`: the thread's tasks, created, restored, closed and rebuilt as the
//!   assignment changes;
//! - `rebalance`: the consumer's rebalance callbacks (a revocation commits the thread's work
//!   first) and the guard that lends the tasks to them while the consumer polls;
//! - `commit`: offset commits, transactions under exactly-once, and recovery from a failed
//!   transaction;
//! - `poll`: the loop that polls, routes, processes, punctuates and commits.
//!
//! Assignment uses the consumer group's eager `range` assignor, which gives a member the same
//! partition numbers of every topic with the same partition count, so a task's co-partitioned
//! inputs always land together. On revocation (inside `poll`, in the rebalance callback) the
//! thread flushes its producer and commits what it processed; after the rebalance it closes the
//! tasks it lost, restores the stores of the tasks it gained from their changelogs, and drops
//! buffered records, which the consumer fetches again from the committed offsets.

mod commit;
mod keep_alive;
mod poll;
mod rebalance;
pub(crate) mod status;
mod task_manager;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::collector::{KafkaCollector, ThreadProducer};
use super::restore::{ChangelogReader, StateRestoreListener};
use super::standby::StandbyRegistry;
use super::transaction;
use super::{KafkaClients, StoreSnapshot};
use crate::config::StreamsConfig;
use crate::error::{ProductionErrorHandler, StreamsError};
use crate::record::RawRecord;
use crate::state::StateRoot;
use crate::task::TaskConfig;
use crate::task_env::TaskId;
use crate::topology::Topology;
use rebalance::RebalanceListener;
pub(crate) use status::ThreadStatus;
use task_manager::TaskManager;

/// What a stream thread's tasks get from their application instance.
pub(crate) struct InstanceResources {
    /// The instance's state directory and RocksDB memory.
    pub(crate) state: StateRoot,
    /// Told about every store restoration.
    pub(crate) restore_listener: Option<Arc<dyn StateRestoreListener>>,
    /// With standby replicas: the thread's index and the instance's standby registry, told
    /// which tasks the thread owns.
    pub(crate) standby: Option<(usize, Arc<StandbyRegistry>)>,
}

/// One stream thread's state.
pub(crate) struct StreamThread {
    name: String,
    config: Arc<StreamsConfig>,
    consumer: BaseConsumer<RebalanceListener>,
    producer: Arc<ThreadProducer>,
    collector: Rc<RefCell<KafkaCollector>>,
    status: Arc<ThreadStatus>,
    tasks: TaskManager,
    /// The producer's configuration, to replace a fenced transactional producer.
    producer_config: ClientConfig,
    /// `collector.sent` when the open transaction began: whether it holds any record.
    sent_at_begin: u64,
    /// The producer's transaction-failed deliveries already acted on.
    transaction_failures_seen: u64,
    /// Records that arrived while the thread waited on the cluster (see `keep_alive`), for
    /// the next poll round.
    held: Vec<RawRecord>,
}

impl StreamThread {
    /// Creates the thread's clients and its (still empty) task manager; `transactional_id` is
    /// the producer's under exactly-once.
    pub(crate) fn new(
        name: String,
        topology: Arc<Topology>,
        config: Arc<StreamsConfig>,
        clients: &KafkaClients,
        status: Arc<ThreadStatus>,
        transactional_id: Option<String>,
        resources: InstanceResources,
    ) -> Result<Self, StreamsError> {
        let exactly_once = transactional_id.is_some();
        let producer_config = match &transactional_id {
            Some(id) => clients.transactional_producer_config(&name, id),
            None => clients.producer_config(&name),
        };
        let producer = commit::new_producer(&producer_config, &config.application_id)?;
        let listener = RebalanceListener::new(
            Arc::clone(&producer),
            exactly_once,
            config.production_errors == ProductionErrorHandler::Fail,
            config.task_timeout,
            Arc::clone(&status),
        );
        let consumer: BaseConsumer<RebalanceListener> = clients
            .consumer_config(&name)
            .create_with_context(listener)
            .map_err(StreamsError::kafka("cannot create the consumer"))?;
        let task_config = TaskConfig {
            application_id: config.application_id.as_str().into(),
            deserialization_errors: config.deserialization_errors.clone(),
            processing_errors: config.processing_errors,
            state: Some(resources.state),
            exactly_once,
            // `statestore.cache.max.bytes` is the instance's: each thread gets its share.
            cache: crate::state::ThreadCache::for_thread(
                config.statestore_cache_max_bytes,
                config.num_stream_threads,
            ),
        };
        let restorer =
            ChangelogReader::new(clients.restore_config(&name), resources.restore_listener)?;
        let collector = Rc::new(RefCell::new(KafkaCollector::new(
            Arc::clone(&producer),
            exactly_once,
        )));
        let tasks = TaskManager::new(
            topology,
            task_config,
            Rc::clone(&collector),
            restorer,
            resources.standby,
        );
        Ok(StreamThread {
            name,
            collector,
            config,
            consumer,
            producer,
            status,
            tasks,
            producer_config,
            sent_at_begin: 0,
            transaction_failures_seen: 0,
            held: Vec::new(),
        })
    }

    fn exactly_once(&self) -> bool {
        self.consumer.context().exactly_once
    }

    /// Runs until shutdown is requested or an error stops the thread; returns the final contents
    /// of the stores of the tasks the thread owned.
    pub(crate) fn run(mut self) -> Result<Vec<StoreSnapshot>, StreamsError> {
        let topics = self.tasks.source_topics();
        let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        if self.exactly_once() {
            self.init_transactions()?;
        }
        self.consumer
            .subscribe(&topic_refs)
            .map_err(StreamsError::kafka(format!(
                "cannot subscribe to {topics:?}"
            )))?;
        tracing::info!(thread = %self.name, ?topics, "stream thread started");
        let result = self.run_loop();
        let outcome = match result {
            Ok(()) => self
                .commit()
                .and_then(|()| self.checkpoint(true))
                .map(|()| self.tasks.snapshot()),
            Err(error) => Err(error),
        };
        if outcome.is_err() {
            // Nothing this thread did since its last commit is vouched for: the final
            // revocation below must not commit it.
            self.consumer.context().refuse_commits();
        }
        if outcome.is_err()
            && self.exactly_once()
            && let Err(error) = transaction::abort(&self.producer)
        {
            // The broker aborts it when `transaction.timeout.ms` passes, or when this
            // instance restarts and fences this producer.
            tracing::debug!(%error, "cannot abort the open transaction on the way out");
        }
        self.tasks.close_all();
        self.tasks.publish_active(&BTreeSet::new());
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

    /// Creates (and restores) the tasks `ids`.
    fn create_tasks(&mut self, ids: &[TaskId]) -> Result<(), StreamsError> {
        self.tasks.create(ids, &self.config.application_id)?;
        self.status
            .tasks
            .store(self.tasks.tasks.len(), Ordering::Release);
        Ok(())
    }
}

/// Milliseconds since the Unix epoch, by the wall clock.
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

//! The rebalance callbacks, and the tasks lent to them while the consumer polls.
//!
//! librdkafka runs the consumer's rebalance callback inside `poll`. A revocation must first
//! flush the record caches of the thread's tasks and take their processed offsets, then flush
//! the producer and commit (or commit the open transaction under exactly-once), before another
//! member can own the partitions, as Kafka Streams does when it suspends revoked tasks. So while
//! the consumer polls, the thread lends its tasks to a thread-local slot through a
//! [`LentTasks`] guard, which gives them back when it is dropped, whatever happens in between.
//! The new assignment itself is acted on after `poll` returns (see `TaskManager`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::producer::Producer;

use super::super::collector::{ThreadProducer, flush};
use super::super::transaction::{self, TransactionFailure};
use super::StreamThread;
use super::commit::commit_offsets;
use super::status::ThreadStatus;
use crate::error::StreamsError;
use crate::sync::lock;
use crate::task::StreamTask;
use crate::task_env::TaskId;

thread_local! {
    /// The tasks of the stream thread on this OS thread while they are lent to the rebalance
    /// callback (see [`LentTasks`]); empty otherwise.
    static POLLING_TASKS: RefCell<BTreeMap<TaskId, StreamTask>> = const { RefCell::new(BTreeMap::new()) };
}

/// The thread's tasks, lent to the rebalance callback for as long as the guard lives: the
/// guard moves them into the thread-local slot the callback reads, and moves them back when it
/// is dropped (also when the loop returns early with an error).
pub(super) struct LentTasks<'a> {
    owner: &'a mut BTreeMap<TaskId, StreamTask>,
}

impl<'a> LentTasks<'a> {
    /// Lends `tasks` until the guard is dropped.
    pub(super) fn lend(tasks: &'a mut BTreeMap<TaskId, StreamTask>) -> Self {
        POLLING_TASKS.with(|slot| std::mem::swap(&mut *slot.borrow_mut(), tasks));
        LentTasks { owner: tasks }
    }

    /// Runs `f` on the lent tasks (outside the rebalance callback, between polls).
    pub(super) fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<TaskId, StreamTask>) -> R) -> R {
        POLLING_TASKS.with(|slot| f(&mut slot.borrow_mut()))
    }
}

impl Drop for LentTasks<'_> {
    fn drop(&mut self) {
        POLLING_TASKS.with(|slot| std::mem::swap(&mut *slot.borrow_mut(), self.owner));
    }
}

/// The consumer's context: the rebalance callbacks, and what they share with the poll loop
/// (touched once per loop round, never per record).
pub(crate) struct RebalanceListener {
    /// The thread's producer (replaced when a transactional one is fenced).
    pub(super) producer: Mutex<Arc<ThreadProducer>>,
    /// Whether commits are transactions (exactly-once).
    pub(super) exactly_once: bool,
    /// Set when the transaction committed on a revocation failed and was aborted: the stores
    /// of the tasks kept may hold its writes, so the next assignment rebuilds them.
    pub(super) transaction_aborted: AtomicBool,
    /// An error a callback met (a task failing while its cache flushed), for the loop to stop
    /// the thread with once `poll` returns.
    callback_error: Mutex<Option<StreamsError>>,
    pub(super) status: Arc<ThreadStatus>,
    /// Offsets (next to read) of processed records not yet committed.
    pending: Mutex<BTreeMap<(String, i32), i64>>,
    /// Set by every callback: the loop reads the assignment again after `poll`.
    pub(super) rebalanced: AtomicBool,
    /// Between a revocation and the next assignment: the thread owns nothing it can rely on.
    pub(super) in_rebalance: AtomicBool,
    /// `task.timeout.ms`: how long a commit's calls to the cluster are tried again when they
    /// time out.
    pub(super) task_timeout: Duration,
    /// Whether a failed delivery stops the thread (`production.exception.handler=fail`): then
    /// no offset may be committed while a failure is not yet acted on.
    fail_on_delivery_errors: bool,
    /// The producer's failed deliveries the thread has acted on (stopped, or logged and
    /// dropped them).
    pub(super) failures_seen: AtomicU64,
    /// Set when the thread stops with an error: from then on nothing is committed, so the
    /// records whose work failed are read again by the partitions' next owner.
    commits_refused: AtomicBool,
}

impl RebalanceListener {
    pub(super) fn new(
        producer: Arc<ThreadProducer>,
        exactly_once: bool,
        fail_on_delivery_errors: bool,
        task_timeout: Duration,
        status: Arc<ThreadStatus>,
    ) -> Self {
        RebalanceListener {
            producer: Mutex::new(producer),
            exactly_once,
            transaction_aborted: AtomicBool::new(false),
            callback_error: Mutex::new(None),
            status,
            pending: Mutex::new(BTreeMap::new()),
            rebalanced: AtomicBool::new(false),
            in_rebalance: AtomicBool::new(true),
            task_timeout,
            fail_on_delivery_errors,
            failures_seen: AtomicU64::new(0),
            commits_refused: AtomicBool::new(false),
        }
    }

    /// From now on commits nothing, and forgets the pending offsets: the thread is stopping
    /// with an error, and the work those offsets vouch for may not all be durable.
    pub(super) fn refuse_commits(&self) {
        self.commits_refused.store(true, Ordering::Release);
        self.clear_pending();
    }

    /// Whether the producer reported a failed delivery that the production-exception handler
    /// says must stop the thread, and the thread has not acted on yet: then committing would
    /// vouch for a record whose output was lost.
    fn unhandled_delivery_failure(&self, producer: &ThreadProducer) -> bool {
        self.fail_on_delivery_errors
            && producer.context().failed.load(Ordering::Relaxed)
                > self.failures_seen.load(Ordering::Relaxed)
    }

    /// Flushes the record caches of `tasks` and moves their processed offsets to the pending
    /// ones: what a commit, or a revocation inside `poll`, does before committing.
    pub(super) fn collect_progress(
        &self,
        tasks: &mut BTreeMap<TaskId, StreamTask>,
    ) -> Result<(), StreamsError> {
        let mut progress = Vec::new();
        for task in tasks.values_mut() {
            task.flush_cache()?;
            progress.extend(task.take_commit_offsets());
        }
        if !progress.is_empty() {
            let mut pending = lock(&self.pending);
            for (topic, partition, offset) in progress {
                pending.insert((topic.to_string(), partition), offset);
            }
        }
        Ok(())
    }

    /// Takes the pending offsets, to commit them.
    pub(super) fn take_pending(&self) -> BTreeMap<(String, i32), i64> {
        std::mem::take(&mut *lock(&self.pending))
    }

    /// Forgets the pending offsets: their records are read again from the committed offsets.
    pub(super) fn clear_pending(&self) {
        lock(&self.pending).clear();
    }

    /// The error a callback met, if any, once.
    pub(super) fn take_callback_error(&self) -> Option<StreamsError> {
        lock(&self.callback_error).take()
    }

    fn producer(&self) -> Arc<ThreadProducer> {
        Arc::clone(&lock(&self.producer))
    }

    /// On revocation: flushes the record caches of the thread's lent tasks and adds their
    /// processed offsets to the pending ones. Returns false when a task failed: then nothing
    /// may be committed.
    fn collect_lent_progress(&self) -> bool {
        let result = POLLING_TASKS.with(|slot| match slot.try_borrow_mut() {
            Ok(mut tasks) => self.collect_progress(&mut tasks),
            Err(_) => Ok(()),
        });
        match result {
            Ok(()) => true,
            Err(error) => {
                lock(&self.callback_error).get_or_insert(error);
                false
            }
        }
    }

    /// At-least-once, on revocation: outputs first, then the offsets that vouch for them. The
    /// wait for the producer has no limit of its own (each record's delivery timeout bounds
    /// it). The consumer cannot be polled from its own callback: a wait longer than
    /// `max.poll.interval.ms` costs the member its place in the new generation, and it rejoins
    /// in a later one, where its suspended tasks catch up with what their new owner logged
    /// meanwhile (`TaskManager::catch_up`).
    fn commit_offsets(&self, consumer: &BaseConsumer<Self>) {
        let producer = self.producer();
        if let Err(error) = flush(&producer, || {}) {
            tracing::warn!(%error, "cannot flush the producer before a rebalance; uncommitted work will be redone");
            return;
        }
        if self.unhandled_delivery_failure(&producer) {
            // The loop stops the thread with the failure once `poll` returns.
            tracing::warn!("a delivery failed: committing nothing before the rebalance");
            self.clear_pending();
            return;
        }
        let pending = self.take_pending();
        match commit_offsets(consumer, &pending, self.task_timeout, || {}) {
            Ok(true) => {
                self.status.commits.fetch_add(1, Ordering::Relaxed);
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
        let producer = self.producer();
        if let Err(error) = flush(&producer, || {}) {
            tracing::warn!(%error, "cannot flush the producer before a rebalance");
        }
        let pending = self.take_pending();
        match transaction::commit(consumer, &producer, &pending, self.task_timeout, || {}) {
            Ok(()) => {
                self.status.commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(failure) => {
                tracing::warn!(%failure, "cannot commit the transaction before a rebalance; aborting it");
                // A fatal failure leaves the producer unusable: the loop replaces it.
                if let TransactionFailure::Abortable(_) = failure
                    && let Err(error) = transaction::abort(&producer)
                {
                    tracing::warn!(%error, "cannot abort the transaction");
                }
                self.transaction_aborted.store(true, Ordering::Release);
                return;
            }
        }
        if let Err(error) = producer.begin_transaction() {
            tracing::warn!(%error, "cannot begin a transaction after a rebalance");
            self.transaction_aborted.store(true, Ordering::Release);
        }
    }
}

impl ClientContext for RebalanceListener {}

impl ConsumerContext for RebalanceListener {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            self.in_rebalance.store(true, Ordering::Release);
            let refused = self.commits_refused.load(Ordering::Acquire);
            if !refused && !self.status.shutdown_requested() {
                self.status.revocations.fetch_add(1, Ordering::Relaxed);
            }
            if refused {
                // The thread stopped with an error: its uncommitted work is redone.
            } else if !self.collect_lent_progress() {
                // The thread stops with the error; the work is redone by the next owner.
            } else if self.exactly_once {
                self.commit_transaction(consumer);
            } else {
                self.commit_offsets(consumer);
            }
        }
        self.rebalanced.store(true, Ordering::Release);
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            self.in_rebalance.store(false, Ordering::Release);
        }
        if let Rebalance::Error(error) = rebalance {
            tracing::warn!(%error, "rebalance error");
        }
        self.rebalanced.store(true, Ordering::Release);
    }
}

impl StreamThread {
    /// After a rebalance: publishes the new assignment, closes the tasks the thread lost
    /// (checkpointing their stores), drops what the kept tasks buffered (the consumer fetches
    /// it again from the committed offsets), and creates the tasks it gained.
    ///
    /// Between a revocation and the assignment that follows it, the tasks are suspended, as in
    /// Kafka Streams: kept with their stores open, so that the tasks assigned back to this
    /// thread resume without a restore. A kept task catches up with its changelogs only if
    /// another member wrote to them meanwhile (see `TaskManager::catch_up`).
    /// Returns the partitions it moved to where their source's offset reset says (see
    /// `seek_to_committed`): records of them fetched before the move are to be dropped.
    pub(super) fn on_rebalance(&mut self) -> Result<Vec<(String, i32)>, StreamsError> {
        let assignment: Vec<(String, i32)> = self
            .consumer
            .assignment()
            .map_err(StreamsError::kafka("cannot read the assignment"))?
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        let wanted = self.tasks.tasks_of(&assignment);
        // A wait that paused the partitions may have ended before this assignment came.
        super::keep_alive::resume_assignment(&self.consumer);
        *lock(&self.status.assignment) = assignment;
        if self
            .consumer
            .context()
            .transaction_aborted
            .swap(false, Ordering::AcqRel)
        {
            // The revocation's transaction failed: the stores may hold its aborted writes.
            self.status.aborted.fetch_add(1, Ordering::Relaxed);
            self.tasks.close_all();
            self.restart_transaction()?;
        }
        if self.consumer.context().in_rebalance.load(Ordering::Acquire) {
            // Revoked, and the next assignment not yet here: suspend the tasks.
            for task in self.tasks.tasks.values_mut() {
                task.clear_buffers();
                let _ = task.take_commit_offsets();
            }
            self.consumer.context().clear_pending();
            self.status.drained.store(false, Ordering::Release);
            tracing::debug!(thread = %self.name, tasks = self.tasks.tasks.len(), "tasks suspended until the next assignment");
            return Ok(Vec::new());
        }
        let lost: Vec<TaskId> = self
            .tasks
            .tasks
            .keys()
            .filter(|id| !wanted.contains(id))
            .copied()
            .collect();
        // The revocation flushed the producer: checkpoint what the lost tasks' stores hold, so
        // a later return of a task to this instance restores only the changelog's tail.
        self.checkpoint_tasks(true, |id| lost.contains(id))?;
        self.tasks.close(&lost);
        // The consumer fetches again from the committed offsets: drop what was buffered.
        let kept: Vec<TaskId> = self.tasks.tasks.keys().copied().collect();
        for task in self.tasks.tasks.values_mut() {
            task.clear_buffers();
            let _ = task.take_commit_offsets();
        }
        self.consumer.context().clear_pending();
        let created: Vec<TaskId> = wanted
            .iter()
            .filter(|id| !self.tasks.tasks.contains_key(id))
            .copied()
            .collect();
        // A kept task may have been another member's meanwhile (this member left the group's
        // generation during the rebalance): catch it up with what that member logged.
        let ends = self.producer.context().changelog_ends();
        self.tasks
            .catch_up(&kept, &ends, &self.consumer, &self.config.application_id)?;
        // Standbys of the gained tasks hand their stores over (checkpointed) first.
        self.tasks.publish_active(&wanted);
        self.create_tasks(&created)?;
        // Partitions without a committed offset start where their source chose, if it did.
        let moved = self.seek_to_committed(true)?;
        tracing::info!(thread = %self.name, ?created, ?kept, ?lost, "tasks after rebalance");
        Ok(moved)
    }
}

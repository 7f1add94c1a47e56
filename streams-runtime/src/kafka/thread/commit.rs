//! Commits: at-least-once offset commits, exactly-once transactions, and recovery from a
//! failed transaction.
//!
//! A commit runs in a fixed order: flush the record caches → flush the producer (or put
//! everything into the open transaction) → commit the offsets of processed records →
//! checkpoint persistent stores, so a committed offset never vouches for an output or a store
//! write that is not durable. Under exactly-once (see [`super::super::transaction`]) the
//! processed offsets go into the thread's open transaction, which then commits with every
//! output and changelog write it holds; a transaction that fails is aborted, and the thread
//! rebuilds its tasks from their changelogs and reads their input again from the committed
//! offsets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

use super::super::collector::{DeliveryTracker, ThreadProducer, flush};
use super::super::retry::{self, within_task_timeout};
use super::super::transaction::{self, TransactionFailure};
use super::StreamThread;
use super::keep_alive::KeepAlive;
use crate::error::ProductionErrorHandler;
use crate::error::StreamsError;
use crate::record::AutoOffsetReset;
use crate::sync::lock;
use crate::task_env::TaskId;

/// How long `init_transactions` may take (it waits for the coordinator to abort an earlier
/// incarnation's open transaction).
const TRANSACTION_INIT_TIMEOUT: Duration = Duration::from_secs(60);

impl StreamThread {
    /// Exactly-once: registers the producer's `transactional.id` with the broker (fencing any
    /// earlier producer with the same id, and aborting its open transaction) and opens the
    /// first transaction.
    pub(super) fn init_transactions(&mut self) -> Result<(), StreamsError> {
        let producer = &self.producer;
        within_task_timeout(
            "initializing transactions",
            self.config.task_timeout,
            || {},
            || producer.init_transactions(TRANSACTION_INIT_TIMEOUT),
        )
        .map_err(StreamsError::kafka("cannot initialize transactions"))?;
        self.begin_transaction()
    }

    fn begin_transaction(&mut self) -> Result<(), StreamsError> {
        self.producer
            .begin_transaction()
            .map_err(StreamsError::kafka("cannot begin a transaction"))?;
        self.sent_at_begin = self.collector.borrow().sent;
        Ok(())
    }

    /// Acts on failed deliveries as `default.production.exception.handler` says.
    pub(super) fn check_deliveries(&mut self) -> Result<(), StreamsError> {
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
        let seen = &self.consumer.context().failures_seen;
        let handled = seen.load(Ordering::Relaxed);
        if failed > handled {
            // The delivery callback runs on this thread (in `poll` and `flush`) and stores the
            // error with the count, so a new failure always left one.
            let Some(error) = tracker.take_error() else {
                return Ok(());
            };
            let reason = error.to_string();
            match self.config.production_errors {
                ProductionErrorHandler::Fail => return Err(error),
                ProductionErrorHandler::LogAndContinue if self.exactly_once() => {
                    // A failed delivery dooms the whole transaction: it is aborted and its
                    // records produced again, never dropped one by one.
                    seen.store(failed, Ordering::Relaxed);
                    self.collector
                        .borrow_mut()
                        .transaction_failed
                        .get_or_insert(reason);
                }
                ProductionErrorHandler::LogAndContinue => {
                    tracing::warn!(thread = %self.name, dropped = failed - handled, "continuing after failed deliveries: {reason}");
                    seen.store(failed, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// Writes the checkpoints of tasks with persistent stores: every task's when `force`d (a
    /// clean close), otherwise those that wrote enough changelog records since their last one.
    pub(super) fn checkpoint(&mut self, force: bool) -> Result<(), StreamsError> {
        self.checkpoint_tasks(force, |_| true)
    }

    /// [`checkpoint`](Self::checkpoint) for the tasks `pick` selects. Only when every write
    /// the producer took was delivered, so a checkpoint never vouches for a store write its
    /// changelog lacks.
    pub(super) fn checkpoint_tasks(
        &mut self,
        force: bool,
        pick: impl Fn(&TaskId) -> bool,
    ) -> Result<(), StreamsError> {
        if self.producer.in_flight_count() > 0 {
            return Ok(());
        }
        let ends = self.producer.context().changelog_ends();
        self.tasks.checkpoint(&ends, force, pick)
    }

    /// flush the record caches → flush the producer → commit the processed offsets →
    /// checkpoint persistent stores. (Uncached store writes reach their backends and changelogs
    /// as they happen; RocksDB memtables are flushed with the checkpoint.)
    ///
    /// Waiting on a slow broker has no limit of its own: the producer is flushed until every
    /// record is delivered or failed (each bounded by its delivery timeout), and calls that
    /// time out are tried again within `task.timeout.ms`; meanwhile the consumer keeps the
    /// group membership alive (see `keep_alive`).
    pub(super) fn commit(&mut self) -> Result<(), StreamsError> {
        // Cached updates first: into the producer (or the transaction) before the offsets
        // that vouch for them.
        self.consumer
            .context()
            .collect_progress(&mut self.tasks.tasks)?;
        {
            let mut alive = KeepAlive::new(&self.consumer, &self.tasks.sources, &mut self.held);
            flush(&self.producer, || alive.tick())
                .map_err(StreamsError::kafka("cannot flush the producer"))?;
        }
        if self.exactly_once() {
            return self.commit_transaction();
        }
        self.check_deliveries()?;
        let pending = self.consumer.context().take_pending();
        let committed = {
            let mut alive = KeepAlive::new(&self.consumer, &self.tasks.sources, &mut self.held);
            commit_offsets(&self.consumer, &pending, self.config.task_timeout, || {
                alive.tick()
            })
        };
        match committed {
            Ok(committed) => {
                if committed {
                    self.status.commits.fetch_add(1, Ordering::Relaxed);
                }
                self.checkpoint(false)?
            }
            Err(KafkaError::ConsumerCommit(code)) if task_migrated(code) => {
                // The group moved on without this member: its tasks may already run elsewhere.
                // Drop them (their changelogs hold their state) and rebuild from the assignment
                // the consumer rejoins with, as Kafka Streams does on a TaskMigratedException.
                tracing::warn!(thread = %self.name, error = %code, "tasks migrated: closing them and rejoining");
                self.tasks.close_all();
                self.consumer
                    .context()
                    .rebalanced
                    .store(true, Ordering::Release);
            }
            Err(error) if retry::is_transient(&error) => {
                return Err(StreamsError::kafka(format!(
                    "cannot commit offsets within task.timeout.ms ({} ms)",
                    self.config.task_timeout.as_millis()
                ))(error));
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
        let listener = self.consumer.context();
        let pending = listener.take_pending();
        if pending.is_empty() && self.collector.borrow().sent == self.sent_at_begin {
            return Ok(());
        }
        let committed = {
            let mut alive = KeepAlive::new(&self.consumer, &self.tasks.sources, &mut self.held);
            transaction::commit(
                &self.consumer,
                &self.producer,
                &pending,
                self.config.task_timeout,
                || alive.tick(),
            )
        };
        match committed {
            Ok(()) => {
                self.status.commits.fetch_add(1, Ordering::Relaxed);
                self.check_deliveries()?;
                self.begin_transaction()
            }
            Err(failure) => self.recover(failure),
        }
    }

    /// After a failed transaction: abort it (or replace a fenced producer), then rebuild every
    /// task from its changelog and read its input again from the committed offsets, as Kafka
    /// Streams does with corrupted or migrated tasks. The application goes on.
    pub(super) fn recover(&mut self, failure: TransactionFailure) -> Result<(), StreamsError> {
        tracing::warn!(thread = %self.name, %failure, "transaction failed: aborting it and rebuilding the tasks from their changelogs");
        self.status.aborted.fetch_add(1, Ordering::Relaxed);
        let fatal = match failure {
            TransactionFailure::Fatal(_) => true,
            TransactionFailure::Abortable(_) => match transaction::abort(&self.producer) {
                Ok(()) => false,
                Err(error) => {
                    tracing::warn!(thread = %self.name, %error, "cannot abort the transaction; replacing the producer");
                    true
                }
            },
        };
        if fatal {
            self.replace_producer()?;
        } else {
            self.collector.borrow_mut().transaction_failed = None;
            self.begin_transaction()?;
        }
        self.rebuild_tasks()
    }

    /// Opens the next transaction after a revocation's transaction was aborted, replacing the
    /// producer if it cannot.
    pub(super) fn restart_transaction(&mut self) -> Result<(), StreamsError> {
        if self.begin_transaction().is_err() {
            self.replace_producer()?;
        }
        Ok(())
    }

    /// Replaces a fenced (or fatally failed) transactional producer: the new one's
    /// `init_transactions` takes the `transactional.id` back.
    fn replace_producer(&mut self) -> Result<(), StreamsError> {
        let producer = new_producer(&self.producer_config, &self.config.application_id)?;
        *lock(&self.consumer.context().producer) = Arc::clone(&producer);
        self.collector
            .borrow_mut()
            .replace_producer(Arc::clone(&producer));
        self.producer = producer;
        // The new producer counts its own failures from zero.
        self.consumer
            .context()
            .failures_seen
            .store(0, Ordering::Relaxed);
        self.transaction_failures_seen = 0;
        self.status
            .producers_replaced
            .fetch_add(1, Ordering::Relaxed);
        self.init_transactions()
    }

    /// Drops every task with its local state (no checkpoint vouches for it under
    /// exactly-once), moves the consumer back to the committed offsets, and creates the tasks
    /// again, restoring their stores from the committed changelogs.
    fn rebuild_tasks(&mut self) -> Result<(), StreamsError> {
        let ids = self.tasks.close_all();
        self.consumer.context().clear_pending();
        self.seek_to_committed(false)?;
        self.create_tasks(&ids)?;
        tracing::info!(thread = %self.name, tasks = ?ids, "tasks rebuilt from their changelogs");
        Ok(())
    }

    /// Where a partition of `topic` without a committed offset is read from: where its source
    /// chose, or else where `auto.offset.reset` says.
    pub(super) fn offset_reset(&self, topic: &str) -> AutoOffsetReset {
        self.tasks
            .topology()
            .offset_reset(topic)
            .unwrap_or_else(|| {
                match self
                    .config
                    .consumer
                    .get("auto.offset.reset")
                    .map(String::as_str)
                {
                    Some("latest" | "end" | "largest") => AutoOffsetReset::Latest,
                    _ => AutoOffsetReset::Earliest,
                }
            })
    }

    /// Moves the consumer to the committed offset of each assigned partition; where none is
    /// committed, to where the topic's source chose (`Consumed::with_offset_reset`), or else
    /// `auto.offset.reset`. With `only_chosen` (after an assignment, when the consumer starts
    /// from committed offsets by itself), only the partitions without a committed offset whose
    /// source chose a reset are moved. Returns the partitions moved: what was fetched of them
    /// before came from the wrong position.
    pub(super) fn seek_to_committed(
        &mut self,
        only_chosen: bool,
    ) -> Result<Vec<(String, i32)>, StreamsError> {
        let timeout = Duration::from_secs(30);
        let kafka = |e: KafkaError| StreamsError::kafka("cannot rewind the input")(e);
        let mut assignment = TopicPartitionList::new();
        for element in self.consumer.assignment().map_err(kafka)?.elements() {
            if !only_chosen
                || self
                    .tasks
                    .topology()
                    .offset_reset(element.topic())
                    .is_some()
            {
                assignment.add_partition(element.topic(), element.partition());
            }
        }
        if assignment.count() == 0 {
            return Ok(Vec::new());
        }
        let consumer = &self.consumer;
        let committed = retry::within_task_timeout(
            "reading the committed offsets",
            self.config.task_timeout,
            || {},
            || consumer.committed_offsets(assignment.clone(), timeout),
        )
        .map_err(kafka)?;
        let mut moved = Vec::new();
        for element in committed.elements() {
            let offset = match element.offset() {
                // Where the consumer starts by itself after an assignment.
                Offset::Offset(_) if only_chosen => continue,
                Offset::Offset(offset) => Offset::Offset(offset),
                _ => match self.offset_reset(element.topic()) {
                    AutoOffsetReset::Earliest => Offset::Beginning,
                    AutoOffsetReset::Latest => Offset::End,
                },
            };
            self.consumer
                .seek(element.topic(), element.partition(), offset, timeout)
                .map_err(kafka)?;
            moved.push((element.topic().to_owned(), element.partition()));
        }
        Ok(moved)
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

/// Commits `offsets` (at-least-once), trying a commit that timed out (or met a moving
/// coordinator) again within `task_timeout`, with `between` run between attempts; returns
/// whether there was anything to commit.
pub(super) fn commit_offsets<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    offsets: &BTreeMap<(String, i32), i64>,
    task_timeout: Duration,
    between: impl FnMut(),
) -> Result<bool, KafkaError> {
    if offsets.is_empty() {
        return Ok(false);
    }
    tracing::debug!(?offsets, "committing offsets");
    let list = transaction::offsets_list(offsets)?;
    retry::within_task_timeout("committing offsets", task_timeout, between, || {
        consumer.commit(&list, CommitMode::Sync)
    })?;
    Ok(true)
}

/// A producer with the thread's delivery tracker.
pub(super) fn new_producer(
    config: &ClientConfig,
    application_id: &str,
) -> Result<Arc<ThreadProducer>, StreamsError> {
    let transactional = config.get("transactional.id").is_some();
    config
        .create_with_context(DeliveryTracker::new(application_id, transactional))
        .map(Arc::new)
        .map_err(StreamsError::kafka("cannot create the producer"))
}

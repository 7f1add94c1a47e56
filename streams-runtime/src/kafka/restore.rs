//! The changelog reader: brings a new task's logged stores up to date from their changelog
//! partitions before the task processes anything.
//!
//! A store is restored from its checkpointed offset (when it kept local state a checkpoint vouches
//! for) or from the changelog's beginning, until the consumer reports the end of the partition
//! (the high watermark of its fetch responses), and at least up to the end offset listed when the
//! restore began, in batches of 10,000 records. Each store gets a fresh consumer, so no record or
//! end-of-partition event of an earlier restore can be mistaken for this one's. Progress is logged
//! and reported to a [`StateRestoreListener`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message};

use crate::error::{StoreError, StreamsError};
use crate::state::{TaskStore, changelog_topic};
use crate::task::{StreamTask, TaskId};

/// How long a restore may go without receiving a changelog record before it gives up.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The restore consumers' context: reaching the end of a partition is how a restore ends, not
/// an error to log.
struct RestoreContext;

impl ClientContext for RestoreContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let end_of_partition = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !end_of_partition {
            tracing::warn!(%error, reason, "restore consumer error");
        }
    }
}

impl ConsumerContext for RestoreContext {}

/// Observes restores (Kafka Streams' `StateRestoreListener`): called on the stream thread that
/// restores, so it must be quick.
pub trait StateRestoreListener: Send + Sync {
    /// A store's restore begins: `start` is the first offset to read (0 for the whole
    /// changelog), `end` the partition's end offset as listed when it began.
    fn on_restore_start(&self, task: TaskId, store: &str, changelog: &str, start: i64, end: i64) {
        let _ = (task, store, changelog, start, end);
    }
    /// A batch of `records` was applied; `next` is the offset after the batch's last record.
    fn on_batch_restored(&self, task: TaskId, store: &str, next: i64, records: u64) {
        let _ = (task, store, next, records);
    }
    /// The store caught up: `records` were applied in all.
    fn on_restore_end(&self, task: TaskId, store: &str, records: u64) {
        let _ = (task, store, records);
    }
}

/// How many changelog records are applied to a store at once.
const RESTORE_BATCH: usize = 10_000;

/// Restores stores by manual assignment (never in the group).
pub(crate) struct ChangelogReader {
    config: ClientConfig,
    listener: Option<Arc<dyn StateRestoreListener>>,
}

impl ChangelogReader {
    pub(crate) fn new(
        mut config: ClientConfig,
        listener: Option<Arc<dyn StateRestoreListener>>,
    ) -> Result<Self, StreamsError> {
        // An offset out of range is reported, not silently reset: it means the local state
        // does not belong to this changelog.
        config
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "error");
        // Fail early on a bad consumer property rather than at the first restore.
        let _: BaseConsumer<RestoreContext> = config
            .create_with_context(RestoreContext)
            .map_err(|e| StreamsError::Kafka(format!("cannot create the restore consumer: {e}")))?;
        Ok(ChangelogReader { config, listener })
    }

    /// Catches every logged store of `task` up with its changelog, from the checkpointed offset
    /// where the store kept local state, from the beginning otherwise; returns the records
    /// applied.
    pub(crate) fn restore(
        &mut self,
        task: &mut StreamTask,
        application_id: &str,
    ) -> Result<u64, StreamsError> {
        let mut restored = 0;
        let logged: Vec<String> = task
            .stores()
            .iter()
            .filter(|s| s.spec().logging_enabled())
            .map(|s| s.spec().name().to_owned())
            .collect();
        for name in logged {
            let topic = changelog_topic(application_id, &name);
            let start = task.restore_start(&topic);
            let started = Instant::now();
            let Some(store) = task.stores().get(&name) else {
                continue;
            };
            let outcome = match self.restore_store(task.id(), store, &topic, start)? {
                Some(outcome) => outcome,
                None => {
                    // The checkpoint names an offset the changelog does not have (it was
                    // deleted or recreated, or this is another cluster): the local state
                    // belongs to another history. Start over from the changelog.
                    tracing::warn!(task = %task.id(), store = %name, checkpoint = start,
                        "the checkpointed offset is out of the changelog's range; restoring from scratch");
                    store.clear()?;
                    self.restore_store(task.id(), store, &topic, None)?
                        .ok_or_else(|| {
                            StreamsError::Kafka(format!(
                                "cannot read {topic}-{} from its beginning",
                                task.id().partition
                            ))
                        })?
                }
            };
            task.set_changelog_offset(&topic, outcome.next);
            restored += outcome.applied;
            let seconds = started.elapsed().as_secs_f64();
            tracing::info!(
                task = %task.id(),
                store = %name,
                from = start.unwrap_or(0),
                to = outcome.next,
                records = outcome.applied,
                seconds,
                records_per_second = (outcome.applied as f64 / seconds.max(1e-9)).round(),
                "restored from {topic}"
            );
            if let Some(listener) = &self.listener {
                listener.on_restore_end(task.id(), &name, outcome.applied);
            }
        }
        Ok(restored)
    }

    fn restore_store(
        &self,
        task: TaskId,
        store: &TaskStore,
        topic: &str,
        start: Option<i64>,
    ) -> Result<Option<Restored>, StreamsError> {
        let partition = task.partition;
        let consumer: BaseConsumer<RestoreContext> = self
            .config
            .create_with_context(RestoreContext)
            .map_err(|e| StreamsError::Kafka(format!("cannot create the restore consumer: {e}")))?;
        // The end offset listed now is only a lower bound: the restore reads until the consumer
        // reaches the end of the partition as its fetches report it.
        let high = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .map_or(0, |(_, high)| high);
        let mut position = start.unwrap_or(0);
        if let Some(listener) = &self.listener {
            listener.on_restore_start(task, store.spec().name(), topic, position, high);
        }
        let mut assignment = TopicPartitionList::new();
        let offset = start.map_or(Offset::Beginning, Offset::Offset);
        assignment
            .add_partition_offset(topic, partition, offset)
            .map_err(|e| StreamsError::Kafka(e.to_string()))?;
        consumer
            .assign(&assignment)
            .map_err(|e| StreamsError::Kafka(format!("cannot assign {topic}-{partition}: {e}")))?;
        let mut applied = 0u64;
        let mut batch: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::with_capacity(RESTORE_BATCH);
        let mut apply = |batch: &mut Vec<(Vec<u8>, Option<Vec<u8>>)>, next: i64| {
            if batch.is_empty() {
                return Ok::<(), StreamsError>(());
            }
            store.restore_batch(batch)?;
            applied += batch.len() as u64;
            if let Some(listener) = &self.listener {
                listener.on_batch_restored(task, store.spec().name(), next, batch.len() as u64);
            }
            batch.clear();
            Ok(())
        };
        let mut last_progress = Instant::now();
        loop {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    position = message.offset() + 1;
                    last_progress = Instant::now();
                    if let Some(key) = message.key() {
                        batch.push((key.to_vec(), message.payload().map(<[u8]>::to_vec)));
                        if batch.len() >= RESTORE_BATCH {
                            apply(&mut batch, position)?;
                        }
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {
                    // The consumer's position also moves past transaction markers, which are
                    // never delivered: a changelog written in transactions ends with one.
                    position = position.max(consumed_position(&consumer, topic, partition));
                    if position >= high {
                        break;
                    }
                }
                None => {}
                Some(Err(KafkaError::MessageConsumption(
                    RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange,
                ))) => return Ok(None),
                Some(Err(error)) => tracing::debug!(%topic, %error, "restore consumer error"),
            }
            if last_progress.elapsed() > STALL_TIMEOUT {
                return Err(StoreError::Backend {
                    store: store.spec().name().to_owned(),
                    message: format!(
                        "restoring from {topic}-{partition} stalled at offset {position} of {high}"
                    ),
                }
                .into());
            }
        }
        apply(&mut batch, position)?;
        Ok(Some(Restored {
            applied,
            next: position,
        }))
    }
}

/// The consumer's position in `topic`/`partition` (0 when it has none yet).
fn consumed_position<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> i64 {
    consumer
        .position()
        .ok()
        .and_then(|positions| {
            positions
                .find_partition(topic, partition)
                .and_then(|element| match element.offset() {
                    Offset::Offset(offset) => Some(offset),
                    _ => None,
                })
        })
        .unwrap_or(0)
}

/// The outcome of one store's restore.
struct Restored {
    applied: u64,
    /// The offset after the last changelog record read.
    next: i64,
}

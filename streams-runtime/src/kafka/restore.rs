//! The changelog reader: brings a new task's logged stores up to date from their changelog
//! partitions before the task processes anything.
//!
//! A store is restored from its checkpointed offset (when it kept local state a checkpoint vouches
//! for) or from the changelog's beginning, until the consumer reports the end of the partition
//! (the high watermark of its fetch responses), and at least up to the end offset listed when the
//! restore began, in batches of up to 10,000 keys (`RestoreBatch`: only the latest value of each
//! key is written). Each store gets a fresh consumer, so no record or end-of-partition event of an
//! earlier restore can be mistaken for this one's. Progress is logged and reported to a
//! [`StateRestoreListener`].

use std::collections::HashMap;
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
use crate::task::StreamTask;
use crate::task_env::TaskId;

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

/// The most distinct keys a restore batch holds before it is written to the store.
const RESTORE_BATCH: usize = 10_000;
/// The most key and value bytes a restore batch reads before it is written to the store.
const RESTORE_BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Changelog records read but not yet written to their store: the latest value of each key, in
/// the order the keys first appeared. A store ends in the same state whether it applies every
/// update of a key or only the last one, so a changelog that updates a few keys many times (the
/// common case between compactions) costs the store one write per key per batch.
#[derive(Default)]
pub(crate) struct RestoreBatch {
    entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    index: HashMap<Vec<u8>, usize>,
    /// Key and value bytes read into this batch (replaced values included): bounds its memory.
    bytes: usize,
    /// Changelog records read into this batch.
    records: u64,
}

impl RestoreBatch {
    /// Adds a changelog record (`None` deletes the key).
    pub(crate) fn add(&mut self, key: &[u8], value: Option<&[u8]>) {
        self.records += 1;
        self.bytes += key.len() + value.map_or(0, <[u8]>::len);
        match self.index.get(key) {
            Some(&at) => match (&mut self.entries[at].1, value) {
                (Some(latest), Some(value)) => {
                    latest.clear();
                    latest.extend_from_slice(value);
                }
                (latest, value) => *latest = value.map(<[u8]>::to_vec),
            },
            None => {
                self.index.insert(key.to_vec(), self.entries.len());
                self.entries.push((key.to_vec(), value.map(<[u8]>::to_vec)));
            }
        }
    }

    /// Whether the batch should be written before more is read.
    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= RESTORE_BATCH || self.bytes >= RESTORE_BATCH_BYTES
    }

    /// The changelog records read into the batch.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    /// Writes the batch to `store` and empties it; returns the changelog records it held.
    pub(crate) fn write_to(&mut self, store: &TaskStore) -> Result<u64, StoreError> {
        if !self.entries.is_empty() {
            store.restore_batch(&self.entries)?;
        }
        let records = self.records;
        self.entries.clear();
        self.index.clear();
        self.bytes = 0;
        self.records = 0;
        Ok(records)
    }
}

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
            .map_err(StreamsError::kafka("cannot create the restore consumer"))?;
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
                        .ok_or_else(|| StoreError::ChangelogUnreadable {
                            store: name.clone(),
                            topic: topic.clone(),
                            partition: task.id().partition,
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
            .map_err(StreamsError::kafka("cannot create the restore consumer"))?;
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
            .map_err(StreamsError::kafka(format!(
                "cannot restore from {topic}-{partition}"
            )))?;
        consumer
            .assign(&assignment)
            .map_err(StreamsError::kafka(format!(
                "cannot assign {topic}-{partition}"
            )))?;
        let mut applied = 0u64;
        let mut batch = RestoreBatch::default();
        let mut apply = |batch: &mut RestoreBatch, next: i64| {
            if batch.records() == 0 {
                return Ok::<(), StreamsError>(());
            }
            let records = batch.write_to(store)?;
            applied += records;
            if let Some(listener) = &self.listener {
                listener.on_batch_restored(task, store.spec().name(), next, records);
            }
            Ok(())
        };
        let mut last_progress = Instant::now();
        // Records arrived since the clock was last read (read only between messages).
        let mut progressed = false;
        loop {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    position = message.offset() + 1;
                    progressed = true;
                    if let Some(key) = message.key() {
                        batch.add(key, message.payload());
                        if batch.is_full() {
                            apply(&mut batch, position)?;
                        }
                    }
                    continue;
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
            if std::mem::take(&mut progressed) {
                last_progress = Instant::now();
            } else if last_progress.elapsed() > STALL_TIMEOUT {
                return Err(StoreError::RestoreStalled {
                    store: store.spec().name().to_owned(),
                    topic: topic.to_owned(),
                    partition,
                    position,
                    end: high,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_keeps_the_latest_value_of_each_key_in_first_seen_order() {
        let mut batch = RestoreBatch::default();
        batch.add(b"b", Some(b"1"));
        batch.add(b"a", Some(b"1"));
        batch.add(b"b", Some(b"22"));
        batch.add(b"c", Some(b"1"));
        batch.add(b"a", None);
        batch.add(b"c", None);
        batch.add(b"c", Some(b"333"));
        assert_eq!(batch.records(), 7);
        assert_eq!(
            batch.entries,
            [
                (b"b".to_vec(), Some(b"22".to_vec())),
                (b"a".to_vec(), None),
                (b"c".to_vec(), Some(b"333".to_vec())),
            ]
        );
        assert!(!batch.is_full());
    }

    #[test]
    fn a_batch_is_full_at_its_key_count_or_its_bytes_read() {
        let mut batch = RestoreBatch::default();
        for key in 0..RESTORE_BATCH as u32 {
            assert!(!batch.is_full());
            batch.add(&key.to_be_bytes(), Some(b"v"));
        }
        assert!(batch.is_full());

        // Updates of one key take no room, but the bytes read still bound the batch.
        let mut batch = RestoreBatch::default();
        let value = vec![0u8; 1024 * 1024];
        for _ in 0..31 {
            batch.add(b"k", Some(&value));
        }
        assert!(!batch.is_full());
        batch.add(b"k", Some(&value));
        assert!(batch.is_full());
        assert_eq!(batch.entries.len(), 1);
    }
}

//! The changelog reader: brings a new task's logged stores up to date from their changelog
//! partitions before the task processes anything.
//!
//! A store is restored from its checkpointed offset (when it kept local state a checkpoint vouches
//! for) or from the changelog's beginning, at least up to the end offset listed when the restore
//! began, in batches of up to 10,000 keys (`RestoreBatch`: only the latest value of each key is
//! written). The stores of the tasks a rebalance brings restore together, through one consumer
//! assigned all their changelog partitions; each such restore gets a fresh consumer, so no record
//! or end-of-partition event of an earlier restore can be mistaken for this one's. Progress is
//! logged and reported to a [`StateRestoreListener`].

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

    /// Catches every logged store of `tasks` up with its changelog, from the checkpointed offset
    /// where the store kept local state, from the beginning otherwise; returns the records
    /// applied. The stores restore together: one consumer reads all their changelog partitions
    /// at once, so the restores of a rebalance overlap instead of running one by one, and a
    /// store whose changelog holds nothing past its checkpoint is done without a fetch.
    pub(crate) fn restore(
        &mut self,
        tasks: &mut [&mut StreamTask],
        application_id: &str,
    ) -> Result<u64, StreamsError> {
        let consumer: BaseConsumer<RestoreContext> = self
            .config
            .create_with_context(RestoreContext)
            .map_err(StreamsError::kafka("cannot create the restore consumer"))?;
        let mut restores = Vec::new();
        for (index, task) in tasks.iter().enumerate() {
            for store in task.stores().iter().filter(|s| s.spec().logging_enabled()) {
                let restore = StoreRestore::begin(&consumer, index, task, store, application_id)?;
                if let Some(listener) = &self.listener {
                    listener.on_restore_start(
                        restore.task,
                        &restore.store,
                        &restore.topic,
                        restore.position,
                        restore.end,
                    );
                }
                restores.push(restore);
            }
        }
        let mut assignment = TopicPartitionList::new();
        for restore in restores.iter().filter(|r| !r.caught_up()) {
            let offset = if restore.position > 0 {
                Offset::Offset(restore.position)
            } else {
                Offset::Beginning
            };
            assignment
                .add_partition_offset(&restore.topic, restore.partition, offset)
                .map_err(StreamsError::kafka(format!(
                    "cannot restore from {}-{}",
                    restore.topic, restore.partition
                )))?;
        }
        if assignment.count() > 0 {
            consumer.assign(&assignment).map_err(StreamsError::kafka(
                "cannot assign the changelogs to restore",
            ))?;
            self.read(&consumer, tasks, &mut restores)?;
        }
        let mut applied = 0;
        for restore in &restores {
            tasks[restore.index].set_changelog_offset(&restore.topic, restore.position);
            applied += restore.applied;
            let seconds = restore.started.elapsed().as_secs_f64();
            tracing::info!(
                task = %restore.task,
                store = %restore.store,
                from = restore.from,
                to = restore.position,
                records = restore.applied,
                seconds,
                records_per_second = (restore.applied as f64 / seconds.max(1e-9)).round(),
                "restored from {}",
                restore.topic
            );
            if let Some(listener) = &self.listener {
                listener.on_restore_end(restore.task, &restore.store, restore.applied);
            }
        }
        Ok(applied)
    }

    /// Reads the changelogs assigned to `consumer` until every restore caught up, writing each
    /// store's records in batches.
    fn read(
        &self,
        consumer: &BaseConsumer<RestoreContext>,
        tasks: &[&mut StreamTask],
        restores: &mut [StoreRestore],
    ) -> Result<(), StreamsError> {
        let mut by_topic: HashMap<String, Vec<usize>> = HashMap::new();
        for (at, restore) in restores.iter().enumerate() {
            by_topic.entry(restore.topic.clone()).or_default().push(at);
        }
        let store_of = |restore: &StoreRestore| tasks[restore.index].stores().get(&restore.store);
        let mut last_progress = Instant::now();
        // Records arrived since the clock was last read (read only between messages).
        let mut progressed = false;
        while restores.iter().any(|r| !r.caught_up()) {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    let Some(at) = by_topic.get(message.topic()).and_then(|ats| {
                        ats.iter()
                            .copied()
                            .find(|&at| restores[at].partition == message.partition())
                    }) else {
                        continue;
                    };
                    let restore = &mut restores[at];
                    restore.position = message.offset() + 1;
                    progressed = true;
                    if let Some(key) = message.key() {
                        restore.batch.add(key, message.payload());
                        if restore.batch.is_full()
                            && let Some(store) = store_of(restore)
                        {
                            restore.apply(store, self.listener.as_deref())?;
                        }
                    }
                    continue;
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    // The consumer's position also moves past transaction markers, which are
                    // never delivered: a changelog written in transactions ends with one.
                    for restore in restores
                        .iter_mut()
                        .filter(|r| r.partition == partition && !r.caught_up())
                    {
                        restore.position = restore.position.max(consumed_position(
                            consumer,
                            &restore.topic,
                            partition,
                        ));
                    }
                }
                None => {}
                Some(Err(KafkaError::MessageConsumption(
                    RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange,
                ))) => {
                    // Retention deleted the changelog's head under a restore that had not read
                    // it yet: those stores start over from what is left.
                    for restore in restores.iter_mut().filter(|r| !r.caught_up()) {
                        let low = consumer
                            .fetch_watermarks(&restore.topic, restore.partition, WATERMARK_TIMEOUT)
                            .map_or(0, |(low, _)| low);
                        if restore.position < low
                            && let Some(store) = store_of(restore)
                        {
                            restore.start_over(store, "the changelog's head was deleted")?;
                            consumer
                                .seek(
                                    &restore.topic,
                                    restore.partition,
                                    Offset::Beginning,
                                    WATERMARK_TIMEOUT,
                                )
                                .map_err(StreamsError::kafka("cannot restart a restore"))?;
                        }
                    }
                }
                Some(Err(error)) => tracing::debug!(%error, "restore consumer error"),
            }
            for restore in restores.iter_mut() {
                if restore.position >= restore.end
                    && restore.batch.records() > 0
                    && let Some(store) = store_of(restore)
                {
                    restore.apply(store, self.listener.as_deref())?;
                }
            }
            if std::mem::take(&mut progressed) {
                last_progress = Instant::now();
            } else if last_progress.elapsed() > STALL_TIMEOUT
                && let Some(stalled) = restores.iter().find(|r| !r.caught_up())
            {
                return Err(StoreError::RestoreStalled {
                    store: stalled.store.clone(),
                    topic: stalled.topic.clone(),
                    partition: stalled.partition,
                    position: stalled.position,
                    end: stalled.end,
                }
                .into());
            }
        }
        for restore in restores.iter_mut() {
            if let Some(store) = store_of(restore) {
                restore.apply(store, self.listener.as_deref())?;
            }
        }
        Ok(())
    }
}

/// How long a changelog's offsets may take to list.
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(10);

/// One store's restore, within a restore of several.
struct StoreRestore {
    /// The task's index in the restore's tasks.
    index: usize,
    task: TaskId,
    store: String,
    topic: String,
    partition: i32,
    /// Where the restore began.
    from: i64,
    /// The offset after the last changelog record read (or skipped).
    position: i64,
    /// The partition's end offset as listed when the restore began: the restore reads at
    /// least this far, until the consumer reports the end of the partition.
    end: i64,
    batch: RestoreBatch,
    applied: u64,
    started: Instant,
}

impl StoreRestore {
    /// Lists the changelog's offsets and decides where to begin: at the checkpointed offset,
    /// or, where that is outside the changelog (deleted or recreated, or another cluster's:
    /// the local state belongs to another history), from the beginning with the store
    /// cleared.
    fn begin(
        consumer: &BaseConsumer<RestoreContext>,
        index: usize,
        task: &StreamTask,
        store: &TaskStore,
        application_id: &str,
    ) -> Result<Self, StreamsError> {
        let name = store.spec().name().to_owned();
        let topic = changelog_topic(application_id, &name);
        let partition = task.id().partition;
        let watermarks = consumer
            .fetch_watermarks(&topic, partition, WATERMARK_TIMEOUT)
            .ok();
        let end = watermarks.map_or(0, |(_, high)| high);
        let mut restore = StoreRestore {
            index,
            task: task.id(),
            store: name,
            partition,
            from: 0,
            position: 0,
            end,
            batch: RestoreBatch::default(),
            applied: 0,
            started: Instant::now(),
            topic,
        };
        if let Some(start) = task.restore_start(&restore.topic) {
            match watermarks {
                Some((low, high)) if start < low || start > high => {
                    restore.start_over(
                        store,
                        "the checkpointed offset is out of the changelog's range",
                    )?;
                }
                _ => {
                    restore.from = start;
                    restore.position = start;
                }
            }
        }
        Ok(restore)
    }

    /// Whether the store has everything up to the listed end.
    fn caught_up(&self) -> bool {
        self.position >= self.end && self.batch.records() == 0
    }

    /// Clears the store and restores it from the changelog's beginning.
    fn start_over(&mut self, store: &TaskStore, why: &str) -> Result<(), StreamsError> {
        tracing::warn!(task = %self.task, store = %self.store, position = self.position, "{why}; restoring from scratch");
        store.clear()?;
        self.from = 0;
        self.position = 0;
        self.applied = 0;
        self.batch = RestoreBatch::default();
        Ok(())
    }

    /// Writes the batch read so far to `store`.
    fn apply(
        &mut self,
        store: &TaskStore,
        listener: Option<&dyn StateRestoreListener>,
    ) -> Result<(), StreamsError> {
        if self.batch.records() == 0 {
            return Ok(());
        }
        let records = self.batch.write_to(store)?;
        self.applied += records;
        if let Some(listener) = listener {
            listener.on_batch_restored(self.task, &self.store, self.position, records);
        }
        Ok(())
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

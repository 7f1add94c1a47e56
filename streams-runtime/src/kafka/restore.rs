//! The changelog reader: brings a new task's logged stores up to date from their changelog
//! partitions before the task processes anything.
//!
//! A store is restored from the changelog's beginning until the consumer reports the end of the
//! partition (the high watermark of its fetch responses), and at least up to the end offset
//! listed when the restore began. Each store gets a fresh consumer, so no record or end-of-
//! partition event of an earlier restore can be mistaken for this one's.

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

/// Restores stores by manual assignment (never in the group).
pub(crate) struct ChangelogReader {
    config: ClientConfig,
}

impl ChangelogReader {
    pub(crate) fn new(mut config: ClientConfig) -> Result<Self, StreamsError> {
        config.set("enable.partition.eof", "true");
        // Fail early on a bad consumer property rather than at the first restore.
        let _: BaseConsumer<RestoreContext> = config
            .create_with_context(RestoreContext)
            .map_err(|e| StreamsError::Kafka(format!("cannot create the restore consumer: {e}")))?;
        Ok(ChangelogReader { config })
    }

    /// Replays the changelog of every logged store of `task`; returns the records applied.
    pub(crate) fn restore(
        &mut self,
        task: &StreamTask,
        application_id: &str,
    ) -> Result<u64, StreamsError> {
        let mut restored = 0;
        for store in task.stores().iter().filter(|s| s.spec().logging_enabled()) {
            let topic = changelog_topic(application_id, store.spec().name());
            let started = Instant::now();
            let applied = self.restore_store(store, &topic, task.id().partition)?;
            restored += applied;
            if applied > 0 {
                tracing::info!(
                    task = %task.id(),
                    store = store.spec().name(),
                    records = applied,
                    seconds = started.elapsed().as_secs_f64(),
                    "restored from {topic}"
                );
            }
        }
        Ok(restored)
    }

    fn restore_store(
        &self,
        store: &TaskStore,
        topic: &str,
        partition: i32,
    ) -> Result<u64, StreamsError> {
        let consumer: BaseConsumer<RestoreContext> = self
            .config
            .create_with_context(RestoreContext)
            .map_err(|e| StreamsError::Kafka(format!("cannot create the restore consumer: {e}")))?;
        // The end offset listed now is only a lower bound: the restore reads from the beginning
        // until the consumer reaches the end of the partition as its fetches report it.
        let high = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .map_or(0, |(_, high)| high);
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(|e| StreamsError::Kafka(e.to_string()))?;
        consumer
            .assign(&assignment)
            .map_err(|e| StreamsError::Kafka(format!("cannot assign {topic}-{partition}: {e}")))?;
        let mut position = 0;
        let mut applied = 0u64;
        let mut last_progress = Instant::now();
        loop {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    position = message.offset() + 1;
                    last_progress = Instant::now();
                    if let Some(key) = message.key() {
                        store.restore(key, message.payload())?;
                        applied += 1;
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) if position >= high => break,
                Some(Err(KafkaError::PartitionEOF(_))) | None => {}
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
        Ok(applied)
    }
}

//! The changelog reader: brings a new task's logged stores up to date from their changelog
//! partitions before the task processes anything.

use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::error::{StoreError, StreamsError};
use crate::state::changelog_topic;
use crate::task::StreamTask;

/// How long a restore may go without receiving a changelog record before it gives up.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Restores stores through its own consumer, by manual assignment (never in the group).
pub(crate) struct ChangelogReader {
    consumer: BaseConsumer,
}

impl ChangelogReader {
    pub(crate) fn new(config: ClientConfig) -> Result<Self, StreamsError> {
        let consumer = config
            .create()
            .map_err(|e| StreamsError::Kafka(format!("cannot create the restore consumer: {e}")))?;
        Ok(ChangelogReader { consumer })
    }

    /// Replays the changelog of every logged store of `task`; returns the records applied.
    pub(crate) fn restore(
        &mut self,
        task: &mut StreamTask,
        application_id: &str,
    ) -> Result<u64, StreamsError> {
        let partition = task.id().partition;
        let mut restored = 0;
        for store in task.stores().iter().filter(|s| s.spec().logging_enabled()) {
            let topic = changelog_topic(application_id, store.spec().name());
            let (low, high) =
                match self
                    .consumer
                    .fetch_watermarks(&topic, partition, Duration::from_secs(10))
                {
                    Ok(marks) => marks,
                    Err(KafkaError::MetadataFetch(_))
                    | Err(KafkaError::OffsetFetch(RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                        continue;
                    }
                    Err(error) => {
                        tracing::debug!(%topic, partition, %error, "no changelog to restore from");
                        continue;
                    }
                };
            if high <= low {
                continue;
            }
            let started = Instant::now();
            let mut assignment = TopicPartitionList::new();
            assignment
                .add_partition_offset(&topic, partition, Offset::Offset(low))
                .map_err(|e| StreamsError::Kafka(e.to_string()))?;
            self.consumer.assign(&assignment).map_err(|e| {
                StreamsError::Kafka(format!("cannot assign {topic}-{partition}: {e}"))
            })?;
            let mut position = low;
            let mut last_progress = Instant::now();
            while position < high {
                match self.consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(message)) => {
                        position = message.offset() + 1;
                        last_progress = Instant::now();
                        if let Some(key) = message.key() {
                            store.restore(key, message.payload())?;
                            restored += 1;
                        }
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => break,
                    Some(Err(error)) => tracing::debug!(%topic, %error, "restore consumer error"),
                    None => {}
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
            let _ = self.consumer.unassign();
            tracing::info!(
                task = %task.id(),
                store = store.spec().name(),
                records = high - low,
                seconds = started.elapsed().as_secs_f64(),
                "restored from {topic}"
            );
        }
        Ok(restored)
    }
}

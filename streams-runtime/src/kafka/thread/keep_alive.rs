//! Keeping the group membership while the thread waits on the cluster.
//!
//! A commit can wait long for a slow broker: the producer's records are delivered one timeout
//! at a time, and offset and transaction calls are tried again within `task.timeout.ms`.
//! librdkafka expels a member that does not poll its consumer within `max.poll.interval.ms`,
//! which would cost the thread its tasks on top of the wait. So, as Kafka Streams does, the
//! thread pauses its partitions and polls the consumer while it waits: the poll fetches nothing
//! and counts as the application being alive.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::TopicPartitionList;

use super::poll::raw_record;
use super::rebalance::RebalanceListener;
use super::task_manager::SourceTopic;
use crate::record::RawRecord;

/// How long a wait goes before the consumer is paused and polled. Pausing drops what the
/// consumer fetched ahead (it is fetched again on resume), so the usual short waits of a commit
/// leave the consumer alone; `max.poll.interval.ms` is far longer.
const PATIENCE: Duration = Duration::from_secs(1);

/// The consumer kept polling while the thread waits; its partitions are resumed when this is
/// dropped.
pub(super) struct KeepAlive<'a> {
    consumer: &'a BaseConsumer<RebalanceListener>,
    sources: &'a HashMap<String, SourceTopic>,
    /// Records that arrived anyway, for the loop to process in order.
    held: &'a mut Vec<RawRecord>,
    /// What this paused, to resume it.
    paused: Option<TopicPartitionList>,
    /// When the wait began.
    since: Instant,
}

impl<'a> KeepAlive<'a> {
    /// Nothing is paused until a [`tick`](Self::tick) after [`PATIENCE`]: a short wait costs
    /// nothing.
    pub(super) fn new(
        consumer: &'a BaseConsumer<RebalanceListener>,
        sources: &'a HashMap<String, SourceTopic>,
        held: &'a mut Vec<RawRecord>,
    ) -> Self {
        KeepAlive {
            consumer,
            sources,
            held,
            paused: None,
            since: Instant::now(),
        }
    }

    /// Polls the consumer once with its partitions paused. A rebalance served in this poll
    /// runs its callbacks as in any other poll (a revocation commits what is pending), and a
    /// record of a partition it assigned may arrive: it is held, never dropped.
    pub(super) fn tick(&mut self) {
        if self.since.elapsed() < PATIENCE {
            return;
        }
        if self.paused.is_none() {
            let Ok(assignment) = self.consumer.assignment() else {
                return;
            };
            if let Err(error) = self.consumer.pause(&assignment) {
                tracing::debug!(%error, "cannot pause the partitions while waiting");
            }
            self.paused = Some(assignment);
        }
        while let Some(result) = self.consumer.poll(Duration::ZERO) {
            match result {
                Ok(message) => {
                    if let Some(source) = self.sources.get(message.topic()) {
                        self.held.push(raw_record(&message, &source.name));
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "consumer error while waiting");
                    break;
                }
            }
        }
    }
}

impl Drop for KeepAlive<'_> {
    fn drop(&mut self) {
        if let Some(paused) = self.paused.take() {
            // Also the partitions a rebalance took away meanwhile: librdkafka keeps a
            // partition's pause across its revocation, and one assigned back later would
            // otherwise never be fetched again.
            if let Err(error) = self.consumer.resume(&paused) {
                tracing::debug!(%error, "cannot resume the partitions after waiting");
            }
            // And whatever the thread owns now (see `resume_assignment`).
            resume_assignment(self.consumer);
        }
    }
}

/// Resumes every assigned partition: nothing but a wait pauses them, and a partition must not
/// stay paused past one, whatever rebalances happened during it.
pub(super) fn resume_assignment(consumer: &BaseConsumer<RebalanceListener>) {
    if let Ok(assigned) = consumer.assignment()
        && assigned.count() > 0
        && let Err(error) = consumer.resume(&assigned)
    {
        tracing::warn!(%error, "cannot resume the assigned partitions");
    }
}

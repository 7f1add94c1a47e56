//! The partition group: a task's input buffers, one per partition, drained in timestamp order.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::record::RawRecord;
use crate::record::{ConsumedRecord, TimestampExtractor};

struct Queue<S> {
    topic: Arc<str>,
    partition: i32,
    source: S,
    /// Gives the partition's records their timestamps, if the source chose one.
    extractor: Option<TimestampExtractor>,
    /// The largest timestamp the extractor gave so far (Kafka Streams' partition time).
    partition_time: i64,
    records: VecDeque<RawRecord>,
    /// The offset of the last record taken out, until it is reported for commit.
    progress: Option<i64>,
}

/// Buffers per input partition; [`pop`](Self::pop) returns the head with the smallest timestamp
/// (ties go to the partition added first), which is how a task merges several inputs by time.
pub(super) struct PartitionGroup<S> {
    queues: Vec<Queue<S>>,
    len: usize,
    /// Since when some partition has been empty while another had records.
    waiting_since: Option<i64>,
}

impl<S> Default for PartitionGroup<S> {
    fn default() -> Self {
        PartitionGroup {
            queues: Vec::new(),
            len: 0,
            waiting_since: None,
        }
    }
}

impl<S: Clone> PartitionGroup<S> {
    pub(super) fn add_partition(
        &mut self,
        topic: Arc<str>,
        partition: i32,
        source: S,
        extractor: Option<TimestampExtractor>,
    ) {
        self.queues.push(Queue {
            topic,
            partition,
            source,
            extractor,
            partition_time: -1,
            records: VecDeque::new(),
            progress: None,
        });
    }

    pub(super) fn partitions(&self) -> Vec<(Arc<str>, i32)> {
        self.queues
            .iter()
            .map(|q| (Arc::clone(&q.topic), q.partition))
            .collect()
    }

    /// Whether records may be taken now (see `StreamTask::is_processable`).
    pub(super) fn ready(&mut self, now_ms: i64, max_idle_ms: i64) -> bool {
        if self.len == 0 {
            return false;
        }
        if self.queues.iter().all(|q| !q.records.is_empty()) || max_idle_ms <= 0 {
            self.waiting_since = None;
            return true;
        }
        let since = *self.waiting_since.get_or_insert(now_ms);
        now_ms - since >= max_idle_ms
    }

    pub(super) fn take_progress(&mut self) -> Vec<(Arc<str>, i32, i64)> {
        self.queues
            .iter_mut()
            .filter_map(|q| {
                q.progress
                    .take()
                    .map(|offset| (Arc::clone(&q.topic), q.partition, offset + 1))
            })
            .collect()
    }

    pub(super) fn has_topic(&self, topic: &str) -> bool {
        self.queues.iter().any(|q| &*q.topic == topic)
    }

    pub(super) fn push(&mut self, record: RawRecord) -> Result<(), RawRecord> {
        match self
            .queues
            .iter_mut()
            .find(|q| q.partition == record.partition && q.topic == record.topic)
        {
            Some(queue) => {
                let mut record = record;
                // Only a source with an extractor pays for one per record.
                if queue.extractor.is_some() {
                    record.timestamp = queue.stamp(&ConsumedRecord {
                        topic: &record.topic,
                        partition: record.partition,
                        offset: record.offset,
                        timestamp: record.timestamp,
                        key: record.key.as_deref(),
                        value: record.value.as_deref(),
                        headers: &record.headers,
                    });
                }
                queue.records.push_back(record);
                self.len += 1;
                Ok(())
            }
            None => Err(record),
        }
    }

    pub(super) fn clear(&mut self) {
        for queue in &mut self.queues {
            queue.records.clear();
            // What is fetched again is stamped as if for the first time.
            queue.partition_time = -1;
        }
        self.len = 0;
        self.waiting_since = None;
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Notes that the record at `offset` of `partition` is processed without being buffered
    /// (the group reads only that partition); returns the topic and source to process it with.
    #[cfg(feature = "kafka")]
    pub(super) fn take_direct(&mut self, partition: i32, offset: i64) -> Option<(&Arc<str>, S)> {
        match &mut self.queues[..] {
            [queue] if queue.partition == partition => {
                queue.progress = Some(offset);
                Some((&queue.topic, queue.source.clone()))
            }
            _ => None,
        }
    }

    /// Whether a source of the group stamps its records with an extractor.
    #[cfg(feature = "kafka")]
    pub(super) fn stamps(&self) -> bool {
        self.queues.iter().any(|q| q.extractor.is_some())
    }

    /// The timestamp of a record of the group's single partition, processed without being
    /// buffered: its source's extractor's, or Kafka's.
    #[cfg(feature = "kafka")]
    pub(super) fn stamp_direct(&mut self, record: &ConsumedRecord<'_>) -> i64 {
        match &mut self.queues[..] {
            [queue] if queue.partition == record.partition => queue.stamp(record),
            _ => record.timestamp,
        }
    }

    /// The topic of the group's partition, when it reads exactly one.
    #[cfg(feature = "kafka")]
    pub(super) fn direct_topic(&self) -> Option<&Arc<str>> {
        match &self.queues[..] {
            [queue] => Some(&queue.topic),
            _ => None,
        }
    }

    pub(super) fn pop(&mut self) -> Option<(RawRecord, S)> {
        let index = self
            .queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.records.front().map(|r| (r.timestamp, i)))
            .min()?
            .1;
        let queue = &mut self.queues[index];
        let record = queue.records.pop_front()?;
        queue.progress = Some(record.offset);
        self.len -= 1;
        Some((record, queue.source.clone()))
    }
}

impl<S> Queue<S> {
    /// The record's timestamp: the extractor's, if there is one, which also moves the
    /// partition time.
    fn stamp(&mut self, record: &ConsumedRecord<'_>) -> i64 {
        match &self.extractor {
            None => record.timestamp,
            Some(extract) => {
                let timestamp = extract(record, self.partition_time);
                self.partition_time = self.partition_time.max(timestamp);
                timestamp
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: &str, timestamp: i64) -> RawRecord {
        RawRecord {
            topic: topic.into(),
            partition: 0,
            offset: 0,
            timestamp,
            key: None,
            value: None,
            headers: Default::default(),
        }
    }

    #[test]
    fn pops_the_smallest_head_timestamp_first() {
        let mut group = PartitionGroup::default();
        group.add_partition("a".into(), 0, 'a', None);
        group.add_partition("b".into(), 0, 'b', None);
        for (topic, ts) in [("a", 5), ("a", 1), ("b", 3), ("b", 5)] {
            group.push(record(topic, ts)).unwrap();
        }
        assert!(group.push(record("c", 0)).is_err());
        let order: Vec<(char, i64)> =
            std::iter::from_fn(|| group.pop().map(|(r, s)| (s, r.timestamp))).collect();
        // Heads are compared, so a's late-arriving 1 waits behind its 5.
        assert_eq!(order, [('b', 3), ('a', 5), ('a', 1), ('b', 5)]);
        assert_eq!(group.len(), 0);
    }
}

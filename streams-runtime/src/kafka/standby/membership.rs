//! Membership beside the consumer group: which instance owns which tasks, and from that, which
//! tasks this instance keeps standbys of.
//!
//! The classic group protocol shows a member only its own assignment, so every instance
//! publishes the tasks its threads own to the compacted membership topic (key: its process id;
//! value: its task ids, comma-separated; a heartbeat every [`HEARTBEAT`], a tombstone when it
//! leaves) and reads everyone's. Instances heard from within [`LIVENESS`] form a ring ordered by
//! process id; a task's standbys go to the `num.standby.replicas` instances after its owner, so
//! every instance computes the same placement without a coordinator.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::error::StreamsError;
use crate::kafka::KafkaClients;
use crate::kafka::thread::wall_clock_ms;
use crate::task_env::TaskId;

/// How often an instance republishes its tasks.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long an instance counts as live after its last heartbeat.
const LIVENESS: Duration = Duration::from_secs(10);

/// The membership topic of an application.
pub(crate) fn membership_topic(application_id: &str) -> String {
    format!("{application_id}-instances")
}

/// One instance as its last membership record described it.
struct Member {
    tasks: BTreeSet<TaskId>,
    /// The record's timestamp (wall-clock milliseconds).
    seen: i64,
}

/// This instance's view of the membership topic: what it published last, and what every
/// instance published.
pub(super) struct Membership {
    /// The standby thread's name, for the log.
    thread: String,
    process_id: String,
    topic: String,
    publisher: BaseProducer,
    reader: BaseConsumer,
    members: BTreeMap<String, Member>,
    /// The tasks published last, and when.
    published: Option<(BTreeSet<TaskId>, Instant)>,
}

impl Membership {
    /// Creates the publisher and the reader (clients named after `thread`), the reader set to
    /// read the membership topic of `application_id` from its beginning.
    pub(super) fn join(
        clients: &KafkaClients,
        thread: &str,
        application_id: &str,
        process_id: String,
    ) -> Result<Self, StreamsError> {
        let kafka = |what: &str, e: rdkafka::error::KafkaError| {
            StreamsError::kafka(format!("cannot create the standby {what}"))(e)
        };
        let publisher: BaseProducer = clients
            .producer_config(thread)
            .create()
            .map_err(|e| kafka("publisher", e))?;
        let reader: BaseConsumer = clients
            .restore_config(&format!("{thread}-members"))
            .create()
            .map_err(|e| kafka("membership reader", e))?;
        let topic = membership_topic(application_id);
        let metadata = reader
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .map_err(|e| kafka("membership reader", e))?;
        let mut partitions = TopicPartitionList::new();
        for described in metadata.topics() {
            for partition in described.partitions() {
                partitions
                    .add_partition_offset(&topic, partition.id(), Offset::Beginning)
                    .map_err(|e| kafka("membership reader", e))?;
            }
        }
        reader
            .assign(&partitions)
            .map_err(|e| kafka("membership reader", e))?;
        Ok(Membership {
            thread: thread.to_owned(),
            process_id,
            topic,
            publisher,
            reader,
            members: BTreeMap::new(),
            published: None,
        })
    }

    /// Publishes the tasks this instance owns (`active`), when they changed or a heartbeat is
    /// due.
    pub(super) fn publish(&mut self, active: BTreeSet<TaskId>) {
        let due = match &self.published {
            Some((tasks, at)) => *tasks != active || at.elapsed() >= HEARTBEAT,
            None => true,
        };
        if due {
            let text = active
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",");
            self.send(Some(&text));
            self.published = Some((active, Instant::now()));
        }
        self.publisher.poll(Duration::ZERO);
    }

    /// Leaves the membership: a tombstone for this instance, sent before returning (or given
    /// up on after a few seconds).
    pub(super) fn leave(&self) {
        self.send(None);
        let _ = self.publisher.flush(Duration::from_secs(5));
    }

    fn send(&self, tasks: Option<&str>) {
        let mut record: BaseRecord<'_, str, str> = BaseRecord::to(&self.topic)
            .key(self.process_id.as_str())
            .partition(0)
            .timestamp(wall_clock_ms());
        if let Some(tasks) = tasks {
            record = record.payload(tasks);
        }
        if let Err((error, _)) = self.publisher.send(record) {
            tracing::debug!(thread = %self.thread, %error, "cannot publish the instance's tasks");
        }
    }

    /// Takes in what the membership topic got since the last call.
    pub(super) fn read(&mut self) {
        while let Some(Ok(message)) = self.reader.poll(Duration::ZERO) {
            let Some(Ok(id)) = message.key().map(std::str::from_utf8) else {
                continue;
            };
            match message.payload() {
                None => {
                    self.members.remove(id);
                }
                Some(payload) => {
                    let tasks = std::str::from_utf8(payload)
                        .unwrap_or_default()
                        .split(',')
                        .filter_map(parse_task_id)
                        .collect();
                    let seen = message.timestamp().to_millis().unwrap_or(0);
                    self.members.insert(id.to_owned(), Member { tasks, seen });
                }
            }
        }
    }

    /// The tasks this instance should host standbys of, with `replicas` standbys per task,
    /// among the instances live now (this one always counts as live).
    pub(super) fn standby_tasks(&self, replicas: usize) -> BTreeSet<TaskId> {
        let now = wall_clock_ms();
        let live: Vec<&String> = self
            .members
            .iter()
            .filter(|(id, m)| *id == &self.process_id || now - m.seen < LIVENESS.as_millis() as i64)
            .map(|(id, _)| id)
            .collect();
        placement(&self.members, &live, &self.process_id, replicas)
    }
}

/// The tasks `me` hosts standbys for: for each live owner, the `replicas` live instances after
/// it in process-id order (a ring) host its tasks' standbys.
fn placement(
    members: &BTreeMap<String, Member>,
    live: &[&String],
    me: &str,
    replicas: usize,
) -> BTreeSet<TaskId> {
    let mut mine = BTreeSet::new();
    let Some(my_position) = live.iter().position(|id| id.as_str() == me) else {
        return mine;
    };
    for (position, owner) in live.iter().enumerate() {
        if owner.as_str() == me {
            continue;
        }
        // How far after the owner this instance sits in the ring.
        let distance = (my_position + live.len() - position) % live.len();
        if distance >= 1
            && distance <= replicas
            && let Some(member) = members.get(owner.as_str())
        {
            mine.extend(member.tasks.iter().copied());
        }
    }
    mine
}

/// Parses `<subtopology>_<partition>`.
fn parse_task_id(text: &str) -> Option<TaskId> {
    let (subtopology, partition) = text.split_once('_')?;
    Some(TaskId {
        subtopology: subtopology.parse().ok()?,
        partition: partition.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(subtopology: u32, partition: i32) -> TaskId {
        TaskId {
            subtopology,
            partition,
        }
    }

    fn members(owned: &[(&str, &[TaskId])]) -> BTreeMap<String, Member> {
        owned
            .iter()
            .map(|(id, tasks)| {
                (
                    (*id).to_owned(),
                    Member {
                        tasks: tasks.iter().copied().collect(),
                        seen: 0,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn standbys_go_to_the_next_instances_in_the_ring() {
        let all = members(&[
            ("a", &[task(1, 0)]),
            ("b", &[task(1, 1)]),
            ("c", &[task(1, 2)]),
        ]);
        let ids: Vec<String> = all.keys().cloned().collect();
        let live: Vec<&String> = ids.iter().collect();
        // One replica: each instance shadows the owner before it.
        assert_eq!(placement(&all, &live, "a", 1), BTreeSet::from([task(1, 2)]));
        assert_eq!(placement(&all, &live, "b", 1), BTreeSet::from([task(1, 0)]));
        assert_eq!(placement(&all, &live, "c", 1), BTreeSet::from([task(1, 1)]));
        // Two replicas on three instances: everyone shadows everyone else.
        assert_eq!(
            placement(&all, &live, "a", 2),
            BTreeSet::from([task(1, 1), task(1, 2)])
        );
        // More replicas than other instances: no task is shadowed twice by one instance.
        assert_eq!(
            placement(&all, &live, "a", 5),
            BTreeSet::from([task(1, 1), task(1, 2)])
        );
        // An instance that is not live hosts nothing; a dead owner's tasks get no standby.
        let two: Vec<&String> = ids.iter().take(2).collect();
        assert_eq!(placement(&all, &two, "c", 1), BTreeSet::new());
        assert_eq!(placement(&all, &two, "a", 1), BTreeSet::from([task(1, 1)]));
    }

    #[test]
    fn task_ids_parse_from_their_display_form() {
        assert_eq!(parse_task_id("3_12"), Some(task(3, 12)));
        assert_eq!(parse_task_id(&task(0, 7).to_string()), Some(task(0, 7)));
        assert_eq!(parse_task_id("3-12"), None);
        assert_eq!(parse_task_id(""), None);
    }
}

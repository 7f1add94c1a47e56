//! The task manager: the stream thread's tasks, created, restored, closed and rebuilt as the
//! group's assignment changes.
//!
//! A task is one sub-topology on one input partition. The manager turns an assignment of topic
//! partitions into task ids, creates the tasks it gains (restoring their stores from their
//! changelogs, after any standby replica of theirs has handed its stores over), closes the tasks
//! it loses (checkpointing their stores first), and routes each polled record to its task.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};

use super::super::StoreSnapshot;
use super::super::collector::KafkaCollector;
use super::super::restore::ChangelogReader;
use super::super::standby::StandbyRegistry;
use super::wall_clock_ms;
use crate::error::StreamsError;
use crate::record::{RawRecord, RecordCollector};
use crate::state::{ChangelogOffsets, changelog_topic};
use crate::task::{StreamTask, TaskConfig};
use crate::task_env::TaskId;
use crate::topology::Topology;

/// How long the end-offset lookup of a kept task's changelog may take.
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(10);

/// A topic the thread reads: its name, shared by every record of it, and its sub-topology.
#[derive(Clone)]
pub(super) struct SourceTopic {
    pub(super) name: Arc<str>,
    pub(super) subtopology: u32,
}

/// The tasks of one stream thread and what it takes to make them.
pub(super) struct TaskManager {
    /// The tasks the thread runs now, by id (ordered, so processing visits them in a fixed order).
    pub(super) tasks: BTreeMap<TaskId, StreamTask>,
    /// Topic (full name) → the sub-topology reading it.
    pub(super) sources: HashMap<String, SourceTopic>,
    topology: Arc<Topology>,
    task_config: TaskConfig,
    collector: Rc<RefCell<KafkaCollector>>,
    restorer: ChangelogReader,
    /// With standby replicas: the thread's index and the instance's standby registry, told
    /// which tasks the thread owns.
    standby: Option<(usize, Arc<StandbyRegistry>)>,
}

impl TaskManager {
    pub(super) fn new(
        topology: Arc<Topology>,
        task_config: TaskConfig,
        collector: Rc<RefCell<KafkaCollector>>,
        restorer: ChangelogReader,
        standby: Option<(usize, Arc<StandbyRegistry>)>,
    ) -> Self {
        let application_id = Arc::clone(&task_config.application_id);
        let sources = topology
            .subtopologies()
            .iter()
            .flat_map(|s| {
                s.source_topics
                    .iter()
                    .map(|t| {
                        let name = t.full_name(&application_id);
                        let source = SourceTopic {
                            name: name.as_str().into(),
                            subtopology: s.id,
                        };
                        (name, source)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        TaskManager {
            tasks: BTreeMap::new(),
            sources,
            topology,
            task_config,
            collector,
            restorer,
            standby,
        }
    }

    /// The full names of the topics the tasks read: the thread's subscription.
    pub(super) fn source_topics(&self) -> Vec<String> {
        self.sources.keys().cloned().collect()
    }

    /// The id of the task that reads `partition` of `topic`, if the topology reads the topic.
    pub(super) fn task_of(&self, topic: &str, partition: i32) -> Option<TaskId> {
        self.sources.get(topic).map(|source| TaskId {
            subtopology: source.subtopology,
            partition,
        })
    }

    /// Records buffered by every task, not yet processed.
    pub(super) fn buffered(&self) -> usize {
        self.tasks.values().map(StreamTask::buffered).sum()
    }

    /// Hands a polled record to its task; a record of a partition the thread no longer owns is
    /// dropped (the group gives it to its new owner).
    pub(super) fn route(&mut self, record: RawRecord) {
        let Some(id) = self.task_of(&record.topic, record.partition) else {
            return;
        };
        match self.tasks.get_mut(&id) {
            Some(task) => {
                // A record of a partition the task does not read cannot come from our subscription.
                let _ = task.add_record(record);
            }
            None => {
                tracing::debug!(task = %id, "dropping a record of an unassigned partition");
            }
        }
    }

    /// Lets every processable task drain its buffers in timestamp order, firing stream-time
    /// punctuations after each record and wall-clock punctuations once per round.
    pub(super) fn process(&mut self, now_ms: i64, max_idle_ms: i64) -> Result<(), StreamsError> {
        let wall_clock = wall_clock_ms();
        for task in self.tasks.values_mut() {
            while task.is_processable(now_ms, max_idle_ms) {
                match task.process_next() {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => return Err(error.into()),
                }
                task.punctuate_stream_time()?;
            }
            task.punctuate_wall_clock(wall_clock)?;
        }
        Ok(())
    }

    /// Writes the checkpoints of the tasks `pick` selects, given the changelog offsets the
    /// producer has delivered: every picked task's when `force`d, otherwise those that wrote
    /// enough changelog records since their last one.
    pub(super) fn checkpoint(
        &mut self,
        ends: &ChangelogOffsets,
        force: bool,
        pick: impl Fn(&TaskId) -> bool,
    ) -> Result<(), StreamsError> {
        for (_, task) in self.tasks.iter_mut().filter(|(id, _)| pick(id)) {
            task.update_changelog_offsets(ends);
            task.maybe_checkpoint(force)?;
        }
        Ok(())
    }

    /// Creates the tasks `ids`, restoring their stores together.
    pub(super) fn create(
        &mut self,
        ids: &[TaskId],
        application_id: &str,
    ) -> Result<(), StreamsError> {
        let collector: Rc<RefCell<dyn RecordCollector>> = self.collector.clone();
        let mut created = Vec::with_capacity(ids.len());
        for id in ids {
            created.push(StreamTask::new(
                &self.topology,
                id.subtopology,
                id.partition,
                &self.task_config,
                Rc::clone(&collector),
                wall_clock_ms(),
            )?);
        }
        // All their stores at once: the restores overlap.
        let mut restoring: Vec<&mut StreamTask> = created.iter_mut().collect();
        self.restorer.restore(&mut restoring, application_id)?;
        for (id, mut task) in ids.iter().zip(created) {
            task.initialize()?;
            self.tasks.insert(*id, task);
        }
        Ok(())
    }

    /// Catches the kept tasks `ids` up with their changelogs where another member wrote to
    /// them since this thread last did (this member dropped out of the group's generation
    /// during a rebalance, and the tasks ran elsewhere meanwhile): their stores restore the
    /// changelogs' tails. A task nobody else touched, the usual case, restores nothing: one
    /// end-offset lookup per changelog tells. `ends` are the thread's delivered changelog
    /// writes.
    pub(super) fn catch_up<C: ConsumerContext>(
        &mut self,
        ids: &[TaskId],
        ends: &ChangelogOffsets,
        consumer: &BaseConsumer<C>,
        application_id: &str,
    ) -> Result<(), StreamsError> {
        // Under exactly-once the thread's last transaction that wrote a changelog partition
        // ended it with a commit marker, which takes an offset of its own; another member's
        // transaction would add at least one record and its marker.
        let slack = i64::from(self.task_config.exactly_once);
        for id in ids {
            let Some(task) = self.tasks.get_mut(id) else {
                continue;
            };
            task.update_changelog_offsets(ends);
            let moved = task
                .stores()
                .iter()
                .filter(|store| store.spec().logging_enabled())
                .any(|store| {
                    let topic = changelog_topic(application_id, store.spec().name());
                    let known = task.restore_start(&topic).unwrap_or(0);
                    match consumer.fetch_watermarks(&topic, id.partition, WATERMARK_TIMEOUT) {
                        Ok((_, high)) => high < known || high > known + slack,
                        // Unknown: restoring from the known offset is always right.
                        Err(_) => true,
                    }
                });
            if moved {
                tracing::info!(task = %id, "the changelogs moved while the task was suspended: catching up");
                self.restorer.restore(&mut [task], application_id)?;
            }
        }
        Ok(())
    }

    /// The topology the tasks run.
    pub(super) fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Closes every task; returns the ids it closed.
    pub(super) fn close_all(&mut self) -> Vec<TaskId> {
        let ids = self.tasks.keys().copied().collect();
        for (_, task) in std::mem::take(&mut self.tasks) {
            task.close();
        }
        ids
    }

    /// Closes the tasks `ids` (those the thread lost).
    pub(super) fn close(&mut self, ids: &[TaskId]) {
        for id in ids {
            if let Some(task) = self.tasks.remove(id) {
                task.close();
            }
        }
    }

    /// The task ids of the partitions in `assignment` (topic full name, partition).
    pub(super) fn tasks_of(&self, assignment: &[(String, i32)]) -> BTreeSet<TaskId> {
        assignment
            .iter()
            .filter_map(|(topic, partition)| self.task_of(topic, *partition))
            .collect()
    }

    /// Tells the standby thread (if any) that this thread owns `tasks` now; the standbys of the
    /// tasks new to the instance hand their stores over before this returns.
    pub(super) fn publish_active(&self, tasks: &BTreeSet<TaskId>) {
        if let Some((index, registry)) = &self.standby {
            registry.set_active(*index, tasks);
        }
    }

    /// The final contents of every task's stores.
    pub(super) fn snapshot(&self) -> Vec<StoreSnapshot> {
        self.tasks
            .iter()
            .flat_map(|(id, task)| {
                task.stores().iter().map(move |store| StoreSnapshot {
                    task: *id,
                    store: store.spec().name().to_owned(),
                    entries: store.entries().unwrap_or_default(),
                    timestamped: store.spec().is_timestamped(),
                })
            })
            .collect()
    }
}

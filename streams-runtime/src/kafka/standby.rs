//! Standby replicas (`num.standby.replicas`): warm copies of other instances' task stores, kept
//! current from their changelogs, so a task that fails over to this instance restores only the
//! changelog's tail.
//!
//! Kafka Streams places standbys through its own partition assignor, which also sends tasks to
//! the instance with the warmest state. Through rdkafka an application can only use librdkafka's
//! built-in assignors (`range` here, which keeps co-partitioned inputs together): it cannot
//! steer which member gets a task, and the classic protocol gives a member no view of the
//! others' assignments. So placement works beside the group instead of inside it:
//!
//! - every instance publishes the tasks its threads own to a compacted membership topic,
//!   `<application.id>-instances` (key: its process id; value: its task ids; a heartbeat every
//!   `HEARTBEAT`, a tombstone on clean close), and reads everyone's;
//! - live instances (heard from within `LIVENESS`) are ordered by process id in a ring; each
//!   task's standbys are the `num.standby.replicas` instances after its owner in that ring, so
//!   every instance computes the same placement without a coordinator;
//! - an instance's standby thread keeps those tasks' persistent, logged stores in the task's own
//!   directory (`<state.dir>/<application.id>/<task id>`), applies their changelogs as they grow,
//!   and checkpoints them. When the group then assigns such a task to this instance, the stream
//!   thread first has the standby closed (it writes its final checkpoint), and the active task
//!   opens the same stores, trusting that checkpoint: the restore reads only the tail.
//!
//! What the assignor cannot do is prefer the warm instance: a task moves wherever `range` puts
//! it. With `num.standby.replicas` ≥ (instances − 1) every instance is warm for every task, so
//! any failover restores only the tail; with fewer, it is a matter of where the task lands.
//! In-memory stores have no standbys (the active task's new store would not inherit them).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::KafkaClients;
use super::restore::RestoreBatch;
use super::thread::wall_clock_ms;
use crate::config::StreamsConfig;
use crate::error::{StoreError, StreamsError};
use crate::state::StateRoot;
use crate::state::{ChangelogOffsets, Checkpoint, StoreSpec, TaskStores, changelog_topic};
use crate::task::TaskId;
use crate::topology::Topology;

/// How often an instance republishes its tasks.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long an instance counts as live after its last heartbeat.
pub(crate) const LIVENESS: Duration = Duration::from_secs(10);
/// How many applied changelog records make a standby write its checkpoint.
const CHECKPOINT_RECORDS: u64 = 10_000;
/// How long a stream thread waits for the standby thread to hand a task's stores over.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(60);

/// The membership topic of an application.
pub fn membership_topic(application_id: &str) -> String {
    format!("{application_id}-instances")
}

/// A stream thread's request to close the standby of a task it is about to own.
struct Release {
    task: TaskId,
    done: mpsc::Sender<()>,
}

/// What the stream threads and the standby thread of an instance share.
pub(crate) struct StandbyRegistry {
    /// The tasks each stream thread owns, by thread index.
    active: Mutex<BTreeMap<usize, BTreeSet<TaskId>>>,
    releases: Mutex<mpsc::Sender<Release>>,
    /// Changelog records applied to standby stores.
    pub(crate) records: AtomicU64,
    /// Standby tasks hosted now.
    pub(crate) tasks: AtomicUsize,
}

impl StandbyRegistry {
    /// Records that thread `thread` owns `tasks` now; first has the standby thread close the
    /// standbys of the tasks new to this instance, so their stores are free and checkpointed.
    pub(crate) fn set_active(&self, thread: usize, tasks: &BTreeSet<TaskId>) {
        let new: Vec<TaskId> = {
            let Ok(mut active) = self.active.lock() else {
                return;
            };
            let owned: BTreeSet<TaskId> = active.values().flatten().copied().collect();
            active.insert(thread, tasks.clone());
            tasks.difference(&owned).copied().collect()
        };
        for task in new {
            let (done, finished) = mpsc::channel();
            let sent = self
                .releases
                .lock()
                .map(|sender| sender.send(Release { task, done }).is_ok())
                .unwrap_or(false);
            if sent && finished.recv_timeout(RELEASE_TIMEOUT).is_err() {
                tracing::warn!(%task, "the standby thread did not hand the task's stores over");
            }
        }
    }

    fn active(&self) -> BTreeSet<TaskId> {
        self.active
            .lock()
            .map(|active| active.values().flatten().copied().collect())
            .unwrap_or_default()
    }
}

/// Starts the standby thread of an instance; returns the registry its stream threads use and
/// the thread's handle.
pub(crate) fn start(
    topology: Arc<Topology>,
    config: Arc<StreamsConfig>,
    process_id: String,
    state: StateRoot,
    shutdown: Arc<AtomicBool>,
) -> Result<(Arc<StandbyRegistry>, std::thread::JoinHandle<()>), StreamsError> {
    let (sender, receiver) = mpsc::channel();
    let registry = Arc::new(StandbyRegistry {
        active: Mutex::new(BTreeMap::new()),
        releases: Mutex::new(sender),
        records: AtomicU64::new(0),
        tasks: AtomicUsize::new(0),
    });
    let name = format!("{}-{process_id}-StandbyThread", config.application_id);
    let shared = Arc::clone(&registry);
    let handle = std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let result = StandbyThread::new(
                name.clone(),
                topology,
                &config,
                process_id,
                state,
                shared,
                receiver,
            )
            .and_then(|thread| thread.run(&shutdown));
            if let Err(error) = result {
                // Standbys are an optimization: without them failovers restore everything.
                tracing::error!(thread = %name, %error, "standby replicas stopped");
            }
        })
        .map_err(|e| StreamsError::Kafka(format!("cannot spawn the standby thread: {e}")))?;
    Ok((registry, handle))
}

/// One instance as its last membership record described it.
struct Member {
    tasks: BTreeSet<TaskId>,
    /// The record's timestamp (wall-clock milliseconds).
    seen: i64,
}

/// The standby copy of one task: its persistent logged stores and how far they are applied.
struct StandbyTask {
    stores: TaskStores,
    checkpoint: Checkpoint,
    /// Next offset to apply, per changelog partition.
    offsets: ChangelogOffsets,
    /// Changelog topic → store name.
    store_of: HashMap<String, String>,
    applied_since_checkpoint: u64,
}

impl StandbyTask {
    fn open(
        id: TaskId,
        specs: &[StoreSpec],
        state: &StateRoot,
        application_id: &str,
    ) -> Result<Self, StreamsError> {
        let location = state.location(id);
        let checkpoint = Checkpoint::in_dir(&location.task_dir);
        let checkpointed = checkpoint.read().unwrap_or_default();
        let mut store_of = HashMap::new();
        for spec in specs {
            let topic = changelog_topic(application_id, spec.name());
            if !checkpointed.contains_key(&(topic.clone(), id.partition)) {
                location.remove_unvouched_store(spec.name())?;
            }
            store_of.insert(topic, spec.name().to_owned());
        }
        let stores = TaskStores::open(specs, None, Some(&location))?;
        let offsets = stores
            .iter()
            .filter(|store| store.has_local_state())
            .filter_map(|store| {
                let key = (
                    changelog_topic(application_id, store.spec().name()),
                    id.partition,
                );
                checkpointed.get(&key).map(|&offset| (key, offset))
            })
            .collect();
        Ok(StandbyTask {
            stores,
            checkpoint,
            offsets,
            store_of,
            applied_since_checkpoint: 0,
        })
    }

    /// Flushes the stores and records how far they are applied.
    fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.stores.flush()?;
        self.checkpoint.write(&self.offsets)?;
        self.applied_since_checkpoint = 0;
        Ok(())
    }
}

/// The thread that keeps an instance's standby tasks current.
struct StandbyThread {
    name: String,
    topology: Arc<Topology>,
    application_id: String,
    replicas: usize,
    process_id: String,
    state: StateRoot,
    registry: Arc<StandbyRegistry>,
    releases: mpsc::Receiver<Release>,
    membership: String,
    publisher: BaseProducer,
    members_reader: BaseConsumer,
    changelogs: BaseConsumer,
    members: BTreeMap<String, Member>,
    standbys: BTreeMap<TaskId, StandbyTask>,
    published: Option<(BTreeSet<TaskId>, Instant)>,
}

impl StandbyThread {
    fn new(
        name: String,
        topology: Arc<Topology>,
        config: &StreamsConfig,
        process_id: String,
        state: StateRoot,
        registry: Arc<StandbyRegistry>,
        releases: mpsc::Receiver<Release>,
    ) -> Result<Self, StreamsError> {
        let clients = KafkaClients::new(config);
        let kafka = |what: &str, e: rdkafka::error::KafkaError| {
            StreamsError::Kafka(format!("cannot create the standby {what}: {e}"))
        };
        let publisher: BaseProducer = clients
            .producer_config(&name)
            .create()
            .map_err(|e| kafka("publisher", e))?;
        let members_reader: BaseConsumer = clients
            .restore_config(&format!("{name}-members"))
            .create()
            .map_err(|e| kafka("membership reader", e))?;
        let membership = membership_topic(&config.application_id);
        let metadata = members_reader
            .fetch_metadata(Some(&membership), Duration::from_secs(10))
            .map_err(|e| kafka("membership reader", e))?;
        let mut partitions = TopicPartitionList::new();
        for topic in metadata.topics() {
            for partition in topic.partitions() {
                partitions
                    .add_partition_offset(&membership, partition.id(), Offset::Beginning)
                    .map_err(|e| kafka("membership reader", e))?;
            }
        }
        members_reader
            .assign(&partitions)
            .map_err(|e| kafka("membership reader", e))?;
        let changelogs: BaseConsumer = clients
            .restore_config(&format!("{name}-changelogs"))
            .create()
            .map_err(|e| kafka("changelog reader", e))?;
        Ok(StandbyThread {
            name,
            topology,
            application_id: config.application_id.clone(),
            replicas: config.num_standby_replicas,
            process_id,
            state,
            registry,
            releases,
            membership,
            publisher,
            members_reader,
            changelogs,
            members: BTreeMap::new(),
            standbys: BTreeMap::new(),
            published: None,
        })
    }

    fn run(mut self, shutdown: &AtomicBool) -> Result<(), StreamsError> {
        tracing::info!(thread = %self.name, replicas = self.replicas, "standby thread started");
        let mut last_placement = Instant::now();
        while !shutdown.load(Ordering::Acquire) {
            self.serve_releases()?;
            self.publish(false);
            self.read_members();
            if last_placement.elapsed() >= Duration::from_millis(500) {
                last_placement = Instant::now();
                self.place()?;
            }
            self.apply_changelogs()?;
        }
        // Hand everything over checkpointed, and leave the membership.
        self.serve_releases()?;
        for (_, mut task) in std::mem::take(&mut self.standbys) {
            task.checkpoint()?;
        }
        self.send_membership(None);
        let _ = self.publisher.flush(Duration::from_secs(5));
        tracing::info!(thread = %self.name, "standby thread stopped");
        Ok(())
    }

    /// Closes the standbys stream threads are taking over (with a final checkpoint).
    fn serve_releases(&mut self) -> Result<(), StreamsError> {
        let mut changed = false;
        while let Ok(Release { task, done }) = self.releases.try_recv() {
            if let Some(mut standby) = self.standbys.remove(&task) {
                standby.checkpoint()?;
                drop(standby);
                changed = true;
                tracing::info!(thread = %self.name, %task, "standby handed over to an active task");
            }
            let _ = done.send(());
        }
        if changed {
            self.reassign()?;
        }
        Ok(())
    }

    /// Publishes the tasks this instance owns, when they changed or a heartbeat is due.
    fn publish(&mut self, force: bool) {
        let active = self.registry.active();
        let due = match &self.published {
            Some((tasks, at)) => *tasks != active || at.elapsed() >= HEARTBEAT,
            None => true,
        };
        if due || force {
            let text = active
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",");
            self.send_membership(Some(&text));
            self.published = Some((active, Instant::now()));
        }
        self.publisher.poll(Duration::ZERO);
    }

    fn send_membership(&self, tasks: Option<&str>) {
        let mut record: BaseRecord<'_, str, str> = BaseRecord::to(&self.membership)
            .key(self.process_id.as_str())
            .partition(0)
            .timestamp(wall_clock_ms());
        if let Some(tasks) = tasks {
            record = record.payload(tasks);
        }
        if let Err((error, _)) = self.publisher.send(record) {
            tracing::debug!(thread = %self.name, %error, "cannot publish the instance's tasks");
        }
    }

    fn read_members(&mut self) {
        while let Some(Ok(message)) = self.members_reader.poll(Duration::ZERO) {
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

    /// Opens the standbys this instance should host and closes the others.
    fn place(&mut self) -> Result<(), StreamsError> {
        let now = wall_clock_ms();
        let live: Vec<&String> = self
            .members
            .iter()
            .filter(|(id, m)| *id == &self.process_id || now - m.seen < LIVENESS.as_millis() as i64)
            .map(|(id, _)| id)
            .collect();
        let active = self.registry.active();
        let wanted: BTreeSet<TaskId> =
            placement(&self.members, &live, &self.process_id, self.replicas)
                .into_iter()
                .filter(|task| !active.contains(task) && !self.specs(*task).is_empty())
                .collect();
        let mut changed = false;
        let surplus: Vec<TaskId> = self
            .standbys
            .keys()
            .filter(|task| !wanted.contains(task))
            .copied()
            .collect();
        for task in surplus {
            if let Some(mut standby) = self.standbys.remove(&task) {
                standby.checkpoint()?;
                changed = true;
            }
        }
        for task in wanted {
            if self.standbys.contains_key(&task) {
                continue;
            }
            let specs = self.specs(task);
            // Opened under the registry's lock, after checking again that no stream thread
            // owns the task: a thread that claims it meanwhile waits for the lock, then asks
            // for the standby's release, so the two never open the same stores.
            let opened = {
                let Ok(active) = self.registry.active.lock() else {
                    continue;
                };
                if active.values().any(|tasks| tasks.contains(&task)) {
                    continue;
                }
                StandbyTask::open(task, &specs, &self.state, &self.application_id)
            };
            match opened {
                Ok(standby) => {
                    tracing::info!(thread = %self.name, %task, from = ?standby.offsets, "standby opened");
                    self.standbys.insert(task, standby);
                    changed = true;
                }
                Err(error) => {
                    tracing::warn!(thread = %self.name, %task, %error, "cannot open a standby; trying again later");
                }
            }
        }
        if changed {
            self.reassign()?;
        }
        Ok(())
    }

    /// The stores of `task` a standby keeps: persistent and logged.
    fn specs(&self, task: TaskId) -> Vec<StoreSpec> {
        self.topology
            .subtopologies()
            .get(task.subtopology as usize)
            .map(|sub| {
                sub.stores
                    .iter()
                    .filter(|s| s.backend().is_persistent() && s.logging_enabled())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Points the changelog reader at every standby's changelog partitions, each from the
    /// offset its store has applied.
    fn reassign(&mut self) -> Result<(), StreamsError> {
        let mut list = TopicPartitionList::new();
        for (task, standby) in &self.standbys {
            for topic in standby.store_of.keys() {
                let offset = standby
                    .offsets
                    .get(&(topic.clone(), task.partition))
                    .map_or(Offset::Beginning, |&o| Offset::Offset(o));
                list.add_partition_offset(topic, task.partition, offset)
                    .map_err(|e| StreamsError::Kafka(e.to_string()))?;
            }
        }
        self.changelogs
            .assign(&list)
            .map_err(|e| StreamsError::Kafka(format!("cannot assign standby changelogs: {e}")))?;
        self.registry
            .tasks
            .store(self.standbys.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Applies what the changelogs got since the last call, in batches per store.
    fn apply_changelogs(&mut self) -> Result<(), StreamsError> {
        let mut batches: BTreeMap<(String, i32), ChangelogBatch> = BTreeMap::new();
        let mut timeout = Duration::from_millis(100);
        for _ in 0..10_000 {
            match self.changelogs.poll(timeout) {
                Some(Ok(message)) => {
                    let entry = batches
                        .entry((message.topic().to_owned(), message.partition()))
                        .or_default();
                    entry.1 = message.offset() + 1;
                    if let Some(key) = message.key() {
                        entry.0.add(key, message.payload());
                    }
                }
                Some(Err(error)) => {
                    tracing::debug!(thread = %self.name, %error, "standby changelog reader");
                    break;
                }
                None => break,
            }
            timeout = Duration::ZERO;
        }
        for ((topic, partition), (mut batch, next)) in batches {
            let Some((task, standby)) = self
                .standbys
                .iter_mut()
                .find(|(task, s)| task.partition == partition && s.store_of.contains_key(&topic))
            else {
                continue;
            };
            let Some(store) = standby
                .store_of
                .get(&topic)
                .and_then(|n| standby.stores.get(n))
            else {
                continue;
            };
            let applied = batch.write_to(store)?;
            standby.offsets.insert((topic, partition), next);
            standby.applied_since_checkpoint += applied;
            self.registry.records.fetch_add(applied, Ordering::Relaxed);
            if standby.applied_since_checkpoint >= CHECKPOINT_RECORDS {
                tracing::debug!(thread = %self.name, %task, "standby checkpoint");
                standby.checkpoint()?;
            }
        }
        Ok(())
    }
}

/// Changelog records read for one partition (key, value or tombstone), and the offset after
/// the last one.
type ChangelogBatch = (RestoreBatch, i64);

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

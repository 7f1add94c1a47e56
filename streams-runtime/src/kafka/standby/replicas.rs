//! The standby thread of an instance and the standby tasks it keeps: each a task's persistent,
//! logged stores, opened in the task's own directory and kept current from their changelogs,
//! checkpointed as they go.
//!
//! The thread hosts the tasks the membership places here (see `membership`). A stream thread
//! about to own one of them first has the standby released through the [`StandbyRegistry`]:
//! closed with a final checkpoint, so the active task opens the same stores and restores only
//! the changelog's tail.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::membership::Membership;
use crate::config::StreamsConfig;
use crate::error::{StoreError, StreamsError};
use crate::kafka::KafkaClients;
use crate::kafka::restore::RestoreBatch;
use crate::state::{
    ChangelogOffsets, Checkpoint, StateRoot, StoreSpec, TaskStores, changelog_topic,
};
use crate::sync::lock;
use crate::task_env::TaskId;
use crate::topology::Topology;

/// How many applied changelog records make a standby write its checkpoint.
const CHECKPOINT_RECORDS: u64 = 10_000;
/// How long a stream thread waits for the standby thread to hand a task's stores over.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(60);

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
    ///
    /// Every release is requested at once and awaited under one deadline of
    /// [`RELEASE_TIMEOUT`], so a thread gaining many tasks waits for the standby thread's
    /// slowest hand-over, not for the sum of them.
    pub(crate) fn set_active(&self, thread: usize, tasks: &BTreeSet<TaskId>) {
        let new: Vec<TaskId> = {
            let mut active = lock(&self.active);
            let owned: BTreeSet<TaskId> = active.values().flatten().copied().collect();
            active.insert(thread, tasks.clone());
            tasks.difference(&owned).copied().collect()
        };
        let requested: Vec<(TaskId, mpsc::Receiver<()>)> = {
            let releases = lock(&self.releases);
            new.into_iter()
                .filter_map(|task| {
                    let (done, finished) = mpsc::channel();
                    // A send fails only once the standby thread has stopped: nothing to release.
                    releases.send(Release { task, done }).ok()?;
                    Some((task, finished))
                })
                .collect()
        };
        let deadline = Instant::now() + RELEASE_TIMEOUT;
        for (task, finished) in requested {
            let left = deadline.saturating_duration_since(Instant::now());
            if finished.recv_timeout(left).is_err() {
                tracing::warn!(%task, "the standby thread did not hand the task's stores over");
            }
        }
    }

    fn active(&self) -> BTreeSet<TaskId> {
        lock(&self.active).values().flatten().copied().collect()
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
        .map_err(|source| StreamsError::ThreadSpawn {
            name: "standby".to_owned(),
            source,
        })?;
    Ok((registry, handle))
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
    state: StateRoot,
    registry: Arc<StandbyRegistry>,
    releases: mpsc::Receiver<Release>,
    membership: Membership,
    changelogs: BaseConsumer,
    standbys: BTreeMap<TaskId, StandbyTask>,
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
        let membership = Membership::join(&clients, &name, &config.application_id, process_id)?;
        let changelogs: BaseConsumer = clients
            .restore_config(&format!("{name}-changelogs"))
            .create()
            .map_err(StreamsError::kafka(
                "cannot create the standby changelog reader",
            ))?;
        Ok(StandbyThread {
            name,
            topology,
            application_id: config.application_id.clone(),
            replicas: config.num_standby_replicas,
            state,
            registry,
            releases,
            membership,
            changelogs,
            standbys: BTreeMap::new(),
        })
    }

    fn run(mut self, shutdown: &AtomicBool) -> Result<(), StreamsError> {
        tracing::info!(thread = %self.name, replicas = self.replicas, "standby thread started");
        let mut last_placement = Instant::now();
        while !shutdown.load(Ordering::Acquire) {
            self.serve_releases()?;
            self.membership.publish(self.registry.active());
            self.membership.read();
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
        self.membership.leave();
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

    /// Opens the standbys this instance should host and closes the others.
    fn place(&mut self) -> Result<(), StreamsError> {
        let placed = self.membership.standby_tasks(self.replicas);
        let active = self.registry.active();
        let wanted: BTreeSet<TaskId> = placed
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
                let active = lock(&self.registry.active);
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
                    .map_err(StreamsError::kafka("cannot list the standby changelogs"))?;
            }
        }
        self.changelogs
            .assign(&list)
            .map_err(StreamsError::kafka("cannot assign standby changelogs"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn task(partition: i32) -> TaskId {
        TaskId {
            subtopology: 0,
            partition,
        }
    }

    /// A thread gaining three tasks asks for all three releases before it waits for any: a
    /// standby thread that answers only once it holds every request still lets it through.
    #[test]
    fn releases_are_requested_together_and_awaited_once() {
        let (sender, releases) = mpsc::channel();
        let registry = Arc::new(StandbyRegistry {
            active: Mutex::new(BTreeMap::new()),
            releases: Mutex::new(sender),
            records: AtomicU64::new(0),
            tasks: AtomicUsize::new(0),
        });
        let standby = std::thread::spawn(move || {
            let mut held = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(10);
            while held.len() < 3 && Instant::now() < deadline {
                if let Ok(release) = releases.recv_timeout(Duration::from_millis(10)) {
                    held.push(release);
                }
            }
            let tasks: Vec<TaskId> = held.iter().map(|r| r.task).collect();
            for release in held {
                release.done.send(()).unwrap();
            }
            (tasks, releases)
        });
        let started = Instant::now();
        registry.set_active(0, &[task(0), task(1), task(2)].into());
        let (released, releases) = standby.join().unwrap();
        assert_eq!(released, vec![task(0), task(1), task(2)]);
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(registry.active(), [task(0), task(1), task(2)].into());
        // A task the instance already owns (on another thread) is not released again.
        registry.set_active(1, &[task(1)].into());
        assert!(releases.try_recv().is_err());
    }
}

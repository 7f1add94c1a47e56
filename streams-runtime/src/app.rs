//! The application instance (`KafkaStreams` in Kafka Streams): runs a topology on stream
//! threads against a Kafka cluster, with a lifecycle and a state listener.
//!
//! States follow Kafka Streams: `Created` → `Rebalancing` → `Running` → `PendingShutdown` →
//! `NotRunning`, or `Error` when a thread fails and the uncaught-error policy stops the client.
//! Several instances with the same `application.id` share the work through the consumer group.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::codec::{Codec, StoreKeyCodec, StoreValueCodec};
use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::kafka::restore::StateRestoreListener;
use crate::kafka::standby::{self, StandbyRegistry};
use crate::kafka::thread::{InstanceResources, StreamThread, ThreadStatus};
use crate::kafka::{KafkaClients, StoreSnapshot, topics};
use crate::state::{StateDirectory, StateRoot};
use crate::sync::lock;
use crate::topology::Topology;

/// The lifecycle state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Built, not started.
    Created,
    /// Threads are joining the group or moving tasks.
    Rebalancing,
    /// Every thread has its tasks and processes.
    Running,
    /// Closing: committing and leaving the group.
    PendingShutdown,
    /// Closed cleanly.
    NotRunning,
    /// Stopped by an error.
    Error,
}

/// What a thread's unrecoverable error does to the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UncaughtErrorPolicy {
    /// Stop every thread and move to `Error` (Kafka Streams' `SHUTDOWN_CLIENT`, the default).
    #[default]
    ShutdownClient,
    /// Stop only the failed thread; the instance goes to `Error` when none is left.
    ShutdownThread,
}

/// Counters of an instance, summed over its stream threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamsMetrics {
    /// Commits: offset commits under at-least-once, committed transactions under exactly-once.
    pub commits: u64,
    /// Transactions aborted after an error (exactly-once): the tasks they touched were rebuilt
    /// from their changelogs and their input read again from the committed offsets.
    pub aborted_transactions: u64,
    /// Times a thread's transactional producer was fenced (or failed fatally) and replaced.
    pub producers_replaced: u64,
    /// Rebalances that took partitions from this instance's threads (each thread's count,
    /// summed; the first assignment takes nothing and does not count, nor does leaving the
    /// group on close).
    pub rebalances: u64,
    /// Standby tasks this instance hosts now.
    pub standby_tasks: u64,
    /// Changelog records applied to standby stores so far.
    pub standby_records: u64,
}

type Listener = Arc<dyn Fn(State, State) + Send + Sync>;

struct Lifecycle {
    state: Mutex<State>,
    listener: Mutex<Option<Listener>>,
}

impl Lifecycle {
    fn set(&self, next: State) {
        let previous = {
            let mut state = lock(&self.state);
            let previous = *state;
            // Terminal states stay.
            if previous == next || matches!(previous, State::NotRunning | State::Error) {
                return;
            }
            *state = next;
            previous
        };
        tracing::info!(from = ?previous, to = ?next, "state change");
        let listener = lock(&self.listener).clone();
        if let Some(listener) = listener {
            listener(next, previous);
        }
    }

    fn get(&self) -> State {
        *lock(&self.state)
    }
}

/// Stops an instance from another thread (a signal handler, a test).
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    statuses: Arc<Mutex<Vec<Arc<ThreadStatus>>>>,
}

impl ShutdownHandle {
    /// Asks every stream thread to commit, close its tasks and stop.
    pub fn shutdown(&self) {
        for status in lock(&self.statuses).iter() {
            status.shutdown.store(true, Ordering::Release);
        }
    }
}

/// An application instance.
pub struct KafkaStreams {
    topology: Arc<Topology>,
    config: Arc<StreamsConfig>,
    lifecycle: Arc<Lifecycle>,
    policy: UncaughtErrorPolicy,
    statuses: Arc<Mutex<Vec<Arc<ThreadStatus>>>>,
    threads: Vec<JoinHandle<Result<Vec<StoreSnapshot>, StreamsError>>>,
    started: Instant,
    restore_listener: Option<Arc<dyn StateRestoreListener>>,
    /// `<state.dir>/<application.id>`, locked while the instance runs.
    state_directory: Option<StateDirectory>,
    /// The instance's id, kept in its state directory (known once started).
    process_id: Option<String>,
    /// With `num.standby.replicas` > 0: the standby thread, its stop flag and registry.
    standby: Option<StandbyThreadHandle>,
}

/// The running standby thread of an instance.
struct StandbyThreadHandle {
    registry: Arc<StandbyRegistry>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl std::fmt::Debug for KafkaStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaStreams")
            .field("application_id", &self.config.application_id)
            .field("state", &self.lifecycle.get())
            .field("process_id", &self.process_id)
            .field("threads", &self.threads.len())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl KafkaStreams {
    /// An instance of `topology` with `config` (checked now).
    pub fn new(topology: Topology, config: StreamsConfig) -> Result<Self, StreamsError> {
        config.validate()?;
        Ok(KafkaStreams {
            topology: Arc::new(topology),
            config: Arc::new(config),
            lifecycle: Arc::new(Lifecycle {
                state: Mutex::new(State::Created),
                listener: Mutex::new(None),
            }),
            policy: UncaughtErrorPolicy::default(),
            statuses: Arc::default(),
            threads: Vec::new(),
            started: Instant::now(),
            restore_listener: None,
            state_directory: None,
            process_id: None,
            standby: None,
        })
    }

    /// Reports the progress of every store restore to `listener`.
    pub fn set_restore_listener(&mut self, listener: Arc<dyn StateRestoreListener>) {
        self.restore_listener = Some(listener);
    }

    /// `<state.dir>/<application.id>`: where this instance keeps its tasks' stores.
    pub fn state_directory(&self) -> std::path::PathBuf {
        StateDirectory::path_of(&self.config.state_dir, &self.config.application_id)
    }

    /// The instance's process id (kept in its state directory), once started.
    pub fn process_id(&self) -> Option<&str> {
        self.process_id.as_deref()
    }

    /// The `transactional.id` of stream thread `index` (from 1) under exactly-once, once
    /// started: `<application.id>-<process id>-<index>`.
    pub fn transactional_id(&self, index: usize) -> Option<String> {
        let process_id = self.process_id.as_deref()?;
        Some(format!(
            "{}-{process_id}-{index}",
            self.config.application_id
        ))
    }

    /// The instance's counters, summed over its threads.
    pub fn metrics(&self) -> StreamsMetrics {
        let mut metrics = StreamsMetrics::default();
        for status in lock(&self.statuses).iter() {
            metrics.commits += status.commits.load(Ordering::Relaxed);
            metrics.aborted_transactions += status.aborted.load(Ordering::Relaxed);
            metrics.producers_replaced += status.producers_replaced.load(Ordering::Relaxed);
            metrics.rebalances += status.revocations.load(Ordering::Relaxed);
        }
        if let Some(standby) = &self.standby {
            metrics.standby_tasks = standby.registry.tasks.load(Ordering::Relaxed) as u64;
            metrics.standby_records = standby.registry.records.load(Ordering::Relaxed);
        }
        metrics
    }

    /// Calls `listener(new, old)` on every state change.
    pub fn set_state_listener(&mut self, listener: impl Fn(State, State) + Send + Sync + 'static) {
        *lock(&self.lifecycle.listener) = Some(Arc::new(listener));
    }

    /// Chooses what a thread's unrecoverable error does.
    pub fn set_uncaught_error_policy(&mut self, policy: UncaughtErrorPolicy) {
        self.policy = policy;
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.lifecycle.get()
    }

    /// A handle that stops this instance from elsewhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            statuses: Arc::clone(&self.statuses),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &StreamsConfig {
        &self.config
    }

    /// Creates the internal topics and starts the stream threads.
    pub fn start(&mut self) -> Result<(), StreamsError> {
        if self.lifecycle.get() != State::Created {
            return Err(StreamsError::AlreadyStarted);
        }
        self.lifecycle.set(State::Rebalancing);
        // Two instances on one directory would corrupt each other's stores: lock it first.
        let prepared = StateDirectory::lock(&self.config.state_dir, &self.config.application_id)
            .and_then(|directory| {
                let directory = self.state_directory.insert(directory);
                self.process_id = Some(directory.load_process_id()?);
                topics::prepare(&self.topology, &self.config)?;
                Ok(directory.task_directories(self.config.rocksdb_memory))
            });
        let state = match prepared {
            Ok(state) => state,
            Err(error) => {
                self.lifecycle.set(State::Error);
                return Err(error);
            }
        };
        let clients = KafkaClients::new(&self.config);
        if self.config.num_standby_replicas > 0
            && let Err(error) = self.start_standby_thread(&state)
        {
            self.lifecycle.set(State::Error);
            return Err(error);
        }
        for index in 0..self.config.num_stream_threads {
            // Kafka Streams' client ids: `<application.id>-<process id>-StreamThread-<n>`, so
            // logs and broker-side client lists tell instances apart.
            let name = format!(
                "{}-{}-StreamThread-{}",
                self.config.application_id,
                self.process_id.as_deref().unwrap_or_default(),
                index + 1
            );
            let transactional_id = self
                .config
                .is_exactly_once()
                .then(|| self.transactional_id(index + 1))
                .flatten();
            let status = Arc::new(ThreadStatus::new(self.started));
            lock(&self.statuses).push(Arc::clone(&status));
            let lifecycle = Arc::clone(&self.lifecycle);
            let all = self.shutdown_handle();
            let policy = self.policy;
            let statuses = Arc::clone(&self.statuses);
            let topology = Arc::clone(&self.topology);
            let config = Arc::clone(&self.config);
            let clients = clients.clone();
            let state = state.clone();
            let restore_listener = self.restore_listener.clone();
            let standby = self
                .standby
                .as_ref()
                .map(|s| (index, Arc::clone(&s.registry)));
            let thread_name = name.clone();
            let handle = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    // Tasks and their stores never leave this thread: build them here.
                    let result = StreamThread::new(
                        name.clone(),
                        topology,
                        config,
                        &clients,
                        Arc::clone(&status),
                        transactional_id,
                        InstanceResources {
                            state,
                            restore_listener,
                            standby,
                        },
                    )
                    .and_then(StreamThread::run);
                    if let Err(error) = &result {
                        tracing::error!(thread = %name, %error, "stream thread failed");
                        status.failed.store(true, Ordering::Release);
                        let all_failed = lock(&statuses)
                            .iter()
                            .all(|t| t.failed.load(Ordering::Acquire));
                        if policy == UncaughtErrorPolicy::ShutdownClient || all_failed {
                            all.shutdown();
                            lifecycle.set(State::Error);
                        }
                    }
                    result
                })
                .map_err(|source| StreamsError::ThreadSpawn {
                    name: thread_name,
                    source,
                })?;
            self.threads.push(handle);
        }
        Ok(())
    }

    /// Creates the membership topic and starts the thread that keeps standby replicas.
    fn start_standby_thread(&mut self, state: &StateRoot) -> Result<(), StreamsError> {
        topics::ensure_compacted_topic(
            &self.config,
            &standby::membership_topic(&self.config.application_id),
            1,
        )?;
        let process_id = self.process_id.clone().unwrap_or_default();
        let stop = Arc::new(AtomicBool::new(false));
        let (registry, thread) = standby::start(
            Arc::clone(&self.topology),
            Arc::clone(&self.config),
            process_id,
            state.clone(),
            Arc::clone(&stop),
        )?;
        self.standby = Some(StandbyThreadHandle {
            registry,
            stop,
            thread,
        });
        Ok(())
    }

    /// Moves the state between `Rebalancing` and `Running` as the live threads' assignments
    /// settle; returns whether every live thread has one.
    pub fn refresh_state(&self) -> bool {
        let assigned = {
            let statuses = lock(&self.statuses);
            let mut live = statuses
                .iter()
                .filter(|c| !c.failed.load(Ordering::Acquire))
                .peekable();
            live.peek().is_some()
                && live.all(|c| {
                    c.last_activity_ms.load(Ordering::Acquire) >= 0
                        && !c.rebalancing.load(Ordering::Acquire)
                })
        };
        match (assigned, self.lifecycle.get()) {
            (true, State::Rebalancing) => self.lifecycle.set(State::Running),
            (false, State::Running) => self.lifecycle.set(State::Rebalancing),
            _ => {}
        }
        assigned
    }

    /// Whether every live thread has tasks and an assignment, no buffered work, has read every
    /// assigned partition to its end, and has seen no record or rebalance for `quiet`.
    pub fn is_idle(&self, quiet: Duration) -> bool {
        if !self.refresh_state() {
            return false;
        }
        let now = self.started.elapsed().as_millis() as i64;
        let quiet = i64::try_from(quiet.as_millis()).unwrap_or(i64::MAX);
        lock(&self.statuses)
            .iter()
            .filter(|c| !c.failed.load(Ordering::Acquire))
            .all(|c| {
                // A thread without tasks waits for work rather than calling itself done, and
                // one in a rebalance holds suspended tasks it may not keep.
                c.tasks.load(Ordering::Acquire) > 0
                    && !c.rebalancing.load(Ordering::Acquire)
                    && !c.busy.load(Ordering::Acquire)
                    && c.drained.load(Ordering::Acquire)
                    && now - c.last_activity_ms.load(Ordering::Acquire) >= quiet
            })
    }

    /// The partitions assigned to this instance's live threads, sorted (topic, partition).
    pub fn assigned_partitions(&self) -> Vec<(String, i32)> {
        let mut partitions: Vec<(String, i32)> = lock(&self.statuses)
            .iter()
            .filter(|c| !c.failed.load(Ordering::Acquire))
            .flat_map(|c| lock(&c.assignment).clone())
            .collect();
        partitions.sort();
        partitions
    }

    /// Whether some thread stopped with an error.
    pub fn has_failed(&self) -> bool {
        self.lifecycle.get() == State::Error
    }

    /// Commits, closes every task, leaves the group and stops the threads. Returns the final
    /// contents of the stores of the tasks this instance owned, or the first error a thread
    /// stopped with, including one that stopped only its own thread under
    /// [`UncaughtErrorPolicy::ShutdownThread`] (the instance then still ends `NotRunning`).
    pub fn close(mut self) -> Result<Vec<StoreSnapshot>, StreamsError> {
        let failed = self.lifecycle.get() == State::Error;
        self.lifecycle.set(State::PendingShutdown);
        self.shutdown_handle().shutdown();
        let mut snapshots = Vec::new();
        let mut first_error = None;
        for handle in self.threads.drain(..) {
            let name = handle.thread().name().unwrap_or("StreamThread").to_owned();
            match handle.join() {
                Ok(Ok(mut snapshot)) => snapshots.append(&mut snapshot),
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(_) => {
                    first_error.get_or_insert(StreamsError::ThreadPanicked { name });
                }
            }
        }
        // The stream threads released their tasks; now the standbys checkpoint and stop.
        if let Some(standby) = self.standby.take() {
            standby.stop.store(true, Ordering::Release);
            if standby.thread.join().is_err() {
                first_error.get_or_insert(StreamsError::ThreadPanicked {
                    name: "standby".to_owned(),
                });
            }
        }
        // A thread that failed under `ShutdownThread` while others ran on does not make the
        // instance's shutdown an error; a failure that stopped the instance already set
        // `Error`, which stays.
        self.lifecycle.set(if failed {
            State::Error
        } else {
            State::NotRunning
        });
        match first_error {
            Some(error) => Err(error),
            None => Ok(snapshots),
        }
    }
}

impl StoreSnapshot {
    /// The entries decoded with the default store codecs.
    pub fn decode<K, V>(&self) -> Result<Vec<(K, V)>, StreamsError>
    where
        StoreKeyCodec: Codec<K>,
        StoreValueCodec: Codec<V>,
    {
        self.entries
            .iter()
            .map(|(k, v)| {
                let value = if self.timestamped {
                    crate::state::split_timestamp(v).map_or(&[][..], |(_, value)| value)
                } else {
                    v
                };
                Ok((
                    StoreKeyCodec::decode(Some(k))?,
                    StoreValueCodec::decode(Some(value))?,
                ))
            })
            .collect()
    }
}

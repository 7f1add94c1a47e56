//! [`TopologyTestDriver`]: runs a topology in memory, deterministically, without a broker.
//!
//! The driver creates the same [`StreamTask`]s the stream threads create (one per sub-topology,
//! all on partition 0) and feeds them from in-memory topic logs instead of a consumer. A piped
//! record is encoded with its topic's codecs, given the topic's next offset, and processed at
//! once (it is not kept: as in Kafka Streams' driver, only what the topology writes can be read
//! back); what the tasks produce is appended to its topics, and records written to a topic that a
//! sub-topology reads (repartition topics) are processed in turn before the call returns. Time
//! moves only when a record's timestamp does (stream time) or when the test advances the
//! simulated wall clock.
//!
//! Like Kafka Streams' `TopologyTestDriver`, the driver commits after every record it processes
//! (and after wall-clock punctuations): with a record cache
//! ([`TestDriverConfig::cache_max_bytes`], off by default) the updates one record causes merge,
//! and evictions of a small cache forward early, but nothing waits for a later record.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::{Codec, encode_to_vec};
use crate::codec::{StoreKeyCodec, StoreValueCodec};
use crate::dsl::Topic;
use crate::error::{DeserializationErrorHandler, ProcessingErrorHandler};
use crate::error::{ProcessError, StreamsError};
use crate::record::{Headers, Record};
use crate::record::{OutgoingRecord, RawRecord, RecordCollector};
use crate::state::{KeyValueStore, StateRoot, StateStore, ThreadCache};
use crate::task::{StreamTask, TaskConfig, TaskMetrics};
use crate::topology::Topology;

/// The RocksDB budget of a test driver's stores: small, tests hold little state.
#[cfg(feature = "rocksdb")]
const TEST_DRIVER_ROCKSDB_MEMORY: usize = 16 * 1024 * 1024;

/// Settings of a [`TopologyTestDriver`].
#[derive(Debug, Clone)]
pub struct TestDriverConfig {
    /// The application id (prefix of repartition topics). Default `test-driver`.
    pub application_id: String,
    /// The simulated wall clock's start, in milliseconds. Default 0.
    pub initial_wall_clock: i64,
    /// The deserialization error policy. Default: fail.
    pub deserialization_errors: DeserializationErrorHandler,
    /// The processing error policy. Default: fail.
    pub processing_errors: ProcessingErrorHandler,
    /// The record cache's size (`statestore.cache.max.bytes` of the driver's one thread).
    /// Default 0, caching off, so every update is forwarded (unlike an application, whose
    /// default is 10 MiB).
    pub cache_max_bytes: usize,
    /// Kafka Streams' `max.task.idle.ms`: how long (on the simulated wall clock) a task with
    /// several input partitions waits for the empty ones before processing what it has, to
    /// keep timestamp order across them. Default 0: never waits.
    pub max_task_idle_ms: i64,
}

impl Default for TestDriverConfig {
    fn default() -> Self {
        TestDriverConfig {
            application_id: "test-driver".to_owned(),
            initial_wall_clock: 0,
            deserialization_errors: DeserializationErrorHandler::Fail,
            processing_errors: ProcessingErrorHandler::Fail,
            cache_max_bytes: 0,
            max_task_idle_ms: 0,
        }
    }
}

#[derive(Default)]
struct MemoryCollector {
    produced: Vec<RawRecord>,
    /// The names of the topics written so far, shared by their records.
    topics: Vec<Arc<str>>,
}

impl RecordCollector for MemoryCollector {
    fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), ProcessError> {
        let topic = match self.topics.iter().find(|t| ***t == *record.topic) {
            Some(topic) => Arc::clone(topic),
            None => {
                let topic: Arc<str> = record.topic.into();
                self.topics.push(Arc::clone(&topic));
                topic
            }
        };
        self.produced.push(RawRecord {
            topic,
            partition: 0,
            offset: 0,
            timestamp: record.timestamp,
            key: record.key.map(<[u8]>::to_vec),
            value: record.value.map(<[u8]>::to_vec),
            headers: record.headers.clone(),
        });
        Ok(())
    }
}

/// A topic of the driver: what the topology wrote to it (piped input is processed, not kept,
/// as in Kafka Streams' driver) and where its offsets are.
struct TopicLog {
    name: Arc<str>,
    /// Whether the topology wrote to the topic (not only a test piped into it).
    written: bool,
    records: Vec<RawRecord>,
    read: usize,
    next_offset: i64,
}

/// Runs a topology in memory: pipe records in, read records and stores out.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use std::time::Duration;
/// use streams::prelude::*;
///
/// let (input, output) = (Topic::<String, u32>::new("in"), Topic::<String, u32>::new("out"));
/// let builder = StreamsBuilder::new();
/// builder.stream(&input).map_values(|v| v * 2).to(&output);
/// let mut driver = TopologyTestDriver::new(builder.build()?)?;
///
/// let mut headers = Headers::new();
/// headers.add("trace", b"abc".to_vec());
/// driver.pipe_record(&input, Record { key: "k".into(), value: 21, timestamp: 7, headers })?;
///
/// let out = driver.read_output(&output)?;
/// assert_eq!((out[0].value, out[0].timestamp), (42, 7));
/// assert_eq!(out[0].headers.last("trace").and_then(|h| h.value.clone()), Some(b"abc".to_vec()));
/// driver.advance_wall_clock_time(Duration::from_secs(1))?;
/// # Ok::<(), streams::StreamsError>(())
/// ```
pub struct TopologyTestDriver {
    topology: Arc<Topology>,
    tasks: Vec<StreamTask>,
    topics: HashMap<String, TopicLog>,
    collector: Rc<RefCell<MemoryCollector>>,
    wall_clock: i64,
    max_task_idle_ms: i64,
    /// The persistent stores' directory; removed when the driver is dropped (after the tasks,
    /// which are declared first and so dropped first).
    _state_dir: tempfile::TempDir,
}

impl std::fmt::Debug for TopologyTestDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopologyTestDriver")
            .field("tasks", &self.tasks.len())
            .field("topics", &self.topics.keys().collect::<Vec<_>>())
            .field("wall_clock", &self.wall_clock)
            .finish_non_exhaustive()
    }
}

impl TopologyTestDriver {
    /// A driver with default settings.
    pub fn new(topology: Topology) -> Result<Self, StreamsError> {
        Self::with_config(topology, TestDriverConfig::default())
    }

    /// A driver with the given settings.
    pub fn with_config(topology: Topology, config: TestDriverConfig) -> Result<Self, StreamsError> {
        let topology = Arc::new(topology);
        let collector = Rc::new(RefCell::new(MemoryCollector::default()));
        let state_dir = tempfile::Builder::new()
            .prefix("streams-test-driver-")
            .tempdir()
            .map_err(|source| StreamsError::StateDir {
                path: std::env::temp_dir(),
                source,
            })?;
        let task_config = TaskConfig {
            application_id: config.application_id.as_str().into(),
            deserialization_errors: config.deserialization_errors.clone(),
            processing_errors: config.processing_errors,
            state: Some(StateRoot {
                app_dir: state_dir.path().join(&config.application_id),
                #[cfg(feature = "rocksdb")]
                rocksdb: crate::state::RocksDbMemory::new(TEST_DRIVER_ROCKSDB_MEMORY),
            }),
            exactly_once: false,
            cache: ThreadCache::for_thread(config.cache_max_bytes, 1),
        };
        let shared: Rc<RefCell<dyn RecordCollector>> = collector.clone();
        let tasks = topology
            .subtopologies()
            .iter()
            .map(|sub| {
                let mut task = StreamTask::new(
                    &topology,
                    sub.id,
                    0,
                    &task_config,
                    Rc::clone(&shared),
                    config.initial_wall_clock,
                )?;
                task.initialize()?;
                Ok::<StreamTask, StreamsError>(task)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut driver = TopologyTestDriver {
            topology,
            tasks,
            topics: HashMap::new(),
            collector,
            wall_clock: config.initial_wall_clock,
            max_task_idle_ms: config.max_task_idle_ms,
            _state_dir: state_dir,
        };
        // Processors may produce records in `init`.
        driver.run()?;
        Ok(driver)
    }

    /// The topology under test.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Pipes a record with timestamp 0 into `topic`.
    pub fn pipe<K, V, KC, VC>(
        &mut self,
        topic: &Topic<K, V, KC, VC>,
        key: K,
        value: V,
    ) -> Result<(), StreamsError>
    where
        KC: Codec<K>,
        VC: Codec<V>,
    {
        self.pipe_record(topic, Record::new(key, value, 0))
    }

    /// Pipes a record with the given timestamp into `topic`.
    pub fn pipe_at<K, V, KC, VC>(
        &mut self,
        topic: &Topic<K, V, KC, VC>,
        key: K,
        value: V,
        timestamp: i64,
    ) -> Result<(), StreamsError>
    where
        KC: Codec<K>,
        VC: Codec<V>,
    {
        self.pipe_record(topic, Record::new(key, value, timestamp))
    }

    /// Pipes a record (with its headers) into `topic` and processes everything it causes.
    pub fn pipe_record<K, V, KC, VC>(
        &mut self,
        topic: &Topic<K, V, KC, VC>,
        record: Record<K, V>,
    ) -> Result<(), StreamsError>
    where
        KC: Codec<K>,
        VC: Codec<V>,
    {
        let key = encode_to_vec::<K, KC>(&record.key)?;
        let value = encode_to_vec::<V, VC>(&record.value)?;
        self.append(topic.name(), key, value, record.timestamp, record.headers)
    }

    /// Pipes raw bytes into the topic named `topic`: for malformed input and tombstones.
    pub fn pipe_raw(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        self.append(
            topic,
            key.map(<[u8]>::to_vec),
            value.map(<[u8]>::to_vec),
            timestamp,
            Headers::new(),
        )
    }

    /// The records the topology wrote to `topic` since the last read, decoded with the topic's
    /// codecs (records piped into a topic are processed, not kept).
    pub fn read_output<K, V, KC, VC>(
        &mut self,
        topic: &Topic<K, V, KC, VC>,
    ) -> Result<Vec<Record<K, V>>, StreamsError>
    where
        KC: Codec<K>,
        VC: Codec<V>,
    {
        let Some(log) = self.topics.get_mut(topic.name()) else {
            return if self
                .topology
                .sink_topics()
                .iter()
                .any(|t| t.name == topic.name())
            {
                Ok(Vec::new())
            } else {
                Err(StreamsError::UnknownTopic(topic.name().to_owned()))
            };
        };
        let unread = &log.records[log.read..];
        let records = unread
            .iter()
            .map(|raw| {
                Ok(Record {
                    key: KC::decode(raw.key.as_deref())?,
                    value: VC::decode(raw.value.as_deref())?,
                    timestamp: raw.timestamp,
                    headers: raw.headers.clone(),
                })
            })
            .collect::<Result<Vec<_>, StreamsError>>()?;
        log.read = log.records.len();
        Ok(records)
    }

    /// The unread records of `topic` as key-value pairs.
    pub fn read_key_values<K, V, KC, VC>(
        &mut self,
        topic: &Topic<K, V, KC, VC>,
    ) -> Result<Vec<(K, V)>, StreamsError>
    where
        KC: Codec<K>,
        VC: Codec<V>,
    {
        Ok(self
            .read_output(topic)?
            .into_iter()
            .map(|r| (r.key, r.value))
            .collect())
    }

    /// The unread records of `topic`, values only.
    pub fn read_values<K, V, KC, VC>(
        &mut self,
        topic: &Topic<K, V, KC, VC>,
    ) -> Result<Vec<V>, StreamsError>
    where
        KC: Codec<K>,
        VC: Codec<V>,
    {
        Ok(self
            .read_output(topic)?
            .into_iter()
            .map(|r| r.value)
            .collect())
    }

    /// A typed handle on the store named `name` (of whichever task owns it). A name the
    /// topology does not have is an error that lists the stores it has.
    pub fn store<H: StateStore>(&self, name: &str) -> Result<H, StreamsError> {
        let store = self
            .tasks
            .iter()
            .find_map(|t| t.stores().get(name))
            .ok_or_else(|| {
                let names: Vec<&str> = self.topology.stores().iter().map(|s| s.name()).collect();
                StreamsError::UnknownStore {
                    name: name.to_owned(),
                    stores: if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    },
                }
            })?;
        Ok(H::open(store)?)
    }

    /// A key-value store with the default store codecs.
    pub fn key_value_store<K, V>(&self, name: &str) -> Result<KeyValueStore<K, V>, StreamsError>
    where
        K: 'static,
        V: 'static,
        StoreKeyCodec: Codec<K>,
        StoreValueCodec: Codec<V>,
    {
        self.store(name)
    }

    /// Moves the simulated wall clock forward and fires the wall-clock punctuations due.
    pub fn advance_wall_clock_time(&mut self, by: Duration) -> Result<(), StreamsError> {
        self.wall_clock = self
            .wall_clock
            .saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
        for task in &mut self.tasks {
            task.punctuate_wall_clock(self.wall_clock)?;
        }
        self.run()
    }

    /// The topics the topology has written to so far, output, repartition and changelog topics
    /// alike (internal ones with their full names), as Kafka Streams' `producedTopicNames()`.
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let (input, output) = (Topic::<String, u32>::new("in"), Topic::<String, u32>::new("out"));
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).to(&output);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// assert!(driver.produced_topic_names().is_empty());
    /// driver.pipe(&input, "k".into(), 1)?;
    /// assert_eq!(driver.produced_topic_names(), ["out".to_owned()].into());
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn produced_topic_names(&self) -> BTreeSet<String> {
        self.topics
            .values()
            .filter(|log| log.written)
            .map(|log| log.name.to_string())
            .collect()
    }

    /// The simulated wall clock, in milliseconds.
    pub fn wall_clock_time(&self) -> i64 {
        self.wall_clock
    }

    /// The counters of all tasks, summed.
    pub fn metrics(&self) -> TaskMetrics {
        self.tasks
            .iter()
            .fold(TaskMetrics::default(), |mut sum, t| {
                let m = t.metrics();
                sum.processed += m.processed;
                sum.dropped_records += m.dropped_records;
                sum.punctuations += m.punctuations;
                sum
            })
    }

    /// Closes the driver as Kafka Streams' `TopologyTestDriver#close` does: every store is
    /// flushed, then every processor's [`close`](crate::processor::Processor::close) runs, once.
    /// Dropping the driver does the same (reporting a failed flush only in the log).
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use streams::prelude::*;
    ///
    /// struct Closing(Arc<AtomicUsize>);
    ///
    /// impl Processor<String, u8> for Closing {
    ///     type KeyOut = String;
    ///     type ValueOut = u8;
    ///     fn process(&mut self, r: Record<String, u8>, ctx: &mut ProcessorContext<'_, String, u8>)
    ///         -> Result<(), ProcessError> {
    ///         ctx.forward(r)
    ///     }
    ///     fn close(&mut self) {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let closed = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&closed);
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream(&Topic::<String, u8>::new("in"))
    ///     .process_with("closing", move || Closing(Arc::clone(&counter)), [])
    ///     .to(&Topic::<String, u8>::new("out"));
    /// let driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.close()?;
    /// assert_eq!(closed.load(Ordering::Relaxed), 1);
    /// # Ok::<(), streams::StreamsError>(())
    /// ```
    pub fn close(mut self) -> Result<(), StreamsError> {
        self.close_tasks()
    }

    /// Flushes and closes every task, once (`close` and `drop` both come here).
    fn close_tasks(&mut self) -> Result<(), StreamsError> {
        let mut first_error = None;
        for task in std::mem::take(&mut self.tasks) {
            if let Err(error) = task.stores().flush() {
                first_error.get_or_insert(StreamsError::from(error));
            }
            task.close();
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Pipes a record into the input topic `topic` and processes everything it causes.
    fn append(
        &mut self,
        topic: &str,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), StreamsError> {
        if !self.tasks.iter().any(|t| t.reads(topic)) {
            return Err(StreamsError::UnknownTopic(topic.to_owned()));
        }
        let record = RawRecord {
            topic: Arc::clone(&log_of(&mut self.topics, topic).name),
            partition: 0,
            offset: 0,
            timestamp,
            key,
            value,
            headers,
        };
        self.route(record, false);
        self.run()
    }

    /// Gives `record` the next offset of its topic and hands it to the task that reads the
    /// topic; what the topology `produced` is also kept in the log for `read_output`.
    fn route(&mut self, mut record: RawRecord, produced: bool) {
        let log = log_of(&mut self.topics, &record.topic);
        record.offset = log.next_offset;
        log.next_offset += 1;
        log.written |= produced;
        let reader = self.tasks.iter_mut().find(|task| task.reads(&record.topic));
        match (reader, produced) {
            (Some(task), true) => {
                log.records.push(record.clone());
                let _ = task.add_record(record);
            }
            (Some(task), false) => {
                let _ = task.add_record(record);
            }
            (None, true) => log.records.push(record),
            (None, false) => {}
        }
    }

    /// Processes until no task has input and nothing produced is left to route, committing
    /// (flushing the record cache) after every record, as Kafka Streams' driver does.
    fn run(&mut self) -> Result<(), StreamsError> {
        // What `init` or a wall-clock punctuation wrote is committed first.
        for task in &mut self.tasks {
            task.flush_cache()?;
        }
        loop {
            for task in &mut self.tasks {
                while task.is_processable(self.wall_clock, self.max_task_idle_ms)
                    && task.process_next()?
                {
                    task.punctuate_stream_time()?;
                    task.flush_cache()?;
                }
            }
            let produced = std::mem::take(&mut self.collector.borrow_mut().produced);
            if produced.is_empty() {
                return Ok(());
            }
            for record in produced {
                self.route(record, true);
            }
        }
    }
}

impl Drop for TopologyTestDriver {
    fn drop(&mut self) {
        // A failing test is unwinding: running user `close` code now could panic again and
        // abort, hiding the test's own message.
        if std::thread::panicking() {
            return;
        }
        if let Err(error) = self.close_tasks() {
            tracing::warn!("closing the test driver: {error}");
        }
    }
}

/// The log of `topic`, created empty the first time (the only time its name is copied).
fn log_of<'a>(topics: &'a mut HashMap<String, TopicLog>, topic: &str) -> &'a mut TopicLog {
    if !topics.contains_key(topic) {
        let log = TopicLog {
            name: topic.into(),
            written: false,
            records: Vec::new(),
            read: 0,
            next_offset: 0,
        };
        topics.insert(topic.to_owned(), log);
    }
    topics.get_mut(topic).expect("the log was inserted above")
}

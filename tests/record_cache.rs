//! The record cache (`statestore.cache.max.bytes`): updates of a key merge until a commit or an
//! eviction forwards the latest, on stream tasks driven by hand (commits where the test says)
//! and on the test driver (a commit after every record, as Kafka Streams' driver).

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use streams::codec::{StoreValueCodec, encode_to_vec};
use streams::prelude::*;
use streams::record::{OutgoingRecord, RawRecord, RecordCollector};
use streams::state::{CACHE_ENTRY_OVERHEAD, RocksDbMemory, StateRoot, ThreadCache};
use streams::task::{StreamTask, TaskConfig};

const WORDS: Topic<String, String> = Topic::new("words");
const COUNTS: Topic<String, Option<u64>> = Topic::new("counts");
const CHANGELOG: &str = "app-counts-changelog";

/// What a task produced: `(topic, key, value, timestamp, headers)`.
type Sent = (String, Option<Vec<u8>>, Option<Vec<u8>>, i64, Headers);

#[derive(Default)]
struct Produced(Vec<Sent>);

impl RecordCollector for Produced {
    fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), ProcessError> {
        self.0.push((
            record.topic.to_owned(),
            record.key.map(<[u8]>::to_vec),
            record.value.map(<[u8]>::to_vec),
            record.timestamp,
            record.headers.clone(),
        ));
        Ok(())
    }
}

/// `words` counted per key into the store `counts`, its changes written to `counts`.
fn counting(materialized: Materialized<String, u64>) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(&WORDS)
        .group_by_key()
        .count_with(materialized)
        .to_stream()
        .to(&COUNTS);
    builder.build().expect("valid topology")
}

fn task(
    topology: &Topology,
    cache: Option<ThreadCache>,
    state_dir: &Path,
) -> (StreamTask, Rc<RefCell<Produced>>) {
    let produced = Rc::new(RefCell::new(Produced::default()));
    let collector: Rc<RefCell<dyn RecordCollector>> = produced.clone();
    let config = TaskConfig {
        state: Some(StateRoot {
            app_dir: state_dir.join("app"),
            rocksdb: RocksDbMemory::new(8 << 20),
        }),
        cache,
        ..TaskConfig::new("app")
    };
    let mut task = StreamTask::new(topology, 0, 0, &config, collector, 0).expect("task");
    task.initialize().expect("init");
    (task, produced)
}

fn word(offset: i64, key: &str, timestamp: i64, header: &str) -> RawRecord {
    let mut headers = Headers::new();
    headers.add("n", header.as_bytes().to_vec());
    RawRecord {
        topic: WORDS.name().into(),
        partition: 0,
        offset,
        timestamp,
        key: encode_to_vec::<String, TopicCodec>(&key.to_owned()).expect("key"),
        value: encode_to_vec::<String, TopicCodec>(&String::new()).expect("value"),
        headers,
    }
}

fn process(task: &mut StreamTask, records: impl IntoIterator<Item = RawRecord>) {
    for record in records {
        task.add_record(record).expect("a record of the task");
        assert!(task.process_next().expect("processed"));
    }
}

/// The records sent to `counts`, as `(key, count, timestamp, header n)`.
fn counts(produced: &[Sent]) -> Vec<(String, Option<u64>, i64, String)> {
    produced
        .iter()
        .filter(|(topic, ..)| topic == COUNTS.name())
        .map(|(_, key, value, timestamp, headers)| {
            let key = <TopicCodec as Codec<String>>::decode(key.as_deref()).expect("key");
            let count =
                <TopicCodec as Codec<Option<u64>>>::decode(value.as_deref()).expect("count");
            let n = headers
                .last("n")
                .and_then(|h| h.value.clone())
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default();
            (key, count, *timestamp, n)
        })
        .collect()
}

/// The changelog records, as `(key, (value timestamp, count), record timestamp)`.
fn changelog(produced: &[Sent]) -> Vec<(String, Option<(i64, u64)>, i64)> {
    produced
        .iter()
        .filter(|(topic, ..)| topic == CHANGELOG)
        .map(|(_, key, value, timestamp, _)| {
            let key = String::from_utf8_lossy(key.as_deref().unwrap_or_default()).into_owned();
            let value = value.as_deref().map(|bytes| {
                let (stamp, count) = bytes.split_at(8);
                let stamp = i64::from_be_bytes(stamp.try_into().expect("8 bytes"));
                let count = <StoreValueCodec as Codec<u64>>::decode(Some(count)).expect("a count");
                (stamp, count)
            });
            (key, value, *timestamp)
        })
        .collect()
}

fn owned(items: &[(&str, u64, i64, &str)]) -> Vec<(String, Option<u64>, i64, String)> {
    items
        .iter()
        .map(|&(k, c, ts, n)| (k.to_owned(), Some(c), ts, n.to_owned()))
        .collect()
}

#[test]
fn updates_of_a_key_between_commits_merge_into_one_record_and_one_changelog_write() {
    for backend in [StoreBackend::InMemory, StoreBackend::RocksDb] {
        let dir = tempfile::tempdir().unwrap();
        let topology = counting(Materialized::named("counts").with_backend(backend));
        let input = [
            word(0, "k", 5, "1"),
            word(1, "k", 9, "2"),
            word(2, "j", 3, "3"),
            word(3, "k", 7, "4"),
        ];

        // Caching off: one change per update, as before.
        let (mut uncached, sent) = task(&topology, None, &dir.path().join("uncached"));
        process(&mut uncached, input.clone());
        assert_eq!(
            counts(&sent.borrow().0),
            owned(&[
                ("k", 1, 5, "1"),
                ("k", 2, 9, "2"),
                ("j", 1, 3, "3"),
                ("k", 3, 9, "4")
            ])
        );
        assert_eq!(changelog(&sent.borrow().0).len(), 4);

        // Caching on: nothing leaves the task until it commits.
        let cache = ThreadCache::new(1 << 20);
        let (mut cached, sent) = task(&topology, Some(cache.clone()), &dir.path().join("cached"));
        process(&mut cached, input);
        assert!(sent.borrow().0.is_empty(), "{backend:?}");
        let store: KeyValueStore<String, u64> = cached.stores().handle("counts").unwrap();
        assert_eq!(
            store.get(&"k".to_owned()).unwrap(),
            Some(3),
            "reads see the cache"
        );
        cached.flush_cache().unwrap();
        // One record per key, in the order the keys were first updated: the record the
        // uncached task forwarded for the key's last update (count, largest timestamp, headers).
        assert_eq!(
            counts(&sent.borrow().0),
            owned(&[("k", 3, 9, "4"), ("j", 1, 3, "3")])
        );
        // One changelog write per key, stamped as the last update's was.
        assert_eq!(
            changelog(&sent.borrow().0),
            [
                ("k".to_owned(), Some((9, 3)), 7),
                ("j".to_owned(), Some((3, 1)), 3)
            ]
        );
        // The changelog is written before anything is forwarded downstream.
        let topics: Vec<String> = sent.borrow().0.iter().map(|s| s.0.clone()).collect();
        assert_eq!(topics, [CHANGELOG, CHANGELOG, "counts", "counts"]);

        sent.borrow_mut().0.clear();
        cached.flush_cache().unwrap();
        assert!(
            sent.borrow().0.is_empty(),
            "a second commit has nothing to flush"
        );
        process(&mut cached, [word(4, "k", 8, "5")]);
        cached.flush_cache().unwrap();
        assert_eq!(counts(&sent.borrow().0), owned(&[("k", 4, 9, "5")]));
        assert_eq!(
            changelog(&sent.borrow().0),
            [("k".to_owned(), Some((9, 4)), 8)]
        );
        assert!(!cache.is_empty(), "flushed entries stay cached, clean");
        drop(store);
        cached.close();
        assert!(cache.is_empty(), "a closed task's entries leave the cache");
    }
}

#[test]
fn a_tiny_cache_forwards_what_it_evicts_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let topology = counting(Materialized::named("counts").with_backend(StoreBackend::InMemory));
    // Room for two entries (a 2-byte key, an 8-byte timestamp and a 1-byte count each).
    let cache = ThreadCache::new(2 * (CACHE_ENTRY_OVERHEAD + 16));
    let (mut task, sent) = task(&topology, Some(cache), dir.path());
    process(
        &mut task,
        [
            word(0, "k1", 1, "a"),
            word(1, "k2", 2, "b"),
            word(2, "k1", 3, "c"),
        ],
    );
    assert!(sent.borrow().0.is_empty());
    // A third key evicts the least recently used one, k2, which is forwarded at once.
    process(&mut task, [word(3, "k3", 4, "d")]);
    assert_eq!(counts(&sent.borrow().0), owned(&[("k2", 1, 2, "b")]));
    assert_eq!(
        changelog(&sent.borrow().0),
        [("k2".to_owned(), Some((2, 1)), 2)]
    );
    sent.borrow_mut().0.clear();
    task.flush_cache().unwrap();
    assert_eq!(
        counts(&sent.borrow().0),
        owned(&[("k1", 2, 3, "c"), ("k3", 1, 4, "d")])
    );
}

#[test]
fn a_table_source_forwards_the_change_since_the_last_commit() {
    let dir = tempfile::tempdir().unwrap();
    let prices = Topic::<String, u64>::new("prices");
    let changes = Topic::<String, Option<u64>>::new("changes");
    let builder = StreamsBuilder::new();
    builder
        .table_with(&prices, Materialized::unnamed())
        .to_stream()
        .to(&changes);
    let topology = builder.build().unwrap();
    let (mut task, sent) = task(&topology, Some(ThreadCache::new(1 << 20)), dir.path());
    let price = |offset: i64, key: &str, value: Option<u64>, timestamp: i64| RawRecord {
        topic: prices.name().into(),
        partition: 0,
        offset,
        timestamp,
        key: encode_to_vec::<String, TopicCodec>(&key.to_owned()).unwrap(),
        value: value.and_then(|v| encode_to_vec::<u64, TopicCodec>(&v).unwrap()),
        headers: Headers::new(),
    };
    let read = |sent: &Rc<RefCell<Produced>>| -> Vec<(String, Option<u64>, i64)> {
        let out = sent
            .borrow()
            .0
            .iter()
            .filter(|s| s.0 == "changes")
            .map(|(_, k, v, ts, _)| {
                (
                    <TopicCodec as Codec<String>>::decode(k.as_deref()).unwrap(),
                    <TopicCodec as Codec<Option<u64>>>::decode(v.as_deref()).unwrap(),
                    *ts,
                )
            })
            .collect();
        sent.borrow_mut().0.clear();
        out
    };
    process(
        &mut task,
        [
            price(0, "tea", Some(1), 10),
            price(1, "tea", Some(2), 11),
            price(2, "cake", None, 12),
        ],
    );
    task.flush_cache().unwrap();
    // Deleting a key the table never had forwards nothing once cached (as in Kafka Streams).
    assert_eq!(read(&sent), [("tea".to_owned(), Some(2), 11)]);
    process(
        &mut task,
        [price(3, "tea", Some(3), 13), price(4, "tea", None, 14)],
    );
    task.flush_cache().unwrap();
    assert_eq!(read(&sent), [("tea".to_owned(), None, 14)]);
}

const LINES: Topic<String, String> = Topic::new("lines");

/// Counts the words of each key's lines, into `word-counts`.
fn words_per_key(materialized: Materialized<String, u64>) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(&LINES)
        .flat_map_values(|line: String| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .group_by_key()
        .count_with(materialized)
        .to_stream()
        .to(&COUNTS);
    builder.build().expect("valid topology")
}

fn driver(topology: Topology, cache_max_bytes: usize) -> TopologyTestDriver {
    let config = TestDriverConfig {
        cache_max_bytes,
        ..TestDriverConfig::default()
    };
    TopologyTestDriver::with_config(topology, config).expect("driver")
}

#[test]
fn the_test_driver_commits_after_every_record() {
    let changelog = Topic::<String, Vec<u8>>::new("test-driver-counts-changelog");
    let mut d = driver(words_per_key(Materialized::named("counts")), 1 << 20);
    // One input record updates `k` three times: one output, one changelog write.
    d.pipe_at(&LINES, "k".into(), "to be or".into(), 5).unwrap();
    let out = d.read_output(&COUNTS).unwrap();
    assert_eq!(
        out.iter()
            .map(|r| (r.key.as_str(), r.value, r.timestamp))
            .collect::<Vec<_>>(),
        [("k", Some(3), 5)]
    );
    let logged = d.read_output(&changelog).unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].timestamp, 5);
    // The next record is not held back: the driver committed after the first one.
    d.pipe_at(&LINES, "k".into(), "not".into(), 6).unwrap();
    assert_eq!(d.read_values(&COUNTS).unwrap(), [Some(4)]);
    let store: KeyValueStore<String, u64> = d.key_value_store("counts").unwrap();
    assert_eq!(store.get(&"k".to_owned()).unwrap(), Some(4));
}

#[test]
fn caching_off_forwards_every_update() {
    // The driver's default: no cache.
    let mut d = TopologyTestDriver::new(words_per_key(Materialized::named("counts"))).unwrap();
    d.pipe_at(&LINES, "k".into(), "to be or".into(), 5).unwrap();
    assert_eq!(d.read_values(&COUNTS).unwrap(), [Some(1), Some(2), Some(3)]);
    // A store that opts out is not cached even when the thread has a cache.
    let mut d = driver(
        words_per_key(Materialized::named("counts").with_caching_disabled()),
        1 << 20,
    );
    d.pipe_at(&LINES, "k".into(), "to be or".into(), 5).unwrap();
    assert_eq!(d.read_values(&COUNTS).unwrap(), [Some(1), Some(2), Some(3)]);
    let changelog = Topic::<String, Vec<u8>>::new("test-driver-counts-changelog");
    assert_eq!(d.read_output(&changelog).unwrap().len(), 3);
}

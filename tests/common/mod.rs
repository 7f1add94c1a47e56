//! Helpers shared by the broker tests: random names, producing and reading topics directly.

#![allow(dead_code, unreachable_pub)]

pub mod process;
pub mod send;
pub mod tansu;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use streams::kafka::rdkafka::Message;
use streams::kafka::rdkafka::config::ClientConfig;
use streams::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use streams::kafka::rdkafka::error::KafkaError;
use streams::kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams::kafka::rdkafka::topic_partition_list::{Offset, TopicPartitionList};

/// An instance's configuration on the embedded broker: quick commits and group timeouts, and a
/// state directory of its own, as on a separate machine.
pub fn embedded_config(
    broker: &streams::EmbeddedBroker,
    application_id: &str,
) -> streams::StreamsConfig {
    let mut config = streams::StreamsConfig::new(application_id)
        .bootstrap_servers(broker.bootstrap_servers())
        .commit_interval(Duration::from_millis(200))
        .state_dir(std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("state")));
    config.set("consumer.session.timeout.ms", "3000").unwrap();
    config.set("consumer.heartbeat.interval.ms", "500").unwrap();
    config
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", rand::random::<u32>())
}

/// Produces `(key, value)` pairs to `topic`.
pub fn produce(servers: &str, topic: &str, records: &[(Option<&[u8]>, Option<&[u8]>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    for (key, value) in records {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic);
        if let Some(key) = key {
            record = record.key(*key);
        }
        if let Some(value) = value {
            record = record.payload(*value);
        }
        send::send_queued(&producer, record, Duration::from_millis(20));
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// Produces lines with null keys.
pub fn produce_lines(servers: &str, topic: &str, lines: &[&str]) {
    let records: Vec<(Option<&[u8]>, Option<&[u8]>)> =
        lines.iter().map(|l| (None, Some(l.as_bytes()))).collect();
    produce(servers, topic, &records);
}

/// A record read back: key, value, headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub partition: i32,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Reads every record of every partition of `topic` (up to the high watermarks).
pub fn read_all(servers: &str, topic: &str) -> Vec<Read> {
    use streams::kafka::rdkafka::message::Headers;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let mut list = TopicPartitionList::new();
    let mut remaining = 0;
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .expect("watermarks");
        if high > low {
            list.add_partition_offset(topic, p, Offset::Offset(low))
                .expect("partition");
            remaining += 1;
        }
    }
    if remaining == 0 {
        return Vec::new();
    }
    consumer.assign(&list).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while remaining > 0 && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(Read {
                partition: m.partition(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Some(Err(KafkaError::PartitionEOF(_))) => remaining -= 1,
            _ => {}
        }
    }
    out
}

/// The last value per key of a `word-counts`-like topic (UTF-8 keys and values).
pub fn latest_counts(servers: &str, topic: &str) -> BTreeMap<String, u64> {
    read_all(servers, topic)
        .into_iter()
        .filter_map(|r| {
            let key = String::from_utf8(r.key?).ok()?;
            let value = String::from_utf8(r.value?).ok()?.parse().ok()?;
            Some((key, value))
        })
        .collect()
}

/// The latest count per word in the word count's changelog `topic` (the store `counts`).
pub fn changelog_counts(servers: &str, topic: &str) -> BTreeMap<String, u64> {
    read_all(servers, topic)
        .into_iter()
        .map(|record| {
            let key = String::from_utf8(record.key.expect("key")).expect("UTF-8 key");
            // Timestamped store values: 8 bytes of timestamp, then the postcard count.
            let value = record.value.expect("value");
            (key, postcard_u64(&value[8..]))
        })
        .collect()
}

/// Decodes a postcard (LEB128) unsigned integer.
fn postcard_u64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .enumerate()
        .fold(0, |n, (i, b)| n | (u64::from(b & 0x7f) << (7 * i)))
}

/// Counts words the way the word-count topology does.
pub fn expected_counts(lines: &[String]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in lines {
        for word in line
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
    counts
}

/// Deterministic pseudo-random lines of words.
pub fn lines(count: usize, seed: u64) -> Vec<String> {
    const WORDS: [&str; 12] = [
        "kafka", "streams", "rust", "state", "table", "join", "window", "Topic", "record", "TASK",
        "offset", "commit",
    ];
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..count)
        .map(|_| {
            let n = 1 + (x % 7) as usize;
            let line: Vec<&str> = (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    WORDS[((x >> 33) % WORDS.len() as u64) as usize]
                })
                .collect();
            line.join(if x.is_multiple_of(2) { " " } else { ", " })
        })
        .collect()
}

use streams::prelude::*;

/// The word-count topology of `examples/wordcount.rs`, over the given topic names.
pub fn wordcount_topology(lines_topic: &str, counts_topic: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(&Topic::<(), String>::named(lines_topic))
        .flat_map_values(|line: String| {
            line.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .group_by(|_, word| word.clone())
        .count_with(Materialized::named("counts"))
        .to_stream()
        .map_values(|count| count.map(|n| n.to_string()))
        .to(&Topic::<String, Option<String>>::named(counts_topic));
    builder.build().expect("topology")
}

/// The offset the group `group` committed on `partition` of `topic`, if any.
pub fn committed_offset(servers: &str, group: &str, topic: &str, partition: i32) -> Option<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition(topic, partition);
    let committed = consumer
        .committed_offsets(partitions, Duration::from_secs(10))
        .expect("committed offsets");
    match committed.elements()[0].offset() {
        Offset::Offset(offset) => Some(offset),
        _ => None,
    }
}

/// Polls `condition` every 50 ms until it holds; fails the test, naming `what`, after `limit`.
pub fn eventually(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "not {what} after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `app` is idle for `quiet` (or fails, or `limit` passes).
pub fn wait_idle(app: &streams::KafkaStreams, quiet: Duration, limit: Duration) {
    // Records produced just before this call may not have been fetched yet: give the consumer
    // a quiet period's time to see them before trusting "no record arrived".
    std::thread::sleep(quiet);
    let deadline = Instant::now() + limit;
    while !app.is_idle(quiet) {
        assert!(!app.has_failed(), "the application failed");
        assert!(Instant::now() < deadline, "not idle after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Merges the `counts` snapshots of a closed instance.
pub fn snapshot_counts(snapshots: &[streams::StoreSnapshot]) -> BTreeMap<String, u64> {
    snapshots
        .iter()
        .filter(|s| s.store == "counts")
        .flat_map(|s| s.decode::<String, u64>().expect("decode"))
        .collect()
}

/// Follows a `word-counts`-like topic and keeps the latest count per word.
pub struct CountsTail {
    consumer: BaseConsumer,
    pub latest: BTreeMap<String, u64>,
    /// Every update of a word that did not add exactly one to its previous count, in order:
    /// (word, previous, new). With one output record per occurrence, a drop means an instance
    /// started from stale state and a jump means updates were merged or lost upstream.
    pub irregular: Vec<(String, u64, u64)>,
}

impl CountsTail {
    /// Starts reading every partition of `topic` from the beginning.
    pub fn new(servers: &str, topic: &str) -> Self {
        Self::with_isolation(servers, topic, "read_uncommitted")
    }

    /// [`new`](Self::new), reading only committed transactions.
    pub fn read_committed(servers: &str, topic: &str) -> Self {
        Self::with_isolation(servers, topic, "read_committed")
    }

    fn with_isolation(servers: &str, topic: &str, isolation: &str) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", servers)
            .set("group.id", unique("tail"))
            .set("enable.auto.commit", "false")
            .set("isolation.level", isolation)
            .create()
            .expect("consumer");
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        let mut list = TopicPartitionList::new();
        for partition in metadata.topics()[0].partitions() {
            list.add_partition_offset(topic, partition.id(), Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&list).expect("assign");
        CountsTail {
            consumer,
            latest: BTreeMap::new(),
            irregular: Vec::new(),
        }
    }

    /// Reads until the latest counts equal `expected`; panics after `limit` with what it saw.
    pub fn wait_for(&mut self, expected: &BTreeMap<String, u64>, limit: Duration) {
        self.wait_until(expected, limit, |latest| latest == expected);
    }

    /// Reads until `done(latest counts)`; panics after `limit` with what it saw.
    pub fn wait_until(
        &mut self,
        expected: &BTreeMap<String, u64>,
        limit: Duration,
        done: impl Fn(&BTreeMap<String, u64>) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        while !done(&self.latest) {
            if Instant::now() >= deadline {
                let differences: Vec<String> = expected
                    .iter()
                    .filter(|(word, count)| self.latest.get(*word) != Some(*count))
                    .map(|(word, count)| format!("{word}: {:?} of {count}", self.latest.get(word)))
                    .collect();
                panic!(
                    "counts did not reach the expected values: {} of {} word occurrences; {}; \
                     irregular updates (word, previous, new): {:?}",
                    self.latest.values().sum::<u64>(),
                    expected.values().sum::<u64>(),
                    differences.join(", "),
                    &self.irregular[..self.irregular.len().min(40)]
                );
            }
            self.read_one();
        }
    }

    /// Reads until no record has arrived for `quiet`; panics after `limit`.
    pub fn wait_quiet(&mut self, quiet: Duration, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut last = Instant::now();
        while last.elapsed() < quiet {
            assert!(
                Instant::now() < deadline,
                "the counts still change after {limit:?}"
            );
            if self.read_one() {
                last = Instant::now();
            }
        }
    }

    /// Reads for `duration`; how many records arrived.
    pub fn read_for(&mut self, duration: Duration) -> usize {
        let until = Instant::now() + duration;
        let mut read = 0;
        while Instant::now() < until {
            read += usize::from(self.read_one());
        }
        read
    }

    /// Waits up to 200 ms for a record and takes it in; whether one came.
    fn read_one(&mut self) -> bool {
        let Some(Ok(m)) = self.consumer.poll(Duration::from_millis(200)) else {
            return false;
        };
        let key = m.key().and_then(|k| String::from_utf8(k.to_vec()).ok());
        let value = m
            .payload()
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
        if let (Some(key), Some(value)) = (key, value) {
            let previous = self.latest.insert(key.clone(), value).unwrap_or(0);
            if value != previous + 1 {
                self.irregular.push((key, previous, value));
            }
        }
        true
    }
}

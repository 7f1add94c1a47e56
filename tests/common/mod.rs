//! Helpers shared by the broker tests: random names, producing and reading topics directly.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use streams::kafka::rdkafka::Message;
use streams::kafka::rdkafka::config::ClientConfig;
use streams::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use streams::kafka::rdkafka::error::KafkaError;
use streams::kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams::kafka::rdkafka::topic_partition_list::{Offset, TopicPartitionList};

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
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    record = returned;
                    producer.poll(Duration::from_millis(20));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// Produces lines with null keys.
pub fn produce_lines(servers: &str, topic: &str, lines: &[&str]) {
    let records: Vec<(Option<&[u8]>, Option<&[u8]>)> = lines.iter().map(|l| (None, Some(l.as_bytes()))).collect();
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
    let partitions: Vec<i32> = metadata.topics()[0].partitions().iter().map(|p| p.id()).collect();
    let mut list = TopicPartitionList::new();
    let mut remaining = 0;
    for &p in &partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).expect("watermarks");
        if high > low {
            list.add_partition_offset(topic, p, Offset::Offset(low)).expect("partition");
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
                    .map(|h| h.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect())
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

/// Counts words the way the word-count topology does.
pub fn expected_counts(lines: &[String]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in lines {
        for word in line.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
    counts
}

/// Deterministic pseudo-random lines of words.
pub fn lines(count: usize, seed: u64) -> Vec<String> {
    const WORDS: [&str; 12] = ["kafka", "streams", "rust", "state", "table", "join", "window", "Topic", "record", "TASK", "offset", "commit"];
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..count)
        .map(|_| {
            let n = 1 + (x % 7) as usize;
            let line: Vec<&str> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    WORDS[((x >> 33) % WORDS.len() as u64) as usize]
                })
                .collect();
            line.join(if x % 2 == 0 { " " } else { ", " })
        })
        .collect()
}

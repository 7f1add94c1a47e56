//! The workloads' records and the raw clients that load and read them: every workload gets the
//! same keys and values, produced to a fresh topic before its measurement starts (or, for the
//! scaling figure, by this binary in a child process).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use streams::StreamsConfig;
use streams::kafka::rdkafka::client::ClientContext;
use streams::kafka::rdkafka::config::ClientConfig;
use streams::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use streams::kafka::rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext,
};
use streams::kafka::rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use streams::kafka::topics;

use crate::send::send_queued;
use crate::tansu::ChildGuard;
use crate::{KEYS, PARTITIONS, VALUE_BYTES};

/// The key of record `i`: 4 big-endian bytes, 10,000 distinct values (the `u32` codec's format).
pub(crate) fn key_of(i: u64) -> [u8; 4] {
    ((i % KEYS) as u32).to_be_bytes()
}

/// Every value.
pub(crate) fn value() -> Vec<u8> {
    vec![b'x'; VALUE_BYTES]
}

/// A name no other workload of this run uses.
pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// Counts failed deliveries.
#[derive(Default)]
pub(crate) struct Deliveries {
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if let Err((error, _)) = result
            && self.failed.fetch_add(1, Ordering::Relaxed) == 0
        {
            eprintln!("  first failed delivery: {error}");
        }
    }
}

/// A producer configured like the runtime's (`linger.ms` 5, Java's partitioner).
pub(crate) fn producer(servers: &str) -> Result<BaseProducer<Deliveries>, String> {
    ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .set("message.timeout.ms", "120000")
        .create_with_context(Deliveries::default())
        .map_err(|e| format!("producer: {e}"))
}

/// Sends one record, waiting while the queue is full.
pub(crate) fn send(producer: &BaseProducer<Deliveries>, topic: &str, key: &[u8], value: &[u8]) {
    let record = BaseRecord::to(topic).key(key).payload(value);
    send_queued(producer, record, Duration::from_millis(5));
}

/// Sends one record with the Kafka timestamp `timestamp` (ms; the producer's clock when `None`),
/// waiting while the queue is full.
pub(crate) fn send_at(
    producer: &BaseProducer<Deliveries>,
    topic: &str,
    key: &[u8],
    value: &[u8],
    timestamp: Option<i64>,
) {
    let mut record = BaseRecord::to(topic).key(key).payload(value);
    if let Some(timestamp) = timestamp {
        record = record.timestamp(timestamp);
    }
    send_queued(producer, record, Duration::from_millis(5));
}

/// Waits for every queued record; fails if any delivery failed.
pub(crate) fn flush(producer: &BaseProducer<Deliveries>) -> Result<(), String> {
    producer
        .flush(Duration::from_secs(300))
        .map_err(|e| format!("flush: {e}"))?;
    match producer.context().failed.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(format!("{n} deliveries failed")),
    }
}

/// Creates `topics` with 4 partitions each.
pub(crate) fn create_topics(servers: &str, names: &[&str]) -> Result<(), String> {
    let config = StreamsConfig::new("bench-setup").bootstrap_servers(servers);
    let wanted: Vec<(&str, i32)> = names.iter().map(|n| (*n, PARTITIONS)).collect();
    topics::ensure_topics(&config, &wanted).map_err(|e| format!("creating topics: {e}"))?;
    Ok(())
}

/// Produces `n` records of the workload to `topic` (created first) and waits for them.
pub(crate) fn produce_records(
    servers: &str,
    topic: &str,
    n: u64,
    create: bool,
) -> Result<(), String> {
    produce_records_at(servers, topic, n, create, None)
}

/// [`produce_records`], record `i` with the Kafka timestamp `base + i` ms when `base` is given
/// (the producer's clock otherwise).
pub(crate) fn produce_records_at(
    servers: &str,
    topic: &str,
    n: u64,
    create: bool,
    base: Option<i64>,
) -> Result<(), String> {
    if create {
        create_topics(servers, &[topic])?;
    }
    let producer = producer(servers)?;
    let value = value();
    for i in 0..n {
        let timestamp = base.map(|base| base + i as i64);
        send_at(&producer, topic, &key_of(i), &value, timestamp);
    }
    flush(&producer)
}

/// Produces a fresh input topic of `n` records; returns its name.
pub(crate) fn input_topic(servers: &str, prefix: &str, n: u64) -> Result<String, String> {
    input_topic_at(servers, prefix, n, None)
}

/// [`input_topic`], record `i` with the Kafka timestamp `base + i` ms when `base` is given.
pub(crate) fn input_topic_at(
    servers: &str,
    prefix: &str,
    n: u64,
    base: Option<i64>,
) -> Result<String, String> {
    let topic = unique(prefix);
    let started = Instant::now();
    produce_records_at(servers, &topic, n, true, base)?;
    eprintln!(
        "  input: {n} records to {topic} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(topic)
}

/// A polling consumer reading every partition of `topic` from the beginning, no commits.
pub(crate) fn raw_consumer(servers: &str, topic: &str) -> Result<BaseConsumer, String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", unique("raw"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&list).map_err(|e| format!("assign: {e}"))?;
    Ok(consumer)
}

/// The argument that makes this binary produce a workload's records instead of benchmarking.
pub(crate) const PRODUCER_CHILD: &str = "--producer-child";

/// In the child: produces `records` workload records to `topic` on `servers`, through the flush.
pub(crate) fn producer_child(args: &[String]) -> Result<(), String> {
    let [servers, topic, records] = args else {
        return Err("expected: servers topic records".to_owned());
    };
    let n = records.parse().map_err(|e| format!("{records}: {e}"))?;
    produce_records(servers, topic, n, false)
}

/// Produces `n` workload records to `topic` from a child process, so that this process's CPU
/// time does not include producing them.
pub(crate) fn produce_in_child(servers: &str, topic: &str, n: u64) -> Result<ChildGuard, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .args([PRODUCER_CHILD, servers, topic, &n.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the producer process: {e}"))?;
    Ok(ChildGuard {
        child,
        name: "producer",
    })
}

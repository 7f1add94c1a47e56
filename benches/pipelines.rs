//! The pipeline benchmark harness: one run measures our pipelines, the raw client and store
//! they are built on, and two peers, side by side on one tansu broker it starts itself.
//!
//! ```text
//! scripts/bench            # or: cargo bench --bench pipelines -- [--quick] [--records N]
//! ```
//!
//! Options: `--quick` (100,000 records instead of 1,000,000), `--records N`, `--only ID,ID`
//! (run only these workloads; a ratio whose baseline did not run prints `-`), `--no-peers` (skip
//! the Python peers), `--no-write` (do not rewrite `BENCHMARKS.md`).
//!
//! Every workload gets the same records, produced before its measurement starts: keys are 4-byte
//! big-endian integers over 10,000 distinct values, values 100 bytes, 4 partitions. Each prints
//!
//! ```text
//! RESULT workload=<id> records=<n> rec_per_s=<wall rate> cpu_s=<y> rec_per_cpu_s=<z> baseline=<id> ratio=<r>
//! ```
//!
//! where `cpu_s` is the user + system CPU time of the process doing the work: this process
//! (`CLOCK_PROCESS_CPUTIME_ID` deltas around the measured span; the brokers are other processes)
//! or the peer's own report. `ratio` is `rec_per_cpu_s` over the baseline's. The run ends by
//! writing `BENCHMARKS.md` (machine, broker, command, the lines verbatim and a table with the
//! targets of `../shared/PERFORMANCE.md`).
//!
//! Workloads: B1 raw produce; B2 raw consume (`BaseConsumer`, no commits); B3 raw consume →
//! produce; B4-put / B4-batch / B4-count raw RocksDB (WAL off, the runtime's memory shape);
//! QUIX and BYTEWAX, the peers (`../shared/peers/*.py`, from virtual environments under
//! `target/bench-venv`); F1 source + peek; F2 map → sink; F3 `count()` on RocksDB with changelog
//! and record cache; F3-mem `count()` on the in-memory store without changelog; F4 restore of a
//! changelog into a fresh instance; F5-stateless and F5-count in the `TopologyTestDriver`;
//! F6-alos and F6 (exactly-once, 100 ms commits) on the embedded broker, run in a child process
//! so its CPU is not counted.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use streams::config::ProcessingGuarantee;
use streams::kafka::rdkafka::client::ClientContext;
use streams::kafka::rdkafka::config::ClientConfig;
use streams::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use streams::kafka::rdkafka::message::Message;
use streams::kafka::rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext,
};
use streams::kafka::rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use streams::kafka::topics;
use streams::prelude::*;
use streams::processor::TaskId;
use streams::state::rocksdb;
use streams::{KafkaStreams, StateRestoreListener, StreamsConfig};

/// Partitions of every topic.
const PARTITIONS: i32 = 4;
/// Distinct keys.
const KEYS: u64 = 10_000;
/// Bytes per value.
const VALUE_BYTES: usize = 100;
/// Records per RocksDB `WriteBatch` in B4-batch.
const BATCH: u64 = 1_000;
/// The runtime's default RocksDB budget (`rocksdb.memory.max.bytes`).
const ROCKSDB_MEMORY: usize = 128 * 1024 * 1024;
/// The most records F6 uses: librdkafka's mock cluster keeps about 5 MB per partition.
const F6_MAX_RECORDS: u64 = 100_000;
/// Quix Streams, as pinned by the issue.
const QUIX: &str = "quixstreams==3.28.1";
/// Bytewax, as pinned by the issue (its Kafka connector needs `confluent-kafka`).
const BYTEWAX: &[&str] = &["bytewax==0.21.1", "confluent-kafka"];

/// The input topics' key type and value type.
type Input = Topic<u32, Vec<u8>>;

/// Command-line options.
#[derive(Debug, Clone)]
struct Options {
    quick: bool,
    records: u64,
    only: Option<Vec<String>>,
    peers: bool,
    write: bool,
    /// The arguments as given (without the `--bench` cargo adds).
    args: Vec<String>,
}

impl Options {
    fn parse(args: Vec<String>) -> Result<Self, String> {
        let mut options = Options {
            quick: false,
            records: 1_000_000,
            only: None,
            peers: true,
            write: true,
            args: Vec::new(),
        };
        let mut records = None;
        let mut iter = args.into_iter();
        while let Some(arg) = iter.next() {
            match arg.as_str() {
                // `cargo bench` passes `--bench` to every bench target.
                "--bench" => continue,
                "--quick" => options.quick = true,
                "--no-peers" => options.peers = false,
                "--no-write" => options.write = false,
                "--records" => {
                    let value = iter.next().ok_or("--records needs a number")?;
                    records = Some(value.parse().map_err(|e| format!("--records: {e}"))?);
                    options.args.extend([arg, value]);
                    continue;
                }
                "--only" => {
                    let value = iter.next().ok_or("--only needs a list of ids")?;
                    options.only = Some(value.split(',').map(str::to_owned).collect());
                    options.args.extend([arg, value]);
                    continue;
                }
                "-h" | "--help" => {
                    return Err("usage: pipelines [--quick] [--records N] [--only ID,ID] \
                                [--no-peers] [--no-write]"
                        .to_owned());
                }
                other => return Err(format!("unknown argument `{other}`")),
            }
            options.args.push(arg);
        }
        options.records = records.unwrap_or(if options.quick { 100_000 } else { 1_000_000 });
        Ok(options)
    }

    fn wants(&self, id: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == id))
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// The process's user + system CPU time so far, all threads.
fn cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A point in wall and CPU time.
#[derive(Debug, Clone, Copy)]
struct Mark {
    wall: Instant,
    cpu: Duration,
}

impl Mark {
    fn now() -> Self {
        Mark {
            wall: Instant::now(),
            cpu: cpu_now(),
        }
    }

    /// The span from `self` to `end` over `records` records.
    fn to(self, end: Mark, records: u64) -> Measured {
        Measured {
            records,
            wall: end.wall.saturating_duration_since(self.wall).as_secs_f64(),
            cpu: end.cpu.saturating_sub(self.cpu).as_secs_f64(),
        }
    }
}

/// What a workload measured.
#[derive(Debug, Clone, Copy)]
struct Measured {
    records: u64,
    /// Wall seconds.
    wall: f64,
    /// CPU seconds of the working process.
    cpu: f64,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.records as f64 / self.wall.max(1e-9)
    }

    fn per_cpu(&self) -> f64 {
        self.records as f64 / self.cpu.max(1e-9)
    }
}

/// One `RESULT` line.
#[derive(Debug, Clone)]
struct Outcome {
    id: String,
    measured: Option<Measured>,
    baseline: Option<String>,
    ratio: Option<f64>,
    /// The exact line printed.
    line: String,
    /// Why the workload has no figures.
    error: Option<String>,
}

/// Collects and prints the results.
#[derive(Default)]
struct Report {
    outcomes: Vec<Outcome>,
}

impl Report {
    fn get(&self, id: &str) -> Option<Measured> {
        self.outcomes
            .iter()
            .find(|o| o.id == id)
            .and_then(|o| o.measured)
    }

    /// Records and prints the line of `id`, with its ratio to `baseline` when both are known.
    fn add(&mut self, id: &str, result: Result<Measured, String>, baseline: Option<&str>) {
        let (measured, error) = match result {
            Ok(m) => (Some(m), None),
            Err(e) => {
                eprintln!("ERROR workload={id}: {e}");
                (None, Some(e))
            }
        };
        let ratio = match (measured, baseline.and_then(|b| self.get(b))) {
            (Some(m), Some(b)) => Some(m.per_cpu() / b.per_cpu()),
            _ => None,
        };
        let figures = match measured {
            Some(m) => format!(
                "records={} rec_per_s={:.0} cpu_s={:.3} rec_per_cpu_s={:.0}",
                m.records,
                m.rate(),
                m.cpu,
                m.per_cpu()
            ),
            None => "records=0 rec_per_s=- cpu_s=- rec_per_cpu_s=-".to_owned(),
        };
        let line = format!(
            "RESULT workload={id} {figures} baseline={} ratio={}",
            baseline.unwrap_or("-"),
            ratio.map_or("-".to_owned(), |r| format!("{r:.3}"))
        );
        println!("{line}");
        let _ = std::io::stdout().flush();
        self.outcomes.push(Outcome {
            id: id.to_owned(),
            measured,
            baseline: baseline.map(str::to_owned),
            ratio,
            line,
            error,
        });
    }

    /// Records a peer's own `RESULT` line, passed through with `baseline=- ratio=-` appended.
    fn add_peer(&mut self, id: &str, result: Result<(String, Measured), String>) {
        match result {
            Ok((own, measured)) => {
                let line = format!("{own} baseline=- ratio=-");
                println!("{line}");
                self.outcomes.push(Outcome {
                    id: id.to_owned(),
                    measured: Some(measured),
                    baseline: None,
                    ratio: None,
                    line,
                    error: None,
                });
            }
            Err(e) => self.add(id, Err(e), None),
        }
    }
}

/// Runs `work`, turning a panic into an error so one failure does not end the run.
fn guarded(work: impl FnOnce() -> Result<Measured, String>) -> Result<Measured, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panicked".to_owned())),
    }
}

/// Waits until `done()`, failing after `limit` or when `failed()` says so.
fn wait_until(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> bool,
    mut failed: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while !done() {
        if failed() {
            return Err(format!("failed while waiting for {what}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("{what}: not done after {limit:?}"));
        }
        // Checking costs this process CPU that the measured span counts: look every 10 ms.
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// A generous limit for moving `records` records through a broker.
fn limit_for(records: u64) -> Duration {
    Duration::from_secs(120 + records / 5_000)
}

// ---------------------------------------------------------------------------------------------
// Brokers

/// A child process killed when dropped (also while a panic unwinds).
struct ChildGuard {
    child: Child,
    name: &'static str,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("stopped {} (pid {})", self.name, self.child.id());
    }
}

/// The tansu binary: on `PATH`, else where `cargo install` puts it.
fn tansu_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("tansu"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo/bin/tansu")
    })
}

/// Starts tansu (memory storage) on a free loopback port; returns the guard and its address.
fn start_tansu() -> Result<(ChildGuard, String), String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(tansu_binary())
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start tansu ({e}); `scripts/setup --tansu` installs it"))?;
    let guard = ChildGuard {
        child,
        name: "tansu",
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("tansu did not listen on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((guard, format!("127.0.0.1:{port}")))
}

/// The argument that makes this binary serve an embedded broker instead of benchmarking.
const EMBEDDED_CHILD: &str = "--embedded-broker-child";

/// In the child: starts the embedded broker, creates `topic:partitions` topics, prints its
/// address and serves until standard input closes.
fn embedded_child(topics: &[String]) -> Result<(), String> {
    let broker = streams::EmbeddedBroker::start().map_err(|e| e.to_string())?;
    for spec in topics {
        let (name, partitions) = spec.rsplit_once(':').ok_or("topic:partitions")?;
        let partitions = partitions.parse().map_err(|e| format!("{spec}: {e}"))?;
        broker
            .create_topic(name, partitions)
            .map_err(|e| e.to_string())?;
    }
    println!("SERVERS {}", broker.bootstrap_servers());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
        sink.clear();
    }
    Ok(())
}

/// The argument that makes this binary produce a workload's records instead of benchmarking.
const PRODUCER_CHILD: &str = "--producer-child";

/// In the child: produces `records` workload records to `topic` on `servers`, through the flush.
fn producer_child(args: &[String]) -> Result<(), String> {
    let [servers, topic, records] = args else {
        return Err("expected: servers topic records".to_owned());
    };
    let n = records.parse().map_err(|e| format!("{records}: {e}"))?;
    produce_records(servers, topic, n, false)
}

/// Produces `n` workload records to `topic` from a child process, so that this process's CPU
/// time does not include producing them.
fn produce_in_child(servers: &str, topic: &str, n: u64) -> Result<ChildGuard, String> {
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

/// Starts the embedded broker in a child process with `topics` created.
fn start_embedded(topics: &[(&str, i32)]) -> Result<(ChildGuard, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command.arg(EMBEDDED_CHILD);
    for (name, partitions) in topics {
        command.arg(format!("{name}:{partitions}"));
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the embedded broker process: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let guard = ChildGuard {
        child,
        name: "embedded broker",
    };
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let servers = line
        .trim()
        .strip_prefix("SERVERS ")
        .ok_or_else(|| format!("unexpected output from the embedded broker: {line:?}"))?
        .to_owned();
    Ok((guard, servers))
}

// ---------------------------------------------------------------------------------------------
// Records and raw clients

/// The key of record `i`: 4 big-endian bytes, 10,000 distinct values (the `u32` codec's format).
fn key_of(i: u64) -> [u8; 4] {
    ((i % KEYS) as u32).to_be_bytes()
}

/// Every value.
fn value() -> Vec<u8> {
    vec![b'x'; VALUE_BYTES]
}

/// A name no other workload of this run uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// Counts failed deliveries.
#[derive(Default)]
struct Deliveries {
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
fn producer(servers: &str) -> Result<BaseProducer<Deliveries>, String> {
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
fn send(producer: &BaseProducer<Deliveries>, topic: &str, key: &[u8], value: &[u8]) {
    let mut record = BaseRecord::to(topic).key(key).payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, returned)) => {
                record = returned;
                producer.poll(Duration::from_millis(5));
            }
        }
    }
}

/// Waits for every queued record; fails if any delivery failed.
fn flush(producer: &BaseProducer<Deliveries>) -> Result<(), String> {
    producer
        .flush(Duration::from_secs(300))
        .map_err(|e| format!("flush: {e}"))?;
    match producer.context().failed.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(format!("{n} deliveries failed")),
    }
}

/// Creates `topics` with 4 partitions each.
fn create_topics(servers: &str, names: &[&str]) -> Result<(), String> {
    let config = StreamsConfig::new("bench-setup").bootstrap_servers(servers);
    let wanted: Vec<(&str, i32)> = names.iter().map(|n| (*n, PARTITIONS)).collect();
    topics::ensure_topics(&config, &wanted).map_err(|e| format!("creating topics: {e}"))?;
    Ok(())
}

/// Produces `n` records of the workload to `topic` (created first) and waits for them.
fn produce_records(servers: &str, topic: &str, n: u64, create: bool) -> Result<(), String> {
    if create {
        create_topics(servers, &[topic])?;
    }
    let producer = producer(servers)?;
    let value = value();
    for i in 0..n {
        send(&producer, topic, &key_of(i), &value);
    }
    flush(&producer)
}

/// Produces a fresh input topic of `n` records; returns its name.
fn input_topic(servers: &str, prefix: &str, n: u64) -> Result<String, String> {
    let topic = unique(prefix);
    let started = Instant::now();
    produce_records(servers, &topic, n, true)?;
    eprintln!(
        "  input: {n} records to {topic} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(topic)
}

/// A polling consumer reading every partition of `topic` from the beginning, no commits.
fn raw_consumer(servers: &str, topic: &str) -> Result<BaseConsumer, String> {
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

/// B1: produce `n` records to a fresh topic, through the flush.
fn b1(servers: &str, n: u64) -> Result<Measured, String> {
    let topic = unique("b1");
    create_topics(servers, &[&topic])?;
    let producer = producer(servers)?;
    let value = value();
    let start = Mark::now();
    for i in 0..n {
        send(&producer, &topic, &key_of(i), &value);
    }
    flush(&producer)?;
    Ok(start.to(Mark::now(), n))
}

/// B2 (and B3 with `out`): consume `n` records, optionally producing each to `out`.
fn consume(servers: &str, n: u64, out: Option<&str>) -> Result<Measured, String> {
    let input = input_topic(servers, if out.is_some() { "b3" } else { "b2" }, n)?;
    if let Some(out) = out {
        create_topics(servers, &[out])?;
    }
    let producer = out.map(|_| producer(servers)).transpose()?;
    let start = Mark::now();
    let consumer = raw_consumer(servers, &input)?;
    let deadline = Instant::now() + limit_for(n);
    let mut seen = 0u64;
    let mut bytes = 0usize;
    while seen < n {
        if Instant::now() > deadline {
            return Err(format!("consumed {seen} of {n}"));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                seen += 1;
                let key = message.key().unwrap_or_default();
                let payload = message.payload().unwrap_or_default();
                bytes += key.len() + payload.len();
                if let (Some(producer), Some(out)) = (&producer, out) {
                    send(producer, out, key, payload);
                    if seen.is_multiple_of(1024) {
                        producer.poll(Duration::ZERO);
                    }
                }
            }
            Some(Err(e)) => return Err(format!("consume: {e}")),
            None => {}
        }
    }
    if let Some(producer) = &producer {
        flush(producer)?;
    }
    let end = Mark::now();
    drop(consumer);
    std::hint::black_box(bytes);
    Ok(start.to(end, n))
}

/// Options shaped like the runtime's RocksDB stores: one LRU cache and a write-buffer manager
/// charging memtables to it (128 MiB), 16 MiB memtables, at most 3.
fn rocksdb_options() -> rocksdb::Options {
    let cache = rocksdb::Cache::new_lru_cache(ROCKSDB_MEMORY);
    let manager = rocksdb::WriteBufferManager::new_write_buffer_manager_with_cache(
        ROCKSDB_MEMORY / 2,
        false,
        cache.clone(),
    );
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_block_cache(&cache);
    table.set_cache_index_and_filter_blocks(true);
    table.set_cache_index_and_filter_blocks_with_high_priority(true);
    table.set_pin_top_level_index_and_filter(true);
    let mut options = rocksdb::Options::default();
    options.create_if_missing(true);
    options.set_block_based_table_factory(&table);
    options.set_write_buffer_manager(&manager);
    options.set_write_buffer_size(16 * 1024 * 1024);
    options.set_max_write_buffer_number(3);
    options
}

/// Which B4 workload.
#[derive(Debug, Clone, Copy)]
enum RocksWork {
    Put,
    Batch,
    Count,
}

/// B4: raw RocksDB with the WAL off, `n` operations over 10,000 keys.
fn b4(work: RocksWork, n: u64) -> Result<Measured, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = rocksdb::DB::open(&rocksdb_options(), dir.path()).map_err(|e| e.to_string())?;
    let mut write = rocksdb::WriteOptions::default();
    write.disable_wal(true);
    let value = value();
    let err = |e: rocksdb::Error| e.to_string();
    let start = Mark::now();
    match work {
        RocksWork::Put => {
            for i in 0..n {
                db.put_opt(key_of(i), &value, &write).map_err(err)?;
            }
        }
        RocksWork::Batch => {
            let mut batch = rocksdb::WriteBatch::default();
            for i in 0..n {
                batch.put(key_of(i), &value);
                if (i + 1) % BATCH == 0 {
                    db.write_opt(std::mem::take(&mut batch), &write)
                        .map_err(err)?;
                }
            }
            db.write_opt(batch, &write).map_err(err)?;
        }
        RocksWork::Count => {
            for i in 0..n {
                let key = key_of(i);
                let count = db
                    .get_pinned(key)
                    .map_err(err)?
                    .and_then(|v| v.as_ref().try_into().ok())
                    .map_or(0, u64::from_be_bytes);
                db.put_opt(key, (count + 1).to_be_bytes(), &write)
                    .map_err(err)?;
            }
        }
    }
    let end = Mark::now();
    if let RocksWork::Count = work {
        let total: u64 = (0..KEYS.min(n))
            .map(|i| {
                db.get(key_of(i))
                    .ok()
                    .flatten()
                    .and_then(|v| v.as_slice().try_into().ok())
                    .map_or(0, u64::from_be_bytes)
            })
            .sum();
        if total != n {
            return Err(format!("counted {total} of {n}"));
        }
    }
    Ok(start.to(end, n))
}

// ---------------------------------------------------------------------------------------------
// Our pipelines on a broker

/// A fresh configuration for one workload.
fn app_config(servers: &str, prefix: &str, state_dir: &Path) -> StreamsConfig {
    StreamsConfig::new(unique(prefix))
        .bootstrap_servers(servers)
        .state_dir(state_dir)
}

/// Runs `topology` until `counter` reaches `n`, then closes it. The span runs from the moment
/// every thread has its assignment to the end of `close()` (which commits: flushes the record
/// cache to the stores, changelogs and outputs, and the producer).
fn run_app(
    topology: Topology,
    config: StreamsConfig,
    counter: &AtomicU64,
    n: u64,
) -> Result<Measured, String> {
    let mut app = KafkaStreams::new(topology, config).map_err(|e| e.to_string())?;
    app.start().map_err(|e| format!("start: {e}"))?;
    let result: Result<Mark, String> = (|| {
        wait_until(
            "the assignment",
            Duration::from_secs(120),
            || app.refresh_state() || counter.load(Ordering::Relaxed) > 0,
            || app.has_failed(),
        )?;
        let start = Mark::now();
        wait_until(
            "all records",
            limit_for(n),
            || counter.load(Ordering::Relaxed) >= n,
            || app.has_failed(),
        )
        .map_err(|e| format!("{e} ({} of {n})", counter.load(Ordering::Relaxed)))?;
        Ok(start)
    })();
    let closed = app.close();
    let end = Mark::now();
    let start = result?;
    closed.map_err(|e| format!("close: {e}"))?;
    Ok(start.to(end, n))
}

/// A counter a topology's closure bumps.
fn counter() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(0))
}

/// F1: source + peek.
fn f1(servers: &str, n: u64) -> Result<Measured, String> {
    let input = input_topic(servers, "f1", n)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let seen = counter();
    let builder = StreamsBuilder::new();
    let c = Arc::clone(&seen);
    builder.stream(&Input::named(&input)).peek(move |_, _| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    let topology = builder.build().map_err(|e| e.to_string())?;
    run_app(topology, app_config(servers, "f1", dir.path()), &seen, n)
}

/// F2: map → sink.
fn f2(servers: &str, n: u64) -> Result<Measured, String> {
    let input = input_topic(servers, "f2", n)?;
    let output = unique("f2-out");
    create_topics(servers, &[&output])?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let seen = counter();
    let builder = StreamsBuilder::new();
    let c = Arc::clone(&seen);
    builder
        .stream(&Input::named(&input))
        .map(move |k, v| {
            c.fetch_add(1, Ordering::Relaxed);
            (k, v)
        })
        .to(&Input::named(&output));
    let topology = builder.build().map_err(|e| e.to_string())?;
    let measured = run_app(topology, app_config(servers, "f2", dir.path()), &seen, n)?;
    check_output(servers, &output, &format!("{n} records"), |read, _| {
        read >= n
    })?;
    Ok(measured)
}

/// The count topology of F3, F3-mem, F4 and F6: `group_by_key().count()` into the store
/// `counts`, counts to `output`; `seen` counts the input records.
fn count_topology(
    input: &str,
    output: &str,
    materialized: Materialized<u32, u64>,
    seen: &Arc<AtomicU64>,
) -> Result<Topology, String> {
    let builder = StreamsBuilder::new();
    let c = Arc::clone(seen);
    builder
        .stream(&Input::named(input))
        .peek(move |_, _| {
            c.fetch_add(1, Ordering::Relaxed);
        })
        .group_by_key()
        .count_with(materialized)
        .to_stream()
        .to(&Topic::<u32, Option<u64>>::named(output));
    builder.build().map_err(|e| e.to_string())
}

/// Reads `topic` from the beginning until `done(records read, latest value per key)` holds, or
/// fails after a minute without progress. (tansu's end offsets cannot be trusted to count
/// records: they point at the last batch's first record.)
fn check_output(
    servers: &str,
    topic: &str,
    what: &str,
    done: impl Fn(u64, &BTreeMap<Vec<u8>, Vec<u8>>) -> bool,
) -> Result<(), String> {
    let consumer = raw_consumer(servers, topic)?;
    let mut read = 0u64;
    let mut latest = BTreeMap::new();
    let mut last_progress = Instant::now();
    while !done(read, &latest) {
        if last_progress.elapsed() > Duration::from_secs(60) {
            return Err(format!("{topic}: {read} records read, expected {what}"));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                read += 1;
                last_progress = Instant::now();
                latest.insert(
                    message.key().unwrap_or_default().to_vec(),
                    message.payload().unwrap_or_default().to_vec(),
                );
            }
            Some(Err(e)) => return Err(format!("reading {topic}: {e}")),
            None => {}
        }
    }
    Ok(())
}

/// Reads the count topology's `output` until its latest counts add up to `n`.
fn check_counts(servers: &str, output: &str, n: u64) -> Result<(), String> {
    check_output(
        servers,
        output,
        &format!("counts adding up to {n}"),
        |_, latest| counts_add_up(latest, n),
    )
}

/// Whether the latest counts per key (8-byte big-endian values) add up to `n`.
fn counts_add_up(latest: &BTreeMap<Vec<u8>, Vec<u8>>, n: u64) -> bool {
    latest
        .values()
        .filter_map(|v| v.as_slice().try_into().ok().map(u64::from_be_bytes))
        .sum::<u64>()
        == n
}

/// F3 (`memory` false) and F3-mem (`memory` true): `count()`.
fn f3(servers: &str, n: u64, memory: bool) -> Result<Measured, String> {
    let prefix = if memory { "f3mem" } else { "f3" };
    let input = input_topic(servers, prefix, n)?;
    let output = unique(&format!("{prefix}-out"));
    create_topics(servers, &[&output])?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let seen = counter();
    let mut materialized = Materialized::named("counts");
    if memory {
        materialized = materialized
            .with_backend(StoreBackend::InMemory)
            .with_logging_disabled();
    }
    let topology = count_topology(&input, &output, materialized, &seen)?;
    let measured = run_app(topology, app_config(servers, prefix, dir.path()), &seen, n)?;
    check_counts(servers, &output, n)?;
    Ok(measured)
}

/// The scaling figure: F3's `count()` with `threads` stream threads in each of `instances`
/// instances (one application id). The instances start on an empty input topic; once every
/// partition is assigned and the group has settled, a child process produces the records (its
/// CPU is not counted), and the span runs until every instance has counted its share and closed.
fn f3_scaling(servers: &str, n: u64, threads: usize, instances: usize) -> Result<Measured, String> {
    let input = unique("scale");
    let output = unique("scale-out");
    create_topics(servers, &[&input, &output])?;
    let application_id = unique("scale");
    let seen = counter();
    let mut dirs = Vec::new();
    let mut apps = Vec::new();
    let result: Result<Mark, String> = (|| {
        for _ in 0..instances {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let config = StreamsConfig::new(application_id.clone())
                .bootstrap_servers(servers)
                .state_dir(dir.path())
                .num_stream_threads(threads);
            dirs.push(dir);
            let topology = count_topology(&input, &output, Materialized::named("counts"), &seen)?;
            let mut app = KafkaStreams::new(topology, config).map_err(|e| e.to_string())?;
            app.start().map_err(|e| format!("start: {e}"))?;
            apps.push(app);
        }
        let settled = |apps: &[KafkaStreams]| {
            apps.iter().all(KafkaStreams::refresh_state)
                && apps
                    .iter()
                    .map(|a| a.assigned_partitions().len())
                    .sum::<usize>()
                    == PARTITIONS as usize
        };
        let failed = |apps: &[KafkaStreams]| apps.iter().any(KafkaStreams::has_failed);
        // A joining member moves partitions twice: wait for the assignment, let the group
        // settle, and check that it still holds.
        for _ in 0..2 {
            wait_until(
                "a settled group",
                Duration::from_secs(120),
                || settled(&apps),
                || failed(&apps),
            )?;
            std::thread::sleep(Duration::from_secs(3));
        }
        let start = Mark::now();
        let mut producer = produce_in_child(servers, &input, n)?;
        wait_until(
            "all records",
            limit_for(n),
            || seen.load(Ordering::Relaxed) >= n,
            || failed(&apps),
        )
        .map_err(|e| format!("{e} ({} of {n})", seen.load(Ordering::Relaxed)))?;
        let status = producer.child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("the producer failed: {status}"));
        }
        Ok(start)
    })();
    let mut closed = Ok(());
    for app in apps {
        if let Err(e) = app.close() {
            closed = Err(format!("close: {e}"));
        }
    }
    let end = Mark::now();
    let start = result?;
    closed?;
    check_counts(servers, &output, n)?;
    Ok(start.to(end, n))
}

/// The scaling figure's workloads: id, stream threads per instance, instances.
const SCALING: &[(&str, usize, usize)] = &[
    ("F3-1T", 1, 1),
    ("F3-2T", 2, 1),
    ("F3-4T", 4, 1),
    ("F3-2I", 1, 2),
];

/// Times a restore: from the first store's start to the last store's end.
#[derive(Default)]
struct RestoreTimer {
    start: Mutex<Option<Mark>>,
    end: Mutex<Option<Mark>>,
    stores: AtomicU64,
    records: AtomicU64,
}

impl StateRestoreListener for RestoreTimer {
    fn on_restore_start(&self, _: TaskId, _: &str, _: &str, _: i64, _: i64) {
        if let Ok(mut start) = self.start.lock() {
            start.get_or_insert_with(Mark::now);
        }
    }

    fn on_restore_end(&self, _: TaskId, _: &str, records: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        if self.stores.fetch_add(1, Ordering::AcqRel) + 1 == PARTITIONS as u64
            && let Ok(mut end) = self.end.lock()
        {
            *end = Some(Mark::now());
        }
    }
}

/// F4: restores a changelog of `n` records (the workload's keys and values) into a fresh
/// instance of the count topology; measures the restore only.
fn f4(servers: &str, n: u64) -> Result<Measured, String> {
    let input = unique("f4");
    let output = unique("f4-out");
    create_topics(servers, &[&input, &output])?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = app_config(servers, "f4", dir.path());
    let changelog = streams::state::changelog_topic(config.application_id(), "counts");
    topics::ensure_compacted_topic(&config, &changelog, PARTITIONS)
        .map_err(|e| format!("changelog: {e}"))?;
    let started = Instant::now();
    produce_records(servers, &changelog, n, false)?;
    eprintln!(
        "  changelog: {n} records to {changelog} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let seen = counter();
    let topology = count_topology(&input, &output, Materialized::named("counts"), &seen)?;
    let timer = Arc::new(RestoreTimer::default());
    let mut app = KafkaStreams::new(topology, config).map_err(|e| e.to_string())?;
    app.set_restore_listener(Arc::clone(&timer) as Arc<dyn StateRestoreListener>);
    app.start().map_err(|e| format!("start: {e}"))?;
    let waited = wait_until(
        "the restore",
        limit_for(n),
        || timer.end.lock().is_ok_and(|e| e.is_some()),
        || app.has_failed(),
    );
    let closed = app.close();
    waited?;
    closed.map_err(|e| format!("close: {e}"))?;
    let start = timer.start.lock().ok().and_then(|s| *s).ok_or("no start")?;
    let end = timer.end.lock().ok().and_then(|e| *e).ok_or("no end")?;
    let records = timer.records.load(Ordering::Relaxed);
    if records != n {
        eprintln!("  note: restored {records} records of the {n} produced");
    }
    Ok(start.to(end, records))
}

// ---------------------------------------------------------------------------------------------
// In process: the test driver

/// F5: `n` records through the test driver, stateless (map → sink) or `count()`.
fn f5(n: u64, count: bool) -> Result<Measured, String> {
    let input = Input::named("in");
    let builder = StreamsBuilder::new();
    let stream = builder.stream(&input);
    if count {
        stream
            .group_by_key()
            .count()
            .to_stream()
            .to(&Topic::<u32, Option<u64>>::named("out"));
    } else {
        stream.map(|k, v| (k, v)).to(&Input::named("out"));
    }
    let topology = builder.build().map_err(|e| e.to_string())?;
    let mut driver = TopologyTestDriver::new(topology).map_err(|e| e.to_string())?;
    let value = value();
    let start = Mark::now();
    for i in 0..n {
        driver
            .pipe_raw("in", Some(&key_of(i)), Some(&value), 0)
            .map_err(|e| e.to_string())?;
    }
    let end = Mark::now();
    drop(driver);
    Ok(start.to(end, n))
}

/// F6-alos (`exactly_once` false) and F6: the count topology on the embedded broker.
fn f6(n: u64, exactly_once: bool) -> Result<Measured, String> {
    let prefix = if exactly_once { "f6eos" } else { "f6alos" };
    let input = unique(prefix);
    let output = unique(&format!("{prefix}-out"));
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (_broker, servers) = start_embedded(&[(&input, PARTITIONS), (&output, PARTITIONS)])?;
    let mut config = app_config(&servers, prefix, dir.path());
    if exactly_once {
        config = config
            .processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
            .commit_interval(Duration::from_millis(100));
    }
    let started = Instant::now();
    produce_records(&servers, &input, n, false)?;
    eprintln!(
        "  input: {n} records to the embedded broker in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let seen = counter();
    let topology = count_topology(&input, &output, Materialized::named("counts"), &seen)?;
    let measured = run_app(topology, config, &seen, n)?;
    check_counts(&servers, &output, n)?;
    Ok(measured)
}

// ---------------------------------------------------------------------------------------------
// Peers

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The peer scripts' directory: `$STREAMS_BENCH_PEERS`, else `../shared/peers`.
fn peers_dir() -> PathBuf {
    std::env::var_os("STREAMS_BENCH_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/peers"))
}

/// The Python of the virtual environment `target/bench-venv/<name>`, created with `packages`
/// installed unless it already was.
fn venv(name: &str, packages: &[&str]) -> Result<PathBuf, String> {
    let dir = root().join("target/bench-venv").join(name);
    let python = dir.join("bin/python");
    let marker = dir.join(".installed");
    let wanted = packages.join(" ");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == wanted) && python.exists() {
        return Ok(python);
    }
    let run = |command: &mut Command| -> Result<(), String> {
        let status = command
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("{command:?}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{command:?} failed: {status}"))
        }
    };
    if !python.exists() {
        eprintln!("  creating the virtual environment {}", dir.display());
        run(Command::new("python3").arg("-m").arg("venv").arg(&dir))?;
    }
    eprintln!("  installing {wanted} into {}", dir.display());
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(packages))?;
    std::fs::write(&marker, &wanted).map_err(|e| e.to_string())?;
    Ok(python)
}

/// Runs a peer script against `servers` with `n` records; returns its `RESULT` line and figures.
fn peer(
    servers: &str,
    n: u64,
    id: &str,
    venv_name: &str,
    packages: &[&str],
    script: &str,
) -> Result<(String, Measured), String> {
    let python = venv(venv_name, packages)?;
    let script = std::path::absolute(peers_dir().join(script)).map_err(|e| e.to_string())?;
    if !script.is_file() {
        return Err(format!("{} is missing", script.display()));
    }
    // Quix Streams keeps its state under `./state`: run the peers in a scratch directory.
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let output = Command::new(python)
        .current_dir(scratch.path())
        .arg(&script)
        .args([servers, &n.to_string(), &PARTITIONS.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines().filter(|l| !l.starts_with("RESULT")) {
        eprintln!("  {id}: {line}");
    }
    if !output.status.success() {
        return Err(format!("{} failed: {}", script.display(), output.status));
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("RESULT workload={id} ")))
        .ok_or_else(|| format!("no RESULT line from {}", script.display()))?
        .trim()
        .to_owned();
    let fields: BTreeMap<&str, &str> = line
        .split_whitespace()
        .filter_map(|f| f.split_once('='))
        .collect();
    let number = |name: &str| -> Result<f64, String> {
        fields
            .get(name)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no {name} in `{line}`"))
    };
    let records = number("records")?;
    let measured = Measured {
        records: records as u64,
        wall: records / number("rec_per_s")?,
        cpu: number("cpu_s")?,
    };
    Ok((line, measured))
}

// ---------------------------------------------------------------------------------------------
// BENCHMARKS.md

/// A target of `../shared/PERFORMANCE.md`: `id`'s `rec_per_cpu_s` over `against`'s (or an
/// absolute rate) at least `at_least`.
struct Target {
    id: &'static str,
    against: Option<&'static str>,
    at_least: f64,
    text: &'static str,
}

const TARGETS: &[Target] = &[
    Target {
        id: "F1",
        against: Some("B2"),
        at_least: 0.85,
        text: "≥ 0.85 × B2",
    },
    Target {
        id: "F2",
        against: Some("B3"),
        at_least: 0.75,
        text: "≥ 0.75 × B3",
    },
    Target {
        id: "F3",
        against: Some("B3"),
        at_least: 0.5,
        text: "≥ 0.5 × B3",
    },
    Target {
        id: "F3",
        against: Some("QUIX"),
        at_least: 8.0,
        text: "≥ 8 × QUIX",
    },
    Target {
        id: "F3-mem",
        against: Some("BYTEWAX"),
        at_least: 4.0,
        text: "≥ 4 × BYTEWAX",
    },
    Target {
        id: "F4",
        against: Some("min(B2, B4-batch)"),
        at_least: 0.7,
        text: "≥ 0.7 × min(B2, B4-batch)",
    },
    Target {
        id: "F5-stateless",
        against: None,
        at_least: 2_000_000.0,
        text: "≥ 2M rec per CPU-s (one core)",
    },
    Target {
        id: "F6",
        against: Some("F6-alos"),
        at_least: 0.7,
        text: "≥ 0.7 × F6-alos",
    },
];

/// The workloads in the issue's order, for the table.
const ORDER: &[&str] = &[
    "B1",
    "B2",
    "B3",
    "B4-put",
    "B4-batch",
    "B4-count",
    "F1",
    "F2",
    "F3",
    "F3-mem",
    "F4",
    "F3-1T",
    "F3-2T",
    "F3-4T",
    "F3-2I",
    "F5-stateless",
    "F5-count",
    "F6",
    "F6-alos",
    "QUIX",
    "BYTEWAX",
];

/// The baseline id of F4: whichever of B2 and B4-batch has the lower CPU rate.
fn f4_baseline(report: &Report) -> Option<&'static str> {
    match (report.get("B2"), report.get("B4-batch")) {
        (Some(a), Some(b)) => Some(if a.per_cpu() <= b.per_cpu() {
            "B2"
        } else {
            "B4-batch"
        }),
        (Some(_), None) => Some("B2"),
        (None, Some(_)) => Some("B4-batch"),
        (None, None) => None,
    }
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn memory_gib() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let kib: f64 = info
                .lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some(format!("{:.1} GiB", kib / 1024.0 / 1024.0))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn number(x: f64) -> String {
    let whole = x.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Writes `BENCHMARKS.md`.
fn write_markdown(
    options: &Options,
    report: &Report,
    started: &str,
    load: &str,
    elapsed: Duration,
) -> Result<(), String> {
    let mut md = String::new();
    let command = if options.args.is_empty() {
        "scripts/bench".to_owned()
    } else {
        format!("scripts/bench {}", options.args.join(" "))
    };
    md.push_str("# Benchmarks\n\n");
    md.push_str(
        "Written by the pipeline harness (`benches/pipelines.rs`); do not edit by hand. Rerun with \
         the command below. Targets are those of `../shared/PERFORMANCE.md`; all compare records \
         per CPU-second of the working process, since on these 2-core machines the broker caps \
         every wall rate.\n\n",
    );
    md.push_str(&format!(
        "- **Command:** `{command}` (= `cargo bench --bench pipelines{}`)\n",
        if options.args.is_empty() {
            String::new()
        } else {
            format!(" -- {}", options.args.join(" "))
        }
    ));
    md.push_str(&format!(
        "- **Date:** {started}; the run took {:.0} s\n",
        elapsed.as_secs_f64()
    ));
    md.push_str(&format!(
        "- **Machine:** {} cores, {}, {} RAM, {}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        memory_gib(),
        command_output("uname", &["-sr"]).unwrap_or_default()
    ));
    md.push_str(&format!(
        "- **Load average** (1, 5, 15 min) when the run began: {load} (other work on the machine \
         competes for its 2 cores)\n"
    ));
    md.push_str(&format!(
        "- **Broker:** {} (memory storage) on loopback, started by the harness; F6 on the \
         embedded broker (librdkafka's mock cluster) in a child process\n",
        command_output(tansu_binary().to_str().unwrap_or("tansu"), &["--version"])
            .unwrap_or_else(|| "tansu".to_owned())
    ));
    md.push_str(&format!(
        "- **Records:** {} per workload ({}), keys 4-byte big-endian integers over {} \
         distinct values, {VALUE_BYTES}-byte values, {PARTITIONS} partitions\n\n",
        number(options.records as f64),
        if options.quick { "--quick" } else { "full" },
        number(KEYS as f64)
    ));
    md.push_str("## Results\n\n```text\n");
    for outcome in &report.outcomes {
        md.push_str(&outcome.line);
        md.push('\n');
    }
    md.push_str("```\n\n");
    md.push_str(
        "| workload | records | wall rec/s | CPU s | rec per CPU-s | baseline | ratio | target | met |\n\
         |---|---:|---:|---:|---:|---|---:|---|---|\n",
    );
    let mut ids: Vec<&str> = ORDER.to_vec();
    for outcome in &report.outcomes {
        if !ids.contains(&outcome.id.as_str()) {
            ids.push(&outcome.id);
        }
    }
    for id in ids {
        let Some(outcome) = report.outcomes.iter().find(|o| o.id == id) else {
            continue;
        };
        let targets: Vec<&Target> = TARGETS.iter().filter(|t| t.id == id).collect();
        let figures = |m: Option<Measured>| match m {
            Some(m) => format!(
                "{} | {} | {:.2} | {}",
                number(m.records as f64),
                number(m.rate()),
                m.cpu,
                number(m.per_cpu())
            ),
            None => "- | - | - | -".to_owned(),
        };
        if targets.is_empty() {
            md.push_str(&format!(
                "| {id} | {} | {} | {} | | |\n",
                figures(outcome.measured),
                outcome.baseline.as_deref().unwrap_or("-"),
                outcome.ratio.map_or("-".to_owned(), |r| format!("{r:.2}")),
            ));
            continue;
        }
        for target in targets {
            // The line's own baseline, or the other comparison the target names.
            let (baseline, ratio) = match target.against {
                Some(against) if Some(against) != outcome.baseline.as_deref() => {
                    let other = if against.starts_with("min(") {
                        outcome.baseline.clone()
                    } else {
                        Some(against.to_owned())
                    };
                    let ratio = match (
                        outcome.measured,
                        other.as_deref().and_then(|b| report.get(b)),
                    ) {
                        (Some(m), Some(b)) => Some(m.per_cpu() / b.per_cpu()),
                        _ => None,
                    };
                    (other, ratio)
                }
                _ => (outcome.baseline.clone(), outcome.ratio),
            };
            let value = match target.against {
                Some(_) => ratio,
                None => outcome.measured.map(|m| m.per_cpu()),
            };
            let met = match value {
                Some(v) if v >= target.at_least => "yes",
                Some(_) => "**no**",
                None => "-",
            };
            md.push_str(&format!(
                "| {id} | {} | {} | {} | {} | {met} |\n",
                figures(outcome.measured),
                baseline.as_deref().unwrap_or("-"),
                ratio.map_or("-".to_owned(), |r| format!("{r:.2}")),
                target.text,
            ));
        }
    }
    let failed: Vec<&Outcome> = report
        .outcomes
        .iter()
        .filter(|o| o.error.is_some())
        .collect();
    if !failed.is_empty() {
        md.push_str("\n## Failed workloads\n\n");
        for outcome in failed {
            md.push_str(&format!(
                "- {}: {}\n",
                outcome.id,
                outcome.error.as_deref().unwrap_or_default()
            ));
        }
    }
    md.push_str(
        "\n## How each figure is taken\n\n\
         - Every workload reads a fresh topic holding its records, produced before its \
         measurement starts, and writes to a fresh topic; every application has a fresh \
         `application.id` and state directory.\n\
         - `cpu_s` is this process's CPU time (user + system, all threads: \
         `CLOCK_PROCESS_CPUTIME_ID`) over the measured span; tansu and the embedded broker run \
         in other processes. The peers report their own process time (`time.process_time()`).\n\
         - B1 produces with `linger.ms` 5 and Java's partitioner (as the runtime's producer), \
         through the final flush. B2 polls a `BaseConsumer` assigned every partition, no \
         commits. B3 adds a `BaseProducer` writing each record on, through the final flush.\n\
         - B4 opens RocksDB with the runtime's memory shape (one 128 MiB LRU cache with a \
         write-buffer manager charging memtables to it, 16 MiB memtables, at most 3) and the \
         WAL off: B4-put single puts, B4-batch `WriteBatch`es of 1,000, B4-count a get and \
         a put of an 8-byte count per record.\n\
         - F1–F3 and F6 start a `KafkaStreams` instance (one stream thread, default settings \
         unless said); the span runs from the moment its thread has an assignment until \
         `close()` returns, called as soon as a `peek` (or the `map`) has seen every record: \
         `close()` commits, so the span includes flushing the record cache to the store, \
         changelog and output topic and the producer's flush. F3 uses the defaults (RocksDB, \
         changelog, 10 MiB record cache, 30 s commit interval: within a run the only commit is \
         the final one); F3-mem the in-memory store with `with_logging_disabled()`.\n\
         - F4 produces the records straight into the changelog of the count store of a fresh \
         instance (4-byte keys, 100-byte values) and times the restore with a \
         `StateRestoreListener`, from the first store's start to the fourth store's end.\n\
         - F3-1T, F3-2T, F3-4T and F3-2I are the scaling figure: F3's `count()` with 1, 2 and 4 \
         stream threads in one instance, and two one-thread instances of one application in \
         this process (both counted). They start on an empty input topic; once all four \
         partitions are assigned and the group has settled, a child process produces the \
         records (its CPU is not counted) and the span runs until every record is counted and \
         every instance has closed. Records arrive as they are produced, in smaller fetches than \
         F3's backlog, so compare these rows with each other (ratio to F3-1T), not with F3.\n\
         - Profiles of the workloads that miss their targets, and what bounds them: \
         `benches/PROFILES.md`.\n\
         - F5 pipes the records with `pipe_raw` into a `TopologyTestDriver` on this thread: \
         F5-stateless `map` → sink, F5-count `group_by_key().count()` (RocksDB, no cache: the \
         driver's default).\n\
         - F6-alos and F6 run the count topology (as F3) on the embedded broker, at-least-once \
         with its defaults versus `exactly_once_v2` with 100 ms commits; F6 is compared with \
         F6-alos. The embedded broker is slow and keeps only about 5 MB per partition (it \
         deletes older records), so F6 uses a quarter of the records, at most 100,000.\n\
         - QUIX and BYTEWAX run `../shared/peers/quix_count_bench.py` (Quix Streams 3.28.1, \
         RocksDB state and changelog) and `../shared/peers/bytewax_count_bench.py` (Bytewax \
         0.21.1, in-memory state) from virtual environments under `target/bench-venv`, on the \
         same tansu; their lines are theirs, with `baseline=- ratio=-` added. F3 is compared \
         with QUIX in the table (its line names B3), F3-mem with BYTEWAX.\n",
    );
    let path = root().join("BENCHMARKS.md");
    std::fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------------

fn run(options: &Options) -> Result<(), String> {
    let n = options.records;
    let run_started = Instant::now();
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let (tansu, servers) = start_tansu()?;
    eprintln!("tansu on {servers}; {n} records per workload");
    let mut report = Report::default();
    let step = |id: &str| {
        let wanted = options.wants(id);
        if wanted {
            eprintln!("{id} ...");
        }
        wanted
    };
    if step("B1") {
        report.add("B1", guarded(|| b1(&servers, n)), None);
    }
    if step("B2") {
        report.add("B2", guarded(|| consume(&servers, n, None)), None);
    }
    if step("B3") {
        let out = unique("b3-out");
        report.add("B3", guarded(|| consume(&servers, n, Some(&out))), None);
    }
    for (id, work) in [
        ("B4-put", RocksWork::Put),
        ("B4-batch", RocksWork::Batch),
        ("B4-count", RocksWork::Count),
    ] {
        if step(id) {
            report.add(id, guarded(|| b4(work, n)), None);
        }
    }
    if options.peers {
        if step("QUIX") {
            let result = peer(&servers, n, "QUIX", "quix", &[QUIX], "quix_count_bench.py");
            report.add_peer("QUIX", result);
        }
        if step("BYTEWAX") {
            let result = peer(
                &servers,
                n,
                "BYTEWAX",
                "bytewax",
                BYTEWAX,
                "bytewax_count_bench.py",
            );
            report.add_peer("BYTEWAX", result);
        }
    }
    if step("F1") {
        report.add("F1", guarded(|| f1(&servers, n)), Some("B2"));
    }
    if step("F2") {
        report.add("F2", guarded(|| f2(&servers, n)), Some("B3"));
    }
    if step("F3") {
        report.add("F3", guarded(|| f3(&servers, n, false)), Some("B3"));
    }
    if step("F3-mem") {
        report.add("F3-mem", guarded(|| f3(&servers, n, true)), Some("BYTEWAX"));
    }
    if step("F4") {
        let baseline = f4_baseline(&report);
        report.add("F4", guarded(|| f4(&servers, n)), baseline);
    }
    for &(id, threads, instances) in SCALING {
        if step(id) {
            let baseline = (id != "F3-1T").then_some("F3-1T");
            let result = guarded(|| f3_scaling(&servers, n, threads, instances));
            report.add(id, result, baseline);
        }
    }
    drop(tansu);
    if step("F5-stateless") {
        report.add("F5-stateless", guarded(|| f5(n, false)), None);
    }
    if step("F5-count") {
        report.add("F5-count", guarded(|| f5(n, true)), None);
    }
    // The embedded broker keeps about 5 MB per partition (older records are deleted), and it
    // is slow: F6 uses a quarter of the records, at most 100,000.
    let n6 = (n / 4).clamp(1, F6_MAX_RECORDS);
    if step("F6-alos") {
        report.add("F6-alos", guarded(|| f6(n6, false)), None);
    }
    if step("F6") {
        report.add("F6", guarded(|| f6(n6, true)), Some("F6-alos"));
    }
    if options.write {
        write_markdown(options, &report, &date, &load, run_started.elapsed())?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // This binary also serves as the helper processes some workloads start.
    type ChildMain = fn(&[String]) -> Result<(), String>;
    let children: [(&str, &str, ChildMain); 2] = [
        (PRODUCER_CHILD, "producer", producer_child),
        (EMBEDDED_CHILD, "embedded broker", embedded_child),
    ];
    for (flag, name, child_main) in children {
        if args.first().map(String::as_str) == Some(flag) {
            return match child_main(&args[1..]) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{name}: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
    }
    if std::env::var_os("RUST_LOG").is_some() {
        streams::cli::init_tracing();
    }
    let options = match Options::parse(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match run(&options) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipelines: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

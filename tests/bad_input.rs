//! Bad input at scale, on the embedded broker. The word count reads a few hundred good lines over
//! two partitions, mixed with a 900 KB line (valid: counted word for word), empty values (a valid
//! line with no words) and bad records in both partitions: values that are not UTF-8 (one of
//! them 900 KB), null values and a key where the topic's key type `()` expects none. A `String`
//! has no null, so a null value is a decoding error and the handler decides (Kafka Streams'
//! `StringDeserializer` returns null and leaves the failure to the processor; here the type that
//! reads a null is `Option<String>`). Under each `deserialization.exception.handler`:
//!
//! - `fail` stops at the first bad record, naming its topic, partition and offset: the lines
//!   before it are counted, no offset is committed past it, and a restart with
//!   `log_and_continue` resumes there and finishes the count exactly;
//! - `log_and_continue` counts the good lines exactly and skips every bad record;
//! - `dead_letter_queue` counts the good lines exactly and writes every bad record to the
//!   dead-letter topic, in order per input partition, with its key, value and headers as they
//!   were and the `__streams.errors.*` headers naming the error and the record's origin.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use streams::kafka::rdkafka::config::ClientConfig;
use streams::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use streams::kafka::rdkafka::message::{Header, OwnedHeaders};
use streams::kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams::{EmbeddedBroker, KafkaStreams, StreamsConfig};

const PARTITIONS: i32 = 2;
const QUIET: Duration = Duration::from_millis(1500);
const LIMIT: Duration = Duration::from_secs(60);
/// The size of the large lines: under the producer's and the broker's 1 MB record limit with
/// room for the dead-letter headers.
const LARGE: usize = 900 * 1024;

/// One input record, as produced.
#[derive(Debug, Clone)]
struct Input {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
}

impl Input {
    /// What the codecs of `Topic<(), String>` (`Auto<Json>`, named `json` in messages) say
    /// about this record: the line when it decodes, else the part and the codec's error. This
    /// is the behaviour the tests pin.
    fn decoded(&self) -> Result<String, (&'static str, String)> {
        if let Some(key) = self.key.as_deref().filter(|key| !key.is_empty()) {
            // `()` reads a null key or an empty one, and nothing else (Kafka's `Void` serde
            // rejects any data, even empty).
            return Err((
                "key",
                format!(
                    "json codec cannot decode `()`: expected null, found {} bytes",
                    key.len()
                ),
            ));
        }
        let string = "json codec cannot decode `alloc::string::String`";
        match self.value.as_deref().map(std::str::from_utf8) {
            None => Err(("value", format!("{string}: unexpected null"))),
            Some(Err(error)) => Err(("value", format!("{string}: invalid UTF-8: {error}"))),
            Some(Ok(line)) => Ok(line.to_owned()),
        }
    }

    /// The error a bad record is reported with, naming its coordinates.
    fn error(&self, topic: &str) -> Option<String> {
        let (part, error) = self.decoded().err()?;
        Some(format!(
            "cannot deserialize the {part} of the record at topic `{topic}` partition {} offset {}: {error}",
            self.partition, self.offset
        ))
    }

    /// Whether the record decodes, and so is counted.
    fn is_good(&self) -> bool {
        self.decoded().is_ok()
    }
}

/// A line of [`LARGE`] bytes of the usual words.
fn large_line(seed: u64) -> String {
    let mut line = lines(40_000, seed).join(" ");
    assert!(line.len() > LARGE);
    line.truncate(LARGE);
    line
}

/// The input: per partition, 200 good lines with the special records at fixed places. The first
/// bad record of each partition comes after that partition's large or empty values, so the
/// `fail` case counts those first.
fn mixed_input() -> Vec<Input> {
    let good = lines(400, 13);
    let mut invalid_large = large_line(15).into_bytes();
    invalid_large[LARGE / 2] = 0xff;
    let mut input = Vec::new();
    for partition in 0..PARTITIONS {
        let mut records: Vec<Input> = good
            .iter()
            .skip(partition as usize)
            .step_by(PARTITIONS as usize)
            .map(|line| record(None, Some(line.as_bytes()), None))
            .collect();
        // Inserted in ascending order, so each index is the record's offset.
        let specials = if partition == 0 {
            vec![
                (10, record(None, Some(b""), None)),
                (30, record(None, Some(large_line(14).as_bytes()), None)),
                (100, record(None, None, None)),
                (
                    120,
                    record(Some(b"k1"), Some(b"kafka streams"), Some("keyed")),
                ),
                (150, record(None, Some(b"caf\xe9 table"), Some("latin-1"))),
                (199, record(None, Some(b"commit \xe2\x82"), None)),
            ]
        } else {
            vec![
                (40, record(None, Some(b""), None)),
                // An empty key is `()`'s too: a good line.
                (60, record(Some(b""), Some(b"Rust rust"), None)),
                (100, record(None, Some(b"kafka \xff streams"), None)),
                (130, record(None, None, Some("null"))),
                (150, record(None, Some(&invalid_large), None)),
                (170, record(None, Some(b""), None)),
                (
                    180,
                    record(Some(b""), Some(b"\xc3\x28 rust"), Some("empty key")),
                ),
            ]
        };
        for (index, special) in specials {
            records.insert(index, special);
        }
        for (offset, mut record) in records.into_iter().enumerate() {
            record.partition = partition;
            record.offset = offset as i64;
            input.push(record);
        }
    }
    input
}

/// A record not yet placed, with an `origin` header if `origin` is given.
fn record(key: Option<&[u8]>, value: Option<&[u8]>, origin: Option<&str>) -> Input {
    Input {
        partition: 0,
        offset: 0,
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
        headers: origin
            .map(|o| ("origin".to_owned(), o.as_bytes().to_vec()))
            .into_iter()
            .collect(),
    }
}

/// The lines of the good records among `input`.
fn good_lines(input: &[Input]) -> Vec<String> {
    input.iter().filter_map(|r| r.decoded().ok()).collect()
}

/// A broker with the input, output and (empty) dead-letter topics, and the application's id.
struct Run {
    broker: EmbeddedBroker,
    lines: String,
    counts: String,
    dead: String,
    application_id: String,
}

impl Run {
    fn new() -> Self {
        streams::cli::init_tracing();
        let broker = EmbeddedBroker::start().unwrap();
        let run = Run {
            broker,
            lines: unique("lines"),
            counts: unique("counts"),
            dead: unique("dlq"),
            application_id: unique("bad-input"),
        };
        run.broker.create_topic(&run.lines, PARTITIONS).unwrap();
        run.broker.create_topic(&run.counts, PARTITIONS).unwrap();
        // One partition, so the dead-letter records of each input partition keep their order.
        run.broker.create_topic(&run.dead, 1).unwrap();
        run
    }

    fn servers(&self) -> &str {
        self.broker.bootstrap_servers()
    }

    /// Produces `records` to their partitions, in order (an idempotent producer keeps it), and
    /// checks that each lands at its planned offset.
    fn produce(&self, records: &[Input]) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.servers())
            .set("enable.idempotence", "true")
            .create()
            .expect("producer");
        for input in records {
            let mut headers = OwnedHeaders::new();
            for (key, value) in &input.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.lines)
                .partition(input.partition)
                .headers(headers);
            if let Some(key) = &input.key {
                record = record.key(key);
            }
            if let Some(value) = &input.value {
                record = record.payload(value);
            }
            send::send_queued(&producer, record, Duration::from_millis(20));
        }
        producer.flush(Duration::from_secs(30)).expect("flush");
        let watermarks: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.servers())
            .create()
            .expect("consumer");
        for partition in 0..PARTITIONS {
            let last = records
                .iter()
                .filter(|r| r.partition == partition)
                .map(|r| r.offset)
                .max();
            let (_, high) = watermarks
                .fetch_watermarks(&self.lines, partition, Duration::from_secs(10))
                .expect("watermarks");
            if let Some(last) = last {
                assert_eq!(
                    high,
                    last + 1,
                    "partition {partition}: records lost or reordered"
                );
            }
        }
    }

    /// An instance under the deserialization handler `handler`.
    fn instance(&self, handler: &str) -> KafkaStreams {
        let mut config = StreamsConfig::new(&self.application_id)
            .bootstrap_servers(self.servers())
            .commit_interval(Duration::from_millis(200))
            .state_dir(std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("state")));
        config
            .set("deserialization.exception.handler", handler)
            .unwrap();
        config
            .set("errors.dead.letter.queue.topic.name", &self.dead)
            .unwrap();
        let topology = wordcount_topology(&self.lines, &self.counts);
        self.broker.prepare(&topology, &config).unwrap();
        KafkaStreams::new(topology, config).unwrap()
    }

    /// The offset committed on each input partition.
    fn committed(&self) -> Vec<Option<i64>> {
        (0..PARTITIONS)
            .map(|p| committed_offset(self.servers(), &self.application_id, &self.lines, p))
            .collect()
    }

    /// Runs an instance under `handler` until idle, closes it, and checks that the store and
    /// the output topic hold exactly the counts of the good lines of `input` and that every
    /// input offset is committed.
    fn count_to_the_end(&self, handler: &str, input: &[Input]) {
        let mut app = self.instance(handler);
        app.start().unwrap();
        wait_idle(&app, QUIET, LIMIT);
        let snapshots = app.close().unwrap();
        let expected = expected_counts(&good_lines(input));
        assert_eq!(snapshot_counts(&snapshots), expected, "the store's counts");
        assert_eq!(
            latest_counts(self.servers(), &self.counts),
            expected,
            "the output's counts"
        );
        assert_eq!(
            self.committed(),
            ends(input),
            "every input offset is committed"
        );
    }
}

/// Per partition, the offset after the last record of `input`.
fn ends(input: &[Input]) -> Vec<Option<i64>> {
    (0..PARTITIONS)
        .map(|p| {
            input
                .iter()
                .filter(|r| r.partition == p)
                .map(|r| r.offset + 1)
                .max()
        })
        .collect()
}

#[test]
fn the_input_mixes_good_and_bad_records_in_each_partition() {
    let input = mixed_input();
    for partition in 0..PARTITIONS {
        let of = |good: bool| {
            input
                .iter()
                .filter(|r| r.partition == partition && r.is_good() == good)
                .count()
        };
        assert!(of(true) >= 200 && of(false) >= 3, "partition {partition}");
    }
    let largest = input
        .iter()
        .filter_map(|r| r.value.as_ref())
        .map(Vec::len)
        .max();
    assert_eq!(largest, Some(LARGE));
    // The large good line is counted word for word.
    assert!(
        expected_counts(&good_lines(&input)).values().sum::<u64>() > 100_000,
        "the large line's words are in the expected counts"
    );
}

#[test]
fn fail_stops_at_the_first_bad_record_and_commits_nothing_past_it() {
    let run = Run::new();
    let input = mixed_input();
    // Everything before each partition's first bad record, then the rest.
    let first_bad: BTreeMap<i32, &Input> = input
        .iter()
        .rev()
        .filter(|r| !r.is_good())
        .map(|r| (r.partition, r))
        .collect();
    let (before, after): (Vec<Input>, Vec<Input>) = input
        .iter()
        .cloned()
        .partition(|r| r.offset < first_bad[&r.partition].offset);
    run.produce(&before);
    let mut app = run.instance("fail");
    app.start().unwrap();
    wait_idle(&app, QUIET, LIMIT);
    let counted_before = expected_counts(&good_lines(&before));
    assert_eq!(latest_counts(run.servers(), &run.counts), counted_before);

    run.produce(&after);
    eventually("failed", LIMIT, || app.has_failed());
    let error = app.close().unwrap_err().to_string();
    // Each partition's next record is bad: whichever the thread met first stopped it.
    let expected: Vec<String> = first_bad
        .values()
        .map(|r| r.error(&run.lines).unwrap())
        .collect();
    assert!(
        expected.contains(&error),
        "{error}\nnot one of {expected:#?}"
    );
    assert_eq!(
        run.committed(),
        first_bad
            .values()
            .map(|r| Some(r.offset))
            .collect::<Vec<_>>(),
        "no offset committed past a bad record"
    );
    assert_eq!(
        latest_counts(run.servers(), &run.counts),
        counted_before,
        "nothing after a bad record counted"
    );

    // The operator's way out: skip the bad records. The restart resumes at the first bad
    // record of each partition; nothing is lost or counted twice.
    run.count_to_the_end("log_and_continue", &input);
    assert!(read_all(run.servers(), &run.dead).is_empty());
}

#[test]
fn log_and_continue_counts_the_good_records_exactly_and_skips_the_bad() {
    let run = Run::new();
    let input = mixed_input();
    run.produce(&input);
    run.count_to_the_end("log_and_continue", &input);
    assert!(read_all(run.servers(), &run.dead).is_empty());
}

#[test]
fn dead_letter_queue_counts_the_good_records_and_keeps_every_bad_one_in_order() {
    let run = Run::new();
    let input = mixed_input();
    run.produce(&input);
    run.count_to_the_end("dead_letter_queue", &input);

    let dead = read_all(run.servers(), &run.dead);
    let bad: Vec<&Input> = input.iter().filter(|r| !r.is_good()).collect();
    assert_eq!(dead.len(), bad.len(), "one dead letter per bad record");
    for partition in 0..PARTITIONS {
        let partition_header = Some(partition.to_string().into_bytes());
        let letters: Vec<&Read> = dead
            .iter()
            .filter(|r| {
                r.headers
                    .iter()
                    .any(|(k, v)| k == "__streams.errors.partition" && *v == partition_header)
            })
            .collect();
        let expected: Vec<Read> = bad
            .iter()
            .filter(|r| r.partition == partition)
            .map(|r| {
                let mut headers: Vec<(String, Option<Vec<u8>>)> = r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), Some(v.clone())))
                    .collect();
                let error = r.error(&run.lines).unwrap();
                for (key, value) in [
                    ("exception", "DeserializationError".to_owned()),
                    ("message", error),
                    ("topic", run.lines.clone()),
                    ("partition", r.partition.to_string()),
                    ("offset", r.offset.to_string()),
                ] {
                    headers.push((format!("__streams.errors.{key}"), Some(value.into_bytes())));
                }
                Read {
                    partition: 0,
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers,
                }
            })
            .collect();
        // Compared one by one, so a mismatch does not print 900 KB twice.
        assert_eq!(letters.len(), expected.len(), "partition {partition}");
        for (letter, expected) in letters.iter().zip(&expected) {
            assert!(
                **letter == *expected,
                "partition {partition}: dead letter {:?} / {:?} is not {:?} / {:?}",
                letter.headers,
                letter.value.as_ref().map(Vec::len),
                expected.headers,
                expected.value.as_ref().map(Vec::len),
            );
        }
    }
}

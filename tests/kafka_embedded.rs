//! The Kafka runtime on the embedded broker (librdkafka's mock cluster): word count end to end,
//! restarts from committed offsets and changelogs, two instances sharing and handing over work,
//! poison pills through each handler, and shutdown on SIGTERM.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use streams::kafka::rdkafka::types::RDKafkaRespErr;
use streams::prelude::*;
use streams::{EmbeddedBroker, KafkaStreams, State, StreamsConfig, UncaughtErrorPolicy};

struct WordCount {
    broker: EmbeddedBroker,
    lines_topic: String,
    counts_topic: String,
    application_id: String,
}

impl WordCount {
    fn new(partitions: i32) -> Self {
        streams::cli::init_tracing();
        let broker = EmbeddedBroker::start().unwrap();
        let lines_topic = unique("lines");
        let counts_topic = unique("counts");
        broker.create_topic(&lines_topic, partitions).unwrap();
        broker.create_topic(&counts_topic, partitions).unwrap();
        WordCount {
            broker,
            lines_topic,
            counts_topic,
            application_id: unique("wordcount"),
        }
    }

    fn produce(&self, lines: &[String]) {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        produce_lines(self.broker.bootstrap_servers(), &self.lines_topic, &refs);
    }

    fn instance(&self) -> KafkaStreams {
        let topology = wordcount_topology(&self.lines_topic, &self.counts_topic);
        let config = embedded_config(&self.broker, &self.application_id);
        self.broker.prepare(&topology, &config).unwrap();
        KafkaStreams::new(topology, config).unwrap()
    }

    fn output(&self) -> BTreeMap<String, u64> {
        latest_counts(self.broker.bootstrap_servers(), &self.counts_topic)
    }
}

const QUIET: Duration = Duration::from_millis(1500);
const LIMIT: Duration = Duration::from_secs(90);

#[test]
fn word_count_end_to_end() {
    let wc = WordCount::new(4);
    let input = lines(300, 1);
    wc.produce(&input);
    // Without the record cache every update reaches the changelog and the output.
    let topology = wordcount_topology(&wc.lines_topic, &wc.counts_topic);
    let mut config = embedded_config(&wc.broker, &wc.application_id);
    config.set("statestore.cache.max.bytes", "0").unwrap();
    wc.broker.prepare(&topology, &config).unwrap();
    let mut app = KafkaStreams::new(topology, config).unwrap();
    let states = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&states);
    app.set_state_listener(move |new, old| seen.lock().unwrap().push((old, new)));
    app.start().unwrap();
    wait_idle(&app, QUIET, LIMIT);
    let snapshots = app.close().unwrap();
    let expected = expected_counts(&input);
    assert_eq!(snapshot_counts(&snapshots), expected);
    assert_eq!(wc.output(), expected);
    // Every store write reached the changelog: one record per word occurrence.
    let changelog = read_all(
        wc.broker.bootstrap_servers(),
        &format!("{}-counts-changelog", wc.application_id),
    );
    assert_eq!(changelog.len() as u64, expected.values().sum::<u64>());
    assert_eq!(
        *states.lock().unwrap(),
        [
            (State::Created, State::Rebalancing),
            (State::Rebalancing, State::Running),
            (State::Running, State::PendingShutdown),
            (State::PendingShutdown, State::NotRunning),
        ]
    );
}

#[test]
fn a_restart_resumes_from_committed_offsets_and_restores_state() {
    let wc = WordCount::new(2);
    let first = lines(120, 2);
    let second = lines(80, 3);
    wc.produce(&first);
    let mut app = wc.instance();
    app.start().unwrap();
    wait_idle(&app, QUIET, LIMIT);
    assert_eq!(
        snapshot_counts(&app.close().unwrap()),
        expected_counts(&first)
    );

    wc.produce(&second);
    let mut app = wc.instance();
    app.start().unwrap();
    wait_idle(&app, QUIET, LIMIT);
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let expected = expected_counts(&all);
    assert_eq!(
        snapshot_counts(&app.close().unwrap()),
        expected,
        "nothing lost, nothing counted twice"
    );
    assert_eq!(wc.output(), expected);
}

#[test]
fn two_instances_split_the_partitions_then_one_takes_over() {
    let wc = WordCount::new(4);
    let mut a = wc.instance();
    let mut b = wc.instance();
    a.start().unwrap();
    b.start().unwrap();
    // Both in the group before any input, so the first assignment already splits the work.
    common::eventually("both in the group with partitions", LIMIT, || {
        !a.assigned_partitions().is_empty() && !b.assigned_partitions().is_empty()
    });
    let first = lines(200, 4);
    wc.produce(&first);
    wait_idle(&a, QUIET, LIMIT);
    wait_idle(&b, QUIET, LIMIT);
    let b_counts = snapshot_counts(&b.close().unwrap());
    assert!(!b_counts.is_empty(), "the second instance owned some tasks");

    let second = lines(100, 5);
    wc.produce(&second);
    wait_idle(&a, QUIET, LIMIT);
    let a_counts = snapshot_counts(&a.close().unwrap());
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let expected = expected_counts(&all);
    assert_eq!(
        a_counts, expected,
        "the survivor restored and continued every task"
    );
    assert_eq!(wc.output(), expected);
}

/// Starts an instance and waits until it fails or has nothing left to do.
fn start_until_idle_or_failed(topology: streams::Topology, config: StreamsConfig) -> KafkaStreams {
    let mut app = KafkaStreams::new(topology, config).unwrap();
    app.start().unwrap();
    let deadline = std::time::Instant::now() + LIMIT;
    while !app.has_failed() && !app.is_idle(QUIET) {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    app
}

const NUMBERS: Topic<String, u32> = Topic::new("numbers-in");

fn poison_run(
    handler: &str,
    extra: &[(&str, &str)],
) -> (EmbeddedBroker, String, String, Result<(), String>) {
    let broker = EmbeddedBroker::start().unwrap();
    let input = unique("numbers");
    let output = unique("doubled");
    broker.create_topic(&input, 1).unwrap();
    broker.create_topic(&output, 1).unwrap();
    let four = 4u32.to_be_bytes();
    let six = 6u32.to_be_bytes();
    produce(
        broker.bootstrap_servers(),
        &input,
        &[
            (Some(b"a"), Some(&four)),
            (Some(b"bad"), Some(b"xyz")),
            (Some(b"c"), Some(&six)),
        ],
    );
    let builder = StreamsBuilder::new();
    builder
        .stream(&Topic::<String, u32>::named(&input))
        .map_values(|v| v * 2)
        .to(&Topic::<String, u32>::named(&output));
    let _ = NUMBERS;
    let mut config = embedded_config(&broker, &unique("poison"));
    config
        .set("deserialization.exception.handler", handler)
        .unwrap();
    for (k, v) in extra {
        config.set(k, v).unwrap();
    }
    let topology = builder.build().unwrap();
    broker.prepare(&topology, &config).unwrap();
    let app = start_until_idle_or_failed(topology, config);
    let result = app.close().map(drop).map_err(|e| e.to_string());
    (broker, input, output, result)
}

#[test]
fn a_poison_pill_stops_the_application_naming_its_coordinates() {
    let (broker, input, output, result) = poison_run("fail", &[]);
    let error = result.unwrap_err();
    assert!(
        error.contains(&format!("topic `{input}` partition 0 offset 1")),
        "{error}"
    );
    // The record before the pill was processed; nothing after it.
    let out = read_all(broker.bootstrap_servers(), &output);
    assert_eq!(
        out.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
        [Some(8u32.to_be_bytes().to_vec())]
    );
}

#[test]
fn a_poison_pill_can_be_skipped() {
    let (broker, _, output, result) = poison_run("log_and_continue", &[]);
    result.unwrap();
    let out = read_all(broker.bootstrap_servers(), &output);
    assert_eq!(
        out.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
        [
            Some(8u32.to_be_bytes().to_vec()),
            Some(12u32.to_be_bytes().to_vec())
        ]
    );
}

#[test]
fn a_poison_pill_can_go_to_a_dead_letter_topic() {
    let dlq = unique("dlq");
    let (broker, input, output, result) = poison_run(
        "dead_letter_queue",
        &[("errors.dead.letter.queue.topic.name", dlq.as_str())],
    );
    result.unwrap();
    assert_eq!(read_all(broker.bootstrap_servers(), &output).len(), 2);
    let dead = read_all(broker.bootstrap_servers(), &dlq);
    assert_eq!(dead.len(), 1);
    let record = &dead[0];
    assert_eq!(
        (record.key.as_deref(), record.value.as_deref()),
        (Some(&b"bad"[..]), Some(&b"xyz"[..]))
    );
    let header = |name: &str| {
        record
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
            .map(|v| String::from_utf8(v).unwrap())
    };
    assert_eq!(header("__streams.errors.topic"), Some(input));
    assert_eq!(header("__streams.errors.partition").as_deref(), Some("0"));
    assert_eq!(header("__streams.errors.offset").as_deref(), Some("1"));
    assert!(
        header("__streams.errors.message")
            .unwrap()
            .contains("cannot deserialize the value")
    );
}

/// An output topic or a dead-letter topic that does not exist is a startup error naming it, as
/// a missing source topic is, not a delivery timeout at the first record.
#[test]
fn missing_output_and_dead_letter_topics_are_startup_errors() {
    let broker = EmbeddedBroker::start().unwrap();
    let (lines, counts, dead) = (unique("lines"), unique("counts"), unique("dlq"));
    broker.create_topic(&lines, 1).unwrap();
    let mut app = KafkaStreams::new(
        wordcount_topology(&lines, &counts),
        embedded_config(&broker, &unique("outputs")),
    )
    .unwrap();
    let error = app.start().unwrap_err().to_string();
    assert_eq!(
        error,
        format!("kafka: output topic `{counts}` does not exist; create it first")
    );
    drop(app);

    broker.create_topic(&counts, 1).unwrap();
    let mut config = embedded_config(&broker, &unique("outputs"));
    config
        .set("deserialization.exception.handler", "dead_letter_queue")
        .unwrap();
    config
        .set("errors.dead.letter.queue.topic.name", &dead)
        .unwrap();
    let mut app = KafkaStreams::new(wordcount_topology(&lines, &counts), config).unwrap();
    let error = app.start().unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "kafka: dead-letter topic `{dead}` (errors.dead.letter.queue.topic.name) does not exist; create it first"
        )
    );
}

/// A topic the broker refuses (here: not authorized) is a startup error naming the topic and
/// the broker's error code, not "does not exist".
#[test]
fn a_topic_the_broker_refuses_is_a_startup_error_naming_its_code() {
    let broker = EmbeddedBroker::start().unwrap();
    let (lines, counts) = (unique("lines"), unique("counts"));
    broker.create_topic(&lines, 1).unwrap();
    broker.create_topic(&counts, 1).unwrap();
    broker
        .cluster()
        .topic_error(
            &lines,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        )
        .unwrap();
    let mut app = KafkaStreams::new(
        wordcount_topology(&lines, &counts),
        embedded_config(&broker, &unique("refused")),
    )
    .unwrap();
    let error = app.start().unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "kafka: topic `{lines}` cannot be used: TopicAuthorizationFailed (Broker: Topic authorization failed)"
        )
    );
}

/// No broker at the bootstrap address: the lookup of the first source topic is tried for
/// `task.timeout.ms`, then fails with one line naming the topic and the connection error.
#[test]
fn an_unreachable_broker_at_startup_is_named_with_its_cause() {
    streams::cli::init_tracing();
    let config = StreamsConfig::new(unique("unreachable"))
        .bootstrap_servers("127.0.0.1:1")
        .task_timeout(Duration::from_secs(2))
        .state_dir(std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("state")));
    let mut app = KafkaStreams::new(wordcount_topology("lines", "counts"), config).unwrap();
    let started = std::time::Instant::now();
    let error = app.start().unwrap_err().to_string();
    assert!(started.elapsed() >= Duration::from_secs(2));
    let prefix = "kafka: no broker answered about topic `lines` within task.timeout.ms (2000 ms): BrokerTransportFailure: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused";
    assert!(error.starts_with(prefix), "{error}");
    assert!(!error.contains('\n'), "{error}");
}

#[test]
fn configuration_mistakes_are_startup_errors() {
    let broker = EmbeddedBroker::start().unwrap();
    let mut config = embedded_config(&broker, "app");
    assert!(
        config.set("consumer.no.such.property", "1").is_ok(),
        "librdkafka decides"
    );
    let topology = wordcount_topology("missing-lines", "missing-counts");
    let mut app = KafkaStreams::new(topology, config).unwrap();
    let error = app.start().unwrap_err().to_string();
    assert!(
        error.contains("source topic `missing-lines` does not exist"),
        "{error}"
    );
    assert_eq!(app.state(), State::Error);
}

/// For every partition number an instance has of one co-partitioned topic, it has it of the other.
fn assert_co_partitioned(app: &KafkaStreams, left: &str, right: &str) {
    let assigned = app.assigned_partitions();
    let numbers = |topic: &str| -> Vec<i32> {
        assigned
            .iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| *p)
            .collect()
    };
    assert_eq!(numbers(left), numbers(right), "assignment {assigned:?}");
}

#[test]
fn co_partitioned_inputs_stay_together_across_rebalances() {
    let broker = EmbeddedBroker::start().unwrap();
    let (left, right, out) = (unique("left"), unique("right"), unique("merged"));
    for topic in [&left, &right, &out] {
        broker.create_topic(topic, 4).unwrap();
    }
    let application_id = unique("copartition");
    let instance = || {
        let builder = StreamsBuilder::new();
        builder
            .stream(&Topic::<String, String>::named(&left))
            .merge(builder.stream(&Topic::<String, String>::named(&right)))
            .group_by_key()
            .count()
            .to_stream()
            .to(&Topic::<String, Option<u64>>::named(&out));
        let topology = builder.build().unwrap();
        let config = embedded_config(&broker, &application_id);
        broker.prepare(&topology, &config).unwrap();
        KafkaStreams::new(topology, config).unwrap()
    };
    let mut a = instance();
    a.start().unwrap();
    wait_idle(&a, QUIET, LIMIT);
    assert_eq!(
        a.assigned_partitions().len(),
        8,
        "alone, it has both topics' 4 partitions"
    );
    assert_co_partitioned(&a, &left, &right);

    let mut b = instance();
    b.start().unwrap();
    common::eventually("sharing the 8 partitions", LIMIT, || {
        let b_partitions = b.assigned_partitions().len();
        b_partitions > 0 && a.assigned_partitions().len() + b_partitions == 8
    });
    wait_idle(&a, QUIET, LIMIT);
    wait_idle(&b, QUIET, LIMIT);
    assert_co_partitioned(&a, &left, &right);
    assert_co_partitioned(&b, &left, &right);
    assert_eq!(
        a.assigned_partitions().len() + b.assigned_partitions().len(),
        8
    );
    assert!(!b.assigned_partitions().is_empty());

    b.close().unwrap();
    common::eventually("the survivor owning all 8 partitions", LIMIT, || {
        a.assigned_partitions().len() == 8
    });
    wait_idle(&a, QUIET, LIMIT);
    assert_eq!(a.assigned_partitions().len(), 8);
    assert_co_partitioned(&a, &left, &right);
    a.close().unwrap();
}

/// Runs `map_values(|v| v * 2)` over one record while the broker rejects the output's first
/// produce request (a permanent error, so librdkafka does not retry it), then over two more.
fn rejected_output_run(handler: &str) -> (EmbeddedBroker, String, String, KafkaStreams) {
    rejected_output_run_with(handler, &[])
}

/// [`rejected_output_run`] with more configuration.
fn rejected_output_run_with(
    handler: &str,
    settings: &[(&str, &str)],
) -> (EmbeddedBroker, String, String, KafkaStreams) {
    rejected_output_run_by(
        handler,
        settings,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
    )
}

/// [`rejected_output_run`] with more configuration, the broker answering with `rejection`.
fn rejected_output_run_by(
    handler: &str,
    settings: &[(&str, &str)],
    rejection: RDKafkaRespErr,
) -> (EmbeddedBroker, String, String, KafkaStreams) {
    let broker = EmbeddedBroker::start().unwrap();
    let (input, output) = (unique("numbers"), unique("doubled"));
    broker.create_topic(&input, 1).unwrap();
    broker.create_topic(&output, 1).unwrap();
    produce(
        broker.bootstrap_servers(),
        &input,
        &[(Some(b"a"), Some(&4u32.to_be_bytes()))],
    );
    let builder = StreamsBuilder::new();
    builder
        .stream(&Topic::<String, u32>::named(&input))
        .map_values(|v| v * 2)
        .to(&Topic::<String, u32>::named(&output));
    let mut config = embedded_config(&broker, &unique("rejected"));
    config.set("production.exception.handler", handler).unwrap();
    for (key, value) in settings {
        config.set(key, value).unwrap();
    }
    let topology = builder.build().unwrap();
    broker.prepare(&topology, &config).unwrap();
    broker.cluster().request_errors(
        streams::kafka::rdkafka::types::RDKafkaApiKey::Produce,
        &[rejection],
    );
    let app = start_until_idle_or_failed(topology, config);
    (broker, input, output, app)
}

fn values(records: &[Read]) -> Vec<Option<Vec<u8>>> {
    records.iter().map(|r| r.value.clone()).collect()
}

#[test]
fn a_rejected_output_record_stops_the_application_by_default() {
    let (broker, _, output, app) = rejected_output_run("fail");
    assert!(app.has_failed());
    let error = app.close().unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "kafka: cannot deliver a record to topic `{output}` partition 0: Message production error: TopicAuthorizationFailed (Broker: Topic authorization failed)"
        )
    );
    assert!(read_all(broker.bootstrap_servers(), &output).is_empty());
}

/// A record larger than the broker takes stops the application with one line naming the topic
/// and the broker's error code.
#[test]
fn a_record_too_large_for_the_broker_is_named_with_its_code() {
    let (broker, _, output, app) = rejected_output_run_by(
        "fail",
        &[],
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
    );
    assert!(app.has_failed());
    let error = app.close().unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "kafka: cannot deliver a record to topic `{output}` partition 0: Message production error: MessageSizeTooLarge (Broker: Message size too large)"
        )
    );
    assert!(read_all(broker.bootstrap_servers(), &output).is_empty());
}

/// A record larger than the producer's `message.max.bytes` is refused before it is sent: the
/// application stops with one line naming the node, the topic and the error code.
#[test]
fn a_record_too_large_for_the_producer_is_named_with_its_code() {
    let broker = EmbeddedBroker::start().unwrap();
    let (input, output) = (unique("sizes"), unique("padded"));
    broker.create_topic(&input, 1).unwrap();
    broker.create_topic(&output, 1).unwrap();
    produce(
        broker.bootstrap_servers(),
        &input,
        &[(Some(b"big"), Some(&2_000_000u32.to_be_bytes()))],
    );
    let builder = StreamsBuilder::new();
    builder
        .stream(&Topic::<String, u32>::named(&input))
        .map_values(|size| "x".repeat(size as usize))
        .to(&Topic::<String, String>::named(&output));
    let config = embedded_config(&broker, &unique("too-large"));
    let topology = builder.build().unwrap();
    broker.prepare(&topology, &config).unwrap();
    let app = start_until_idle_or_failed(topology, config);
    assert!(app.has_failed());
    let error = app.close().unwrap_err().to_string();
    assert!(
        error.ends_with(&format!(
            "cannot send a record to topic `{output}`: Message production error: MessageSizeTooLarge (Broker: Message size too large)"
        )),
        "{error}"
    );
    assert!(!error.contains('\n'), "{error}");
    assert!(read_all(broker.bootstrap_servers(), &output).is_empty());
}

/// A commit that finds a failed delivery stops the thread without committing the input
/// offsets it had collected, and the thread's final revocation commits nothing either: the
/// record whose output failed is read again by the next run. (With a commit after every
/// round, the failure is found by the commit's flush.)
#[test]
fn a_failed_delivery_commits_no_offset_past_its_record() {
    let (broker, input, _, app) = rejected_output_run_with("fail", &[("commit.interval.ms", "0")]);
    assert!(app.has_failed());
    let group = app.config().application_id().to_owned();
    app.close().unwrap_err();
    assert_eq!(
        committed_offset(broker.bootstrap_servers(), &group, &input, 0),
        None
    );
}

#[test]
fn a_rejected_output_record_can_be_dropped_and_processing_continues() {
    let (broker, input, output, app) = rejected_output_run("continue");
    assert!(!app.has_failed());
    assert!(read_all(broker.bootstrap_servers(), &output).is_empty());
    produce(
        broker.bootstrap_servers(),
        &input,
        &[
            (Some(b"b"), Some(&5u32.to_be_bytes())),
            (Some(b"c"), Some(&6u32.to_be_bytes())),
        ],
    );
    wait_idle(&app, QUIET, LIMIT);
    app.close().unwrap();
    assert_eq!(
        values(&read_all(broker.bootstrap_servers(), &output)),
        [
            Some(10u32.to_be_bytes().to_vec()),
            Some(12u32.to_be_bytes().to_vec())
        ],
        "the rejected record is dropped, the later ones delivered"
    );
}

static UNLUCKY_ONCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Doubles a number; fails the first time it meets 13 (a transient error).
#[streams::processor]
fn double_after_one_failure(value: u32) -> Result<u32, String> {
    if value == 13 && UNLUCKY_ONCE.swap(false, std::sync::atomic::Ordering::SeqCst) {
        return Err("13 failed once".to_owned());
    }
    Ok(value * 2)
}

#[test]
fn a_failed_thread_stops_alone_and_the_others_take_over_its_tasks() {
    let broker = EmbeddedBroker::start().unwrap();
    let (input, output) = (unique("numbers"), unique("doubled"));
    broker.create_topic(&input, 2).unwrap();
    broker.create_topic(&output, 1).unwrap();
    // 13 alone first: when the thread that meets it fails, there is no other record it could
    // have processed without committing (which at-least-once would then process again).
    let produce_values = |values: &[u32]| {
        let keys: Vec<String> = values.iter().map(|v| format!("k{v}")).collect();
        let encoded: Vec<[u8; 4]> = values.iter().map(|v| v.to_be_bytes()).collect();
        let records: Vec<(Option<&[u8]>, Option<&[u8]>)> = keys
            .iter()
            .zip(&encoded)
            .map(|(k, v)| (Some(k.as_bytes()), Some(&v[..])))
            .collect();
        produce(broker.bootstrap_servers(), &input, &records);
    };
    produce_values(&[13]);
    let builder = StreamsBuilder::new();
    builder
        .stream(&Topic::<String, u32>::named(&input))
        .process(double_after_one_failure::Function)
        .to(&Topic::<String, u32>::named(&output));
    let config = embedded_config(&broker, &unique("shutdown-thread")).num_stream_threads(2);
    let topology = builder.build().unwrap();
    broker.prepare(&topology, &config).unwrap();
    let mut app = KafkaStreams::new(topology, config).unwrap();
    app.set_uncaught_error_policy(UncaughtErrorPolicy::ShutdownThread);
    let states = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&states);
    app.set_state_listener(move |new, _| seen.lock().unwrap().push(new));
    app.start().unwrap();
    let deadline = std::time::Instant::now() + LIMIT;
    while UNLUCKY_ONCE.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "13 was never processed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_idle(&app, QUIET, LIMIT);
    let rest: Vec<u32> = (10..20).filter(|v| *v != 13).collect();
    produce_values(&rest);
    wait_idle(&app, QUIET, LIMIT);
    assert!(!app.has_failed(), "one thread is left");
    assert_eq!(
        app.assigned_partitions(),
        [(input.clone(), 0), (input.clone(), 1)],
        "the survivor owns both partitions"
    );
    let error = app.close().unwrap_err().to_string();
    assert!(error.contains("13 failed once"), "{error}");
    assert!(!states.lock().unwrap().contains(&State::Error));
    let mut doubled: Vec<u32> = read_all(broker.bootstrap_servers(), &output)
        .iter()
        .map(|r| u32::from_be_bytes(r.value.as_deref().unwrap().try_into().unwrap()))
        .collect();
    doubled.sort_unstable();
    assert_eq!(doubled, (10..20).map(|v| v * 2).collect::<Vec<_>>());
}

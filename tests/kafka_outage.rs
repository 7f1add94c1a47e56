//! Broker outages on the embedded broker: the brokers go down for several seconds while input
//! keeps coming, and request errors are injected around it. Processing stalls, then resumes;
//! no count is lost; the application neither exits nor spins while it waits. A slow output
//! broker makes commits wait without costing the group membership, and an unreachable one is
//! named in the error.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use streams::kafka::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use streams::kafka::rdkafka::mocking::{MockCluster, MockCoordinator};
use streams::kafka::rdkafka::producer::DefaultProducerContext;
use streams::kafka::rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use streams::{EmbeddedBroker, KafkaStreams, State, StreamsConfig};

const LIMIT: Duration = Duration::from_secs(120);
const OUTAGE: Duration = Duration::from_secs(6);

/// CPU seconds (user + system) this process has used.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// An embedded broker with two-partition `lines` and `counts` topics, the word count over them,
/// and an instance configuration with `session_ms` sessions and 200 ms commits.
fn word_count_on_embedded(
    prefix: &str,
    session_ms: &str,
) -> (
    EmbeddedBroker,
    String,
    String,
    streams::Topology,
    StreamsConfig,
) {
    streams::cli::init_tracing();
    let broker = EmbeddedBroker::start().unwrap();
    let (lines_topic, counts_topic) = (unique("lines"), unique("counts"));
    broker.create_topic(&lines_topic, 2).unwrap();
    broker.create_topic(&counts_topic, 2).unwrap();
    let topology = wordcount_topology(&lines_topic, &counts_topic);
    let mut config = StreamsConfig::new(unique(prefix))
        .bootstrap_servers(broker.bootstrap_servers())
        .commit_interval(Duration::from_millis(200))
        .state_dir(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("state")));
    config
        .set("consumer.session.timeout.ms", session_ms)
        .unwrap();
    (broker, lines_topic, counts_topic, topology, config)
}

#[test]
fn processing_stalls_through_a_broker_outage_then_resumes_without_loss() {
    let (broker, lines_topic, counts_topic, topology, config) =
        word_count_on_embedded("outage", "30000");
    broker.prepare(&topology, &config).unwrap();
    let mut app = KafkaStreams::new(topology, config).unwrap();
    app.start().unwrap();

    let servers = broker.bootstrap_servers().to_owned();
    let first = lines(200, 61);
    produce_lines(
        &servers,
        &lines_topic,
        &first.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut tail = CountsTail::new(&servers, &counts_topic);
    tail.wait_for(&expected_counts(&first), LIMIT);

    // Errors on every path first: produce, fetch and offset commits fail a few times each.
    let cluster = broker.cluster();
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 3],
    );
    cluster.request_errors(
        RDKafkaApiKey::Fetch,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 3],
    );
    cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE; 3],
    );
    // Then the broker goes away while more input is on its way.
    cluster.broker_down(1).unwrap();
    let second = lines(200, 62);
    let writer = {
        let (servers, topic, second) = (servers.clone(), lines_topic.clone(), second.clone());
        std::thread::spawn(move || {
            let refs: Vec<&str> = second.iter().map(String::as_str).collect();
            produce_lines(&servers, &topic, &refs);
        })
    };
    let (cpu_before, outage_started) = (cpu_seconds(), Instant::now());
    while outage_started.elapsed() < OUTAGE {
        assert!(
            !app.has_failed(),
            "the application failed during the outage"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let cpu = cpu_seconds() - cpu_before;
    let stalled = tail.latest.clone();
    cluster.broker_up(1).unwrap();
    // Waiting costs little: well under one core for the whole process (broker, clients and
    // this test included) where a spinning thread would burn a core by itself.
    assert!(
        cpu < OUTAGE.as_secs_f64() * 0.5,
        "{cpu:.2} CPU seconds in a {OUTAGE:?} outage"
    );
    writer.join().unwrap();

    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let expected = expected_counts(&all);
    tail.wait_until(&expected, LIMIT, |latest| {
        expected
            .iter()
            .all(|(word, count)| latest.get(word).is_some_and(|n| n >= count))
    });
    assert!(
        stalled.values().sum::<u64>() < expected.values().sum::<u64>(),
        "the second batch was counted only after the outage"
    );
    wait_idle(&app, Duration::from_millis(1500), LIMIT);
    // The consumer rejoined its group after the outage; the instance is back to Running.
    assert!(app.refresh_state());
    assert_eq!(app.state(), State::Running);
    let counts = snapshot_counts(&app.close().unwrap());
    // At-least-once: a retried write may count twice, none is lost.
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (word, count) in &expected {
        assert!(counts[word] >= *count, "{word}: {} < {count}", counts[word]);
    }
}

/// The broker is gone for 20 seconds, twice the consumer's session, while input keeps arriving:
/// the freeze that the chaos test puts tansu through (issue 13, item 4), on the embedded broker.
/// The session expires, so the instance loses its partitions; it must not fail meanwhile, must
/// rejoin once the broker is back (it is `Running` again, with one rebalance that took
/// partitions away), and must count every line: at least once, since work done after the last
/// commit before the outage is redone; and its store ends with exactly what it last wrote to the
/// output topic.
#[test]
fn an_instance_outlasts_an_outage_longer_than_its_session() {
    use streams::kafka::rdkafka::config::ClientConfig;
    use streams::kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    const LONG_OUTAGE: Duration = Duration::from_secs(20);
    let (broker, lines_topic, counts_topic, topology, mut config) =
        word_count_on_embedded("freeze", "10000");
    // Retry the broker every second at most (librdkafka backs off up to 10 s by default), so
    // the instance finds it back soon after the outage and the test stays short.
    config
        .set("consumer.reconnect.backoff.max.ms", "1000")
        .unwrap();
    config
        .set("producer.reconnect.backoff.max.ms", "1000")
        .unwrap();
    broker.prepare(&topology, &config).unwrap();
    let mut app = KafkaStreams::new(topology, config).unwrap();
    app.start().unwrap();

    let servers = broker.bootstrap_servers().to_owned();
    let first = lines(200, 63);
    produce_lines(
        &servers,
        &lines_topic,
        &first.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    CountsTail::new(&servers, &counts_topic).wait_for(&expected_counts(&first), LIMIT);
    assert_eq!(app.metrics().rebalances, 0);

    let cluster = broker.cluster();
    cluster.broker_down(1).unwrap();
    let outage_started = Instant::now();
    // Input arrives all through the outage, a few lines every two seconds.
    let second = lines(200, 64);
    let writer = {
        let (servers, topic, second) = (servers.clone(), lines_topic.clone(), second.clone());
        std::thread::spawn(move || {
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", &servers)
                .set("reconnect.backoff.max.ms", "1000")
                .create()
                .expect("producer");
            for chunk in second.chunks(20) {
                for line in chunk {
                    let record = BaseRecord::<(), str>::to(&topic).payload(line.as_str());
                    send::send_queued(&producer, record, Duration::from_millis(20));
                }
                std::thread::sleep(Duration::from_secs(2));
            }
            producer.flush(LIMIT).expect("flush");
        })
    };
    while outage_started.elapsed() < LONG_OUTAGE {
        assert!(
            !app.has_failed(),
            "the application failed during the outage"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster.broker_up(1).unwrap();
    writer.join().unwrap();

    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let expected = expected_counts(&all);
    // A reader from after the outage: one from before would first wait out its reconnect
    // backoff.
    let mut tail = CountsTail::new(&servers, &counts_topic);
    tail.wait_until(&expected, LIMIT, |latest| {
        expected
            .iter()
            .all(|(word, count)| latest.get(word).is_some_and(|n| n >= count))
    });
    wait_idle(&app, Duration::from_millis(1500), LIMIT);
    assert!(app.refresh_state());
    assert_eq!(app.state(), State::Running);
    assert_eq!(
        app.metrics().rebalances,
        1,
        "the expired session cost the partitions once"
    );
    let counts = snapshot_counts(&app.close().unwrap());
    assert_eq!(counts, latest_counts(&servers, &counts_topic));
    for (word, count) in &expected {
        assert!(counts[word] >= *count, "{word}: {} < {count}", counts[word]);
    }
}

/// A three-broker mock cluster whose broker 2 leads only the word-count output topic: taking it
/// down makes the output slow while the group coordinator and the inputs stay up.
struct SlowOutput {
    cluster: MockCluster<'static, DefaultProducerContext>,
    servers: String,
    lines: String,
    counts: String,
    application_id: String,
    partitions: i32,
}

impl SlowOutput {
    fn new() -> Self {
        Self::with_partitions(1)
    }

    /// With `partitions` partitions per topic.
    fn with_partitions(partitions: i32) -> Self {
        streams::cli::init_tracing();
        let cluster = MockCluster::new(3).unwrap();
        let servers = cluster.bootstrap_servers();
        let (lines, counts, application_id) = (unique("lines"), unique("counts"), unique("slow"));
        cluster.create_topic(&lines, partitions, 1).unwrap();
        cluster.create_topic(&counts, partitions, 1).unwrap();
        for partition in 0..partitions {
            cluster
                .partition_leader(&lines, partition, Some(1))
                .unwrap();
            cluster
                .partition_leader(&counts, partition, Some(2))
                .unwrap();
        }
        cluster
            .coordinator(MockCoordinator::Group(application_id.clone()), 1)
            .unwrap();
        SlowOutput {
            cluster,
            servers,
            lines,
            counts,
            application_id,
            partitions,
        }
    }

    /// An instance whose consumer is expelled from its group after 6 s without a poll; its
    /// internal topics are created on broker 1.
    fn instance(&self, settings: &[(&str, &str)]) -> KafkaStreams {
        let topology = wordcount_topology(&self.lines, &self.counts);
        let mut config = StreamsConfig::new(&self.application_id)
            .bootstrap_servers(&self.servers)
            .commit_interval(Duration::from_millis(200))
            .state_dir(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("state")));
        config.set("consumer.session.timeout.ms", "6000").unwrap();
        config.set("consumer.max.poll.interval.ms", "6000").unwrap();
        for (key, value) in settings {
            config.set(key, value).unwrap();
        }
        let internal = streams::kafka::topics::plan(&topology, &self.application_id, |_| {
            Ok(Some(self.partitions))
        })
        .unwrap();
        for topic in internal {
            // A second instance finds them made.
            match self.cluster.create_topic(&topic.name, topic.partitions, 1) {
                Ok(()) | Err(KafkaError::MockCluster(RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err(error) => panic!("cannot create {}: {error}", topic.name),
            }
            for partition in 0..topic.partitions {
                self.cluster
                    .partition_leader(&topic.name, partition, Some(1))
                    .unwrap();
            }
        }
        KafkaStreams::new(topology, config).unwrap()
    }
}

/// The output's broker is down for longer than the old fixed 30-second commit limit and than
/// `max.poll.interval.ms`: the commit waits for the producer as long as its records can still
/// be delivered, polling its paused consumer meanwhile, so the instance neither fails nor loses
/// its group membership (no rebalance), and every count arrives once the broker is back.
#[test]
fn a_commit_waits_out_a_slow_broker_and_keeps_the_group() {
    let slow = SlowOutput::new();
    let mut app = slow.instance(&[]);
    app.start().unwrap();
    let first = lines(100, 71);
    produce_lines(
        &slow.servers,
        &slow.lines,
        &first.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut tail = CountsTail::new(&slow.servers, &slow.counts);
    tail.wait_for(&expected_counts(&first), LIMIT);

    slow.cluster.broker_down(2).unwrap();
    let second = lines(100, 72);
    produce_lines(
        &slow.servers,
        &slow.lines,
        &second.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let outage = Duration::from_secs(35);
    let started = Instant::now();
    while started.elapsed() < outage {
        assert!(
            !app.has_failed(),
            "the application failed while the broker was down"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    slow.cluster.broker_up(2).unwrap();

    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let expected = expected_counts(&all);
    tail.wait_for(&expected, LIMIT);
    wait_idle(&app, Duration::from_millis(1500), LIMIT);
    assert_eq!(
        app.metrics().rebalances,
        0,
        "the instance lost its group membership"
    );
    assert!(app.refresh_state());
    assert_eq!(app.state(), State::Running);
    assert_eq!(snapshot_counts(&app.close().unwrap()), expected);
}

/// A record the producer cannot deliver before `message.timeout.ms` (its broker is down) stops
/// the application with one error naming the topic and what the producer met at the broker,
/// not a bare timeout.
#[test]
fn an_unreachable_broker_is_named_in_the_delivery_error() {
    let slow = SlowOutput::new();
    let mut app = slow.instance(&[("producer.message.timeout.ms", "3000")]);
    app.start().unwrap();
    // Connected to the output's broker first: it goes away under the producer.
    produce_lines(&slow.servers, &slow.lines, &["one line"]);
    CountsTail::new(&slow.servers, &slow.counts)
        .wait_for(&expected_counts(&["one line".to_owned()]), LIMIT);
    slow.cluster.broker_down(2).unwrap();
    produce_lines(&slow.servers, &slow.lines, &["another line"]);
    eventually("failed", LIMIT, || app.has_failed());
    let error = app.close().unwrap_err().to_string();
    let prefix = format!(
        "kafka: cannot deliver a record to topic `{}` partition 0: Message production error: MessageTimedOut (Local: Message timed out); the broker's last error: ",
        slow.counts
    );
    assert!(error.starts_with(&prefix), "{error}");
    let cause = &error[prefix.len()..];
    // What the producer met: its connection to the broker closed (an error event's
    // `BrokerTransportFailure: …` when librdkafka raises one, else its `FAIL` log line).
    assert!(
        cause.contains("/2: Disconnected") || cause.contains("/2: Connect to"),
        "{error}"
    );
}

/// A suspended task that ran elsewhere meanwhile catches up. The first instance's revocation
/// waits for its output broker (down) longer than the group's rebalance timeout, so the group
/// moves on without it: the second instance takes every task, restores their stores and goes on
/// writing their changelogs. When the broker is back, the first instance rejoins and gets some
/// of its suspended tasks back: their stores must catch up with what the second instance
/// logged, so that every store ends equal to its changelog.
#[test]
fn a_suspended_task_that_ran_elsewhere_catches_up_with_its_changelog() {
    let slow = SlowOutput::with_partitions(2);
    let mut a = slow.instance(&[]);
    a.start().unwrap();
    let first = lines(100, 91);
    produce_lines(
        &slow.servers,
        &slow.lines,
        &first.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut tail = CountsTail::new(&slow.servers, &slow.counts);
    tail.wait_for(&expected_counts(&first), LIMIT);
    wait_idle(&a, Duration::from_millis(1500), LIMIT);

    slow.cluster.broker_down(2).unwrap();
    let second = lines(100, 92);
    produce_lines(
        &slow.servers,
        &slow.lines,
        &second.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    // The first instance has counted them into its changelogs (on broker 1) and is waiting for
    // its outputs when the second one joins: its revocation waits too.
    let changelog = format!("{}-counts-changelog", slow.application_id);
    let first_two: Vec<String> = first.iter().chain(&second).cloned().collect();
    let counted = expected_counts(&first_two);
    eventually("the changelog counts the second lines", LIMIT, || {
        changelog_counts(&slow.servers, &changelog) == counted
    });
    let mut b = slow.instance(&[]);
    b.start().unwrap();
    // The group gives up on the first instance and hands the second every partition.
    eventually("the second instance owns every task", LIMIT, || {
        b.assigned_partitions().len() == 4
    });
    let third = lines(100, 93);
    produce_lines(
        &slow.servers,
        &slow.lines,
        &third.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    // The second instance counts into the changelogs (on broker 1) until its own commit waits
    // for the output broker too.
    let all: Vec<String> = first.iter().chain(&second).chain(&third).cloned().collect();
    eventually("the second instance writes the changelogs", LIMIT, || {
        changelog_counts(&slow.servers, &changelog) != counted
    });
    slow.cluster.broker_up(2).unwrap();
    eventually("both instances own tasks again", LIMIT, || {
        !a.assigned_partitions().is_empty() && !b.assigned_partitions().is_empty()
    });
    let fourth = lines(50, 94);
    produce_lines(
        &slow.servers,
        &slow.lines,
        &fourth.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    wait_idle(&a, Duration::from_millis(1500), LIMIT);
    wait_idle(&b, Duration::from_millis(1500), LIMIT);
    let a_counts = snapshot_counts(&a.close().unwrap());
    let b_counts = snapshot_counts(&b.close().unwrap());
    let logged = changelog_counts(&slow.servers, &changelog);
    for (word, count) in a_counts.iter().chain(&b_counts) {
        assert_eq!(
            Some(count),
            logged.get(word),
            "`{word}`: store and changelog differ"
        );
    }
    let all: Vec<String> = all.iter().chain(&fourth).cloned().collect();
    for (word, count) in expected_counts(&all) {
        let stored = a_counts.get(&word).or(b_counts.get(&word)).copied();
        assert!(
            stored.is_some_and(|n| n >= count),
            "`{word}`: {stored:?} < {count}"
        );
    }
}

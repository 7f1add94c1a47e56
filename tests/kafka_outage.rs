//! A broker outage on the embedded broker: the brokers go down for several seconds while input
//! keeps coming, and request errors are injected around it. Processing stalls, then resumes;
//! no count is lost; the application neither exits nor spins while it waits.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
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

#[test]
fn processing_stalls_through_a_broker_outage_then_resumes_without_loss() {
    streams::cli::init_tracing();
    let broker = EmbeddedBroker::start().unwrap();
    let (lines_topic, counts_topic) = (unique("lines"), unique("counts"));
    broker.create_topic(&lines_topic, 2).unwrap();
    broker.create_topic(&counts_topic, 2).unwrap();
    let topology = wordcount_topology(&lines_topic, &counts_topic);
    let mut config = StreamsConfig::new(unique("outage"))
        .bootstrap_servers(broker.bootstrap_servers())
        .commit_interval(Duration::from_millis(200))
        .state_dir(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("state")));
    config.set("consumer.session.timeout.ms", "30000").unwrap();
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

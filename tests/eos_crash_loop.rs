//! The exactly-once crash loops: the word-count and page-views examples under
//! `exactly_once_v2`, SIGKILLed at random moments ten times while they count, restarted on the
//! same state directory each time, then left to finish. Read `read_committed`, every word's
//! count on `word-counts` only ever grows (no update is published twice, none is lost) and ends
//! exact; every closed window's final count on `page-view-counts` is there once, exact.
//!
//! It needs a broker that honours transactions, such as Apache Kafka: neither test broker here
//! does (tansu has no EndTxn; librdkafka's mock cluster hands aborted records to
//! `read_committed` readers). Set `STREAMS_TEST_TRANSACTIONAL_BOOTSTRAP=host:port` when
//! building and running the tests to run it; without it the test is reported as ignored.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::process::{Watched, example, parse_counts};

fn transactional_bootstrap() -> String {
    std::env::var("STREAMS_TEST_TRANSACTIONAL_BOOTSTRAP")
        .expect("STREAMS_TEST_TRANSACTIONAL_BOOTSTRAP names the broker")
}

fn instance(
    servers: &str,
    application_id: &str,
    input: Option<&Path>,
    dir: &Path,
    extra: &[&str],
) -> Watched {
    let mut command = Command::new(example("wordcount"));
    command
        .args([
            "--bootstrap-servers",
            servers,
            "--application-id",
            application_id,
        ])
        .args(["--processing-guarantee", "exactly_once_v2"])
        .arg("--state-dir")
        .arg(dir)
        .args(extra);
    if let Some(input) = input {
        command.arg("--input").arg(input);
    }
    command.env("STREAMS_CONSUMER_SESSION_TIMEOUT_MS", "6000");
    // `STREAMS_*` variables configure the application: this one is the test's own.
    command.env_remove("STREAMS_TEST_TRANSACTIONAL_BOOTSTRAP");
    Watched::spawn(command)
}

#[test]
#[cfg_attr(
    not(transactional_broker),
    ignore = "needs STREAMS_TEST_TRANSACTIONAL_BOOTSTRAP: a broker with transactions (Apache Kafka)"
)]
fn exactly_once_survives_crashes_with_exact_counts() {
    use rand::Rng;
    let servers = transactional_bootstrap();
    let lines = common::lines(20_000, 51);
    let input = {
        use std::io::Write;
        let mut file = tempfile::NamedTempFile::new().unwrap();
        for line in &lines {
            writeln!(file, "{line}").unwrap();
        }
        file
    };
    let expected = common::expected_counts(&lines);
    let application_id = common::unique("wc-eos");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(common::unique("state"));
    let mut rng = rand::rng();
    for round in 0..10 {
        let input = (round == 0).then(|| input.path());
        let mut run = instance(&servers, &application_id, input, &dir, &[]);
        run.wait_for("to=Running", Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(rng.random_range(300..2_500)));
        run.child.kill().expect("SIGKILL");
        let _ = run.child.wait();
    }
    let run = instance(
        &servers,
        &application_id,
        None,
        &dir,
        &["--idle-exit-ms", "5000"],
    );
    let (ok, stdout) = run.finish();
    assert!(ok, "a clean run after the crashes");
    let counts: BTreeMap<String, u64> = parse_counts(&stdout).into_iter().collect();
    assert_eq!(counts, expected, "exact counts after ten crashes");

    // Every committed update of a word is larger than the one before: no transaction's
    // output was published twice, and the last one is the true count.
    let mut tail = common::CountsTail::read_committed(&servers, "word-counts");
    tail.wait_for(&expected, Duration::from_secs(120));
    let repeated: Vec<_> = tail
        .irregular
        .iter()
        .filter(|(_, previous, new)| new <= previous)
        .collect();
    assert!(
        repeated.is_empty(),
        "counts went back or repeated: {repeated:?}"
    );
}

/// The page-views example under `exactly_once_v2`, SIGKILLed at random moments ten times while
/// it counts views per minute with final results only, restarted on the same state directory
/// each time, then left to finish. Read `read_committed`, `page-view-counts` holds each
/// closed window's count once, exact: the suppression buffer's changelog and the outputs commit
/// together, so no final result is lost with a crash or published twice after one.
#[test]
#[cfg_attr(
    not(transactional_broker),
    ignore = "needs STREAMS_TEST_TRANSACTIONAL_BOOTSTRAP: a broker with transactions (Apache Kafka)"
)]
fn exactly_once_final_window_counts_survive_crashes() {
    use rand::Rng;
    use streams::kafka::rdkafka::Message;
    use streams::kafka::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use streams::kafka::rdkafka::client::DefaultClientContext;
    use streams::kafka::rdkafka::config::ClientConfig;
    use streams::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
    use streams::kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    let servers = transactional_bootstrap();
    // The example's topics, fresh: one partition each, so one task sees every view in order.
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .expect("admin");
    let topics = ["page-views", "page-view-counts"];
    let options = AdminOptions::new();
    let _ = futures_executor::block_on(admin.delete_topics(&topics, &options));
    std::thread::sleep(Duration::from_secs(2));
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, 1, TopicReplication::Fixed(-1)))
        .collect();
    futures_executor::block_on(admin.create_topics(&new, &options)).expect("create topics");

    // Twenty pages, a view every 100 ms of event time for 30 minutes, every ninth 6 s out of
    // order and every 31st 45 s late; the count as Kafka Streams does it, alongside.
    const BASE: i64 = 1_800_000_000_000;
    let views: Vec<(String, i64)> = (0..18_000)
        .map(|i: i64| {
            let delay = match i {
                i if i % 31 == 0 && i > 0 => 45_000,
                i if i % 9 == 0 => 6_000,
                _ => 0,
            };
            (format!("/page-{}", i % 20), BASE + i * 100 - delay)
        })
        .collect();
    let mut stream_time = i64::MIN;
    let mut counts: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for (page, t) in &views {
        stream_time = stream_time.max(*t);
        let start = t - t % 60_000;
        if start + 70_000 > stream_time {
            *counts.entry((page.clone(), start)).or_default() += 1;
        }
    }
    counts.retain(|(_, start), _| start + 70_000 <= stream_time);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .expect("producer");
    for (page, timestamp) in &views {
        let record = BaseRecord::<str, [u8]>::to("page-views")
            .key(page.as_str())
            .payload(&[])
            .timestamp(*timestamp);
        common::send::send_queued(&producer, record, Duration::from_millis(20));
    }
    producer.flush(Duration::from_secs(60)).expect("flush");

    let application_id = common::unique("pv-eos");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(common::unique("state"));
    let page_views = |extra: &[&str]| {
        let mut command = Command::new(example("page-views"));
        command
            .args(["--bootstrap-servers", &servers])
            .args(["--application-id", &application_id])
            .args(["--processing-guarantee", "exactly_once_v2"])
            .arg("--state-dir")
            .arg(&dir)
            .args(extra);
        command.env("STREAMS_CONSUMER_SESSION_TIMEOUT_MS", "6000");
        command.env_remove("STREAMS_TEST_TRANSACTIONAL_BOOTSTRAP");
        Watched::spawn(command)
    };
    let mut rng = rand::rng();
    for _ in 0..10 {
        let mut run = page_views(&[]);
        run.wait_for("to=Running", Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(rng.random_range(300..2_500)));
        run.child.kill().expect("SIGKILL");
        let _ = run.child.wait();
    }
    let (ok, _) = page_views(&["--idle-exit-ms", "5000"]).finish();
    assert!(ok, "a clean run after the crashes");

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .set("group.id", common::unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    consumer.subscribe(&["page-view-counts"]).unwrap();
    let mut published: BTreeMap<(String, i64), Vec<u64>> = BTreeMap::new();
    let mut quiet_since = std::time::Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(10) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let key = m.key().expect("a windowed key");
            let (page, start) = key.split_at(key.len() - 8);
            let start = i64::from_be_bytes(start.try_into().unwrap());
            let count = std::str::from_utf8(m.payload().expect("a count")).unwrap();
            published
                .entry((String::from_utf8(page.to_vec()).unwrap(), start))
                .or_default()
                .push(count.parse().unwrap());
            quiet_since = std::time::Instant::now();
        }
    }
    let expected: BTreeMap<(String, i64), Vec<u64>> = counts
        .into_iter()
        .map(|(window, n)| (window, vec![n]))
        .collect();
    assert_eq!(published, expected, "each final count once, and exact");
}

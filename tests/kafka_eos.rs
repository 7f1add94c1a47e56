//! Exactly-once (`processing.guarantee=exactly_once_v2`) on the embedded broker: the
//! transactional protocol itself and the no-crash path.
//!
//! librdkafka's mock cluster speaks the transaction API, with three gaps these tests work
//! within (librdkafka 2.12): it hands aborted records to `read_committed` readers, it
//! acknowledges the offsets sent into a transaction (TxnOffsetCommit) without storing them, and
//! a second producer with the same `transactional.id` gets a new producer id instead of fencing
//! the first. So the offsets' place in the transaction is shown by failing that request, fencing
//! by the broker's own error, and after an abort the tests check that the application recovers
//! (aborts, rebuilds its tasks from their changelogs, reads its input again and goes on), not
//! that the output is exact. Exactness across crashes needs a broker that honours transactions
//! (`tests/eos_crash_loop.rs`).

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use streams::config::ProcessingGuarantee;
use streams::kafka::rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use streams::processor::TaskId;
use streams::{EmbeddedBroker, KafkaStreams, State, StateRestoreListener, StreamsConfig};

const QUIET: Duration = Duration::from_millis(1500);
const LIMIT: Duration = Duration::from_secs(90);
const COMMIT_INTERVAL: Duration = Duration::from_millis(200);

/// Records where each store restore started and how many records it applied.
#[derive(Default)]
struct Restores {
    /// (task, store, first offset) per restore begun.
    started: Mutex<Vec<(TaskId, String, i64)>>,
    /// (task, store, records) per restore finished.
    ended: Mutex<Vec<(TaskId, String, u64)>>,
}

impl StateRestoreListener for Restores {
    fn on_restore_start(&self, task: TaskId, store: &str, _: &str, start: i64, _: i64) {
        self.started
            .lock()
            .unwrap()
            .push((task, store.to_owned(), start));
    }

    fn on_restore_end(&self, task: TaskId, store: &str, records: u64) {
        self.ended
            .lock()
            .unwrap()
            .push((task, store.to_owned(), records));
    }
}

struct Setup {
    broker: EmbeddedBroker,
    lines: String,
    counts: String,
    application_id: String,
}

impl Setup {
    fn new() -> Self {
        streams::cli::init_tracing();
        let broker = EmbeddedBroker::start().unwrap();
        let (lines, counts) = (unique("lines"), unique("counts"));
        broker.create_topic(&lines, 2).unwrap();
        broker.create_topic(&counts, 2).unwrap();
        Setup {
            broker,
            lines,
            counts,
            application_id: unique("eos"),
        }
    }

    fn servers(&self) -> &str {
        self.broker.bootstrap_servers()
    }

    fn instance(&self, threads: usize, restores: &Arc<Restores>) -> KafkaStreams {
        let topology = wordcount_topology(&self.lines, &self.counts);
        let state_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("state"));
        let mut config = StreamsConfig::new(&self.application_id)
            .bootstrap_servers(self.servers())
            .processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
            .commit_interval(COMMIT_INTERVAL)
            .num_stream_threads(threads)
            .state_dir(state_dir);
        config.set("consumer.session.timeout.ms", "3000").unwrap();
        config.set("consumer.heartbeat.interval.ms", "500").unwrap();
        self.broker.prepare(&topology, &config).unwrap();
        let mut app = KafkaStreams::new(topology, config).unwrap();
        app.set_restore_listener(Arc::clone(restores) as Arc<dyn StateRestoreListener>);
        app
    }

    fn produce(&self, lines: &[String]) {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        produce_lines(self.servers(), &self.lines, &refs);
    }
}

/// Waits until `done()` holds, failing the test when `app` fails or `limit` passes.
fn wait_until(app: &KafkaStreams, limit: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            !app.has_failed(),
            "the application failed waiting for {what}"
        );
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn exactly_once_counts_exactly_with_one_transaction_per_commit_interval() {
    let setup = Setup::new();
    let input = lines(400, 41);
    setup.produce(&input);
    let expected = expected_counts(&input);
    let restores = Arc::new(Restores::default());
    let mut app = setup.instance(2, &restores);
    let started = Instant::now();
    app.start().unwrap();
    let mut tail = CountsTail::read_committed(setup.servers(), &setup.counts);
    tail.wait_for(&expected, LIMIT);
    wait_idle(&app, QUIET, LIMIT);
    let metrics = app.metrics();
    let elapsed = started.elapsed();
    let counts = snapshot_counts(&app.close().unwrap());

    assert_eq!(counts, expected);
    // The record cache may merge updates (a count then grows by more than one), but no
    // count is published twice or goes back.
    let repeated: Vec<_> = tail
        .irregular
        .iter()
        .filter(|(_, previous, new)| new <= previous)
        .collect();
    assert!(repeated.is_empty(), "{repeated:?}");
    // One transaction per thread per commit interval at most (plus the commits on
    // revocation and close), and no transaction per record.
    let intervals = (elapsed.as_millis() / COMMIT_INTERVAL.as_millis()) as u64 + 1;
    let occurrences: u64 = expected.values().sum();
    assert!(
        metrics.commits >= 2 && metrics.commits <= 2 * intervals + 8,
        "{} transactions in {elapsed:?} ({intervals} commit intervals, 2 threads)",
        metrics.commits
    );
    assert!(metrics.commits < occurrences / 4, "{metrics:?}");
    assert_eq!(metrics.aborted_transactions, 0);
    assert_eq!(metrics.producers_replaced, 0);
}

/// How many restores of `store` began at offset 0 (a store rebuilt from scratch).
fn restores_from_scratch(restores: &Restores, store: &str) -> usize {
    restores
        .started
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, name, start)| name == store && *start == 0)
        .count()
}

/// Produces `batch` and waits until every count is at least what `all` says.
fn feed(
    setup: &Setup,
    app: &KafkaStreams,
    tail: &mut CountsTail,
    batch: &[String],
    all: &[String],
) {
    setup.produce(batch);
    let expected = expected_counts(all);
    tail.wait_until(&expected, LIMIT, |latest| {
        expected
            .iter()
            .all(|(word, count)| latest.get(word).is_some_and(|n| n >= count))
    });
    assert!(!app.has_failed());
}

#[test]
fn a_failed_transaction_is_aborted_the_tasks_rebuilt_and_processing_resumes() {
    let setup = Setup::new();
    let restores = Arc::new(Restores::default());
    let mut app = setup.instance(1, &restores);
    app.start().unwrap();
    let mut tail = CountsTail::read_committed(setup.servers(), &setup.counts);
    let first = lines(200, 42);
    feed(&setup, &app, &mut tail, &first, &first);
    let rebuilt_before = restores_from_scratch(&restores, "counts");
    assert_eq!(app.metrics().aborted_transactions, 0);

    // The input offsets go into the transaction (TxnOffsetCommit): failing that request
    // dooms the transaction, which must be aborted.
    setup.broker.cluster().request_errors(
        RDKafkaApiKey::TxnOffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED],
    );
    let second = lines(200, 43);
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    feed(&setup, &app, &mut tail, &second, &all);
    wait_until(&app, LIMIT, "the abort", || {
        app.metrics().aborted_transactions >= 1
    });
    // The stores were wiped and rebuilt from their changelogs: each counting task restored
    // from offset 0 again.
    assert!(
        restores_from_scratch(&restores, "counts") >= rebuilt_before + 2,
        "{:?}",
        restores.started.lock().unwrap()
    );

    // And processing goes on: new input is counted, the application never left Running.
    let third = lines(100, 44);
    let all: Vec<String> = all.iter().chain(&third).cloned().collect();
    feed(&setup, &app, &mut tail, &third, &all);
    wait_idle(&app, QUIET, LIMIT);
    assert_eq!(app.state(), State::Running);
    assert_eq!(app.metrics().producers_replaced, 0);
    let counts = snapshot_counts(&app.close().unwrap());
    let expected = expected_counts(&all);
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (word, count) in &expected {
        // The mock broker shows aborted records to read_committed readers, so the restore may
        // have counted the aborted transaction's writes too; nothing is lost.
        assert!(counts[word] >= *count, "{word}: {} < {count}", counts[word]);
    }
}

#[test]
fn a_fenced_producer_is_replaced_and_processing_resumes() {
    let setup = Setup::new();
    let restores = Arc::new(Restores::default());
    let mut app = setup.instance(1, &restores);
    app.start().unwrap();
    let mut tail = CountsTail::read_committed(setup.servers(), &setup.counts);
    let first = lines(200, 45);
    feed(&setup, &app, &mut tail, &first, &first);

    let transactional_id = app.transactional_id(1).expect("started");
    let process_id = app.process_id().expect("started").to_owned();
    assert_eq!(
        transactional_id,
        format!("{}-{process_id}-1", setup.application_id)
    );
    // The broker fences the thread's producer at its next transaction commit.
    setup.broker.cluster().request_errors(
        RDKafkaApiKey::EndTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED],
    );

    let second = lines(200, 46);
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    feed(&setup, &app, &mut tail, &second, &all);
    wait_until(&app, LIMIT, "the producer's replacement", || {
        app.metrics().producers_replaced >= 1
    });
    let third = lines(100, 47);
    let all: Vec<String> = all.iter().chain(&third).cloned().collect();
    feed(&setup, &app, &mut tail, &third, &all);
    wait_idle(&app, QUIET, LIMIT);
    assert_eq!(app.state(), State::Running);
    assert_eq!(app.metrics().producers_replaced, 1);
    assert!(
        restores_from_scratch(&restores, "counts") >= 4,
        "rebuilt after the fencing"
    );
    let counts = snapshot_counts(&app.close().unwrap());
    for (word, count) in &expected_counts(&all) {
        assert!(counts[word] >= *count, "{word}: {} < {count}", counts[word]);
    }
}

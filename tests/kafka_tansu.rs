//! The word-count example against tansu, a standalone Kafka-compatible broker: two instances in
//! one group split the work and together print every word exactly once with its exact count, also
//! when the second joins while the first is under load. Needs the `tansu` binary (`.ci/run`
//! installs it); without it these tests fail and say how to install it. Their names start with
//! `tansu_`: `scripts/test` runs them last, once a background install of tansu is done.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::process::{Watched, example, parse_counts, terminate};
use common::tansu::Tansu;

/// One broker test at a time: each runs its own tansu and two instances, and on two cores
/// several at once starve each other into timeouts.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serialized() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A new state directory (each instance its own, as on separate machines).
fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(common::unique("state"))
}

fn instance(servers: &str, application_id: &str, input: Option<&Path>) -> Watched {
    instance_on(servers, application_id, input, &state_dir(), &[])
}

fn instance_on(
    servers: &str,
    application_id: &str,
    input: Option<&Path>,
    state_dir: &Path,
    extra: &[&str],
) -> Watched {
    let mut command = Command::new(example("wordcount"));
    command.args([
        "--bootstrap-servers",
        servers,
        "--application-id",
        application_id,
    ]);
    command.arg("--state-dir").arg(state_dir).args(extra);
    if let Some(input) = input {
        command.arg("--input").arg(input);
    }
    // Short sessions: a departed member is noticed quickly.
    command.env("STREAMS_CONSUMER_SESSION_TIMEOUT_MS", "6000");
    // One record per batch. tansu 0.6 answers a fetch at an offset inside a record batch with
    // the *next* batch (Kafka returns the batch holding the offset and the client skips the
    // records before it), so a consumer resuming from a committed offset in mid-batch would
    // never see the batch's rest: checked directly against tansu (three 1,000-record batches;
    // a fetch at 500 returns offset 1000 first). With single-record batches every committed
    // offset starts a batch. Apache Kafka needs no such setting.
    command.env("STREAMS_PRODUCER_BATCH_NUM_MESSAGES", "1");
    command.env("STREAMS_COMMIT_INTERVAL_MS", "500");
    Watched::spawn(command)
}

fn write_input(lines: &[String]) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    file
}

/// Creates the example's topics, so an instance without `--input` can start first.
fn create_topics(servers: &str) {
    let config = streams::StreamsConfig::new("setup").bootstrap_servers(servers);
    streams::kafka::topics::ensure_topics(&config, &[("text-lines", 4), ("word-counts", 4)])
        .unwrap();
}

/// Stops both instances at once and merges what they print.
fn stop_both(a: Watched, b: Watched) -> (Vec<(String, u64)>, Vec<(String, u64)>) {
    terminate(&a.child);
    terminate(&b.child);
    let (a_ok, a_out) = a.finish();
    let (b_ok, b_out) = b.finish();
    assert!(a_ok && b_ok, "both exit cleanly");
    (parse_counts(&a_out), parse_counts(&b_out))
}

fn assert_split_exactly(
    a: &[(String, u64)],
    b: &[(String, u64)],
    expected: &BTreeMap<String, u64>,
) {
    let mut merged = BTreeMap::new();
    for (word, count) in a.iter().chain(b) {
        assert!(
            merged.insert(word.clone(), *count).is_none(),
            "`{word}` printed twice"
        );
    }
    assert_eq!(&merged, expected);
    assert!(!a.is_empty() && !b.is_empty(), "both instances owned tasks");
}

#[test]
fn tansu_two_instances_split_the_word_count() {
    let _serial = serialized();
    let tansu = Tansu::start();
    let lines = common::lines(2_000, 11);
    let input = write_input(&lines);
    let expected = common::expected_counts(&lines);
    let application_id = common::unique("wc");
    create_topics(&tansu.servers);
    let b = instance(&tansu.servers, &application_id, None);
    let a = instance(&tansu.servers, &application_id, Some(input.path()));
    common::CountsTail::new(&tansu.servers, "word-counts")
        .wait_for(&expected, Duration::from_secs(120));
    let (a_counts, b_counts) = stop_both(a, b);
    assert_split_exactly(&a_counts, &b_counts, &expected);
}

#[test]
fn tansu_a_rebalance_under_load_loses_nothing() {
    let _serial = serialized();
    let tansu = Tansu::start();
    let lines = common::lines(40_000, 12);
    let input = write_input(&lines);
    let expected = common::expected_counts(&lines);
    let application_id = common::unique("wc");
    let mut a = instance(&tansu.servers, &application_id, Some(input.path()));
    a.wait_for("to=Running", Duration::from_secs(60));
    // The second instance joins while the first is counting: once a tenth of the words are.
    let mut tail = common::CountsTail::new(&tansu.servers, "word-counts");
    let total: u64 = expected.values().sum();
    tail.wait_until(&expected, Duration::from_secs(120), |latest| {
        latest.values().sum::<u64>() * 10 >= total
    });
    let mut b = instance(&tansu.servers, &application_id, None);
    b.wait_for("created=[TaskId", Duration::from_secs(120));
    tail.wait_for(&expected, Duration::from_secs(240));
    let (a_counts, b_counts) = stop_both(a, b);
    assert_split_exactly(&a_counts, &b_counts, &expected);
}

/// At-least-once across crashes: the word count is SIGKILLed at random moments ten times while
/// it counts, restarted each time on the same state directory, then left to finish. No word may
/// be missing or counted short. Counts may come out higher than the truth: records processed
/// after the last commit are processed again after a crash, while their store updates may
/// already have reached the changelog (and the local store), so they count twice; that is the
/// at-least-once contract (exactly-once is the cure). A clean restart afterwards restores
/// nothing (the checkpoint vouches for the local stores) and reports the same counts.
#[test]
fn tansu_crashes_lose_no_count() {
    use rand::Rng;
    let _serial = serialized();
    let tansu = Tansu::start();
    let lines = common::lines(20_000, 31);
    let input = write_input(&lines);
    let expected = common::expected_counts(&lines);
    let application_id = common::unique("wc");
    let dir = state_dir();
    let mut rng = rand::rng();
    for round in 0..10 {
        let input = (round == 0).then(|| input.path());
        let mut run = instance_on(&tansu.servers, &application_id, input, &dir, &[]);
        run.wait_for("to=Running", Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(rng.random_range(300..2_500)));
        run.child.kill().expect("SIGKILL");
        let _ = run.child.wait();
    }
    let finish = |extra: &[&str]| {
        let run = instance_on(&tansu.servers, &application_id, None, &dir, extra);
        let (ok, stdout, log) = run.finish_with_log();
        assert!(ok, "a clean run after the crashes");
        (stdout, log)
    };
    let (stdout, _) = finish(&["--idle-exit-ms", "3000"]);
    let counts: BTreeMap<String, u64> = parse_counts(&stdout).into_iter().collect();
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "every word, once"
    );
    for (word, count) in &expected {
        assert!(
            counts[word] >= *count,
            "`{word}`: {} < {count}",
            counts[word]
        );
    }
    let mut tail = common::CountsTail::new(&tansu.servers, "word-counts");
    tail.wait_until(&expected, Duration::from_secs(60), |latest| {
        latest == &counts
    });

    let (again, log) = finish(&["--idle-exit-ms", "3000"]);
    assert_eq!(
        parse_counts(&again).into_iter().collect::<BTreeMap<_, _>>(),
        counts
    );
    let restores: Vec<&String> = log.iter().filter(|l| l.contains("restored from")).collect();
    assert!(!restores.is_empty(), "every store reports its restore");
    assert!(
        restores.iter().all(|l| l.contains(" records=0 ")),
        "a clean restart restores nothing: {restores:#?}"
    );
}

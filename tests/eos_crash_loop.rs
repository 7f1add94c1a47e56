//! The exactly-once crash loop: the word-count example under `exactly_once_v2`, SIGKILLed at
//! random moments ten times while it counts, restarted on the same state directory each time,
//! then left to finish. Read `read_committed`, every word's count on `word-counts` only ever
//! grows (no update is published twice, none is lost) and ends exact.
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

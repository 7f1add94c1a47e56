//! The word-count example as a process on the embedded broker: exact counts with
//! `--idle-exit-ms`, and a clean shutdown on SIGTERM.

mod common;

use std::process::Command;
use std::time::Duration;

use common::process::{Watched, example, parse_counts, terminate};

fn sample() -> (String, Vec<(String, u64)>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/sample.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    (
        path.to_owned(),
        common::expected_counts(&lines).into_iter().collect(),
    )
}

#[test]
fn idle_exit_prints_exact_counts() {
    let (path, expected) = sample();
    let mut command = Command::new(example("wordcount"));
    command.args([
        "--input",
        &path,
        "--idle-exit-ms",
        "1500",
        "--application-id",
        &common::unique("wc"),
    ]);
    let (ok, stdout) = Watched::spawn(command).finish();
    assert!(ok);
    assert_eq!(parse_counts(&stdout), expected);
}

#[test]
fn sigterm_commits_closes_and_prints() {
    let (path, expected) = sample();
    let mut command = Command::new(example("wordcount"));
    command.args(["--input", &path, "--partitions", "2"]);
    let mut child = Watched::spawn(command);
    child.wait_for("to=Running", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    terminate(&child.child);
    child.wait_for("SIGTERM: shutting down", Duration::from_secs(10));
    let (ok, stdout) = child.finish();
    assert!(ok, "exit status 0 after SIGTERM");
    assert_eq!(parse_counts(&stdout), expected);
}

#[test]
fn a_streams_main_binary_has_the_standard_flags() {
    let output = Command::new(example("uppercase"))
        .arg("--describe")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("Topologies:\n   Sub-topology: 0\n    Source: KSTREAM-SOURCE-0000000000 (topics: [lines])"), "{text}");
    let output = Command::new(example("uppercase"))
        .arg("--threads=0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("invalid value `0` for `num.stream.threads`"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

//! The peers: Quix Streams and Bytewax running the count workload and the window workload
//! (`../shared/peers/*.py`) from virtual environments under `target/bench-venv`, on the same
//! tansu; they report their own figures.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use streams::kafka::rdkafka::config::ClientConfig;
use streams::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use streams::kafka::rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::measure::Measured;
use crate::records::unique;
use crate::tansu::ChildGuard;
use crate::{PARTITIONS, root};

/// Quix Streams, as pinned by the issue.
pub(crate) const QUIX: &str = "quixstreams==3.28.1";
/// Bytewax, as pinned by the issue (its Kafka connector needs `confluent-kafka`).
pub(crate) const BYTEWAX: &[&str] = &["bytewax==0.21.1", "confluent-kafka"];

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
pub(crate) fn peer(
    servers: &str,
    n: u64,
    id: &str,
    venv_name: &str,
    packages: &[&str],
    script: &str,
) -> Result<(String, Measured), String> {
    peer_until(servers, n, id, venv_name, packages, script, || false)
}

/// A peer's limit: it produces its records itself, then processes them.
fn peer_limit(records: u64) -> Duration {
    Duration::from_secs(300 + records / 1_000)
}

/// [`peer`], for a script that does not stop by itself: once `done()` says it has processed
/// every record (asked every second), it gets `SIGTERM`, which stops a Quix Streams application
/// cleanly and lets the script print its figures. A peer still running after [`peer_limit`] is
/// killed.
pub(crate) fn peer_until(
    servers: &str,
    n: u64,
    id: &str,
    venv_name: &str,
    packages: &[&str],
    script: &str,
    mut done: impl FnMut() -> bool,
) -> Result<(String, Measured), String> {
    let python = venv(venv_name, packages)?;
    let script = std::path::absolute(peers_dir().join(script)).map_err(|e| e.to_string())?;
    if !script.is_file() {
        return Err(format!("{} is missing", script.display()));
    }
    // Quix Streams keeps its state under `./state`: run the peers in a scratch directory.
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let child = Command::new(python)
        .current_dir(scratch.path())
        .arg(&script)
        .args([servers, &n.to_string(), &PARTITIONS.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    let mut child = ChildGuard {
        child,
        name: "peer",
    };
    let mut pipe = child.child.stdout.take().ok_or("no standard output")?;
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = pipe.read_to_end(&mut text);
        text
    });
    let started = Instant::now();
    let mut last_check = started;
    let mut stopped = false;
    let status = loop {
        if let Some(status) = child.child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > peer_limit(n) {
            return Err(format!(
                "{} still running after {:?}",
                script.display(),
                peer_limit(n)
            ));
        }
        if !stopped && last_check.elapsed() >= Duration::from_secs(1) {
            last_check = Instant::now();
            if done() {
                eprintln!("  {id}: every record processed; stopping it with SIGTERM");
                let pid = child.child.id().to_string();
                let _ = Command::new("kill").args(["-TERM", &pid]).status();
                stopped = true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = reader.join().map_err(|_| "the output reader panicked")?;
    let stdout = String::from_utf8_lossy(&output);
    for line in stdout.lines().filter(|l| !l.starts_with("RESULT")) {
        eprintln!("  {id}: {line}");
    }
    if !status.success() {
        return Err(format!("{} failed: {status}", script.display()));
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

/// The Quix Streams window peer's completion, for [`peer_until`]: whether its consumer group has
/// committed offsets adding up to `n` on its input. The script names both from a run id of its
/// own (`<group_prefix><run>` reading `<topic_prefix><run>`): the input is found by its prefix
/// in the broker's metadata (this run's tansu holds one such topic).
///
/// The script's `app.run(count=n)` stops after `n` *outputs*, and a final window count emits one
/// output per key and closed window (about one per six records here): it never stops by itself.
pub(crate) fn committed_all(
    servers: &str,
    topic_prefix: &'static str,
    group_prefix: &'static str,
    n: u64,
) -> impl FnMut() -> bool {
    let servers = servers.to_owned();
    let mut group: Option<(BaseConsumer, String)> = None;
    move || {
        if group.is_none() {
            group = peer_group(&servers, topic_prefix, group_prefix);
        }
        let Some((consumer, topic)) = &group else {
            return false;
        };
        let mut list = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            list.add_partition(topic, p);
        }
        let Ok(committed) = consumer.committed_offsets(list, Duration::from_secs(5)) else {
            return false;
        };
        let total: i64 = committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o.max(0),
                _ => 0,
            })
            .sum();
        total >= n as i64
    }
}

/// A consumer in the group of the peer whose input topic starts with `topic_prefix` (it only
/// fetches the group's committed offsets: it never joins), and that topic.
fn peer_group(
    servers: &str,
    topic_prefix: &str,
    group_prefix: &str,
) -> Option<(BaseConsumer, String)> {
    let consumer = |group: &str| -> Option<BaseConsumer> {
        ClientConfig::new()
            .set("bootstrap.servers", servers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .ok()
    };
    let metadata = consumer(&unique("peer-watch"))?
        .fetch_metadata(None, Duration::from_secs(5))
        .ok()?;
    let topic = metadata
        .topics()
        .iter()
        .map(|t| t.name())
        .find(|name| name.starts_with(topic_prefix))?
        .to_owned();
    let group = format!("{group_prefix}{}", &topic[topic_prefix.len()..]);
    Some((consumer(&group)?, topic))
}

//! The peers: Quix Streams and Bytewax running the count workload (`../shared/peers/*.py`) from
//! virtual environments under `target/bench-venv`, on the same tansu; they report their own
//! figures.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::measure::Measured;
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
    let python = venv(venv_name, packages)?;
    let script = std::path::absolute(peers_dir().join(script)).map_err(|e| e.to_string())?;
    if !script.is_file() {
        return Err(format!("{} is missing", script.display()));
    }
    // Quix Streams keeps its state under `./state`: run the peers in a scratch directory.
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let output = Command::new(python)
        .current_dir(scratch.path())
        .arg(&script)
        .args([servers, &n.to_string(), &PARTITIONS.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines().filter(|l| !l.starts_with("RESULT")) {
        eprintln!("  {id}: {line}");
    }
    if !output.status.success() {
        return Err(format!("{} failed: {}", script.display(), output.status));
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

//! The brokers the workloads run on: tansu (through the helper the broker tests use too), and
//! the embedded broker, served by this binary in a child process so its CPU is not counted.

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Command, Stdio};

use crate::tansu::{ChildGuard, Tansu, TansuError};

/// Starts tansu (memory storage) on a free loopback port.
pub(crate) fn start_tansu() -> Result<Tansu, String> {
    Tansu::try_start().map_err(|e| match e {
        TansuError::Spawn(_) => format!("{e}; `scripts/setup --tansu` installs it"),
        _ => e.to_string(),
    })
}

/// The argument that makes this binary serve an embedded broker instead of benchmarking.
pub(crate) const EMBEDDED_CHILD: &str = "--embedded-broker-child";

/// In the child: starts the embedded broker, creates `topic:partitions` topics, prints its
/// address and serves until standard input closes.
pub(crate) fn embedded_child(topics: &[String]) -> Result<(), String> {
    let broker = streams::EmbeddedBroker::start().map_err(|e| e.to_string())?;
    for spec in topics {
        let (name, partitions) = spec.rsplit_once(':').ok_or("topic:partitions")?;
        let partitions = partitions.parse().map_err(|e| format!("{spec}: {e}"))?;
        broker
            .create_topic(name, partitions)
            .map_err(|e| e.to_string())?;
    }
    println!("SERVERS {}", broker.bootstrap_servers());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
        sink.clear();
    }
    Ok(())
}

/// Starts the embedded broker in a child process with `topics` created.
pub(crate) fn start_embedded(topics: &[(&str, i32)]) -> Result<(ChildGuard, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command.arg(EMBEDDED_CHILD);
    for (name, partitions) in topics {
        command.arg(format!("{name}:{partitions}"));
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the embedded broker process: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let guard = ChildGuard {
        child,
        name: "embedded broker",
    };
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let servers = line
        .trim()
        .strip_prefix("SERVERS ")
        .ok_or_else(|| format!("unexpected output from the embedded broker: {line:?}"))?
        .to_owned();
    Ok((guard, servers))
}

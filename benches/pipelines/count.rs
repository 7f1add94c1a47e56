//! `count()` on tansu: F3 (RocksDB, changelog, record cache), F3-mem (in memory, no changelog),
//! and the scaling figure (F3-1T, F3-2T, F3-4T over stream threads, F3-2I over instances).

use std::sync::atomic::Ordering;
use std::time::Duration;

use streams::prelude::*;
use streams::{KafkaStreams, StreamsConfig};

use crate::PARTITIONS;
use crate::app::{app_config, check_counts, count_topology, counter, run_app};
use crate::measure::{Mark, Measured, limit_for, wait_until};
use crate::records::{create_topics, input_topic, produce_in_child, unique};

/// F3 (`memory` false) and F3-mem (`memory` true): `count()`.
pub(crate) fn f3(servers: &str, n: u64, memory: bool) -> Result<Measured, String> {
    let prefix = if memory { "f3mem" } else { "f3" };
    let input = input_topic(servers, prefix, n)?;
    let output = unique(&format!("{prefix}-out"));
    create_topics(servers, &[&output])?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let seen = counter();
    let mut materialized = Materialized::named("counts");
    if memory {
        materialized = materialized
            .with_backend(StoreBackend::InMemory)
            .with_logging_disabled();
    }
    let topology = count_topology(&input, &output, materialized, &seen)?;
    let measured = run_app(topology, app_config(servers, prefix, dir.path()), &seen, n)?;
    check_counts(servers, &output, n)?;
    Ok(measured)
}

/// The scaling figure: F3's `count()` with `threads` stream threads in each of `instances`
/// instances (one application id). The instances start on an empty input topic; once every
/// partition is assigned and the group has settled, a child process produces the records (its
/// CPU is not counted), and the span runs until every instance has counted its share and closed.
pub(crate) fn f3_scaling(
    servers: &str,
    n: u64,
    threads: usize,
    instances: usize,
) -> Result<Measured, String> {
    let input = unique("scale");
    let output = unique("scale-out");
    create_topics(servers, &[&input, &output])?;
    let application_id = unique("scale");
    let seen = counter();
    let mut dirs = Vec::new();
    let mut apps = Vec::new();
    let result: Result<Mark, String> = (|| {
        for _ in 0..instances {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let config = StreamsConfig::new(application_id.clone())
                .bootstrap_servers(servers)
                .state_dir(dir.path())
                .num_stream_threads(threads);
            dirs.push(dir);
            let topology = count_topology(&input, &output, Materialized::named("counts"), &seen)?;
            let mut app = KafkaStreams::new(topology, config).map_err(|e| e.to_string())?;
            app.start().map_err(|e| format!("start: {e}"))?;
            apps.push(app);
        }
        let settled = |apps: &[KafkaStreams]| {
            apps.iter().all(KafkaStreams::refresh_state)
                && apps
                    .iter()
                    .map(|a| a.assigned_partitions().len())
                    .sum::<usize>()
                    == PARTITIONS as usize
        };
        let failed = |apps: &[KafkaStreams]| apps.iter().any(KafkaStreams::has_failed);
        // A joining member moves partitions twice: wait for the assignment, let the group
        // settle, and check that it still holds.
        for _ in 0..2 {
            wait_until(
                "a settled group",
                Duration::from_secs(120),
                || settled(&apps),
                || failed(&apps),
            )?;
            std::thread::sleep(Duration::from_secs(3));
        }
        let start = Mark::now();
        let mut producer = produce_in_child(servers, &input, n)?;
        wait_until(
            "all records",
            limit_for(n),
            || seen.load(Ordering::Relaxed) >= n,
            || failed(&apps),
        )
        .map_err(|e| format!("{e} ({} of {n})", seen.load(Ordering::Relaxed)))?;
        let status = producer.child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("the producer failed: {status}"));
        }
        Ok(start)
    })();
    let mut closed = Ok(());
    for app in apps {
        if let Err(e) = app.close() {
            closed = Err(format!("close: {e}"));
        }
    }
    let end = Mark::now();
    let start = result?;
    closed?;
    check_counts(servers, &output, n)?;
    Ok(start.to(end, n))
}

/// The scaling figure's workloads: id, stream threads per instance, instances.
pub(crate) const SCALING: &[(&str, usize, usize)] = &[
    ("F3-1T", 1, 1),
    ("F3-2T", 2, 1),
    ("F3-4T", 4, 1),
    ("F3-2I", 1, 2),
];

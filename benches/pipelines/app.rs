//! Running our pipelines on a broker: one `KafkaStreams` instance per workload, timed from its
//! assignment to the end of `close()`, and its output read back to check it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use streams::kafka::rdkafka::message::Message;
use streams::prelude::*;
use streams::{KafkaStreams, StreamsConfig};

use crate::Input;
use crate::measure::{Mark, Measured, limit_for, wait_until};
use crate::records::{raw_consumer, unique};

/// A fresh configuration for one workload.
pub(crate) fn app_config(servers: &str, prefix: &str, state_dir: &Path) -> StreamsConfig {
    StreamsConfig::new(unique(prefix))
        .bootstrap_servers(servers)
        .state_dir(state_dir)
}

/// Runs `topology` until `counter` reaches `n`, then closes it. The span runs from the moment
/// every thread has its assignment to the end of `close()` (which commits: flushes the record
/// cache to the stores, changelogs and outputs, and the producer).
pub(crate) fn run_app(
    topology: Topology,
    config: StreamsConfig,
    counter: &AtomicU64,
    n: u64,
) -> Result<Measured, String> {
    let mut app = KafkaStreams::new(topology, config).map_err(|e| e.to_string())?;
    app.start().map_err(|e| format!("start: {e}"))?;
    let result: Result<Mark, String> = (|| {
        wait_until(
            "the assignment",
            Duration::from_secs(120),
            || app.refresh_state() || counter.load(Ordering::Relaxed) > 0,
            || app.has_failed(),
        )?;
        let start = Mark::now();
        wait_until(
            "all records",
            limit_for(n),
            || counter.load(Ordering::Relaxed) >= n,
            || app.has_failed(),
        )
        .map_err(|e| format!("{e} ({} of {n})", counter.load(Ordering::Relaxed)))?;
        Ok(start)
    })();
    let closed = app.close();
    let end = Mark::now();
    let start = result?;
    closed.map_err(|e| format!("close: {e}"))?;
    Ok(start.to(end, n))
}

/// A counter a topology's closure bumps.
pub(crate) fn counter() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(0))
}

/// The count topology of F3, F3-mem, F4 and F6: `group_by_key().count()` into the store
/// `counts`, counts to `output`; `seen` counts the input records.
pub(crate) fn count_topology(
    input: &str,
    output: &str,
    materialized: Materialized<u32, u64>,
    seen: &Arc<AtomicU64>,
) -> Result<Topology, String> {
    let builder = StreamsBuilder::new();
    let c = Arc::clone(seen);
    builder
        .stream(&Input::named(input))
        .peek(move |_, _| {
            c.fetch_add(1, Ordering::Relaxed);
        })
        .group_by_key()
        .count_with(materialized)
        .to_stream()
        .to(&Topic::<u32, Option<u64>>::named(output));
    builder.build().map_err(|e| e.to_string())
}

/// Reads `topic` from the beginning until `done(records read, latest value per key)` holds, or
/// fails after a minute without progress. (tansu's end offsets cannot be trusted to count
/// records: they point at the last batch's first record.)
pub(crate) fn check_output(
    servers: &str,
    topic: &str,
    what: &str,
    done: impl Fn(u64, &BTreeMap<Vec<u8>, Vec<u8>>) -> bool,
) -> Result<(), String> {
    let consumer = raw_consumer(servers, topic)?;
    let mut read = 0u64;
    let mut latest = BTreeMap::new();
    let mut last_progress = Instant::now();
    while !done(read, &latest) {
        if last_progress.elapsed() > Duration::from_secs(60) {
            return Err(format!("{topic}: {read} records read, expected {what}"));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                read += 1;
                last_progress = Instant::now();
                latest.insert(
                    message.key().unwrap_or_default().to_vec(),
                    message.payload().unwrap_or_default().to_vec(),
                );
            }
            Some(Err(e)) => return Err(format!("reading {topic}: {e}")),
            None => {}
        }
    }
    Ok(())
}

/// Reads the count topology's `output` until its latest counts add up to `n`.
pub(crate) fn check_counts(servers: &str, output: &str, n: u64) -> Result<(), String> {
    check_output(
        servers,
        output,
        &format!("counts adding up to {n}"),
        |_, latest| counts_add_up(latest, n),
    )
}

/// Whether the latest counts per key (8-byte big-endian values) add up to `n`.
fn counts_add_up(latest: &BTreeMap<Vec<u8>, Vec<u8>>, n: u64) -> bool {
    latest
        .values()
        .filter_map(|v| v.as_slice().try_into().ok().map(u64::from_be_bytes))
        .sum::<u64>()
        == n
}

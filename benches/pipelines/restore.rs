//! F4: restoring a changelog into a fresh instance, timed by a `StateRestoreListener`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use streams::kafka::topics;
use streams::prelude::*;
use streams::processor::TaskId;
use streams::{KafkaStreams, StateRestoreListener};

use crate::PARTITIONS;
use crate::app::{app_config, count_topology, counter};
use crate::measure::{Mark, Measured, limit_for, wait_until};
use crate::records::{create_topics, produce_records, unique};

/// Times a restore: from the first store's start to the last store's end.
#[derive(Default)]
struct RestoreTimer {
    start: Mutex<Option<Mark>>,
    end: Mutex<Option<Mark>>,
    stores: AtomicU64,
    records: AtomicU64,
}

impl StateRestoreListener for RestoreTimer {
    fn on_restore_start(&self, _: TaskId, _: &str, _: &str, _: i64, _: i64) {
        if let Ok(mut start) = self.start.lock() {
            start.get_or_insert_with(Mark::now);
        }
    }

    fn on_restore_end(&self, _: TaskId, _: &str, records: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        if self.stores.fetch_add(1, Ordering::AcqRel) + 1 == PARTITIONS as u64
            && let Ok(mut end) = self.end.lock()
        {
            *end = Some(Mark::now());
        }
    }
}

/// F4: restores a changelog of `n` records (the workload's keys and values) into a fresh
/// instance of the count topology; measures the restore only.
pub(crate) fn f4(servers: &str, n: u64) -> Result<Measured, String> {
    let input = unique("f4");
    let output = unique("f4-out");
    create_topics(servers, &[&input, &output])?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = app_config(servers, "f4", dir.path());
    let changelog = streams::state::changelog_topic(config.application_id(), "counts");
    topics::ensure_compacted_topic(&config, &changelog, PARTITIONS)
        .map_err(|e| format!("changelog: {e}"))?;
    let started = Instant::now();
    produce_records(servers, &changelog, n, false)?;
    eprintln!(
        "  changelog: {n} records to {changelog} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let seen = counter();
    let topology = count_topology(&input, &output, Materialized::named("counts"), &seen)?;
    let timer = Arc::new(RestoreTimer::default());
    let mut app = KafkaStreams::new(topology, config).map_err(|e| e.to_string())?;
    app.set_restore_listener(Arc::clone(&timer) as Arc<dyn StateRestoreListener>);
    app.start().map_err(|e| format!("start: {e}"))?;
    let waited = wait_until(
        "the restore",
        limit_for(n),
        || timer.end.lock().is_ok_and(|e| e.is_some()),
        || app.has_failed(),
    );
    let closed = app.close();
    waited?;
    closed.map_err(|e| format!("close: {e}"))?;
    let start = timer.start.lock().ok().and_then(|s| *s).ok_or("no start")?;
    let end = timer.end.lock().ok().and_then(|e| *e).ok_or("no end")?;
    let records = timer.records.load(Ordering::Relaxed);
    if records != n {
        eprintln!("  note: restored {records} records of the {n} produced");
    }
    Ok(start.to(end, records))
}

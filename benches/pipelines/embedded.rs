//! F6-alos and F6: the count topology on the embedded broker, at-least-once versus exactly-once.

use std::time::{Duration, Instant};

use streams::config::ProcessingGuarantee;
use streams::prelude::*;

use crate::PARTITIONS;
use crate::app::{app_config, check_counts, count_topology, counter, run_app};
use crate::brokers::start_embedded;
use crate::measure::Measured;
use crate::records::{produce_records, unique};

/// F6-alos (`exactly_once` false) and F6: the count topology on the embedded broker.
pub(crate) fn f6(n: u64, exactly_once: bool) -> Result<Measured, String> {
    let prefix = if exactly_once { "f6eos" } else { "f6alos" };
    let input = unique(prefix);
    let output = unique(&format!("{prefix}-out"));
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (_broker, servers) = start_embedded(&[(&input, PARTITIONS), (&output, PARTITIONS)])?;
    let mut config = app_config(&servers, prefix, dir.path());
    if exactly_once {
        config = config
            .processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
            .commit_interval(Duration::from_millis(100));
    }
    let started = Instant::now();
    produce_records(&servers, &input, n, false)?;
    eprintln!(
        "  input: {n} records to the embedded broker in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let seen = counter();
    let topology = count_topology(&input, &output, Materialized::named("counts"), &seen)?;
    let measured = run_app(topology, config, &seen, n)?;
    check_counts(&servers, &output, n)?;
    Ok(measured)
}

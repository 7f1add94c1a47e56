//! REBALANCE: what a rebalance costs a running application. One instance counts (F3's
//! topology) over an input of 8 partitions, so 8 tasks; once its counts are committed, a second
//! instance of the application joins. The span runs from the join until both instances run
//! again with the 8 tasks split between them: the one that stays resumes the tasks it keeps,
//! the newcomer restores the ones it gains from their changelogs.

use std::sync::atomic::Ordering;
use std::time::Duration;

use streams::kafka::topics;
use streams::prelude::*;
use streams::{KafkaStreams, StreamsConfig};

use crate::app::{count_topology, counter};
use crate::measure::{Mark, Measured, limit_for, wait_until};
use crate::records::{key_of, producer, send, unique, value};

/// The tasks of the workload: its input's partitions.
const TASKS: i32 = 8;

/// REBALANCE: the records are the tasks (8), and the wall time is the figure.
pub(crate) fn rebalance(servers: &str, n: u64) -> Result<Measured, String> {
    let input = unique("rebalance");
    let output = unique("rebalance-out");
    let setup = StreamsConfig::new("bench-setup").bootstrap_servers(servers);
    topics::ensure_topics(&setup, &[(&input, TASKS), (&output, TASKS)])
        .map_err(|e| format!("creating topics: {e}"))?;
    let records = producer(servers)?;
    let value = value();
    for i in 0..n {
        send(&records, &input, &key_of(i), &value);
    }
    crate::records::flush(&records)?;
    let application_id = unique("rebalance");
    let seen = counter();
    let mut dirs = Vec::new();
    let mut instance = || -> Result<KafkaStreams, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config = StreamsConfig::new(application_id.clone())
            .bootstrap_servers(servers)
            .state_dir(dir.path())
            .commit_interval(Duration::from_millis(500));
        dirs.push(dir);
        let topology = count_topology(&input, &output, Materialized::named("counts"), &seen)?;
        let mut app = KafkaStreams::new(topology, config).map_err(|e| e.to_string())?;
        app.start().map_err(|e| format!("start: {e}"))?;
        Ok(app)
    };
    let mut apps = vec![instance()?];
    let result: Result<Measured, String> = (|| {
        wait_until(
            "all records",
            limit_for(n),
            || seen.load(Ordering::Relaxed) >= n,
            || apps[0].has_failed(),
        )?;
        // Committed, so that the newcomer has changelogs to restore.
        std::thread::sleep(Duration::from_secs(2));
        let start = Mark::now();
        apps.push(instance()?);
        let failed = |apps: &[KafkaStreams]| apps.iter().any(KafkaStreams::has_failed);
        wait_until(
            "the tasks split between the instances",
            Duration::from_secs(120),
            || {
                apps.iter().all(KafkaStreams::refresh_state)
                    && apps.iter().all(|a| {
                        let assigned = a.assigned_partitions();
                        assigned.iter().any(|(topic, _)| *topic == input)
                    })
                    && apps
                        .iter()
                        .map(|a| {
                            a.assigned_partitions()
                                .iter()
                                .filter(|(topic, _)| *topic == input)
                                .count()
                        })
                        .sum::<usize>()
                        == TASKS as usize
            },
            || failed(&apps),
        )?;
        let measured = start.to(Mark::now(), TASKS as u64);
        eprintln!(
            "  rebalance: {:.2} s from the join until both instances run with the {TASKS} tasks split",
            measured.wall
        );
        Ok(measured)
    })();
    let mut closed = Ok(());
    for app in apps {
        if let Err(e) = app.close() {
            closed = Err(format!("close: {e}"));
        }
    }
    let measured = result?;
    closed?;
    Ok(measured)
}

//! Windowed `count()` on tansu: F7 (60 s tumbling windows with a 10 s grace, emit-on-update) and
//! F7-final (the same, suppressed until each window closes), on RocksDB with changelog and
//! record cache (the defaults). Record `i` carries the Kafka timestamp [`BASE_MS`] + `i` ms, as
//! the window peers' records do, so a million records span about 1,000 s of event time and
//! windows close as it moves: F7-final emits its final counts along the way.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use streams::kafka::rdkafka::message::Message;
use streams::prelude::*;

use crate::app::{app_config, counter, run_app};
use crate::measure::Measured;
use crate::records::{create_topics, input_topic_at, raw_consumer, unique};
use crate::{Input, KEYS};

/// The first record's timestamp: the window peers' start (`T0` in their scripts).
pub(crate) const BASE_MS: i64 = 1_700_000_000_000;
/// The window size.
const WINDOW_MS: i64 = 60_000;
/// The grace period.
const GRACE_MS: i64 = 10_000;
/// How far before the last record's timestamp a partition's last record may lie: every key
/// appears within the last 10,000 records, and the 4 partitions share them, so a partition's
/// stream time ends within a few milliseconds of the last timestamp. A window that closes in
/// this margin may or may not have been emitted when the run ends.
const STREAM_TIME_MARGIN_MS: i64 = 1_000;

/// The output topic: windowed `u32` keys in Kafka's time-windowed layout, counts as values.
type WindowedCounts = Topic<Windowed<u32>, Option<u64>, TimeWindowedCodec<WINDOW_MS>>;

/// F7 (`final_only` false) and F7-final (`final_only` true): the windowed `count()`.
pub(crate) fn f7(servers: &str, n: u64, final_only: bool) -> Result<Measured, String> {
    let prefix = if final_only { "f7-final" } else { "f7" };
    let input = input_topic_at(servers, prefix, n, Some(BASE_MS))?;
    let output = unique(&format!("{prefix}-out"));
    create_topics(servers, &[&output])?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let seen = counter();
    let topology = window_topology(&input, &output, final_only, &seen)?;
    // `seen` counts input records, so completion does not depend on how many the window emits.
    let measured = run_app(topology, app_config(servers, prefix, dir.path()), &seen, n)?;
    if final_only {
        check_finals(servers, &output, n)?;
    } else {
        check_updates(servers, &output, n)?;
    }
    Ok(measured)
}

/// `group_by_key().windowed_by(60 s tumbling, 10 s grace).count()`, suppressed until each window
/// closes when `final_only`, to `output`; `seen` counts the input records.
fn window_topology(
    input: &str,
    output: &str,
    final_only: bool,
    seen: &Arc<AtomicU64>,
) -> Result<Topology, String> {
    let windows = TimeWindows::of_size_and_grace(
        Duration::from_millis(WINDOW_MS as u64),
        Duration::from_millis(GRACE_MS as u64),
    )
    .map_err(|e| e.to_string())?;
    // A topic with non-default codecs takes a `&'static str`: one short name per workload.
    let output = WindowedCounts::with_codecs(Box::leak(output.to_owned().into_boxed_str()));
    let builder = StreamsBuilder::new();
    let c = Arc::clone(seen);
    let mut counts = builder
        .stream(&Input::named(input))
        .peek(move |_, _| {
            c.fetch_add(1, Ordering::Relaxed);
        })
        .group_by_key()
        .windowed_by(windows)
        .count();
    if final_only {
        counts = counts.suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
    }
    counts.to_stream().to(&output);
    builder.build().map_err(|e| e.to_string())
}

/// The time at which the window starting at `start` closes: its end plus the grace period.
fn closes(start: i64) -> i64 {
    start + WINDOW_MS + GRACE_MS
}

/// How many of the first `n` records have key `key` and fall in the window starting at `start`.
fn expected_count(n: u64, key: u64, start: i64) -> u64 {
    // Record `i` has key `i % KEYS` and timestamp `BASE_MS + i`.
    let lo = (start - BASE_MS).clamp(0, n as i64) as u64;
    let hi = (start + WINDOW_MS - BASE_MS).clamp(0, n as i64) as u64;
    let below = |x: u64| {
        if x <= key {
            0
        } else {
            (x - key - 1) / KEYS + 1
        }
    };
    below(hi) - below(lo)
}

/// Reads F7-final's output until every window that surely closed has its one final count per
/// key: each count must be the number of records of its key in its window, each window must have
/// closed (by the last record's timestamp), and no windowed key may come twice.
fn check_finals(servers: &str, output: &str, n: u64) -> Result<(), String> {
    let last = BASE_MS + n as i64 - 1;
    let first_window = BASE_MS.div_euclid(WINDOW_MS) * WINDOW_MS;
    let mut surely_closed = 0u64;
    let mut start = first_window;
    while closes(start) <= last - STREAM_TIME_MARGIN_MS {
        surely_closed += (0..KEYS)
            .filter(|&k| expected_count(n, k, start) > 0)
            .count() as u64;
        start += WINDOW_MS;
    }
    if surely_closed == 0 {
        return Ok(());
    }
    let mut finals: HashMap<(u32, i64), u64> = HashMap::new();
    let mut seen_closed = 0u64;
    read_output(servers, output, |k, s, count| {
        if closes(s) > last {
            return Err(format!("key {k}'s window at {s} emitted before it closed"));
        }
        let expected = expected_count(n, u64::from(k), s);
        if count != expected {
            return Err(format!(
                "key {k}'s window at {s} counted {count}, expected {expected}"
            ));
        }
        if finals.insert((k, s), count).is_some() {
            return Err(format!("key {k}'s window at {s} emitted twice"));
        }
        if closes(s) <= last - STREAM_TIME_MARGIN_MS {
            seen_closed += 1;
        }
        Ok(seen_closed == surely_closed)
    })
    .map_err(|e| format!("{e} ({seen_closed} of {surely_closed} final counts read)"))
}

/// Reads F7's output until the latest count of each windowed key adds up to `n` (kept as a
/// running sum: there are some 170,000 windowed keys).
fn check_updates(servers: &str, output: &str, n: u64) -> Result<(), String> {
    let mut latest: HashMap<(u32, i64), u64> = HashMap::new();
    let mut sum = 0u64;
    read_output(servers, output, |k, s, count| {
        let before = latest.insert((k, s), count).unwrap_or(0);
        sum = sum + count - before;
        Ok(sum == n)
    })
    .map_err(|e| format!("{e} (latest counts add up to {sum} of {n})"))
}

/// Reads `output` (windowed `u32` keys, 8-byte counts) from the beginning, handing each record
/// to `record(key, window start, count)` until it says done; fails on its error, on a record of
/// another shape, or after a minute without progress.
fn read_output(
    servers: &str,
    output: &str,
    mut record: impl FnMut(u32, i64, u64) -> Result<bool, String>,
) -> Result<(), String> {
    let consumer = raw_consumer(servers, output)?;
    let mut last_progress = Instant::now();
    loop {
        if last_progress.elapsed() > Duration::from_secs(60) {
            return Err(format!("{output}: no more records after a minute"));
        }
        let message = match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => message,
            Some(Err(e)) => return Err(format!("reading {output}: {e}")),
            None => continue,
        };
        last_progress = Instant::now();
        let key = message.key().unwrap_or_default();
        let value = message.payload().unwrap_or_default();
        let (Ok(k), Ok(s), Ok(count)) = (
            key.get(..4)
                .unwrap_or_default()
                .try_into()
                .map(u32::from_be_bytes),
            key.get(4..)
                .unwrap_or_default()
                .try_into()
                .map(i64::from_be_bytes),
            value.try_into().map(u64::from_be_bytes),
        ) else {
            return Err(format!(
                "{output}: a record with a {}-byte key and a {}-byte value",
                key.len(),
                value.len()
            ));
        };
        if record(k, s, count).map_err(|e| format!("{output}: {e}"))? {
            return Ok(());
        }
    }
}

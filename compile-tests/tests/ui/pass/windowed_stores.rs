//! Window and session store parameters of `#[processor]` functions, wired and run.

use streams::prelude::*;

/// Counts per key and 10 ms tumbling window.
#[processor]
fn per_window(
    key: &String,
    _value: &u64,
    ctx: &RecordContext,
    #[store(window_size = "10ms", retention = "1h")] counts: &mut WindowStore<String, u64>,
) -> Result<u64, StoreError> {
    let start = ctx.timestamp - ctx.timestamp % 10;
    let count = counts.fetch(key, start)?.unwrap_or(0) + 1;
    counts.put(key, &count, start)?;
    Ok(count)
}

/// Sums per key and session (gap 5 ms).
#[processor]
fn per_session(
    key: &String,
    value: &u64,
    ctx: &RecordContext,
    #[store(name = "sessions", session, retention = "1h")] sums: &mut SessionStore<String, u64>,
) -> Result<u64, StoreError> {
    let t = ctx.timestamp;
    let mut merged = Windowed::new(key.clone(), t, t);
    let mut sum = *value;
    for (session, old) in sums.find_sessions(key, t - 5, t + 5)? {
        merged.window.start = merged.window.start.min(session.window.start);
        merged.window.end = merged.window.end.max(session.window.end);
        sum += old;
        sums.remove(&session)?;
    }
    sums.put(&merged, &sum)?;
    Ok(sum)
}

const INPUT: Topic<String, u64> = Topic::new("in");
const OUTPUT: Topic<String, u64> = Topic::new("out");

fn main() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let input = builder.stream(&INPUT);
    input.clone().process(per_window::Function).to(&OUTPUT);
    input.process(per_session::Function).to(&OUTPUT);
    let mut driver = TopologyTestDriver::new(builder.build()?)?;
    driver.pipe_at(&INPUT, "k".into(), 2, 1)?;
    driver.pipe_at(&INPUT, "k".into(), 3, 4)?;
    assert_eq!(driver.read_values(&OUTPUT)?, vec![1, 2, 2, 5]);
    let sessions: SessionStore<String, u64> = driver.store("sessions")?;
    assert_eq!(sessions.fetch(&"k".into())?, vec![(Windowed::new("k".into(), 1, 4), 5)]);
    // The attribute's shape reaches the stores.
    let windows: WindowStore<String, u64> = driver.store("per_window-counts")?;
    assert_eq!(windows.window_size(), 10);
    let spec = |name: &str| driver.topology().stores().iter().find(|s| s.name() == name).cloned();
    assert_eq!(spec("per_window-counts").map(|s| s.retention()), Some(std::time::Duration::from_secs(3600)));
    assert_eq!(spec("sessions").map(|s| s.retention()), Some(std::time::Duration::from_secs(3600)));
    Ok(())
}

// Emit-final (`Suppressed::until_window_closes`) needs a buffer that never emits early, or a
// "final" result could be an early one: `BufferConfig::max_records` emits early when full;
// add `.shut_down_when_full()` or use `BufferConfig::unbounded()`.
use std::time::Duration;

use streams::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let final_counts = Suppressed::until_window_closes(BufferConfig::max_records(10));
    let builder = StreamsBuilder::new();
    let _ = builder
        .stream(&Topic::<String, String>::new("clicks"))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60))?)
        .count()
        .suppress(final_counts);
    Ok(())
}

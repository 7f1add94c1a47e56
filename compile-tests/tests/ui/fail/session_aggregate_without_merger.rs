// A session aggregation needs a merger, for the sessions a late record bridges:
// `aggregate(initializer, aggregator, merger)`, not the two arguments of a time-windowed one.
use std::time::Duration;

use streams::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gap = Duration::from_secs(300);
    let builder = StreamsBuilder::new();
    let _ = builder
        .stream(&Topic::<String, String>::new("clicks"))
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(gap)?)
        .aggregate(String::new, |_, page, path| path + &page);
    Ok(())
}

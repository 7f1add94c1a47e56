// A windowed aggregation's table is keyed by `Windowed<K>`: it cannot be used where a table of
// plain keys is expected (here a function that would join or look up by `String`).
use std::time::Duration;

use streams::prelude::*;

fn enrich(_per_user: KTable<String, u64>) {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let builder = StreamsBuilder::new();
    let per_minute = builder
        .stream(&Topic::<String, String>::new("clicks"))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60))?)
        .count();
    enrich(per_minute);
    Ok(())
}

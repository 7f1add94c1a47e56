// A windowed aggregation's table is keyed by `Windowed<K>`, not `K`: writing its updates to a
// topic of plain `String` keys, as if the count were not windowed, is a key type mismatch.
use std::time::Duration;

use streams::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let builder = StreamsBuilder::new();
    builder
        .stream(&Topic::<String, String>::new("clicks"))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60))?)
        .count()
        .to_stream()
        .to(&Topic::<String, Option<u64>>::new("counts"));
    Ok(())
}

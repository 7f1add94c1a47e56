// A time-windowed key on a topic carries only its window's start: the topic's key codec must
// name the window size (`TimeWindowedCodec<SIZE_MS>`, or `SessionWindowedCodec` for sessions).
// The default topic codec has no encoding of `Windowed<K>`.
use std::time::Duration;

use streams::prelude::*;

const PER_MINUTE: Topic<Windowed<String>, Option<u64>> = Topic::new("per-minute");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let builder = StreamsBuilder::new();
    builder
        .stream(&Topic::<String, String>::new("clicks"))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60))?)
        .count()
        .to_stream()
        .to(&PER_MINUTE);
    Ok(())
}

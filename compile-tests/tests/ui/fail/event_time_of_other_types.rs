// An event-time extractor reads the topic's own key and value: one written for `u64` values
// cannot read a topic of `String` values.
use streams::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clicks = Topic::<String, String>::new("clicks");
    let builder = StreamsBuilder::new();
    builder
        .stream_with(
            &clicks,
            Consumed::new().with_event_time(|_: &String, at: &u64, _| *at as i64),
        )
        .to(&Topic::<String, String>::new("out"));
    Ok(())
}

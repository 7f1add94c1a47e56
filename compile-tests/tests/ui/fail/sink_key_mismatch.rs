// `to(&topic)` needs the topic's key type to be the stream's.
use streams::prelude::*;

fn main() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&Topic::<String, u64>::new("amounts"))
        .to(&Topic::<u64, u64>::new("by-number"));
}

// A DSL closure's argument types are the stream's.
use streams::prelude::*;

fn main() {
    let builder = StreamsBuilder::new();
    let _ = builder
        .stream(&Topic::<String, u64>::new("amounts"))
        .map_values(|text: String| text.len());
}

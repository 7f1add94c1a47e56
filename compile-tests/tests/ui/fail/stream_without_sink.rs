// A stream that reaches no sink or processor does nothing: the handle is `#[must_use]`.
#![deny(unused_must_use)]

use streams::prelude::*;

const LINES: Topic<String, String> = Topic::new("lines");

fn main() {
    let builder = StreamsBuilder::new();
    builder.stream(&LINES).map_values(|line| line.len());
    builder.stream(&Topic::<String, u64>::new("other")).group_by_key();
}

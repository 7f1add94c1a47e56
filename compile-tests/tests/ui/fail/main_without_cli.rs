// `#[streams::main]` writes a binary's `main`; without the `cli` feature (these cases build
// `streams` without default features) it says which feature to turn on.
use streams::prelude::*;

const LINES: Topic<(), String> = Topic::new("lines");

#[streams::main]
fn topology(builder: &StreamsBuilder) {
    builder.stream(&LINES).to(&LINES);
}

// `#[streams::main]` takes one option, `crate = "path"`; anything else is an error on the option.
use streams::prelude::*;

const LINES: Topic<(), String> = Topic::new("lines");

#[streams::main(crate = "not a path", threads = 2)]
fn topology(builder: &StreamsBuilder) {
    builder.stream(&LINES).to(&LINES);
}

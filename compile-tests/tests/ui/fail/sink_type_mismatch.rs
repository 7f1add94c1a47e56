use streams::prelude::*;

const LINES: Topic<String, String> = Topic::new("lines");
const COUNTS: Topic<String, u64> = Topic::new("counts");

fn main() {
    let builder = StreamsBuilder::new();
    builder.stream(&LINES).map_values(|line| line.len()).to(&COUNTS);
}

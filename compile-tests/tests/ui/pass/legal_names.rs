// The longest legal name (249 characters) and every legal character class, accepted by the macro
// and by the runtime when the topology is built.
use streams::prelude::*;

#[processor(name = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
fn longest(value: &String) -> String {
    value.clone()
}

#[processor(name = "Orders.v2_eu-west-1")]
fn classes(value: &String, #[store(name = "Seen.v2_eu-west-1")] seen: &mut KeyValueStore<String, u64>) -> String {
    let _ = seen;
    value.clone()
}

const LINES: Topic<(), String> = Topic::new("lines");

fn main() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&LINES)
        .process(longest::Function)
        .process(classes::Function)
        .to(&LINES);
    let topology = builder.build().expect("the runtime accepts the names the macro accepts");
    let described = topology.describe().to_string();
    assert!(described.contains(&"a".repeat(249)), "{described}");
    assert!(described.contains("Orders.v2_eu-west-1"), "{described}");
}

// A DSL closure takes what the operator gives it: `filter` gives the key and the value.
use streams::prelude::*;

fn main() {
    let builder = StreamsBuilder::new();
    let _ = builder
        .stream(&Topic::<String, u64>::new("amounts"))
        .filter(|amount| *amount > 10);
}

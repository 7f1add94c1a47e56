use streams::prelude::*;

fn main() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&Topic::<String, String>::new("words"))
        .group_by_key()
        .count_with(Materialized::<String, String>::named("counts"));
}

// Node and store names become parts of Kafka topic names: the macro rejects, at compile time,
// the names the runtime rejects when it builds a topology (one rule, `streams-runtime/src/names.rs`).
use streams::prelude::*;

#[processor(name = "two words")]
fn spaced(value: &String) -> String {
    value.clone()
}

#[processor(name = "")]
fn empty(value: &String) -> String {
    value.clone()
}

#[processor]
fn accented(value: &String, #[store(name = "größe")] seen: &mut KeyValueStore<String, u64>) -> String {
    let _ = seen;
    value.clone()
}

fn main() {}

use streams::prelude::*;

#[processor(nmae = "renamed")]
fn renamed(value: u64) -> u64 {
    value
}

#[processor]
fn bad_store(value: u64, #[store(nmae = "x")] store: &mut KeyValueStore<u64, u64>) -> u64 {
    let _ = store;
    value
}

fn main() {}

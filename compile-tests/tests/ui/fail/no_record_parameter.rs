use streams::prelude::*;

#[processor]
fn tick(counter: &mut KeyValueStore<String, u64>) -> u64 {
    counter.approximate_len()
}

fn main() {}

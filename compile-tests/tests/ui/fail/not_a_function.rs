use streams::prelude::*;

#[processor]
struct Enricher {
    prefix: String,
}

fn main() {}

// Two record parameters are the key, then the value: named the other way round is a mistake.
use streams::prelude::*;

#[processor]
fn label(value: &String, key: &String) -> String {
    format!("{key}: {value}")
}

fn main() {}

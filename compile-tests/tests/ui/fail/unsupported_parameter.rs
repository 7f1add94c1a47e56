use streams::prelude::*;

#[processor]
fn join(key: &String, left: &String, right: &String) -> String {
    format!("{key}{left}{right}")
}

fn main() {}

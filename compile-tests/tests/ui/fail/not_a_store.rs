use streams::prelude::*;

#[processor]
fn remember(value: String, last: &mut String) -> String {
    std::mem::replace(last, value)
}

fn main() {}

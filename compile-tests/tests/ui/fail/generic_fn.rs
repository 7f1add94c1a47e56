use streams::prelude::*;

#[processor]
fn identity<T: Clone>(value: T) -> T {
    value
}

fn main() {}

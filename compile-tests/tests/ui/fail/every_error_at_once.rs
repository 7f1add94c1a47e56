use streams::prelude::*;

#[processor]
async unsafe fn everything<T>(a: T, b: T, c: T) -> &'static str {
    "no"
}

fn main() {}

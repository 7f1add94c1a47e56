use streams::prelude::*;

struct Scaler;

impl Scaler {
    #[processor]
    fn scale(&self, value: u64) -> u64 {
        value * 2
    }
}

fn main() {}

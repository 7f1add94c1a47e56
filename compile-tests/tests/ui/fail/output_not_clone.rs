use streams::prelude::*;

struct Summary {
    words: usize,
}

#[processor]
fn summarize(text: &String) -> Summary {
    Summary { words: text.split(' ').count() }
}

fn main() {}

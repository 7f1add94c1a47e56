use streams::prelude::*;

#[derive(Clone)]
struct Reading {
    celsius: f64,
}

const READINGS: Topic<String, Reading> = Topic::new("readings");

fn main() {
    let _ = READINGS;
}

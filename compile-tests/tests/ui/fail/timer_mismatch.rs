// A timer function takes the time and the processor's stores, and returns records of the
// processor's output: a mismatch is an error on the `with = ...` path.
use streams::prelude::*;

#[processor(punctuate(every = "10s", on = stream_time, with = wrong_store))]
fn first(key: &String, value: u64, seen: &mut KeyValueStore<String, i64>) -> u64 {
    let _ = (key, seen);
    value
}

fn wrong_store(now: i64, seen: &mut KeyValueStore<String, String>) -> Vec<(String, u64)> {
    let _ = (now, seen);
    Vec::new()
}

#[processor(punctuate(every = "1m", on = wall_clock, with = wrong_output))]
fn second(key: &String, value: u64) -> u64 {
    let _ = key;
    value
}

fn wrong_output(now: i64) -> Vec<(String, String)> {
    let _ = now;
    Vec::new()
}

#[processor(punctuate(every = "1m", on = tuesdays))]
fn third(value: u64) -> u64 {
    value
}

fn main() {}

// Window and session store parameters take their shape from `#[store(...)]`, checked against
// the parameter's type; a store parameter is `&mut`.
use streams::prelude::*;

#[processor]
fn no_size(value: &u64, windows: &mut WindowStore<String, u64>) -> u64 {
    let _ = windows;
    *value
}

#[processor]
fn short_retention(
    value: &u64,
    #[store(window_size = "1h", retention = "10m")] windows: &mut WindowStore<String, u64>,
) -> u64 {
    let _ = windows;
    *value
}

#[processor]
fn bad_duration(
    value: &u64,
    #[store(window_size = "ten seconds")] windows: &mut WindowStore<String, u64>,
) -> u64 {
    let _ = windows;
    *value
}

#[processor]
fn wrong_store(
    value: &u64,
    #[store(window_size = "1m", retain_duplicates = true)] seen: &mut KeyValueStore<String, u64>,
    #[store(window_size = "1m")] sessions: &mut SessionStore<String, u64>,
    #[store(session)] windows: &mut WindowStore<String, u64>,
) -> u64 {
    let _ = (seen, sessions, windows);
    *value
}

#[processor]
fn not_mut(value: &u64, seen: &KeyValueStore<String, u64>) -> u64 {
    let _ = seen;
    *value
}

fn main() {}

// A store is read and written with its own types.
use streams::prelude::*;

#[processor]
fn remember(key: &String, value: u64, last: &mut KeyValueStore<String, u64>) -> Result<u64, StoreError> {
    last.put(key, &value.to_string())?;
    Ok(value)
}

fn main() {}

//! F5: the records through the `TopologyTestDriver` on this thread, no broker: stateless and
//! `count()`.

use streams::prelude::*;

use crate::Input;
use crate::measure::{Mark, Measured};
use crate::records::{key_of, value};

/// F5: `n` records through the test driver, stateless (map → sink) or `count()`.
pub(crate) fn f5(n: u64, count: bool) -> Result<Measured, String> {
    let input = Input::named("in");
    let builder = StreamsBuilder::new();
    let stream = builder.stream(&input);
    if count {
        stream
            .group_by_key()
            .count()
            .to_stream()
            .to(&Topic::<u32, Option<u64>>::named("out"));
    } else {
        stream.map(|k, v| (k, v)).to(&Input::named("out"));
    }
    let topology = builder.build().map_err(|e| e.to_string())?;
    let mut driver = TopologyTestDriver::new(topology).map_err(|e| e.to_string())?;
    let value = value();
    let start = Mark::now();
    for i in 0..n {
        driver
            .pipe_raw("in", Some(&key_of(i)), Some(&value), 0)
            .map_err(|e| e.to_string())?;
    }
    let end = Mark::now();
    drop(driver);
    Ok(start.to(end, n))
}

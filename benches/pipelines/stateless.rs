//! The stateless pipelines on tansu: F1 (source + peek) and F2 (map → sink).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use streams::prelude::*;

use crate::Input;
use crate::app::{app_config, check_output, counter, run_app};
use crate::measure::Measured;
use crate::records::{create_topics, input_topic, unique};

/// F1: source + peek.
pub(crate) fn f1(servers: &str, n: u64) -> Result<Measured, String> {
    let input = input_topic(servers, "f1", n)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let seen = counter();
    let builder = StreamsBuilder::new();
    let c = Arc::clone(&seen);
    // A peek that ends the pipeline: what F1 measures is the source and one processor.
    let _end = builder.stream(&Input::named(&input)).peek(move |_, _| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    let topology = builder.build().map_err(|e| e.to_string())?;
    run_app(topology, app_config(servers, "f1", dir.path()), &seen, n)
}

/// F2: map → sink.
pub(crate) fn f2(servers: &str, n: u64) -> Result<Measured, String> {
    let input = input_topic(servers, "f2", n)?;
    let output = unique("f2-out");
    create_topics(servers, &[&output])?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let seen = counter();
    let builder = StreamsBuilder::new();
    let c = Arc::clone(&seen);
    builder
        .stream(&Input::named(&input))
        .map(move |k, v| {
            c.fetch_add(1, Ordering::Relaxed);
            (k, v)
        })
        .to(&Input::named(&output));
    let topology = builder.build().map_err(|e| e.to_string())?;
    let measured = run_app(topology, app_config(servers, "f2", dir.path()), &seen, n)?;
    check_output(servers, &output, &format!("{n} records"), |read, _| {
        read >= n
    })?;
    Ok(measured)
}

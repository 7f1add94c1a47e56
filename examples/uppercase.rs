//! The smallest complete binary: `#[streams::main]` on a function that builds the topology.
//!
//! It reads `lines` (null keys, UTF-8 text) and writes each line upper-cased to `shouted`, with
//! every standard flag: `--bootstrap-servers` (absent: embedded broker), `--application-id`,
//! `--threads`, `--state-dir`, `--describe`, `--idle-exit-ms`; `STREAMS_*` variables; clean
//! shutdown on SIGINT/SIGTERM.
//!
//! ```text
//! cargo run --example uppercase -- --describe
//! ```

use streams::prelude::*;

const LINES: Topic<(), String> = Topic::new("lines");
const SHOUTED: Topic<(), String> = Topic::new("shouted");

#[streams::main]
fn topology(builder: &StreamsBuilder) {
    builder
        .stream(&LINES)
        .map_values(|line| line.to_uppercase())
        .to(&SHOUTED);
}

use streams::prelude::*;

#[streams::main]
fn topology(builder: &StreamsBuilder, extra: u32) -> u32 {
    let _ = builder;
    extra
}

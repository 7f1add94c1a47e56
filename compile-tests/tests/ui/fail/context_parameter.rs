// A processor function cannot take the processor's context: that is a hand-written `Processor`.
use streams::prelude::*;

#[processor]
fn forward_all(value: String, ctx: &mut ProcessorContext<'_, String, String>) -> String {
    let _ = ctx;
    value
}

fn main() {}

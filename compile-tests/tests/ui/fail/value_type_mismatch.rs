use streams::prelude::*;

#[processor]
fn shout(text: String) -> String {
    text.to_uppercase()
}

fn main() {
    let builder = StreamsBuilder::new();
    builder.stream(&Topic::<String, u64>::new("numbers")).process(shout::Function);
}

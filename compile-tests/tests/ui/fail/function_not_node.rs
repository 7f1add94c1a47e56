// A #[processor] function is wired as its node, `shout::Function`, not as the function.
use streams::prelude::*;

#[processor]
fn shout(value: String) -> String {
    value.to_uppercase()
}

fn main() {
    let builder = StreamsBuilder::new();
    let _ = builder.stream(&Topic::<String, String>::new("lines")).process(shout);
}

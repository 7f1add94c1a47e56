use streams::prelude::*;

#[processor]
fn tag(id: &u64, text: &String) -> String {
    format!("{id}:{text}")
}

fn main() {
    let builder = StreamsBuilder::new();
    builder.stream(&Topic::<String, String>::new("texts")).process(tag::Function);
}

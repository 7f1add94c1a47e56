use streams::prelude::*;

#[processor]
async fn fetch(url: String) -> String {
    url
}

fn main() {}

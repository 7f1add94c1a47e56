use streams::prelude::*;

#[processor]
fn words(line: String) -> impl Iterator<Item = String> {
    line.split(' ').map(str::to_owned).collect::<Vec<_>>().into_iter()
}

#[processor]
fn log_only(line: &String) {
    println!("{line}");
}

fn main() {}

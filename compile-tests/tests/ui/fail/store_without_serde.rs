use streams::prelude::*;

#[derive(Clone)]
struct Session {
    clicks: u32,
}

#[processor]
fn track(user: &String, sessions: &mut KeyValueStore<String, Session>) -> u32 {
    let _ = (user, sessions);
    0
}

fn main() {}

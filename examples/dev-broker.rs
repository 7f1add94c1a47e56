//! A JVM-free local Kafka for experiments: hosts the embedded broker (librdkafka's mock
//! cluster) in its own process, prints `bootstrap.servers=<list>` as its first line on stdout,
//! and serves until killed. Because it outlives the applications that use it, it is also the
//! broker for tests that kill an application process.
//!
//! ```text
//! cargo run --release --example dev-broker
//! ```
//!
//! It is a test broker: it creates topics on first use (4 partitions) rather than on request.

use std::io::Write;
use std::process::ExitCode;

use streams::EmbeddedBroker;

fn main() -> ExitCode {
    streams::cli::init_tracing();
    let broker = match EmbeddedBroker::start() {
        Ok(broker) => broker,
        Err(error) => {
            eprintln!("dev-broker: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "bootstrap.servers={}", broker.bootstrap_servers())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    loop {
        std::thread::park();
    }
}

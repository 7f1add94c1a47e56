// `#[streams::main(crate = "...")]` reaches the runtime through the path it is given: here a
// local module standing in for a re-exported `streams`, whose `run_main` this binary runs (the
// real one needs the `cli` feature, which these cases build without).
use streams::prelude::*;

mod my_streams {
    pub mod __private {
        pub fn run_main(
            application_id: &'static str,
            build: fn(&streams::StreamsBuilder),
        ) -> std::process::ExitCode {
            assert_eq!(application_id, env!("CARGO_CRATE_NAME"));
            let builder = streams::StreamsBuilder::new();
            build(&builder);
            assert!(builder.build().is_ok());
            std::process::ExitCode::SUCCESS
        }
    }
}

const LINES: Topic<(), String> = Topic::new("lines");

#[streams::main(crate = "my_streams")]
fn topology(builder: &StreamsBuilder) {
    builder.stream(&LINES).to(&LINES);
}

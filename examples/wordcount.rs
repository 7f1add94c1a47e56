//! Word count: the classic Kafka Streams demo, with a `#[processor]` function and a count store.
//!
//! It shows the whole programming model on the in-process test driver: a typed topic of lines,
//! a `#[processor]` function that splits a line into words (a plain function, unit-tested below),
//! a `group_by` that re-keys by word through a repartition topic, a `count()` into the store
//! `counts`, and the counts written to `word-counts` as UTF-8 decimal strings.
//!
//! Run it with
//!
//! ```text
//! cargo run --example wordcount -- --input examples/data/sample.txt
//! ```
//!
//! It prints one `word<TAB>count` line per word, sorted by word. `--describe` prints the
//! topology instead. (The Kafka runtime, with the embedded broker, comes with the next issue;
//! this example then runs the same topology against it.)

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use streams::prelude::*;

/// Lines of text; the key is null.
const TEXT_LINES: Topic<(), String> = Topic::new("text-lines");
/// Word → count, as UTF-8 text.
const WORD_COUNTS: Topic<String, Option<String>> = Topic::new("word-counts");

/// Splits a line into lowercase words: every character that is not alphanumeric separates words.
#[streams::processor]
fn words(line: String) -> Vec<String> {
    line.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The word-count topology.
fn topology() -> Result<Topology, StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream(&TEXT_LINES)
        .process(words::Processor)
        .group_by(|_, word| word.clone())
        .count_with(Materialized::named("counts"))
        .to_stream()
        .map_values(|count| count.map(|n| n.to_string()))
        .to(&WORD_COUNTS);
    Ok(builder.build()?)
}

#[derive(Parser)]
#[command(about = "Counts the words of a text file with a streams topology")]
struct Args {
    /// The text file whose lines are the input records.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Print the topology and exit.
    #[arg(long)]
    describe: bool,
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let topology = topology()?;
    if args.describe {
        print!("{}", topology.describe());
        return Ok(());
    }
    let path = args
        .input
        .ok_or("--input FILE is required (or --describe)")?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut driver = TopologyTestDriver::new(topology)?;
    for (line_number, line) in text.lines().enumerate() {
        driver.pipe_at(&TEXT_LINES, (), line.to_owned(), line_number as i64)?;
    }
    for (word, count) in driver.key_value_store::<String, u64>("counts")?.all()? {
        println!("{word}\t{count}");
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wordcount: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_non_alphanumerics_and_lowercase() {
        assert_eq!(
            words("To be, or NOT -- to be!".into()),
            ["to", "be", "or", "not", "to", "be"]
        );
        assert!(words(" ,.; ".into()).is_empty());
    }

    #[test]
    fn counts_reach_the_output_topic() {
        let mut driver = TopologyTestDriver::new(topology().unwrap()).unwrap();
        driver.pipe(&TEXT_LINES, (), "a b a".into()).unwrap();
        let out = driver.read_key_values(&WORD_COUNTS).unwrap();
        let expected =
            [("a", "1"), ("b", "1"), ("a", "2")].map(|(w, c)| (w.to_owned(), Some(c.to_owned())));
        assert_eq!(out, expected);
    }
}

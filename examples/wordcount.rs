//! Word count on Kafka: the classic Kafka Streams demo, with a `#[processor]` function and a
//! count store, on the embedded broker or any Kafka cluster.
//!
//! Topology: `text-lines` (null key, a UTF-8 line) → split into lowercase words (every
//! non-alphanumeric character separates words) → group by word through a repartition topic →
//! `count()` into the store `counts` → `word-counts` (key: the word, value: the count as a UTF-8
//! decimal string).
//!
//! Run it on the embedded broker, counting a file and exiting once everything is processed:
//!
//! ```text
//! cargo run --release --example wordcount -- --input examples/data/sample.txt --idle-exit-ms 2000
//! ```
//!
//! Options: `--bootstrap-servers LIST` (absent: embedded broker), `--input FILE` (produce each
//! line to `text-lines` first, creating `text-lines` and `word-counts` with `--partitions N`,
//! default 4, if missing), `--application-id ID` (default `wordcount`), `--threads N`,
//! `--state-dir DIR`, `--processing-guarantee`, `--idle-exit-ms MS` (exit once every assigned
//! partition is drained and no record arrived for MS; without it, run until SIGINT/SIGTERM),
//! `--describe`. On exit it prints `word<TAB>count` for every word in the count stores of the
//! tasks this instance owns, sorted by word; logs go to stderr.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use streams::StreamsConfig;
use streams::cli::{self, AppArgs, Broker};
use streams::kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams::kafka::{KafkaClients, topics};
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
        .process(words::Function)
        .group_by(|_, word| word.clone())
        .count_with(Materialized::named("counts"))
        .to_stream()
        .map_values(|count| count.map(|n| n.to_string()))
        .to(&WORD_COUNTS);
    Ok(builder.build()?)
}

#[derive(Parser)]
#[command(about = "Counts words with a streams topology on Kafka")]
struct Args {
    #[command(flatten)]
    app: AppArgs,
    /// Produce each line of this file to `text-lines` before processing.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Partitions of `text-lines` and `word-counts` when they are created.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
}

/// Creates the topics if missing and produces every line of `path` to `text-lines`.
fn produce_input(
    config: &StreamsConfig,
    broker: &Broker,
    path: &PathBuf,
    partitions: i32,
) -> Result<usize, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match broker {
        Broker::Embedded(embedded) => {
            embedded.create_topic(TEXT_LINES.name(), partitions)?;
            embedded.create_topic(WORD_COUNTS.name(), partitions)?;
        }
        Broker::External => {
            topics::ensure_topics(
                config,
                &[
                    (TEXT_LINES.name(), partitions),
                    (WORD_COUNTS.name(), partitions),
                ],
            )?;
        }
    }
    let producer: BaseProducer = KafkaClients::new(config)
        .producer_config("wordcount-input")
        .create()?;
    let topic = TEXT_LINES;
    let mut produced = 0;
    for line in text.lines() {
        let mut record = BaseRecord::<(), str>::to(topic.name()).payload(line);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    record = returned;
                    producer.poll(Duration::from_millis(50));
                }
            }
        }
        produced += 1;
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(produced)
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let topology = topology()?;
    if args.app.describe {
        print!("{}", topology.describe());
        return Ok(());
    }
    let mut config = args.app.config("wordcount", std::env::vars())?;
    let broker = cli::connect(&mut config)?;
    if let Some(path) = &args.input {
        let lines = produce_input(&config, &broker, path, args.partitions)?;
        eprintln!("produced {lines} lines to {}", TEXT_LINES.name());
    }
    let idle_exit = args.app.idle_exit_ms.map(Duration::from_millis);
    let snapshots = cli::run(topology, config, &broker, idle_exit)?;
    let mut counts = BTreeMap::new();
    for snapshot in snapshots.iter().filter(|s| s.store == "counts") {
        counts.extend(snapshot.decode::<String, u64>()?);
    }
    for (word, count) in counts {
        println!("{word}\t{count}");
    }
    Ok(())
}

fn main() -> ExitCode {
    cli::init_tracing();
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

//! Page views per minute, final results only: a windowed count with `suppress`, on the embedded
//! broker or any Kafka cluster.
//!
//! Topology: `page-views` (key: the page as UTF-8, value: any bytes; the record's own timestamp
//! is the event time) → group by page → 60-second tumbling windows with a 10-second grace →
//! `count()` → `suppress(until_window_closes)` → `page-view-counts` (key: the windowed key in
//! Kafka's time-windowed layout, the page's bytes then the window start as 8 bytes big-endian;
//! value: the count as a UTF-8 decimal string). Each final result is also printed to stdout
//! the moment it is emitted, as one line `page<TAB>start_ms<TAB>end_ms<TAB>count`.
//!
//! A window's final count is emitted once stream time (the largest event time its task has
//! seen) reaches the window's end plus the grace period; a view arriving later than that is
//! dropped and counted, never added to a result already out. The newest windows stay open
//! until later views arrive.
//!
//! Run it on the embedded broker with 10,000 generated views, exiting once they are processed:
//!
//! ```text
//! cargo run --release --example page-views
//! ```
//!
//! Options: `--bootstrap-servers LIST` (absent: embedded broker), `--generate N` (produce N
//! synthetic views spread over ten minutes of event time, some out of order, first; default
//! 10,000 on the embedded broker, none on a cluster), `--partitions N` (of `page-views` and
//! `page-view-counts` when they are created, default 4), `--application-id ID` (default
//! `page-views`), `--threads N`, `--state-dir DIR`, `--processing-guarantee`, `--idle-exit-ms MS`
//! (exit once every assigned partition is drained and no record arrived for MS; default 5000 on
//! the embedded broker, otherwise run until SIGINT/SIGTERM), `--describe`. Logs go to stderr.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use streams::StreamsConfig;
use streams::cli::{self, AppArgs, Broker};
use streams::kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams::kafka::{KafkaClients, topics};
use streams::prelude::*;

/// Page views: the page, any payload, the event time as the record's timestamp.
const PAGE_VIEWS: Topic<String, Vec<u8>> = Topic::new("page-views");
/// Final view counts per page and minute.
const PAGE_VIEW_COUNTS: Topic<Windowed<String>, String, TimeWindowedCodec<60_000>> =
    Topic::with_codecs("page-view-counts");

/// The window: one minute, with ten seconds for late views.
fn minutes() -> Result<TimeWindows, streams::InvalidWindows> {
    TimeWindows::of_size_and_grace(Duration::from_secs(60), Duration::from_secs(10))
}

/// The page-views topology.
fn topology() -> Result<Topology, StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream(&PAGE_VIEWS)
        .group_by_key()
        .windowed_by(minutes()?)
        .count_with(Materialized::named("page-view-counts-store"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        // Final results carry no deletions; a count becomes its decimal text.
        .flat_map_values(|count: Option<u64>| count.map(|count| count.to_string()))
        .peek(|page, count| {
            // One line per final result, written whole as it is emitted.
            let line = format!(
                "{}\t{}\t{}\t{count}\n",
                page.key, page.window.start, page.window.end
            );
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(line.as_bytes());
            let _ = stdout.flush();
        })
        .to(&PAGE_VIEW_COUNTS);
    Ok(builder.build()?)
}

/// The synthetic views: `(page, event time)`, `count` of them over ten minutes from `start`,
/// on twenty pages; about one in eight arrives up to eight seconds out of order (within the
/// grace), and one in a hundred 40 seconds late (dropped when its window has closed).
fn generated_views(count: u64, start: i64) -> Vec<(String, i64)> {
    const SPAN_MS: i64 = 10 * 60 * 1000;
    // A fixed linear congruential sequence: the same views on every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    (0..count)
        .map(|i| {
            let on_time = start + (i as i64 * SPAN_MS) / count.max(1) as i64;
            let page = format!("/page-{}", next() % 20);
            let delay = match next() % 100 {
                0 => 40_000,
                1..=12 => (next() % 8_000) as i64,
                _ => 0,
            };
            (page, (on_time - delay).max(start))
        })
        .collect()
}

#[derive(Parser)]
#[command(
    about = "Counts page views per minute, final results only, with a streams topology on Kafka"
)]
struct Args {
    #[command(flatten)]
    app: AppArgs,
    /// Produce this many synthetic views to `page-views` first (default 10,000 on the embedded
    /// broker).
    #[arg(long)]
    generate: Option<u64>,
    /// Partitions of `page-views` and `page-view-counts` when they are created.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
}

/// Creates the topics if missing.
fn create_topics(
    config: &StreamsConfig,
    broker: &Broker,
    partitions: i32,
) -> Result<(), Box<dyn std::error::Error>> {
    match broker {
        Broker::Embedded(embedded) => {
            embedded.create_topic(PAGE_VIEWS.name(), partitions)?;
            embedded.create_topic(PAGE_VIEW_COUNTS.name(), partitions)?;
        }
        Broker::External => {
            topics::ensure_topics(
                config,
                &[
                    (PAGE_VIEWS.name(), partitions),
                    (PAGE_VIEW_COUNTS.name(), partitions),
                ],
            )?;
        }
    }
    Ok(())
}

/// Produces `views` to `page-views`, each with its event time as the record's timestamp.
fn produce_views(
    config: &StreamsConfig,
    views: &[(String, i64)],
) -> Result<(), Box<dyn std::error::Error>> {
    let producer: BaseProducer = KafkaClients::new(config)
        .producer_config("page-views-generator")
        .create()?;
    let topic = PAGE_VIEWS;
    for (page, timestamp) in views {
        let mut record = BaseRecord::<str, [u8]>::to(topic.name())
            .key(page.as_str())
            .payload(&[])
            .timestamp(*timestamp);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    record = returned;
                    producer.poll(Duration::from_millis(50));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(())
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let topology = topology()?;
    if args.app.describe {
        print!("{}", topology.describe());
        return Ok(());
    }
    let mut config = args.app.config("page-views", std::env::vars())?;
    let broker = cli::connect(&mut config)?;
    let embedded = matches!(broker, Broker::Embedded(_));
    create_topics(&config, &broker, args.partitions)?;
    let generate = args.generate.or(embedded.then_some(10_000));
    if let Some(count) = generate {
        // Ten minutes of event time ending now, aligned to a minute.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as i64;
        let start = now - now % 60_000 - 10 * 60_000;
        produce_views(&config, &generated_views(count, start))?;
        eprintln!("produced {count} page views to {}", PAGE_VIEWS.name());
    }
    let idle_exit = args
        .app
        .idle_exit_ms
        .or(embedded.then_some(5_000))
        .map(Duration::from_millis);
    cli::run(topology, config, &broker, idle_exit)?;
    Ok(())
}

fn main() -> ExitCode {
    cli::init_tracing();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("page-views: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_views_span_ten_minutes_with_some_out_of_order() {
        let views = generated_views(10_000, 600_000);
        assert_eq!(views.len(), 10_000);
        assert!(views.iter().all(|(_, t)| (600_000..1_200_000).contains(t)));
        let out_of_order = views.windows(2).filter(|w| w[1].1 < w[0].1).count();
        assert!(out_of_order > 100, "{out_of_order}");
        assert_eq!(views, generated_views(10_000, 600_000));
    }

    #[test]
    fn a_window_is_counted_once_it_closes() {
        let mut driver = TopologyTestDriver::new(topology().unwrap()).unwrap();
        for t in [0, 30_000, 59_999, 65_000] {
            driver
                .pipe_at(&PAGE_VIEWS, "/home".into(), Vec::new(), t)
                .unwrap();
        }
        // 65 s < 60 s + 10 s: nothing is final yet.
        assert!(
            driver
                .read_key_values(&PAGE_VIEW_COUNTS)
                .unwrap()
                .is_empty()
        );
        driver
            .pipe_at(&PAGE_VIEWS, "/other".into(), Vec::new(), 70_000)
            .unwrap();
        assert_eq!(
            driver.read_key_values(&PAGE_VIEW_COUNTS).unwrap(),
            [(Windowed::new("/home".to_owned(), 0, 60_000), "3".to_owned())]
        );
    }
}

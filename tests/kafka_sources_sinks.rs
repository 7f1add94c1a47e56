//! Sources and sinks with Kafka Streams' options on the embedded broker: a source's own offset
//! reset (`Consumed::with_offset_reset`), a sink's partitioner (`Produced::with_partitioner`),
//! and a sink that chooses its topic per record (`to_dynamic`).

mod common;

use std::time::Duration;

use common::*;
use streams::prelude::*;
use streams::{EmbeddedBroker, KafkaStreams};

const QUIET: Duration = Duration::from_millis(1500);
const LIMIT: Duration = Duration::from_secs(90);

fn start(broker: &EmbeddedBroker, topology: Topology) -> KafkaStreams {
    streams::cli::init_tracing();
    let config = embedded_config(broker, &unique("sources-sinks"));
    broker.prepare(&topology, &config).unwrap();
    let mut app = KafkaStreams::new(topology, config).unwrap();
    app.start().unwrap();
    wait_idle(&app, QUIET, LIMIT);
    app
}

fn values(records: &[Read]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap_or_default()).unwrap())
        .collect()
}

#[test]
fn a_source_with_latest_reset_skips_what_was_there_before_the_group_started() {
    let broker = EmbeddedBroker::start().unwrap();
    let (early, late) = (unique("early"), unique("late"));
    let (early_out, late_out) = (unique("early-out"), unique("late-out"));
    for topic in [&early, &late, &early_out, &late_out] {
        broker.create_topic(topic, 2).unwrap();
    }
    produce_lines(broker.bootstrap_servers(), &early, &["e1", "e2", "e3"]);
    produce_lines(broker.bootstrap_servers(), &late, &["l1", "l2", "l3"]);

    let builder = StreamsBuilder::new();
    builder
        .stream(&Topic::<(), String>::named(&early))
        .to(&Topic::<(), String>::named(&early_out));
    builder
        .stream_with(
            &Topic::<(), String>::named(&late),
            Consumed::new().with_offset_reset(AutoOffsetReset::Latest),
        )
        .to(&Topic::<(), String>::named(&late_out));
    let app = start(&broker, builder.build().unwrap());
    produce_lines(broker.bootstrap_servers(), &early, &["e4"]);
    produce_lines(broker.bootstrap_servers(), &late, &["l4", "l5"]);
    wait_idle(&app, QUIET, LIMIT);
    app.close().unwrap();

    let mut early_seen = values(&read_all(broker.bootstrap_servers(), &early_out));
    early_seen.sort();
    assert_eq!(
        early_seen,
        ["e1", "e2", "e3", "e4"],
        "earliest, the default"
    );
    let mut late_seen = values(&read_all(broker.bootstrap_servers(), &late_out));
    late_seen.sort();
    assert_eq!(
        late_seen,
        ["l4", "l5"],
        "latest: only what came after the start"
    );
}

#[test]
fn a_partitioner_places_each_record_and_to_dynamic_chooses_its_topic() {
    let broker = EmbeddedBroker::start().unwrap();
    let input = unique("numbers");
    let (spread, even, odd) = (unique("spread"), unique("even"), unique("odd"));
    broker.create_topic(&input, 1).unwrap();
    broker.create_topic(&spread, 4).unwrap();
    broker.create_topic(&even, 1).unwrap();
    broker.create_topic(&odd, 1).unwrap();
    let numbers: Vec<String> = (0..12).map(|n| n.to_string()).collect();
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    produce_lines(broker.bootstrap_servers(), &input, &refs);

    let builder = StreamsBuilder::new();
    let stream = builder.stream(&Topic::<(), String>::named(&input));
    stream.clone().to_with(
        &Topic::<(), String>::named(&spread),
        Produced::named("spread").with_partitioner(|_, n: &String, partitions| {
            n.parse::<i32>().ok().map(|n| n % partitions)
        }),
    );
    let (even_topic, odd_topic) = (even.clone(), odd.clone());
    stream.to_dynamic(move |_, n: &String, ctx| {
        assert!(ctx.is_some(), "an input record's context");
        let n: u32 = n.parse().unwrap_or(0);
        Topic::<(), String>::named(if n.is_multiple_of(2) {
            &even_topic
        } else {
            &odd_topic
        })
    });
    let app = start(&broker, builder.build().unwrap());
    app.close().unwrap();

    let placed: Vec<(i32, String)> = read_all(broker.bootstrap_servers(), &spread)
        .iter()
        .map(|r| (r.partition, values(std::slice::from_ref(r)).remove(0)))
        .collect();
    assert_eq!(placed.len(), 12);
    for (partition, n) in &placed {
        assert_eq!(
            *partition,
            n.parse::<i32>().unwrap() % 4,
            "{n} on its partition"
        );
    }
    assert_eq!(
        values(&read_all(broker.bootstrap_servers(), &even)),
        ["0", "2", "4", "6", "8", "10"]
    );
    assert_eq!(
        values(&read_all(broker.bootstrap_servers(), &odd)),
        ["1", "3", "5", "7", "9", "11"]
    );
}

/// The de-duplicator with expiry: an id passes the first time it is seen; a wall-clock timer
/// forgets ids seen a second or more ago, so they pass again.
#[streams::processor(punctuate(every = "200ms", on = wall_clock, with = forget_seen))]
fn dedupe(
    id: &String,
    event: String,
    ctx: &RecordContext,
    seen: &mut KeyValueStore<String, i64>,
) -> Result<Option<String>, StoreError> {
    if seen.get(id)?.is_some() {
        return Ok(None);
    }
    seen.put(id, &ctx.timestamp)?;
    Ok(Some(event))
}

fn forget_seen(now: i64, seen: &mut KeyValueStore<String, i64>) -> Result<(), StoreError> {
    for (id, at) in seen.all()? {
        if now - at >= 1_000 {
            seen.delete(&id)?;
        }
    }
    Ok(())
}

#[test]
fn the_de_duplicator_with_expiry_runs_on_the_stream_thread() {
    let broker = EmbeddedBroker::start().unwrap();
    let (input, output) = (unique("events"), unique("unique-events"));
    broker.create_topic(&input, 1).unwrap();
    broker.create_topic(&output, 1).unwrap();
    let send = |events: &[(&str, &str)]| {
        let records: Vec<(Option<&[u8]>, Option<&[u8]>)> = events
            .iter()
            .map(|(id, event)| (Some(id.as_bytes()), Some(event.as_bytes())))
            .collect();
        produce(broker.bootstrap_servers(), &input, &records);
    };
    let events = |broker: &EmbeddedBroker| -> Vec<String> {
        values(&read_all(broker.bootstrap_servers(), &output))
    };
    send(&[("a", "\"x\""), ("a", "\"y\""), ("b", "\"z\"")]);
    let builder = StreamsBuilder::new();
    builder
        .stream(&Topic::<String, String>::named(&input))
        .process(dedupe::Function)
        .to(&Topic::<String, String>::named(&output));
    let app = start(&broker, builder.build().unwrap());
    assert_eq!(events(&broker), ["\"x\"", "\"z\""], "the duplicate dropped");
    // Two seconds on, the timer has forgotten "a" (stamped when it was produced).
    std::thread::sleep(Duration::from_secs(2));
    send(&[("a", "\"w\"")]);
    eventually("the forgotten id passing again", LIMIT, || {
        events(&broker).len() == 3
    });
    app.close().unwrap();
    assert_eq!(events(&broker), ["\"x\"", "\"z\"", "\"w\""]);
}

//! Kafka Streams parity of the DSL that exists: generated names and their index sequence,
//! `describe()`'s order, two `stream()` calls on one topic, the test driver's close, and the
//! null key and null value rules of the stateful operators. Expected texts are Kafka Streams'
//! own (`Topology#describe()` of the same topology built with Kafka Streams' DSL).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use streams::prelude::*;

const WORDS: Topic<String, String> = Topic::new("words");
const COUNTS: Topic<String, Option<u64>> = Topic::new("counts");

fn describe(builder: StreamsBuilder) -> String {
    builder
        .build()
        .expect("valid topology")
        .describe()
        .to_string()
}

#[test]
fn a_named_processor_takes_no_index_a_named_operator_does() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&WORDS)
        .filter(|_, v| !v.is_empty())
        .named("non-empty")
        .map_values(|v: String| v.len() as u64)
        .process_with("relay", || Relay, [])
        .to(&Topic::<String, u64>::new("lengths"));
    // Kafka Streams: filter(.., Named.as("non-empty")) still takes index 1 (its
    // `orElseGenerateWithPrefix`), process(.., Named.as("relay")) takes none.
    assert_eq!(
        describe(builder),
        "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [words])
      --> non-empty
    Processor: non-empty (stores: [])
      --> KSTREAM-MAPVALUES-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-MAPVALUES-0000000002 (stores: [])
      --> relay
      <-- non-empty
    Processor: relay (stores: [])
      --> KSTREAM-SINK-0000000003
      <-- KSTREAM-MAPVALUES-0000000002
    Sink: KSTREAM-SINK-0000000003 (topic: lengths)
      <-- relay

"
    );
}

/// Forwards every record unchanged.
struct Relay;

impl Processor<String, u64> for Relay {
    type KeyOut = String;
    type ValueOut = u64;

    fn process(
        &mut self,
        record: Record<String, u64>,
        ctx: &mut ProcessorContext<'_, String, u64>,
    ) -> Result<(), ProcessError> {
        ctx.forward(record)
    }
}

#[test]
fn count_with_an_unnamed_materialized_takes_an_extra_index() {
    let builder = StreamsBuilder::new();
    let table = builder
        .stream(&WORDS)
        .group_by_key()
        .count_with(Materialized::unnamed());
    assert_eq!(
        table.store_name(),
        Some("KSTREAM-AGGREGATE-STATE-STORE-0000000002")
    );
    table.to_stream().to(&COUNTS);
    assert_eq!(
        describe(builder),
        "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [words])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000002])
      --> KTABLE-TOSTREAM-0000000004
      <-- KSTREAM-SOURCE-0000000000
    Processor: KTABLE-TOSTREAM-0000000004 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-AGGREGATE-0000000003
    Sink: KSTREAM-SINK-0000000005 (topic: counts)
      <-- KTABLE-TOSTREAM-0000000004

"
    );
    // `count()` itself takes no extra index.
    let builder = StreamsBuilder::new();
    let table = builder.stream(&WORDS).group_by_key().count();
    assert_eq!(
        table.store_name(),
        Some("KSTREAM-AGGREGATE-STATE-STORE-0000000001")
    );
}

#[test]
fn a_repartition_takes_three_indices_and_generated_names_after_a_generated_store() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&WORDS)
        .group_by(|_, word| word.clone())
        .count()
        .to_stream()
        .to(&COUNTS);
    assert_eq!(
        describe(builder),
        "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [words])
      --> KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])
      --> KSTREAM-FILTER-0000000005
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-FILTER-0000000005 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-KEY-SELECT-0000000001
    Sink: KSTREAM-SINK-0000000004 (topic: KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition)
      <-- KSTREAM-FILTER-0000000005

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000006 (topics: [KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000002])
      --> KTABLE-TOSTREAM-0000000007
      <-- KSTREAM-SOURCE-0000000006
    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- KSTREAM-AGGREGATE-0000000003
    Sink: KSTREAM-SINK-0000000008 (topic: counts)
      <-- KTABLE-TOSTREAM-0000000007

"
    );
}

#[test]
fn two_streams_on_one_topic_share_one_source() {
    let builder = StreamsBuilder::new();
    let upper = Topic::<String, String>::new("upper");
    let lower = Topic::<String, String>::new("lower");
    builder
        .stream(&WORDS)
        .map_values(|w: String| w.to_uppercase())
        .to(&upper);
    builder
        .stream(&WORDS)
        .map_values(|w: String| w.to_lowercase())
        .to(&lower);
    let topology = builder.build().unwrap();
    assert_eq!(topology.subtopologies().len(), 1);
    // Kafka Streams: the second source (index 3) is merged into the first.
    assert_eq!(
        topology.describe().to_string(),
        "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [words])
      --> KSTREAM-MAPVALUES-0000000001, KSTREAM-MAPVALUES-0000000004
    Processor: KSTREAM-MAPVALUES-0000000001 (stores: [])
      --> KSTREAM-SINK-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-MAPVALUES-0000000004 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-SOURCE-0000000000
    Sink: KSTREAM-SINK-0000000002 (topic: upper)
      <-- KSTREAM-MAPVALUES-0000000001
    Sink: KSTREAM-SINK-0000000005 (topic: lower)
      <-- KSTREAM-MAPVALUES-0000000004

"
    );
    let mut driver = TopologyTestDriver::new(topology).unwrap();
    driver.pipe(&WORDS, "k".into(), "Tea".into()).unwrap();
    assert_eq!(driver.read_values(&upper).unwrap(), ["TEA"]);
    assert_eq!(driver.read_values(&lower).unwrap(), ["tea"]);
}

#[test]
fn one_topic_read_with_other_types_or_as_a_table_too_is_an_error() {
    let builder = StreamsBuilder::new();
    builder.stream(&WORDS).to(&Topic::new("a"));
    builder
        .stream(&Topic::<String, u64>::new("words"))
        .to(&Topic::new("b"));
    assert_eq!(
        builder.build().unwrap_err().to_string(),
        "topic `words` is read twice with different key/value types or codecs (first by source \
         `KSTREAM-SOURCE-0000000000`): read it once and convert the stream"
    );
    let builder = StreamsBuilder::new();
    builder.stream(&WORDS).to(&Topic::new("a"));
    builder.table(&WORDS).to_stream().to(&Topic::new("b"));
    assert!(matches!(
        builder.build(),
        Err(streams::TopologyError::DuplicateSourceTopic { .. })
    ));
}

/// Counts its `close` calls.
struct Closing(Arc<AtomicUsize>);

impl Processor<String, String> for Closing {
    type KeyOut = String;
    type ValueOut = String;

    fn process(
        &mut self,
        record: Record<String, String>,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessError> {
        ctx.forward(record)
    }

    fn close(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn closing_topology(closed: &Arc<AtomicUsize>) -> Topology {
    let builder = StreamsBuilder::new();
    let first = Arc::clone(closed);
    let second = Arc::clone(closed);
    builder
        .stream(&WORDS)
        .process_with("first", move || Closing(Arc::clone(&first)), [])
        .group_by(|_, w| w.clone())
        .count_with(Materialized::named("counts"))
        .to_stream()
        .map_values(|c: Option<u64>| c.unwrap_or(0).to_string())
        .process_with("second", move || Closing(Arc::clone(&second)), [])
        .to(&Topic::<String, String>::new("out"));
    builder.build().unwrap()
}

#[test]
fn closing_the_driver_closes_every_processor_once() {
    let closed = Arc::new(AtomicUsize::new(0));
    let mut driver = TopologyTestDriver::new(closing_topology(&closed)).unwrap();
    driver.pipe(&WORDS, "k".into(), "tea".into()).unwrap();
    assert_eq!(closed.load(Ordering::SeqCst), 0);
    driver.close().unwrap();
    // One processor in each of the two sub-topologies (tasks).
    assert_eq!(closed.load(Ordering::SeqCst), 2);

    let closed = Arc::new(AtomicUsize::new(0));
    drop(TopologyTestDriver::new(closing_topology(&closed)).unwrap());
    assert_eq!(closed.load(Ordering::SeqCst), 2, "dropping closes too");
}

#[test]
fn null_keys_are_dropped_and_counted_before_a_repartition_and_at_a_table() {
    let maybe = Topic::<Option<String>, String>::new("maybe");
    let builder = StreamsBuilder::new();
    builder
        .stream(&maybe)
        .select_key(|k, _| k.clone())
        .group_by_key()
        .count()
        .to_stream()
        .to(&Topic::<Option<String>, Option<u64>>::new("counted"));
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe(&maybe, None, "x".into()).unwrap();
    driver.pipe(&maybe, Some("k".into()), "y".into()).unwrap();
    assert_eq!(
        driver
            .read_values(&Topic::<Option<String>, Option<u64>>::new("counted"))
            .unwrap(),
        [Some(1)]
    );
    assert_eq!(driver.metrics().dropped_records, 1);
    let repartitioned = driver
        .read_values(&Topic::<Option<String>, String>::new(
            "test-driver-KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition",
        ))
        .unwrap();
    assert_eq!(
        repartitioned,
        ["y"],
        "the null key never reached the repartition topic"
    );

    let table_topic = Topic::<Option<String>, String>::new("rows");
    let builder = StreamsBuilder::new();
    builder
        .table(&table_topic)
        .to_stream()
        .to(&Topic::<Option<String>, Option<String>>::new("changes"));
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe(&table_topic, None, "x".into()).unwrap();
    driver
        .pipe(&table_topic, Some("k".into()), "y".into())
        .unwrap();
    assert_eq!(
        driver
            .read_values(&Topic::<Option<String>, Option<String>>::new("changes"))
            .unwrap(),
        [Some("y".to_owned())]
    );
    assert_eq!(driver.metrics().dropped_records, 1);
}

/// Uses the store "shared": a writer puts each record's value under its key; a reader forwards
/// what the store holds for each record's key.
struct SharedStoreUser {
    writes: bool,
    store: Option<KeyValueStore<String, String>>,
}

impl SharedStoreUser {
    fn writer() -> Self {
        SharedStoreUser {
            writes: true,
            store: None,
        }
    }

    fn reader() -> Self {
        SharedStoreUser {
            writes: false,
            store: None,
        }
    }
}

impl Processor<String, String> for SharedStoreUser {
    type KeyOut = String;
    type ValueOut = String;

    fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
        self.store = Some(ctx.store("shared")?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<String, String>,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessError> {
        let store = self.store.as_mut().expect("opened in init");
        if self.writes {
            return Ok(store.put(&r.key, &r.value)?);
        }
        let seen = store.get(&r.key)?.unwrap_or_else(|| "-".to_owned());
        ctx.forward(r.with_value(seen))
    }
}

#[test]
fn two_processors_share_a_store_added_to_the_builder() {
    let (writes, reads) = (
        Topic::<String, String>::new("writes"),
        Topic::<String, String>::new("reads"),
    );
    let seen = Topic::<String, String>::new("seen");
    let builder = StreamsBuilder::new();
    builder.add_state_store(<KeyValueStore<String, String> as StateStore>::spec(
        "shared",
    ));
    let _ =
        builder
            .stream(&writes)
            .process_with_stores("writer", SharedStoreUser::writer, ["shared"]);
    builder
        .stream(&reads)
        .process_with_stores("reader", SharedStoreUser::reader, ["shared"])
        .to(&seen);
    let topology = builder.build().unwrap();
    // The shared store joins the two sources in one sub-topology, as in Kafka Streams.
    assert_eq!(topology.subtopologies().len(), 1);
    let mut driver = TopologyTestDriver::new(topology).unwrap();
    driver.pipe(&reads, "k".into(), String::new()).unwrap();
    driver.pipe(&writes, "k".into(), "v1".into()).unwrap();
    driver.pipe(&reads, "k".into(), String::new()).unwrap();
    assert_eq!(driver.read_values(&seen).unwrap(), ["-", "v1"]);

    let builder = StreamsBuilder::new();
    let _ =
        builder
            .stream(&writes)
            .process_with_stores("writer", SharedStoreUser::writer, ["missing"]);
    assert_eq!(
        builder.build().unwrap_err().to_string(),
        "processor `writer` uses store `missing`, which is not added: add it with \
         `StreamsBuilder::add_state_store` first"
    );
}

#[test]
fn a_named_grouping_shares_one_repartition_topic_between_aggregations() {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream(&WORDS)
        .group_by_with(|_, w| w.clone(), Grouped::named("by-word"));
    let _ = grouped.clone().count_with(Materialized::named("counts"));
    let _ = grouped.reduce_with(|a, b| a + &b, Materialized::named("joined"));
    let topology = builder.build().unwrap();
    let topics: Vec<String> = topology
        .repartition_topics()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(topics, ["by-word-repartition"]);
    let mut driver = TopologyTestDriver::new(topology).unwrap();
    driver.pipe(&WORDS, "a".into(), "tea".into()).unwrap();
    driver.pipe(&WORDS, "b".into(), "tea".into()).unwrap();
    assert_eq!(
        driver
            .key_value_store::<String, u64>("counts")
            .unwrap()
            .get(&"tea".into())
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        driver
            .key_value_store::<String, String>("joined")
            .unwrap()
            .get(&"tea".into())
            .unwrap(),
        Some("teatea".to_owned())
    );
}

#[test]
fn a_timestamp_extractor_orders_the_inputs_and_a_negative_timestamp_drops_the_record() {
    let (left, right) = (
        Topic::<String, u64>::new("left"),
        Topic::<String, u64>::new("right"),
    );
    let out = Topic::<String, u64>::new("merged");
    let seen_partition_times = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record_times = Arc::clone(&seen_partition_times);
    // The value is the event time; 0 means "unknown", stamped -1 and so dropped.
    let by_value = Consumed::new().with_timestamp_extractor(move |record, partition_time| {
        record_times.lock().unwrap().push(partition_time);
        match <TopicCodec as Codec<u64>>::decode(record.value) {
            Ok(0) | Err(_) => -1,
            Ok(time) => time as i64,
        }
    });
    let builder = StreamsBuilder::new();
    builder
        .stream_with(&left, by_value)
        .merge(builder.stream(&right))
        .to(&out);
    let config = TestDriverConfig {
        max_task_idle_ms: 1_000_000,
        ..TestDriverConfig::default()
    };
    let mut driver = TopologyTestDriver::with_config(builder.build().unwrap(), config).unwrap();
    // Kafka's timestamps say left comes first; the extracted ones say right (at 20) does.
    driver.pipe_at(&left, "a".into(), 30, 1).unwrap();
    driver.pipe_at(&left, "b".into(), 0, 2).unwrap();
    driver.pipe_at(&left, "c".into(), 40, 3).unwrap();
    driver.pipe_at(&right, "x".into(), 7, 20).unwrap();
    driver.pipe_at(&right, "y".into(), 8, 35).unwrap();
    let merged: Vec<(String, i64)> = driver
        .read_output(&out)
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.timestamp))
        .collect();
    // With idling on, a record is processed once both inputs have one (or at the end, none is
    // left waiting for): right's 20 before left's 30, the -1 dropped, 35 before 40 — the last
    // stays queued until the right input has a record again.
    assert_eq!(
        merged,
        [
            ("x".to_owned(), 20),
            ("a".to_owned(), 30),
            ("y".to_owned(), 35)
        ]
    );
    assert_eq!(driver.metrics().dropped_records, 1);
    // The extractor saw the partition's largest timestamp so far: -1, then 30, still 30.
    assert_eq!(*seen_partition_times.lock().unwrap(), [-1, 30, 30]);
}

#[test]
fn a_named_foreach_still_takes_its_index() {
    let builder = StreamsBuilder::new();
    builder.stream(&WORDS).foreach_named("log", |_, _| {});
    builder
        .stream(&Topic::<String, String>::new("more"))
        .to(&Topic::<String, String>::new("out"));
    let text = describe(builder);
    assert!(text.contains("Processor: log (stores: [])"), "{text}");
    assert!(
        text.contains("Source: KSTREAM-SOURCE-0000000002 (topics: [more])"),
        "{text}"
    );
}

#[test]
fn a_named_materialized_takes_no_index_and_to_table_named_names_its_repartition() {
    // Kafka Streams' `MaterializedInternal` generates a store name (taking an index) only when
    // the `Materialized` has none.
    let builder = StreamsBuilder::new();
    builder
        .table_with(&WORDS, Materialized::named("words"))
        .to_stream()
        .to(&Topic::<String, Option<String>>::new("changes"));
    let text = describe(builder);
    assert!(
        text.contains("Processor: KTABLE-SOURCE-0000000001 (stores: [words])"),
        "{text}"
    );
    assert!(text.contains("Sink: KSTREAM-SINK-0000000003"), "{text}");

    let builder = StreamsBuilder::new();
    let _latest = builder
        .stream(&WORDS)
        .select_key(|_, word| word.clone())
        .to_table_named("latest");
    let topology = builder.build().unwrap();
    let topics: Vec<String> = topology
        .repartition_topics()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(topics, ["latest-repartition"]);
    let text = topology.describe().to_string();
    assert!(text.contains("Processor: latest (stores: [])"), "{text}");
}

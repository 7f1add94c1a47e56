//! The test driver itself: punctuations on both clocks, stream time, malformed input, unknown
//! topics and `describe()`.

use std::time::Duration;

use streams::error::DeserializationErrorHandler;
use streams::prelude::*;

const IN: Topic<String, u32> = Topic::new("in");
const OUT: Topic<String, String> = Topic::new("out");
const IN2: Topic<String, u32> = Topic::new("in2");

/// Counts records; forwards `"<kind>:<time>:<count>"` on each punctuation.
struct Ticker {
    kind: PunctuationType,
    seen: u64,
}

impl Processor<String, u32> for Ticker {
    type KeyOut = String;
    type ValueOut = String;

    fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
        ctx.schedule(Duration::from_millis(100), self.kind);
        Ok(())
    }

    fn process(
        &mut self,
        _: Record<String, u32>,
        _: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessError> {
        self.seen += 1;
        Ok(())
    }

    fn punctuate(
        &mut self,
        _: PunctuatorId,
        now: i64,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessError> {
        assert!(
            ctx.record_context().is_none(),
            "no input record during a punctuation"
        );
        let kind = match self.kind {
            PunctuationType::StreamTime => "stream",
            PunctuationType::WallClockTime => "wall",
        };
        ctx.forward(Record::new(
            "tick".into(),
            format!("{kind}:{now}:{}", self.seen),
            now,
        ))
    }
}

fn ticker(kind: PunctuationType, start: i64) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream(&IN)
        .process_with("ticker", move || Ticker { kind, seen: 0 }, [])
        .to(&OUT);
    let config = TestDriverConfig {
        initial_wall_clock: start,
        ..TestDriverConfig::default()
    };
    TopologyTestDriver::with_config(builder.build().unwrap(), config).unwrap()
}

#[test]
fn stream_time_punctuation_follows_record_timestamps_only() {
    let mut d = ticker(PunctuationType::StreamTime, 0);
    d.advance_wall_clock_time(Duration::from_secs(10)).unwrap();
    assert!(
        d.read_values(&OUT).unwrap().is_empty(),
        "wall clock never moves stream time"
    );
    for ts in [5, 50, 120, 110, 450] {
        d.pipe_at(&IN, "k".into(), 1, ts).unwrap();
    }
    // Aligned to 0: fires at the first record, then at 100 (by the record at 120), then once for
    // the gap up to 450; the late record at 110 does not move stream time.
    assert_eq!(
        d.read_values(&OUT).unwrap(),
        ["stream:5:1", "stream:120:3", "stream:450:5"]
    );
}

#[test]
fn wall_clock_punctuation_follows_the_simulated_clock_only() {
    let mut d = ticker(PunctuationType::WallClockTime, 1_000);
    d.pipe_at(&IN, "k".into(), 1, 999_999).unwrap();
    assert!(
        d.read_values(&OUT).unwrap().is_empty(),
        "records never move wall-clock time"
    );
    d.advance_wall_clock_time(Duration::from_millis(99))
        .unwrap();
    assert!(d.read_values(&OUT).unwrap().is_empty());
    d.advance_wall_clock_time(Duration::from_millis(1)).unwrap();
    d.pipe_at(&IN, "k".into(), 1, 0).unwrap();
    d.advance_wall_clock_time(Duration::from_millis(350))
        .unwrap();
    assert_eq!(d.read_values(&OUT).unwrap(), ["wall:1100:1", "wall:1450:2"]);
    assert_eq!(d.wall_clock_time(), 1_450);
    assert_eq!(d.metrics().punctuations, 2);
}

fn passthrough() -> TopologyTestDriver {
    passthrough_with(TestDriverConfig::default())
}

fn passthrough_with(config: TestDriverConfig) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder.stream(&IN).map_values(|v| v.to_string()).to(&OUT);
    TopologyTestDriver::with_config(builder.build().unwrap(), config).unwrap()
}

#[test]
fn a_malformed_record_is_a_typed_error_naming_its_coordinates() {
    let mut d = passthrough();
    d.pipe(&IN, "ok".into(), 1).unwrap();
    // A u32 value is 4 big-endian bytes; 3 bytes cannot be one.
    let error = d
        .pipe_raw("in", Some(b"bad"), Some(&[0, 0, 1]), 7)
        .unwrap_err();
    match error {
        StreamsError::Process(ProcessError::Deserialization {
            topic,
            partition,
            offset,
            part,
            source,
        }) => {
            assert_eq!((topic.as_str(), partition, offset), ("in", 0, 1));
            assert_eq!(part, streams::error::RecordPart::Value);
            assert_eq!(source.message, "expected 4 bytes, found 3");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Invalid UTF-8 in a String key.
    let error = d
        .pipe_raw("in", Some(&[0xff]), Some(&[0, 0, 0, 2]), 8)
        .unwrap_err();
    assert!(
        error.to_string().contains("cannot deserialize the key"),
        "{error}"
    );
    assert_eq!(d.read_values(&OUT).unwrap(), ["1"]);
}

#[test]
fn malformed_records_can_be_logged_and_skipped() {
    let mut d = passthrough_with(TestDriverConfig {
        deserialization_errors: DeserializationErrorHandler::LogAndContinue,
        ..TestDriverConfig::default()
    });
    d.pipe_raw("in", Some(b"k"), Some(b"xx"), 0).unwrap();
    d.pipe(&IN, "k".into(), 5).unwrap();
    assert_eq!(d.read_values(&OUT).unwrap(), ["5"]);
    assert_eq!(d.metrics().dropped_records, 1);
}

#[test]
fn unknown_topics_and_stores_are_errors() {
    let mut d = passthrough();
    let stray = Topic::<String, u32>::new("stray");
    assert!(
        matches!(d.pipe(&stray, "k".into(), 1), Err(StreamsError::UnknownTopic(t)) if t == "stray")
    );
    assert!(matches!(
        d.read_output(&stray),
        Err(StreamsError::UnknownTopic(_))
    ));
    assert_eq!(
        d.key_value_store::<String, u64>("nope")
            .unwrap_err()
            .to_string(),
        "the topology has no store named `nope`; its stores: none"
    );
    // The message lists the stores there are.
    let builder = StreamsBuilder::new();
    let _counts = builder
        .stream(&IN)
        .group_by_key()
        .count_with(Materialized::named("counts"));
    let _sums = builder
        .stream(&IN2)
        .group_by_key()
        .reduce_with(|a, b| a + b, Materialized::named("sums"));
    let d = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    assert_eq!(
        d.key_value_store::<String, u64>("count")
            .unwrap_err()
            .to_string(),
        "the topology has no store named `count`; its stores: counts, sums"
    );
}

#[test]
fn reading_a_store_with_the_wrong_types_is_an_error() {
    let builder = StreamsBuilder::new();
    let _ = builder
        .stream(&IN)
        .group_by_key()
        .count_with(Materialized::named("c"));
    let d = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    assert!(d.key_value_store::<String, u64>("c").is_ok());
    assert!(matches!(
        d.key_value_store::<String, String>("c"),
        Err(StreamsError::Store(StoreError::TypeMismatch { .. }))
    ));
}

#[test]
fn negative_timestamps_are_dropped() {
    let mut d = passthrough();
    d.pipe_at(&IN, "k".into(), 1, -5).unwrap();
    assert!(d.read_values(&OUT).unwrap().is_empty());
    assert_eq!(d.metrics().dropped_records, 1);
}

#[test]
fn describe_matches_kafka_streams_layout() {
    let builder = StreamsBuilder::new();
    let lines = Topic::<(), String>::new("text-lines");
    let counts = Topic::<String, Option<u64>>::new("word-counts");
    builder
        .stream(&lines)
        .flat_map_values(|l: String| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .group_by(|_, w| w.clone())
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to(&counts);
    // Kafka Streams' own rendering of this topology (names, order and spacing): its WordCount
    // demo prints exactly this, the repartition's three burnt indices (4 to 6) included.
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [text-lines])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> KSTREAM-KEY-SELECT-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> counts-repartition-filter
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Processor: counts-repartition-filter (stores: [])
      --> counts-repartition-sink
      <-- KSTREAM-KEY-SELECT-0000000002
    Sink: counts-repartition-sink (topic: counts-repartition)
      <-- counts-repartition-filter

  Sub-topology: 1
    Source: counts-repartition-source (topics: [counts-repartition])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [counts])
      --> KTABLE-TOSTREAM-0000000007
      <-- counts-repartition-source
    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- KSTREAM-AGGREGATE-0000000003
    Sink: KSTREAM-SINK-0000000008 (topic: word-counts)
      <-- KTABLE-TOSTREAM-0000000007

";
    assert_eq!(builder.build().unwrap().describe().to_string(), expected);
}

#[test]
fn build_reports_wiring_mistakes_the_compiler_cannot_see() {
    // Two tables on one topic (two `stream()` calls are one source, see tests/ks_parity.rs).
    let builder = StreamsBuilder::new();
    builder.table(&IN).to_stream().to(&Topic::new("a"));
    builder.table(&IN).to_stream().to(&Topic::new("b"));
    assert!(matches!(
        builder.build(),
        Err(streams::TopologyError::DuplicateSourceTopic { .. })
    ));
    assert!(matches!(
        StreamsBuilder::new().build(),
        Err(streams::TopologyError::NoSources)
    ));
    let builder = StreamsBuilder::new();
    builder
        .stream(&Topic::<String, u32>::new("bad topic!"))
        .to(&IN2);
    assert!(matches!(
        builder.build(),
        Err(streams::TopologyError::IllegalName(_))
    ));
}

/// Routes each record to the child named after its key.
struct Router;

impl Processor<String, u32> for Router {
    type KeyOut = String;
    type ValueOut = u32;

    fn process(
        &mut self,
        record: Record<String, u32>,
        ctx: &mut ProcessorContext<'_, String, u32>,
    ) -> Result<(), ProcessError> {
        let child = record.key.clone();
        ctx.forward_to_child(&child, record)
    }
}

#[test]
fn processors_forward_to_named_children() {
    let builder = StreamsBuilder::new();
    let routed = builder.stream(&IN).process_with("router", || Router, []);
    let left = Topic::<String, u32>::new("left");
    let right = Topic::<String, u32>::new("right");
    routed
        .clone()
        .filter(|_, _| true)
        .named("left-child")
        .to(&left);
    routed.filter(|_, _| true).named("right-child").to(&right);
    let mut d = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    for (key, value) in [
        ("left-child", 1),
        ("right-child", 2),
        ("nobody", 3),
        ("left-child", 4),
    ] {
        d.pipe(&IN, key.into(), value).unwrap();
    }
    assert_eq!(d.read_values(&left).unwrap(), [1, 4]);
    assert_eq!(d.read_values(&right).unwrap(), [2]);
}

/// Forwards the task's stream time as seen while processing each record.
struct Clock;

impl Processor<String, u32> for Clock {
    type KeyOut = String;
    type ValueOut = String;

    fn process(
        &mut self,
        record: Record<String, u32>,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessError> {
        let now = ctx.stream_time().to_string();
        ctx.forward(record.with_value(now))
    }
}

#[test]
fn an_undecodable_record_does_not_move_stream_time() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&IN)
        .process_with("clock", || Clock, [])
        .to(&OUT);
    let config = TestDriverConfig {
        deserialization_errors: DeserializationErrorHandler::LogAndContinue,
        ..TestDriverConfig::default()
    };
    let mut d = TopologyTestDriver::with_config(builder.build().unwrap(), config).unwrap();
    d.pipe_raw("in", Some(b"k"), Some(b"bad"), 1_000).unwrap();
    d.pipe_at(&IN, "k".into(), 1, 5).unwrap();
    assert_eq!(d.read_values(&OUT).unwrap(), ["5"]);
}

/// Kafka Streams' `TopologyTestDriverTest#shouldRespectTaskIdling`: two inputs of one task,
/// `max.task.idle.ms` = 1000 on the simulated wall clock.
#[test]
fn task_idling_waits_for_the_empty_input_on_the_simulated_clock() {
    let (input1, input2) = (
        Topic::<String, String>::new("input1"),
        Topic::<String, String>::new("input2"),
    );
    let output = Topic::<String, String>::new("output");
    let builder = StreamsBuilder::new();
    builder
        .stream(&input1)
        .merge(builder.stream(&input2))
        .to(&output);
    let config = TestDriverConfig {
        max_task_idle_ms: 1000,
        ..TestDriverConfig::default()
    };
    let mut driver = TopologyTestDriver::with_config(builder.build().unwrap(), config).unwrap();
    driver.pipe(&input1, "A".into(), "alpha".into()).unwrap();
    driver
        .advance_wall_clock_time(Duration::from_millis(1))
        .unwrap();
    // Only one input has records, and it has only been one ms.
    assert_eq!(driver.read_key_values(&output).unwrap(), []);
    driver.pipe(&input2, "B".into(), "beta".into()).unwrap();
    // Both inputs have records: A (the earlier) is processed; then only B is queued, and the
    // task waits again.
    assert_eq!(
        driver.read_key_values(&output).unwrap(),
        [("A".to_owned(), "alpha".to_owned())]
    );
    driver
        .advance_wall_clock_time(Duration::from_secs(1))
        .unwrap();
    assert_eq!(
        driver.read_key_values(&output).unwrap(),
        [("B".to_owned(), "beta".to_owned())]
    );
}

/// Kafka Streams' `shouldCaptureSinkTopicNamesIfWrittenInto` and
/// `shouldCaptureInternalTopicNamesIfWrittenInto`: output, repartition and changelog topics.
#[test]
fn produced_topic_names_are_the_topics_written_to() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&IN)
        .group_by(|_, v| v.to_string())
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to(&Topic::<String, Option<u64>>::new("counted"));
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    assert!(driver.produced_topic_names().is_empty());
    driver.pipe(&IN, "k".into(), 1).unwrap();
    assert_eq!(
        driver.produced_topic_names(),
        [
            "counted",
            "test-driver-counts-changelog",
            "test-driver-counts-repartition"
        ]
        .map(str::to_owned)
        .into()
    );
}

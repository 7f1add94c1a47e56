//! Windowed aggregations on the test driver, ported from Kafka Streams' own tests
//! (`KStreamWindowAggregateTest`, `KStreamSlidingWindowAggregateTest`,
//! `KStreamSessionWindowAggregateProcessorTest`, `SuppressScenarioTest`,
//! `KTableSuppressProcessorTest`) with their exact outputs: keys, windows, values, timestamps
//! and order, and SEMANTICS.md's worked example.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use streams::prelude::*;

const INPUT: Topic<String, String> = Topic::new("topic1");

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn driver(builder: StreamsBuilder) -> TopologyTestDriver {
    TopologyTestDriver::new(builder.build().expect("valid topology")).expect("driver")
}

fn pipe(d: &mut TopologyTestDriver, records: &[(&str, &str, i64)]) {
    for &(k, v, ts) in records {
        d.pipe_at(&INPUT, k.to_owned(), v.to_owned(), ts)
            .expect("pipe");
    }
}

/// Kafka Streams' `MockInitializer.STRING_INIT` and `MockAggregator.TOSTRING_ADDER`.
fn string_init() -> String {
    "0".to_owned()
}

fn tostring_adder(_: &String, value: String, aggregate: String) -> String {
    format!("{aggregate}+{value}")
}

/// A windowed output as the tests write it: `K[start,end) value @ts` (a `-` value: deleted).
type Out = (String, i64, i64, Option<String>, i64);

fn read<const SIZE: i64>(
    d: &mut TopologyTestDriver,
    topic: &Topic<Windowed<String>, Option<String>, TimeWindowedCodec<SIZE>>,
) -> Vec<Out> {
    d.read_output(topic)
        .expect("read")
        .into_iter()
        .map(|r| {
            (
                r.key.key,
                r.key.window.start,
                r.key.window.end,
                r.value,
                r.timestamp,
            )
        })
        .collect()
}

/// Parses `A[0,10) 0+1 @0; B[0,10) 0+2 @1` (brackets of either kind; `null` for a deletion).
fn outs(spec: &str) -> Vec<Out> {
    spec.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (window, rest) = item.split_once(' ').expect("key and window, then value");
            let (key, bounds) = window.split_once('[').expect("a window");
            let bounds = bounds.trim_end_matches([')', ']']);
            let (start, end) = bounds.split_once(',').expect("two bounds");
            let (value, ts) = rest.rsplit_once('@').expect("a timestamp");
            let value = value.trim();
            (
                key.to_owned(),
                start.parse().expect("start"),
                end.parse().expect("end"),
                (value != "null").then(|| value.to_owned()),
                ts.trim().parse().expect("timestamp"),
            )
        })
        .collect()
}

/// Parses Kafka Streams' "by start" expectations: `0: 0+1@10, 0+1+2@10 | 4: 0+1+2+3@14`.
fn by_start(spec: &str) -> BTreeMap<i64, BTreeSet<(String, i64)>> {
    spec.split('|')
        .map(|group| {
            let (start, values) = group.split_once(':').expect("start: values");
            let values = values
                .split(',')
                .map(|v| {
                    let (value, ts) = v.trim().rsplit_once('@').expect("value@ts");
                    (value.to_owned(), ts.parse().expect("ts"))
                })
                .collect();
            (start.trim().parse().expect("start"), values)
        })
        .collect()
}

fn group_by_start(outputs: Vec<Out>) -> BTreeMap<i64, BTreeSet<(String, i64)>> {
    let mut map: BTreeMap<i64, BTreeSet<(String, i64)>> = BTreeMap::new();
    for (_, start, _, value, ts) in outputs {
        map.entry(start)
            .or_default()
            .insert((value.expect("no deletions"), ts));
    }
    map
}

// ---------------------------------------------------------------------------------------------
// Time windows (KStreamWindowAggregateTest)
// ---------------------------------------------------------------------------------------------

fn hopping_aggregate(
    windows: TimeWindows,
    emit: EmitStrategy,
) -> (
    TopologyTestDriver,
    Topic<Windowed<String>, Option<String>, TimeWindowedCodec<10>>,
) {
    let out = Topic::<Windowed<String>, Option<String>, TimeWindowedCodec<10>>::with_codecs("out");
    let builder = StreamsBuilder::new();
    builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(windows)
        .emit_strategy(emit)
        .aggregate_with(
            string_init,
            tostring_adder,
            Materialized::named("topic1-Canonized"),
        )
        .to_stream()
        .to(&out);
    (driver(builder), out)
}

const AGG_BASIC_INPUT: &[(&str, &str, i64)] = &[
    ("A", "1", 0),
    ("B", "2", 1),
    ("C", "3", 2),
    ("D", "4", 3),
    ("A", "1", 4),
    ("A", "1", 5),
    ("B", "2", 6),
    ("D", "4", 7),
    ("B", "2", 8),
    ("C", "3", 9),
    ("A", "1", 10),
    ("B", "2", 11),
    ("D", "4", 12),
    ("B", "2", 13),
    ("C", "3", 14),
    ("B", "1", 3),
    ("B", "2", 2),
    ("B", "3", 9),
];

#[test]
fn agg_basic_emits_every_update_of_every_hopping_window() {
    let windows = TimeWindows::of_size_and_grace(ms(10), ms(100))
        .unwrap()
        .advance_by(ms(5))
        .unwrap();
    let (mut d, out) = hopping_aggregate(windows, EmitStrategy::on_window_update());
    pipe(&mut d, AGG_BASIC_INPUT);
    assert_eq!(
        read(&mut d, &out),
        outs(
            "A[0,10) 0+1 @0; B[0,10) 0+2 @1; C[0,10) 0+3 @2; D[0,10) 0+4 @3; A[0,10) 0+1+1 @4;
             A[0,10) 0+1+1+1 @5; A[5,15) 0+1 @5; B[0,10) 0+2+2 @6; B[5,15) 0+2 @6; D[0,10) 0+4+4 @7; D[5,15) 0+4 @7;
             B[0,10) 0+2+2+2 @8; B[5,15) 0+2+2 @8; C[0,10) 0+3+3 @9; C[5,15) 0+3 @9;
             A[5,15) 0+1+1 @10; A[10,20) 0+1 @10; B[5,15) 0+2+2+2 @11; B[10,20) 0+2 @11; D[5,15) 0+4+4 @12; D[10,20) 0+4 @12;
             B[5,15) 0+2+2+2+2 @13; B[10,20) 0+2+2 @13; C[5,15) 0+3+3 @14; C[10,20) 0+3 @14;
             B[0,10) 0+2+2+2+1 @8; B[0,10) 0+2+2+2+1+2 @8; B[0,10) 0+2+2+2+1+2+3 @9; B[5,15) 0+2+2+2+2+3 @13"
        )
    );
    assert_eq!(d.metrics().dropped_records, 0);
    // The store holds each window's aggregate with its largest timestamp.
    let store: WindowStore<String, String> = d.store("topic1-Canonized").unwrap();
    assert_eq!(
        store.fetch(&"B".to_owned(), 0).unwrap().as_deref(),
        Some("0+2+2+2+1+2+3")
    );
}

#[test]
fn agg_basic_through_the_record_cache_emits_the_same() {
    // Kafka Streams runs its window tests with and without the cache and expects the same: the
    // driver flushes after each record, so the cache merges only one record's updates.
    let windows = TimeWindows::of_size_and_grace(ms(10), ms(100))
        .unwrap()
        .advance_by(ms(5))
        .unwrap();
    let (_, out) = hopping_aggregate(windows, EmitStrategy::on_window_update());
    let builder = StreamsBuilder::new();
    builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(windows)
        .aggregate_with(
            string_init,
            tostring_adder,
            Materialized::named("topic1-Canonized"),
        )
        .to_stream()
        .to(&out);
    let config = TestDriverConfig {
        cache_max_bytes: 1 << 20,
        ..TestDriverConfig::default()
    };
    let mut cached = TopologyTestDriver::with_config(builder.build().unwrap(), config).unwrap();
    pipe(&mut cached, AGG_BASIC_INPUT);
    let (mut uncached, out) = hopping_aggregate(windows, EmitStrategy::on_window_update());
    pipe(&mut uncached, AGG_BASIC_INPUT);
    let expected = read(&mut uncached, &out);
    assert_eq!(expected.len(), 29);
    assert_eq!(read(&mut cached, &out), expected);
    let store: WindowStore<String, String> = cached.store("topic1-Canonized").unwrap();
    assert_eq!(
        store.fetch(&"B".to_owned(), 0).unwrap().as_deref(),
        Some("0+2+2+2+1+2+3")
    );
}

#[test]
fn agg_basic_with_emit_on_close_emits_nothing_while_the_grace_lasts() {
    let windows = TimeWindows::of_size_and_grace(ms(10), ms(100))
        .unwrap()
        .advance_by(ms(5))
        .unwrap();
    let (mut d, out) = hopping_aggregate(windows, EmitStrategy::on_window_close());
    pipe(&mut d, AGG_BASIC_INPUT);
    assert_eq!(read(&mut d, &out), []);
}

const EXPIRED_INPUT: &[(&str, &str, i64)] = &[
    ("k", "100", 100),
    ("k", "0", 0),
    ("k", "1", 1),
    ("k", "2", 2),
    ("k", "3", 3),
    ("k", "4", 4),
    ("k", "5", 5),
    ("k", "6", 6),
    ("k", "105", 105),
    ("k", "106", 106),
];

fn expired_window_topology(
    emit: EmitStrategy,
) -> (
    TopologyTestDriver,
    Topic<Windowed<String>, Option<String>, TimeWindowedCodec<10>>,
) {
    let windows = TimeWindows::of_size_and_grace(ms(10), ms(90))
        .unwrap()
        .advance_by(ms(5))
        .unwrap();
    let out =
        Topic::<Windowed<String>, Option<String>, TimeWindowedCodec<10>>::with_codecs("output");
    let builder = StreamsBuilder::new();
    builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(windows)
        .emit_strategy(emit)
        .aggregate_with(
            String::new,
            |_: &String, v: String, agg: String| format!("{agg}+{v}"),
            Materialized::named("store")
                .with_logging_disabled()
                .with_retention(ms(100)),
        )
        .to_stream()
        .to(&out);
    (driver(builder), out)
}

#[test]
fn a_record_is_dropped_for_each_expired_window_only() {
    let (mut d, out) = expired_window_topology(EmitStrategy::on_window_update());
    pipe(&mut d, EXPIRED_INPUT);
    assert_eq!(
        read(&mut d, &out),
        outs(
            "k[95,105) +100 @100; k[100,110) +100 @100; k[5,15) +5 @5; k[5,15) +5+6 @6;
             k[100,110) +100+105 @105; k[105,115) +105 @105; k[100,110) +100+105+106 @106; k[105,115) +105+106 @106"
        )
    );
    // Records 0..6 are too late for [0, 10) (closed at 10 by stream time 100): seven drops.
    assert_eq!(d.metrics().dropped_records, 7);
}

#[test]
fn emit_on_close_emits_each_closed_window_once() {
    let (mut d, out) = expired_window_topology(EmitStrategy::on_window_close());
    pipe(&mut d, EXPIRED_INPUT);
    assert_eq!(read(&mut d, &out), outs("k[5,15) +5+6 @6"));
    assert_eq!(d.metrics().dropped_records, 7);
}

#[test]
fn a_tumbling_window_drops_what_its_grace_no_longer_covers() {
    let windows = TimeWindows::of_size_and_grace(ms(10), ms(90)).unwrap();
    let out =
        Topic::<Windowed<String>, Option<String>, TimeWindowedCodec<10>>::with_codecs("output");
    let builder = StreamsBuilder::new();
    builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(windows)
        .aggregate(String::new, |_: &String, v: String, agg: String| {
            format!("{agg}+{v}")
        })
        .to_stream()
        .to(&out);
    let mut d = driver(builder);
    pipe(
        &mut d,
        &[
            ("k", "100", 200),
            ("k", "0", 100),
            ("k", "1", 101),
            ("k", "2", 102),
            ("k", "3", 103),
            ("k", "4", 104),
            ("k", "5", 105),
            ("k", "6", 6),
        ],
    );
    assert_eq!(read(&mut d, &out), outs("k[200,210) +100 @200"));
    assert_eq!(d.metrics().dropped_records, 7);
}

/// KStreamWindowAggregateTest's processor-level cases, on the driver: windows of 10 advancing by
/// 5 with a grace of 5, both emit strategies.
fn hop_10_5_grace_5(
    emit: EmitStrategy,
) -> (
    TopologyTestDriver,
    Topic<Windowed<String>, Option<String>, TimeWindowedCodec<10>>,
) {
    let windows = TimeWindows::of_size_and_grace(ms(10), ms(5))
        .unwrap()
        .advance_by(ms(5))
        .unwrap();
    hopping_aggregate(windows, emit)
}

#[test]
fn emit_final_waits_for_the_close_time_to_pass_a_window() {
    let (mut d, out) = hop_10_5_grace_5(EmitStrategy::on_window_close());
    pipe(&mut d, &[("A", "1", 0), ("B", "2", 5), ("C", "3", 15)]);
    assert_eq!(read(&mut d, &out), outs("A[0,10) 0+1 @0; B[0,10) 0+2 @5"));
    // The close time (10) did not move: nothing.
    pipe(&mut d, &[("D", "4", 15)]);
    assert_eq!(read(&mut d, &out), []);
    // Close 14: no window starts in (0, 4].
    pipe(&mut d, &[("E", "5", 19)]);
    assert_eq!(read(&mut d, &out), []);

    let (mut d, out) = hop_10_5_grace_5(EmitStrategy::on_window_update());
    pipe(
        &mut d,
        &[
            ("A", "1", 0),
            ("B", "2", 5),
            ("C", "3", 15),
            ("D", "4", 15),
            ("E", "5", 19),
        ],
    );
    assert_eq!(
        read(&mut d, &out),
        outs(
            "A[0,10) 0+1 @0; B[0,10) 0+2 @5; B[5,15) 0+2 @5; C[10,20) 0+3 @15; C[15,25) 0+3 @15;
             D[10,20) 0+4 @15; D[15,25) 0+4 @15; E[10,20) 0+5 @19; E[15,25) 0+5 @19"
        )
    );
}

#[test]
fn emit_final_emits_by_window_start_then_key() {
    let input = &[
        ("A", "1", 0),
        ("A", "1", 5),
        ("B", "2", 10),
        ("C", "3", 15),
        ("D", "4", 20),
    ];
    let (mut d, out) = hop_10_5_grace_5(EmitStrategy::on_window_close());
    pipe(&mut d, &input[..4]);
    assert_eq!(read(&mut d, &out), outs("A[0,10) 0+1+1 @5"));
    pipe(&mut d, &input[4..]);
    assert_eq!(read(&mut d, &out), outs("A[5,15) 0+1 @5; B[5,15) 0+2 @10"));
}

/// SEMANTICS.md's worked example: tumbling, size 2, grace 1, count, one key.
fn worked_example(builder: &StreamsBuilder) -> KTable<Windowed<String>, u64> {
    builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(2), ms(1)).unwrap())
        .count_with(Materialized::named("counts").with_caching_disabled())
}

const WORKED_INPUT: &[(&str, &str, i64)] = &[
    ("k1", "v1", 0),
    ("k1", "v1", 1),
    ("k1", "v1", 2),
    ("k1", "v1", 1),
    ("k1", "v1", 0),
    ("k1", "v1", 5),
    ("k1", "v1", 0),
];

type Counts = Topic<Windowed<String>, Option<u64>, TimeWindowedCodec<2>>;

fn counts(d: &mut TopologyTestDriver, topic: &Counts) -> Vec<(String, i64, i64, Option<u64>, i64)> {
    d.read_output(topic)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.key.key,
                r.key.window.start,
                r.key.window.end,
                r.value,
                r.timestamp,
            )
        })
        .collect()
}

fn k1(start: i64, end: i64, count: u64, ts: i64) -> (String, i64, i64, Option<u64>, i64) {
    ("k1".to_owned(), start, end, Some(count), ts)
}

#[test]
fn the_worked_example_emits_on_update() {
    let raw = Counts::with_codecs("raw");
    let builder = StreamsBuilder::new();
    worked_example(&builder).to_stream().to(&raw);
    let mut d = driver(builder);
    pipe(&mut d, WORKED_INPUT);
    assert_eq!(
        counts(&mut d, &raw),
        [
            k1(0, 2, 1, 0),
            k1(0, 2, 2, 1),
            k1(2, 4, 1, 2),
            k1(0, 2, 3, 1),
            k1(0, 2, 4, 1),
            k1(4, 6, 1, 5),
        ]
    );
    assert_eq!(d.metrics().dropped_records, 1);
}

#[test]
fn the_worked_example_emits_final_results_through_suppress() {
    let (raw, finals) = (Counts::with_codecs("raw"), Counts::with_codecs("final"));
    let builder = StreamsBuilder::new();
    let table = worked_example(&builder);
    table.to_stream().to(&raw);
    table
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to(&finals);
    let mut d = driver(builder);
    pipe(&mut d, &WORKED_INPUT[..5]);
    assert_eq!(counts(&mut d, &finals), []);
    pipe(&mut d, &WORKED_INPUT[5..]);
    assert_eq!(counts(&mut d, &finals), [k1(0, 2, 4, 1), k1(2, 4, 1, 2)]);
    assert_eq!(counts(&mut d, &raw).len(), 6);
}

#[test]
fn the_worked_example_emits_final_results_on_window_close() {
    let finals = Counts::with_codecs("final");
    let builder = StreamsBuilder::new();
    builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(2), ms(1)).unwrap())
        .emit_strategy(EmitStrategy::on_window_close())
        .count()
        .to_stream()
        .to(&finals);
    let mut d = driver(builder);
    pipe(&mut d, WORKED_INPUT);
    assert_eq!(counts(&mut d, &finals), [k1(0, 2, 4, 1), k1(2, 4, 1, 2)]);
}

#[test]
fn final_results_after_a_large_jump_close_many_windows_at_once() {
    let finals = Counts::with_codecs("final");
    let builder = StreamsBuilder::new();
    builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(2), ms(2)).unwrap())
        .count_with(Materialized::named("counts").with_caching_disabled())
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to(&finals);
    let mut d = driver(builder);
    for ts in [0, 1, 2, 0, 3, 0, 4] {
        pipe(&mut d, &[("k1", "v1", ts)]);
    }
    assert_eq!(counts(&mut d, &finals), [k1(0, 2, 4, 1)]);
    pipe(&mut d, &[("k1", "v1", 0), ("k1", "v1", 30)]);
    assert_eq!(counts(&mut d, &finals), [k1(2, 4, 2, 3), k1(4, 6, 1, 4)]);
    assert_eq!(d.metrics().dropped_records, 1);
}

#[test]
fn a_record_exactly_at_a_window_boundary_opens_the_next_window() {
    let raw = Counts::with_codecs("raw");
    let builder = StreamsBuilder::new();
    worked_example(&builder).to_stream().to(&raw);
    let mut d = driver(builder);
    // 2 is the end of [0, 2), exclusive: the record opens [2, 4). Stream time 4 closes
    // [0, 2) at 4 - 1 = 3 >= 2; a record at 1 is then late.
    pipe(
        &mut d,
        &[
            ("k1", "a", 1),
            ("k1", "b", 2),
            ("k1", "c", 4),
            ("k1", "d", 1),
        ],
    );
    assert_eq!(
        counts(&mut d, &raw),
        [k1(0, 2, 1, 1), k1(2, 4, 1, 2), k1(4, 6, 1, 4)]
    );
    assert_eq!(d.metrics().dropped_records, 1);
}

#[test]
fn a_record_at_end_plus_grace_is_dropped() {
    let raw = Counts::with_codecs("raw");
    let builder = StreamsBuilder::new();
    worked_example(&builder).to_stream().to(&raw);
    let mut d = driver(builder);
    // Stream time 3 = end (2) + grace (1): [0, 2) is closed, so a record at 0 is dropped; at
    // stream time 2 it was still accepted.
    pipe(
        &mut d,
        &[
            ("k1", "a", 2),
            ("k1", "b", 0),
            ("k1", "c", 3),
            ("k1", "d", 0),
        ],
    );
    assert_eq!(
        counts(&mut d, &raw),
        [k1(2, 4, 1, 2), k1(0, 2, 1, 0), k1(2, 4, 2, 3)]
    );
    assert_eq!(d.metrics().dropped_records, 1);
}

#[test]
fn reduce_and_aggregate_skip_null_values_but_count_counts_them() {
    let input = Topic::<String, Option<i64>>::new("numbers");
    let sums =
        Topic::<Windowed<String>, Option<Option<i64>>, TimeWindowedCodec<10>>::with_codecs("sums");
    let tallies =
        Topic::<Windowed<String>, Option<u64>, TimeWindowedCodec<10>>::with_codecs("tallies");
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream(&input)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)).unwrap());
    grouped
        .clone()
        .reduce(|a: Option<i64>, b: Option<i64>| Some(a.unwrap_or(0) + b.unwrap_or(0)))
        .to_stream()
        .to(&sums);
    grouped.count().to_stream().to(&tallies);
    let mut d = driver(builder);
    for (v, ts) in [(Some(1), 1), (None, 2), (Some(5), 3)] {
        d.pipe_at(&input, "k".to_owned(), v, ts).unwrap();
    }
    let sums: Vec<_> = d
        .read_output(&sums)
        .unwrap()
        .into_iter()
        .map(|r| (r.value.flatten(), r.timestamp))
        .collect();
    assert_eq!(sums, [(Some(1), 1), (Some(6), 3)]);
    assert_eq!(
        d.read_values(&tallies).unwrap(),
        [Some(1), Some(2), Some(3)]
    );
    // The reduce skipped one null value.
    assert_eq!(d.metrics().dropped_records, 1);
}

// ---------------------------------------------------------------------------------------------
// Sliding windows (KStreamSlidingWindowAggregateTest)
// ---------------------------------------------------------------------------------------------

fn sliding_run(
    windows: SlidingWindows,
    emit: EmitStrategy,
    input: &[(&str, &str, i64)],
    reduce: bool,
) -> Vec<Out> {
    let out = Topic::<Windowed<String>, Option<String>, TimeWindowedCodec<1>>::with_codecs("out");
    let builder = StreamsBuilder::new();
    let windowed = builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(windows)
        .emit_strategy(emit);
    let table = if reduce {
        windowed.reduce(|a: String, b: String| format!("{a}+{b}"))
    } else {
        windowed.aggregate(string_init, tostring_adder)
    };
    table
        .to_stream()
        .map(|k: Windowed<String>, v| (k, v))
        .to(&out);
    let mut d = driver(builder);
    pipe(&mut d, input);
    // The topic's codec recovers ends as start + 1; a sliding window ends `d` after its start.
    let d_ms = windows.time_difference_ms();
    read(&mut d, &out)
        .into_iter()
        .map(|(k, start, _, v, ts)| (k, start, start + d_ms, v, ts))
        .collect()
}

fn sliding(d: u64, grace: u64) -> SlidingWindows {
    SlidingWindows::of_time_difference_and_grace(ms(d), ms(grace)).unwrap()
}

const SMALL_INPUT: &[(&str, &str, i64)] = &[
    ("A", "1", 10),
    ("A", "2", 10),
    ("A", "3", 14),
    ("A", "4", 15),
    ("A", "5", 20),
    ("A", "6", 22),
    ("A", "7", 30),
];

#[test]
fn sliding_aggregate_small_input() {
    let update = sliding_run(
        sliding(10, 5),
        EmitStrategy::on_window_update(),
        SMALL_INPUT,
        false,
    );
    assert_eq!(
        group_by_start(update),
        by_start(
            "0: 0+1@10, 0+1+2@10 | 4: 0+1+2+3@14 | 5: 0+1+2+3+4@15 | 10: 0+1+2+3+4+5@20 |
             11: 0+3@14, 0+3+4@15, 0+3+4+5@20 | 12: 0+3+4+5+6@22 | 15: 0+4@15, 0+4+5@20, 0+4+5+6@22 |
             16: 0+5@20, 0+5+6@22 | 20: 0+5+6+7@30 | 21: 0+6@22, 0+6+7@30 | 23: 0+7@30"
        )
    );
    let last = sliding_run(
        sliding(10, 5),
        EmitStrategy::on_window_close(),
        SMALL_INPUT,
        false,
    );
    assert_eq!(
        group_by_start(last),
        by_start(
            "0: 0+1+2@10 | 4: 0+1+2+3@14 | 5: 0+1+2+3+4@15 | 10: 0+1+2+3+4+5@20 |
             11: 0+3+4+5@20 | 12: 0+3+4+5+6@22"
        )
    );
}

#[test]
fn sliding_reduce_small_input() {
    let input = &[
        ("A", "1", 10),
        ("A", "2", 14),
        ("A", "3", 15),
        ("A", "4", 22),
        ("A", "5", 26),
        ("A", "6", 30),
    ];
    let update = sliding_run(
        sliding(10, 5),
        EmitStrategy::on_window_update(),
        input,
        true,
    );
    assert_eq!(
        group_by_start(update),
        by_start(
            "0: 1@10 | 4: 1+2@14 | 5: 1+2+3@15 | 11: 2@14, 2+3@15 | 12: 2+3+4@22 | 15: 3@15, 3+4@22 |
             16: 4@22, 4+5@26 | 20: 4+5+6@30 | 23: 5@26, 5+6@30 | 27: 6@30"
        )
    );
    let last = sliding_run(sliding(10, 5), EmitStrategy::on_window_close(), input, true);
    assert_eq!(
        group_by_start(last),
        by_start("0: 1@10 | 4: 1+2@14 | 5: 1+2+3@15 | 11: 2+3@15 | 12: 2+3+4@22")
    );
}

const LARGE_INPUT: &[(&str, &str, i64)] = &[
    ("A", "1", 10),
    ("A", "2", 20),
    ("A", "3", 22),
    ("A", "4", 15),
    ("B", "1", 12),
    ("B", "2", 13),
    ("B", "3", 18),
    ("B", "4", 19),
    ("B", "5", 25),
    ("B", "6", 14),
    ("C", "1", 11),
    ("C", "2", 15),
    ("C", "3", 16),
    ("C", "4", 21),
    ("C", "5", 23),
    ("D", "4", 11),
    ("D", "2", 12),
    ("D", "3", 29),
    ("D", "5", 16),
];

fn sorted(mut outputs: Vec<Out>) -> Vec<Out> {
    // Kafka Streams' test sorts by key, then window start, keeping each window's order.
    outputs.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    outputs
}

#[test]
fn sliding_aggregate_large_input() {
    let last = sliding_run(
        sliding(10, 10),
        EmitStrategy::on_window_close(),
        LARGE_INPUT,
        false,
    );
    assert_eq!(
        sorted(last),
        outs(
            "A[0,10] 0+1@10; A[5,15] 0+1+4@15; B[2,12] 0+1@12; B[3,13] 0+1+2@13; B[8,18] 0+1+2+3+6@18;
             C[5,15] 0+2@15; C[6,16] 0+2+3@16"
        )
    );
    let update = sliding_run(
        sliding(10, 50),
        EmitStrategy::on_window_update(),
        LARGE_INPUT,
        false,
    );
    assert_eq!(
        sorted(update),
        outs(
            "A[0,10] 0+1@10; A[5,15] 0+1+4@15; A[10,20] 0+1+2@20; A[10,20] 0+1+2+4@20; A[11,21] 0+2@20; A[11,21] 0+2+4@20;
             A[12,22] 0+2+3@22; A[12,22] 0+2+3+4@22; A[16,26] 0+2+3@22; A[21,31] 0+3@22;
             B[2,12] 0+1@12; B[3,13] 0+1+2@13; B[4,14] 0+1+2+6@14; B[8,18] 0+1+2+3@18; B[8,18] 0+1+2+3+6@18; B[9,19] 0+1+2+3+4@19;
             B[9,19] 0+1+2+3+4+6@19; B[13,23] 0+2@13; B[13,23] 0+2+3@18; B[13,23] 0+2+3+4@19; B[13,23] 0+2+3+4+6@19; B[14,24] 0+3@18;
             B[14,24] 0+3+4@19; B[14,24] 0+3+4+6@19; B[15,25] 0+3+4+5@25; B[19,29] 0+4@19; B[19,29] 0+4+5@25; B[20,30] 0+5@25;
             C[1,11] 0+1@11; C[5,15] 0+1+2@15; C[6,16] 0+1+2+3@16; C[11,21] 0+1+2+3+4@21; C[12,22] 0+2@15; C[12,22] 0+2+3@16;
             C[12,22] 0+2+3+4@21; C[13,23] 0+2+3+4+5@23; C[16,26] 0+3@16; C[16,26] 0+3+4@21; C[16,26] 0+3+4+5@23; C[17,27] 0+4@21;
             C[17,27] 0+4+5@23; C[22,32] 0+5@23; D[1,11] 0+4@11; D[2,12] 0+4+2@12; D[6,16] 0+4+2+5@16; D[12,22] 0+2@12;
             D[12,22] 0+2+5@16; D[13,23] 0+5@16; D[19,29] 0+3@29"
        )
    );
}

#[test]
fn sliding_early_records_share_the_first_window() {
    let input = &[
        ("A", "1", 0),
        ("A", "2", 5),
        ("A", "3", 6),
        ("A", "4", 3),
        ("A", "5", 13),
        ("A", "6", 10),
        ("A", "7", 70),
    ];
    let update = sliding_run(
        sliding(50, 0),
        EmitStrategy::on_window_update(),
        input,
        false,
    );
    assert_eq!(
        group_by_start(update),
        by_start(
            "0: 0+1@0, 0+1+2@5, 0+1+2+3@6, 0+1+2+3+4@6, 0+1+2+3+4+5@13, 0+1+2+3+4+5+6@13 |
             1: 0+2@5, 0+2+3@6, 0+2+3+4@6, 0+2+3+4+5@13, 0+2+3+4+5+6@13 | 4: 0+2+3@6, 0+2+3+5@13, 0+2+3+5+6@13 |
             6: 0+3@6, 0+3+5@13, 0+3+5+6@13 | 7: 0+5@13, 0+5+6@13 | 11: 0+5@13 | 20: 0+7@70"
        )
    );
    let last = sliding_run(
        sliding(50, 0),
        EmitStrategy::on_window_close(),
        input,
        false,
    );
    assert_eq!(
        group_by_start(last),
        by_start(
            "0: 0+1+2+3+4+5+6@13 | 1: 0+2+3+4+5+6@13 | 4: 0+2+3+5+6@13 | 6: 0+3+5+6@13 | 7: 0+5+6@13 | 11: 0+5@13"
        )
    );
}

#[test]
fn sliding_early_records_repeated() {
    let input = &[
        ("A", "1", 0),
        ("A", "2", 2),
        ("A", "3", 4),
        ("A", "4", 0),
        ("A", "5", 2),
        ("A", "6", 2),
        ("A", "7", 0),
        ("A", "8", 7),
    ];
    let update = sliding_run(
        sliding(5, 0),
        EmitStrategy::on_window_update(),
        input,
        false,
    );
    assert_eq!(
        group_by_start(update),
        by_start(
            "0: 0+1@0, 0+1+2@2, 0+1+2+3@4, 0+1+2+3+4@4, 0+1+2+3+4+5@4, 0+1+2+3+4+5+6@4, 0+1+2+3+4+5+6+7@4 |
             1: 0+2@2, 0+2+3@4, 0+2+3+5@4, 0+2+3+5+6@4 | 2: 0+2+3+5+6+8@7 | 3: 0+3@4, 0+3+8@7 | 5: 0+8@7"
        )
    );
    let last = sliding_run(sliding(5, 0), EmitStrategy::on_window_close(), input, false);
    assert_eq!(
        group_by_start(last),
        by_start("0: 0+1+2+3+4+5+6+7@4 | 1: 0+2+3+5+6@4")
    );
}

#[test]
fn sliding_without_grace_small_input() {
    let input = &[
        ("A", "1", 100),
        ("A", "2", 105),
        ("A", "3", 106),
        ("A", "4", 103),
        ("A", "5", 113),
        ("A", "6", 110),
    ];
    let windows = SlidingWindows::of_time_difference_with_no_grace(ms(50)).unwrap();
    let update = sliding_run(windows, EmitStrategy::on_window_update(), input, false);
    assert_eq!(
        group_by_start(update),
        by_start(
            "50: 0+1@100 | 55: 0+1+2@105 | 56: 0+1+2+3@106, 0+1+2+3+4@106 | 63: 0+1+2+3+4+5@113, 0+1+2+3+4+5+6@113 |
             101: 0+2@105, 0+2+3@106, 0+2+3+4@106, 0+2+3+4+5@113, 0+2+3+4+5+6@113 | 104: 0+2+3@106, 0+2+3+5@113, 0+2+3+5+6@113 |
             106: 0+3@106, 0+3+5@113, 0+3+5+6@113 | 107: 0+5@113, 0+5+6@113 | 111: 0+5@113"
        )
    );
    let last = sliding_run(windows, EmitStrategy::on_window_close(), input, false);
    assert_eq!(
        group_by_start(last),
        by_start("50: 0+1@100 | 55: 0+1+2@105 | 56: 0+1+2+3+4@106")
    );
}

#[test]
fn sliding_drops_left_windows_past_the_grace() {
    let input = &[
        ("k", "100", 200),
        ("k", "0", 100),
        ("k", "1", 101),
        ("k", "2", 102),
        ("k", "3", 103),
        ("k", "4", 104),
        ("k", "5", 105),
        ("k", "6", 15),
        ("k", "101", 300),
        ("k", "102", 400),
    ];
    let update = sliding_run(
        sliding(10, 90),
        EmitStrategy::on_window_update(),
        input,
        false,
    );
    assert_eq!(
        update,
        outs("k[190,200] 0+100@200; k[290,300] 0+101@300; k[390,400] 0+102@400")
    );
    let last = sliding_run(
        sliding(10, 90),
        EmitStrategy::on_window_close(),
        input,
        false,
    );
    assert_eq!(last, outs("k[190,200] 0+100@200; k[290,300] 0+101@300"));
}

// ---------------------------------------------------------------------------------------------
// Session windows (KStreamSessionWindowAggregateProcessorTest, SuppressScenarioTest)
// ---------------------------------------------------------------------------------------------

type Sessions = Topic<Windowed<String>, Option<u64>, SessionWindowedCodec>;

fn sessions(
    d: &mut TopologyTestDriver,
    topic: &Sessions,
) -> Vec<(String, i64, i64, Option<u64>, i64)> {
    d.read_output(topic)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.key.key,
                r.key.window.start,
                r.key.window.end,
                r.value,
                r.timestamp,
            )
        })
        .collect()
}

fn session(
    key: &str,
    start: i64,
    end: i64,
    count: Option<u64>,
    ts: i64,
) -> (String, i64, i64, Option<u64>, i64) {
    (key.to_owned(), start, end, count, ts)
}

const GAP: i64 = 300_000;

fn session_counts(windows: SessionWindows, emit: EmitStrategy) -> (TopologyTestDriver, Sessions) {
    let out = Sessions::with_codecs("sessions");
    let builder = StreamsBuilder::new();
    builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(windows)
        .emit_strategy(emit)
        .count_with(
            Materialized::named("session-store")
                .with_caching_disabled()
                .with_retention(ms(3 * GAP as u64)),
        )
        .to_stream()
        .to(&out);
    (driver(builder), out)
}

fn five_minutes() -> SessionWindows {
    SessionWindows::of_inactivity_gap_with_no_grace(ms(GAP as u64)).unwrap()
}

#[test]
fn sessions_apart_by_the_gap_stay_apart() {
    let input: Vec<(&str, &str, i64)> = vec![
        ("mel", "1", 0),
        ("mel", "2", GAP + 1),
        ("mel", "2", GAP + 1),
        ("mel", "3", 2 * GAP + 2),
        ("mel", "3", 2 * GAP + 2),
        ("mel", "3", 2 * GAP + 2),
    ];
    let (mut d, out) = session_counts(five_minutes(), EmitStrategy::on_window_update());
    pipe(&mut d, &input);
    let updates = sessions(&mut d, &out);
    assert_eq!(
        updates.last().cloned(),
        Some(session(
            "mel",
            2 * GAP + 2,
            2 * GAP + 2,
            Some(3),
            2 * GAP + 2
        ))
    );
    let store: SessionStore<String, u64> = d.store("session-store").unwrap();
    assert_eq!(
        store.fetch(&"mel".to_owned()).unwrap(),
        [
            (Windowed::new("mel".to_owned(), 0, 0), 1),
            (Windowed::new("mel".to_owned(), GAP + 1, GAP + 1), 2),
            (Windowed::new("mel".to_owned(), 2 * GAP + 2, 2 * GAP + 2), 3),
        ]
    );

    let (mut d, out) = session_counts(five_minutes(), EmitStrategy::on_window_close());
    pipe(&mut d, &input);
    assert_eq!(
        sessions(&mut d, &out),
        [
            session("mel", 0, 0, Some(1), 0),
            session("mel", GAP + 1, GAP + 1, Some(2), GAP + 1),
        ]
    );
}

#[test]
fn a_merge_forwards_a_tombstone_for_each_replaced_session_then_the_merged_one() {
    let (mut d, out) = session_counts(five_minutes(), EmitStrategy::on_window_update());
    pipe(&mut d, &[("a", "1", 0), ("a", "2", 5)]);
    assert_eq!(
        sessions(&mut d, &out),
        [
            session("a", 0, 0, Some(1), 0),
            session("a", 0, 0, None, 0),
            session("a", 0, 5, Some(2), 5),
        ]
    );
}

#[test]
fn one_record_bridging_three_sessions_merges_them() {
    let windows = SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(100)).unwrap();
    let (mut d, out) = session_counts(windows, EmitStrategy::on_window_update());
    pipe(
        &mut d,
        &[
            ("k", "a", 0),
            ("k", "b", 20),
            ("k", "c", 40),
            ("k", "d", 41),
        ],
    );
    let _ = sessions(&mut d, &out);
    // 30 is within 10 of the session [20, 20] and of [40, 41]; 10 within 10 of [0, 0] and
    // [20, 20]: one record at 10 merges the first two, one at 30 then all three.
    pipe(&mut d, &[("k", "e", 10)]);
    assert_eq!(
        sessions(&mut d, &out),
        [
            session("k", 0, 0, None, 0),
            session("k", 20, 20, None, 20),
            session("k", 0, 20, Some(3), 20),
        ]
    );
    pipe(&mut d, &[("k", "f", 30)]);
    assert_eq!(
        sessions(&mut d, &out),
        [
            session("k", 0, 20, None, 20),
            session("k", 40, 41, None, 41),
            session("k", 0, 41, Some(6), 41),
        ]
    );
}

#[test]
fn multiple_keys_and_merges_emit_final_sessions_in_end_order() {
    let half = GAP / 2;
    let input = vec![
        ("a", "1", 0),
        ("b", "1", 0),
        ("c", "1", 0),
        ("d", "1", 0),
        ("d", "1", half),
        ("a", "1", GAP + 1),
        ("b", "1", GAP + 1),
        ("a", "1", GAP + 1 + half),
        ("c", "1", GAP + 1 + half),
    ];
    let (mut d, out) = session_counts(five_minutes(), EmitStrategy::on_window_close());
    pipe(&mut d, &input);
    assert_eq!(
        sessions(&mut d, &out),
        [
            session("a", 0, 0, Some(1), 0),
            session("b", 0, 0, Some(1), 0),
            session("c", 0, 0, Some(1), 0),
            session("d", 0, half, Some(2), half),
        ]
    );
}

#[test]
fn a_late_session_record_is_dropped_and_counted() {
    let windows = SessionWindows::of_inactivity_gap_with_no_grace(ms(10)).unwrap();
    let (mut d, out) = session_counts(windows, EmitStrategy::on_window_update());
    pipe(
        &mut d,
        &[
            ("dummy", "1", 0),
            ("OnTime1", "1", 0),
            ("dummy", "1", 11),
            ("Late1", "1", 0),
        ],
    );
    assert_eq!(d.metrics().dropped_records, 1);
    assert!(sessions(&mut d, &out).iter().all(|s| s.0 != "Late1"));

    let windows = SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(1)).unwrap();
    let (mut d, out) = session_counts(windows, EmitStrategy::on_window_update());
    pipe(
        &mut d,
        &[
            ("dummy", "1", 0),
            ("OnTime1", "1", 0),
            ("dummy", "1", 11),
            ("OnTime2", "1", 0),
            ("dummy", "1", 12),
            ("Late1", "1", 0),
        ],
    );
    assert_eq!(d.metrics().dropped_records, 1);
    let keys: Vec<String> = sessions(&mut d, &out).into_iter().map(|s| s.0).collect();
    assert!(keys.contains(&"OnTime2".to_owned()) && !keys.contains(&"Late1".to_owned()));
}

#[test]
fn final_results_for_session_windows_drop_tombstones() {
    let (raw, finals) = (Sessions::with_codecs("raw"), Sessions::with_codecs("final"));
    let builder = StreamsBuilder::new();
    let table = builder
        .stream(&INPUT)
        .group_by(|k: &String, _| k.clone())
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(ms(5)).unwrap())
        .count_with(Materialized::named("counts").with_caching_disabled());
    table.to_stream().to(&raw);
    table
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to(&finals);
    let mut d = driver(builder);
    pipe(
        &mut d,
        &[
            ("k1", "v1", 0),
            ("k1", "v1", 5),
            ("k1", "v1", 1),
            ("k2", "v1", 11),
            ("k1", "v1", 5),
            ("k1", "v1", 30),
        ],
    );
    assert_eq!(
        sessions(&mut d, &raw),
        [
            session("k1", 0, 0, Some(1), 0),
            session("k1", 0, 0, None, 0),
            session("k1", 0, 5, Some(2), 5),
            session("k1", 0, 5, None, 5),
            session("k1", 0, 5, Some(3), 5),
            session("k2", 11, 11, Some(1), 11),
            session("k1", 30, 30, Some(1), 30),
        ]
    );
    assert_eq!(
        sessions(&mut d, &finals),
        [
            session("k1", 0, 5, Some(3), 5),
            session("k2", 11, 11, Some(1), 11)
        ]
    );
}

#[test]
fn session_aggregate_merges_with_its_merger() {
    let out = Topic::<Windowed<String>, Option<String>, SessionWindowedCodec>::with_codecs("out");
    let builder = StreamsBuilder::new();
    builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(100)).unwrap())
        .aggregate(
            || "<".to_owned(),
            |_: &String, v: String, agg: String| format!("{agg}{v}"),
            |_: &String, a: String, b: String| format!("{a}|{b}"),
        )
        .to_stream()
        .to(&out);
    let mut d = driver(builder);
    pipe(&mut d, &[("k", "a", 0), ("k", "b", 20), ("k", "c", 10)]);
    let last = d.read_key_values(&out).unwrap().pop().unwrap();
    // Kafka Streams merges the initial aggregate with each session, then adds the record.
    assert_eq!(
        last,
        (
            Windowed::new("k".to_owned(), 0, 20),
            Some("<|<a|<bc".to_owned())
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Suppression (SuppressScenarioTest, KTableSuppressProcessorTest)
// ---------------------------------------------------------------------------------------------

const WORDS: Topic<String, String> = Topic::new("input");

fn suppressed_counts(
    suppressed: Suppressed<String>,
) -> (
    TopologyTestDriver,
    Topic<String, Option<u64>>,
    Topic<String, Option<u64>>,
) {
    let raw = Topic::<String, Option<u64>>::new("output-raw");
    let out = Topic::<String, Option<u64>>::new("output-suppressed");
    let builder = StreamsBuilder::new();
    let counts = builder
        .stream(&WORDS)
        .group_by(|_, v: &String| v.clone())
        .count_with(Materialized::named("counts").with_caching_disabled());
    counts.to_stream().to(&raw);
    counts.suppress(suppressed).to_stream().to(&out);
    (driver(builder), raw, out)
}

fn key_counts(
    d: &mut TopologyTestDriver,
    topic: &Topic<String, Option<u64>>,
) -> Vec<(String, Option<u64>, i64)> {
    d.read_output(topic)
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

fn kc(key: &str, count: u64, ts: i64) -> (String, Option<u64>, i64) {
    (key.to_owned(), Some(count), ts)
}

#[test]
fn a_zero_time_limit_emits_at_once() {
    let (mut d, raw, out) = suppressed_counts(Suppressed::until_time_limit(
        Duration::ZERO,
        BufferConfig::unbounded(),
    ));
    for (k, v, ts) in [("k1", "v1", 0), ("k2", "v2", 1), ("k3", "v1", 2)] {
        d.pipe_at(&WORDS, k.to_owned(), v.to_owned(), ts).unwrap();
    }
    let expected = vec![kc("v1", 1, 0), kc("v2", 1, 1), kc("v1", 2, 2)];
    assert_eq!(key_counts(&mut d, &raw), expected);
    assert_eq!(key_counts(&mut d, &out), expected);
}

#[test]
fn a_time_limit_keeps_each_keys_first_place_and_latest_value() {
    let (mut d, _, out) = suppressed_counts(Suppressed::until_time_limit(
        ms(2),
        BufferConfig::unbounded(),
    ));
    for (k, v, ts) in [("k1", "v1", 0), ("k2", "v2", 1), ("k3", "v1", 2)] {
        d.pipe_at(&WORDS, k.to_owned(), v.to_owned(), ts).unwrap();
    }
    // v1 was buffered at 0, and 0 <= 2 - 2: out with its latest count and timestamp.
    assert_eq!(key_counts(&mut d, &out), [kc("v1", 2, 2)]);
    d.pipe_at(&WORDS, "x".to_owned(), "tick".to_owned(), 3)
        .unwrap();
    assert_eq!(key_counts(&mut d, &out), [kc("v2", 1, 1)]);
    d.pipe_at(&WORDS, "y".to_owned(), "tick".to_owned(), 4)
        .unwrap();
    // "tick" keeps its first buffer time, 3 > 4 - 2.
    assert_eq!(key_counts(&mut d, &out), []);
}

#[test]
fn a_full_buffer_emits_its_oldest_records_early() {
    let (mut d, _, out) = suppressed_counts(Suppressed::until_time_limit(
        Duration::from_secs(1_000_000),
        BufferConfig::max_records(1),
    ));
    for (k, v, ts) in [("k1", "v1", 0), ("k2", "v2", 1), ("k3", "v1", 2)] {
        d.pipe_at(&WORDS, k.to_owned(), v.to_owned(), ts).unwrap();
    }
    assert_eq!(key_counts(&mut d, &out), [kc("v1", 1, 0), kc("v2", 1, 1)]);
    d.pipe_at(&WORDS, "x".to_owned(), "x".to_owned(), 3)
        .unwrap();
    assert_eq!(key_counts(&mut d, &out), [kc("v1", 2, 2)]);

    let (mut d, _, out) = suppressed_counts(Suppressed::until_time_limit(
        Duration::from_secs(1_000_000),
        BufferConfig::max_bytes(30),
    ));
    for (k, v, ts) in [("k1", "v1", 0), ("k2", "v2", 1)] {
        d.pipe_at(&WORDS, k.to_owned(), v.to_owned(), ts).unwrap();
    }
    // Each entry is 16 bytes of bookkeeping plus its key and count (19 bytes): two do not fit
    // in 30.
    assert_eq!(key_counts(&mut d, &out), [kc("v1", 1, 0)]);
}

#[test]
fn a_full_buffer_told_to_shut_down_stops_with_a_clear_error() {
    let (mut d, _, _) = suppressed_counts(Suppressed::until_time_limit(
        Duration::from_secs(1_000_000),
        BufferConfig::max_records(1).shut_down_when_full(),
    ));
    d.pipe_at(&WORDS, "k1".to_owned(), "v1".to_owned(), 0)
        .unwrap();
    let error = d
        .pipe_at(&WORDS, "k2".to_owned(), "v2".to_owned(), 1)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "KTABLE-SUPPRESS-0000000008 buffer exceeded its max capacity. Currently [2/1] records"
        ),
        "{error}"
    );
}

#[test]
fn a_time_limit_forwards_tombstones_but_final_results_drop_them() {
    let table_topic = Topic::<String, String>::new("table");
    let out = Topic::<String, Option<String>>::new("out");
    let builder = StreamsBuilder::new();
    builder
        .table(&table_topic)
        .suppress(Suppressed::until_time_limit(
            Duration::ZERO,
            BufferConfig::max_records(0),
        ))
        .to_stream()
        .to(&out);
    let mut d = driver(builder);
    d.pipe_raw("table", Some(b"hey"), None, 100).unwrap();
    assert_eq!(d.read_key_values(&out).unwrap(), [("hey".to_owned(), None)]);
}

#[test]
fn suppress_nodes_and_stores_are_named_as_in_kafka_streams() {
    let input = Topic::<String, String>::new("input");
    let output = Topic::<String, Option<u64>>::new("output");
    let builder = StreamsBuilder::new();
    builder
        .stream(&input)
        .group_by_key()
        .count()
        .suppress(Suppressed::until_time_limit(
            Duration::from_secs(1),
            BufferConfig::unbounded(),
        ))
        .to_stream()
        .to(&output);
    assert_eq!(
        builder.build().unwrap().describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> KSTREAM-AGGREGATE-0000000002
    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000001])
      --> KTABLE-SUPPRESS-0000000003
      <-- KSTREAM-SOURCE-0000000000
    Processor: KTABLE-SUPPRESS-0000000003 (stores: [KTABLE-SUPPRESS-STATE-STORE-0000000004])
      --> KTABLE-TOSTREAM-0000000005
      <-- KSTREAM-AGGREGATE-0000000002
    Processor: KTABLE-TOSTREAM-0000000005 (stores: [])
      --> KSTREAM-SINK-0000000006
      <-- KTABLE-SUPPRESS-0000000003
    Sink: KSTREAM-SINK-0000000006 (topic: output)
      <-- KTABLE-TOSTREAM-0000000005

"
    );
    let builder = StreamsBuilder::new();
    builder
        .stream(&input)
        .group_by_key()
        .count()
        .suppress(
            Suppressed::until_time_limit(Duration::from_secs(1), BufferConfig::unbounded())
                .with_name("asdf"),
        )
        .to_stream()
        .to(&output);
    let text = builder.build().unwrap().describe().to_string();
    assert!(
        text.contains("Processor: asdf (stores: [asdf-store])"),
        "{text}"
    );
    assert!(text.contains("KTABLE-TOSTREAM-0000000003"), "{text}");
}

#[test]
fn invalid_window_definitions_are_errors_not_panics() {
    assert!(TimeWindows::of_size_with_no_grace(Duration::ZERO).is_err());
    let size = TimeWindows::of_size_with_no_grace(ms(123)).unwrap();
    assert!(size.advance_by(ms(124)).is_err());
    assert!(size.advance_by(Duration::ZERO).is_err());
    assert_eq!(size.advance_by(ms(4)).unwrap().advance_ms(), 4);
    assert!(SessionWindows::of_inactivity_gap_with_no_grace(Duration::ZERO).is_err());
    assert!(SlidingWindows::of_time_difference_with_no_grace(Duration::ZERO).is_err());
    let windows = TimeWindows::of_size_with_no_grace(ms(12))
        .unwrap()
        .advance_by(ms(5))
        .unwrap();
    assert_eq!(
        windows.windows_for(21),
        [
            Window::new(10, 22),
            Window::new(15, 27),
            Window::new(20, 32)
        ]
    );
    let windows = TimeWindows::of_size_with_no_grace(ms(6))
        .unwrap()
        .advance_by(ms(5))
        .unwrap();
    assert_eq!(windows.windows_for(7), [Window::new(5, 11)]);
    assert_eq!(
        TimeWindows::of_size_with_no_grace(ms(12))
            .unwrap()
            .windows_for(21),
        [Window::new(12, 24)]
    );
}

#[test]
fn windows_follow_the_event_time_taken_from_the_payload() {
    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    struct Reading {
        at: i64,
    }
    let readings = Topic::<String, Reading>::new("readings");
    let out = Counts::with_codecs("counts");
    let builder = StreamsBuilder::new();
    builder
        .stream_with(
            &readings,
            Consumed::new().with_event_time(|_: &String, reading: &Reading, _| reading.at),
        )
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(2), ms(1)).unwrap())
        .count()
        .to_stream()
        .to(&out);
    let mut d = driver(builder);
    // The Kafka timestamps (100, 101, ...) say nothing; the payload's `at` decides the window,
    // the lateness and the output timestamp; a negative `at` drops the record.
    for (i, at) in [0, 1, 5, -3, 1].into_iter().enumerate() {
        d.pipe_at(&readings, "k1".into(), Reading { at }, 100 + i as i64)
            .unwrap();
    }
    assert_eq!(
        counts(&mut d, &out),
        [k1(0, 2, 1, 0), k1(0, 2, 2, 1), k1(4, 6, 1, 5)]
    );
    // The negative time and the late record at 1 (stream time 5 closed [0, 2)).
    assert_eq!(d.metrics().dropped_records, 2);
}

/// `TopologyTest#timeWindowZeroArgCountShouldPreserveTopologyStructure` and its session,
/// sliding and `count(Materialized)` siblings: the store is named before the node, and an
/// unnamed `Materialized` of a time or session window count takes an index first.
#[test]
fn windowed_counts_are_named_as_in_kafka_streams() {
    fn describe(count: impl FnOnce(KGroupedStream<String, String>)) -> String {
        let builder = StreamsBuilder::new();
        count(
            builder
                .stream(&Topic::<String, String>::new("input-topic"))
                .group_by_key(),
        );
        builder.build().unwrap().describe().to_string()
    }
    let text = |node: &str, store: &str| {
        format!(
            "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input-topic])
      --> {node}
    Processor: {node} (stores: [{store}])
      --> none
      <-- KSTREAM-SOURCE-0000000000

"
        )
    };
    let zero_arg = text(
        "KSTREAM-AGGREGATE-0000000002",
        "KSTREAM-AGGREGATE-STATE-STORE-0000000001",
    );
    let burned = text(
        "KSTREAM-AGGREGATE-0000000003",
        "KSTREAM-AGGREGATE-STATE-STORE-0000000002",
    );
    let tumbling = || TimeWindows::of_size_with_no_grace(ms(1)).unwrap();
    let sessions = || SessionWindows::of_inactivity_gap_with_no_grace(ms(1)).unwrap();
    let sliding = || SlidingWindows::of_time_difference_with_no_grace(ms(1)).unwrap();
    assert_eq!(
        describe(|g| drop(g.windowed_by(tumbling()).count())),
        zero_arg
    );
    assert_eq!(
        describe(|g| drop(g.windowed_by(sessions()).count())),
        zero_arg
    );
    assert_eq!(
        describe(|g| drop(g.windowed_by(sliding()).count())),
        zero_arg
    );
    let unnamed = || Materialized::<String, u64>::unnamed().with_backend(StoreBackend::InMemory);
    assert_eq!(
        describe(|g| drop(g.windowed_by(tumbling()).count_with(unnamed()))),
        burned
    );
    assert_eq!(
        describe(|g| drop(g.windowed_by(sessions()).count_with(unnamed()))),
        burned
    );
    // Sliding windows' `count(Materialized)` takes no extra index.
    assert_eq!(
        describe(|g| drop(g.windowed_by(sliding()).count_with(unnamed()))),
        zero_arg
    );
    assert_eq!(
        describe(|g| drop(
            g.windowed_by(tumbling())
                .count_with(Materialized::named("count-store"))
        )),
        text("KSTREAM-AGGREGATE-0000000001", "count-store")
    );
    assert_eq!(
        describe(|g| drop(g.windowed_by(tumbling()).reduce(|a: String, b| a + &b))),
        text(
            "KSTREAM-REDUCE-0000000002",
            "KSTREAM-REDUCE-STATE-STORE-0000000001"
        )
    );
}

#[test]
fn session_merges_through_the_record_cache_emit_the_same() {
    let run = |cache_max_bytes: usize| {
        let out = Sessions::with_codecs("sessions");
        let builder = StreamsBuilder::new();
        builder
            .stream(&INPUT)
            .group_by_key()
            .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(100)).unwrap())
            .count_with(Materialized::named("session-store"))
            .to_stream()
            .to(&out);
        let config = TestDriverConfig {
            cache_max_bytes,
            ..TestDriverConfig::default()
        };
        let mut d = TopologyTestDriver::with_config(builder.build().unwrap(), config).unwrap();
        pipe(
            &mut d,
            &[
                ("k", "a", 0),
                ("k", "b", 20),
                ("k", "c", 40),
                ("j", "d", 41),
                ("k", "e", 10),
                ("k", "f", 30),
                ("j", "g", 45),
            ],
        );
        let store: SessionStore<String, u64> = d.store("session-store").unwrap();
        (
            sessions(&mut d, &out),
            store.fetch(&"k".to_owned()).unwrap(),
        )
    };
    let (uncached, uncached_store) = run(0);
    let (cached, cached_store) = run(1 << 20);
    assert_eq!(cached, uncached);
    assert_eq!(
        uncached.last().cloned(),
        Some(session("j", 41, 45, Some(2), 45))
    );
    assert_eq!(cached_store, uncached_store);
    assert_eq!(cached_store, [(Windowed::new("k".to_owned(), 0, 40), 5)]);
}

#[test]
fn emit_on_close_after_a_large_jump_loses_no_window() {
    let finals = Counts::with_codecs("final");
    let builder = StreamsBuilder::new();
    builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(2), ms(2)).unwrap())
        .emit_strategy(EmitStrategy::on_window_close())
        .count()
        .to_stream()
        .to(&finals);
    let mut d = driver(builder);
    for ts in [0, 1, 2, 0, 3, 0, 4] {
        pipe(&mut d, &[("k1", "v1", ts)]);
    }
    assert_eq!(counts(&mut d, &finals), [k1(0, 2, 4, 1)]);
    // Stream time jumps from 4 to 30: [2, 4) and [4, 6) close at once, though the write of
    // [30, 32) moves the store's retention clock far past them.
    pipe(&mut d, &[("k1", "v1", 0), ("k1", "v1", 30)]);
    assert_eq!(counts(&mut d, &finals), [k1(2, 4, 2, 3), k1(4, 6, 1, 4)]);

    let out = Sessions::with_codecs("sessions");
    let builder = StreamsBuilder::new();
    builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(ms(10)).unwrap())
        .emit_strategy(EmitStrategy::on_window_close())
        .count()
        .to_stream()
        .to(&out);
    let mut d = driver(builder);
    pipe(&mut d, &[("k", "a", 0), ("k", "b", 5), ("j", "c", 100)]);
    assert_eq!(sessions(&mut d, &out), [session("k", 0, 5, Some(2), 5)]);
}

#[test]
fn a_retention_shorter_than_the_windows_need_is_a_build_error() {
    let builder = StreamsBuilder::new();
    let _ = builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)).unwrap())
        .count_with(Materialized::named("short").with_retention(ms(12)));
    assert_eq!(
        builder.build().unwrap_err().to_string(),
        "the retention period of the store `short` (12 ms) must be no smaller than its window size plus the grace period (15 ms)"
    );
    let builder = StreamsBuilder::new();
    let _ = builder
        .stream(&INPUT)
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(5)).unwrap())
        .count_with(Materialized::named("sessions").with_retention(ms(14)));
    assert!(
        builder
            .build()
            .unwrap_err()
            .to_string()
            .contains("the session inactivity gap plus the grace period (15 ms)")
    );
}

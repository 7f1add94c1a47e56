//! Behaviour of every DSL operator on the test driver: exact outputs, keys, timestamps and state.

use streams::prelude::*;

fn driver(builder: StreamsBuilder) -> TopologyTestDriver {
    TopologyTestDriver::new(builder.build().expect("valid topology")).expect("driver")
}

const NUMBERS: Topic<String, i64> = Topic::new("numbers");
const OUT: Topic<String, i64> = Topic::new("out");

fn pipe_all(driver: &mut TopologyTestDriver, records: &[(&str, i64, i64)]) {
    for &(k, v, ts) in records {
        driver.pipe_at(&NUMBERS, k.to_owned(), v, ts).expect("pipe");
    }
}

#[test]
fn filter_and_filter_not_partition_the_input() {
    let builder = StreamsBuilder::new();
    let evens = Topic::<String, i64>::new("evens");
    let odds = Topic::<String, i64>::new("odds");
    let numbers = builder.stream(&NUMBERS);
    numbers.clone().filter(|_, v| v % 2 == 0).to(&evens);
    numbers.filter_not(|_, v| v % 2 == 0).to(&odds);
    let mut d = driver(builder);
    pipe_all(
        &mut d,
        &[("a", 1, 10), ("b", 2, 20), ("c", 3, 30), ("d", 4, 40)],
    );
    assert_eq!(
        d.read_key_values(&evens).unwrap(),
        [("b".to_owned(), 2), ("d".to_owned(), 4)]
    );
    let odd_records = d.read_output(&odds).unwrap();
    assert_eq!(
        odd_records
            .iter()
            .map(|r| (r.value, r.timestamp))
            .collect::<Vec<_>>(),
        [(1, 10), (3, 30)]
    );
}

#[test]
fn map_and_map_values_keep_timestamps() {
    let builder = StreamsBuilder::new();
    let swapped = Topic::<i64, String>::new("swapped");
    let doubled = Topic::<String, i64>::new("doubled");
    let numbers = builder.stream(&NUMBERS);
    numbers.clone().map(|k, v| (v, k)).to(&swapped);
    numbers.map_values(|v| v * 2).to(&doubled);
    let mut d = driver(builder);
    pipe_all(&mut d, &[("a", 5, 100)]);
    let out = d.read_output(&swapped).unwrap();
    assert_eq!(
        (out[0].key, out[0].value.as_str(), out[0].timestamp),
        (5, "a", 100)
    );
    let out = d.read_output(&doubled).unwrap();
    assert_eq!(
        (out[0].key.as_str(), out[0].value, out[0].timestamp),
        ("a", 10, 100)
    );
}

#[test]
fn flat_map_and_flat_map_values_emit_in_order() {
    let builder = StreamsBuilder::new();
    let repeated = Topic::<String, i64>::new("repeated");
    let digits = Topic::<String, i64>::new("digits");
    let numbers = builder.stream(&NUMBERS);
    numbers
        .clone()
        .flat_map(|k, v| {
            (0..v)
                .map(move |i| (format!("{k}{i}"), i))
                .collect::<Vec<_>>()
        })
        .to(&repeated);
    numbers
        .flat_map_values(|v| {
            v.to_string()
                .chars()
                .map(|c| i64::from(c.to_digit(10).unwrap_or(0)))
                .collect::<Vec<_>>()
        })
        .to(&digits);
    let mut d = driver(builder);
    pipe_all(&mut d, &[("k", 3, 1), ("z", 0, 2)]);
    assert_eq!(
        d.read_key_values(&repeated).unwrap(),
        [
            ("k0".to_owned(), 0),
            ("k1".to_owned(), 1),
            ("k2".to_owned(), 2)
        ]
    );
    assert_eq!(
        d.read_key_values(&digits).unwrap(),
        [("k".to_owned(), 3), ("z".to_owned(), 0)]
    );
}

#[test]
fn select_key_peek_and_foreach() {
    use std::sync::{Arc, Mutex};
    let builder = StreamsBuilder::new();
    let rekeyed = Topic::<bool, i64>::new("rekeyed");
    let peeked = Arc::new(Mutex::new(Vec::new()));
    let each = Arc::new(Mutex::new(Vec::new()));
    let (p, e) = (Arc::clone(&peeked), Arc::clone(&each));
    let numbers = builder.stream(&NUMBERS);
    numbers
        .clone()
        .select_key(|_, v| *v > 0)
        .peek(move |k, v| p.lock().unwrap().push((*k, *v)))
        .to(&rekeyed);
    numbers.foreach(move |k, v| e.lock().unwrap().push(format!("{k}={v}")));
    let mut d = driver(builder);
    pipe_all(&mut d, &[("a", -1, 0), ("b", 7, 0)]);
    assert_eq!(
        d.read_key_values(&rekeyed).unwrap(),
        [(false, -1), (true, 7)]
    );
    assert_eq!(*peeked.lock().unwrap(), [(false, -1), (true, 7)]);
    assert_eq!(*each.lock().unwrap(), ["a=-1", "b=7"]);
}

#[test]
fn split_routes_each_record_to_its_first_matching_branch() {
    let builder = StreamsBuilder::new();
    let small = Topic::<String, i64>::new("small");
    let medium = Topic::<String, i64>::new("medium");
    let branches = builder
        .stream(&NUMBERS)
        .split()
        .branch(|_, v| *v < 10)
        .branch(|_, v| *v < 100)
        .no_default_branch();
    assert_eq!(branches.len(), 2);
    let mut branches = branches.into_iter();
    branches.next().unwrap().to(&small);
    branches.next().unwrap().to(&medium);
    let mut d = driver(builder);
    pipe_all(
        &mut d,
        &[("a", 5, 0), ("b", 50, 0), ("c", 500, 0), ("d", 9, 0)],
    );
    assert_eq!(d.read_values(&small).unwrap(), [5, 9]);
    assert_eq!(d.read_values(&medium).unwrap(), [50]);
    assert_eq!(d.metrics().processed, 4);
}

#[test]
fn merge_combines_both_streams_in_one_task() {
    let builder = StreamsBuilder::new();
    let other = Topic::<String, i64>::new("other");
    builder
        .stream(&NUMBERS)
        .merge(builder.stream(&other))
        .to(&OUT);
    let mut d = driver(builder);
    d.pipe_at(&NUMBERS, "n".into(), 1, 5).unwrap();
    d.pipe_at(&other, "o".into(), 2, 3).unwrap();
    assert_eq!(
        d.read_key_values(&OUT).unwrap(),
        [("n".to_owned(), 1), ("o".to_owned(), 2)]
    );
    let description = d.topology().describe();
    assert_eq!(
        description.subtopologies.len(),
        1,
        "merged sources share one task"
    );
}

#[test]
fn group_by_repartitions_then_counts() {
    let builder = StreamsBuilder::new();
    let purchases = Topic::<String, String>::new("purchases");
    let per_item = Topic::<String, Option<u64>>::new("per-item");
    builder
        .stream(&purchases)
        .group_by(|_user, item| item.clone())
        .count_with(Materialized::named("item-counts"))
        .to_stream()
        .to(&per_item);
    let topology = builder.build().unwrap();
    assert_eq!(topology.subtopologies().len(), 2);
    assert_eq!(
        topology
            .repartition_topics()
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["item-counts-repartition"]
    );
    let mut d = TopologyTestDriver::new(topology).unwrap();
    for (user, item, ts) in [("ann", "tea", 1), ("bob", "tea", 2), ("ann", "cake", 3)] {
        d.pipe_at(&purchases, user.into(), item.into(), ts).unwrap();
    }
    let out = d.read_output(&per_item).unwrap();
    assert_eq!(
        out.iter()
            .map(|r| (r.key.as_str(), r.value, r.timestamp))
            .collect::<Vec<_>>(),
        [
            ("tea", Some(1), 1),
            ("tea", Some(2), 2),
            ("cake", Some(1), 3)
        ]
    );
    // The repartition topic carries the re-keyed records under the application id prefix.
    let repartitioned = Topic::<String, String>::named("test-driver-item-counts-repartition");
    assert_eq!(
        d.read_key_values(&repartitioned).unwrap(),
        [
            ("tea".to_owned(), "tea".to_owned()),
            ("tea".to_owned(), "tea".to_owned()),
            ("cake".to_owned(), "cake".to_owned())
        ]
    );
    let store = d.key_value_store::<String, u64>("item-counts").unwrap();
    assert_eq!(
        store.all().unwrap(),
        [("cake".to_owned(), 1), ("tea".to_owned(), 2)]
    );
}

#[test]
fn group_by_key_without_a_key_change_needs_no_repartition() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&NUMBERS)
        .group_by_key()
        .reduce(|a, b| a + b)
        .to_stream()
        .map_values(|v| v.unwrap_or_default())
        .to(&OUT);
    let topology = builder.build().unwrap();
    assert_eq!(topology.subtopologies().len(), 1);
    assert!(topology.repartition_topics().is_empty());
    let mut d = TopologyTestDriver::new(topology).unwrap();
    pipe_all(
        &mut d,
        &[("a", 1, 0), ("b", 10, 0), ("a", 2, 0), ("a", 3, 0)],
    );
    assert_eq!(d.read_values(&OUT).unwrap(), [1, 10, 3, 6]);
}

/// SEMANTICS.md: words hello, kafka, streams, kafka, kafka, streams count 1, 1, 1, 2, 3, 2.
#[test]
fn the_aggregation_example_of_the_semantics() {
    let builder = StreamsBuilder::new();
    let words = Topic::<(), String>::new("words");
    let counts = Topic::<String, Option<u64>>::new("counts");
    builder
        .stream(&words)
        .select_key(|_, w| w.clone())
        .group_by_key()
        .count()
        .to_stream()
        .to(&counts);
    let mut d = driver(builder);
    for w in ["hello", "kafka", "streams", "kafka", "kafka", "streams"] {
        d.pipe(&words, (), w.into()).unwrap();
    }
    let out: Vec<(String, u64)> = d
        .read_key_values(&counts)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap()))
        .collect();
    let expected = [
        ("hello", 1),
        ("kafka", 1),
        ("streams", 1),
        ("kafka", 2),
        ("kafka", 3),
        ("streams", 2),
    ];
    assert_eq!(out, expected.map(|(k, v)| (k.to_owned(), v)));
}

#[test]
fn aggregate_folds_into_another_type() {
    let builder = StreamsBuilder::new();
    let stats = Topic::<String, Option<(i64, i64)>>::new("stats");
    builder
        .stream(&NUMBERS)
        .group_by_key()
        .aggregate_with(
            || (0i64, 0i64),
            |_, v, (count, sum)| (count + 1, sum + v),
            Materialized::named("sums"),
        )
        .to_stream()
        .to(&stats);
    let mut d = driver(builder);
    pipe_all(&mut d, &[("a", 4, 0), ("a", 6, 0), ("b", 1, 0)]);
    assert_eq!(
        d.read_values(&stats).unwrap(),
        [Some((1, 4)), Some((2, 10)), Some((1, 1))]
    );
    let sums = d.key_value_store::<String, (i64, i64)>("sums").unwrap();
    assert_eq!(sums.get(&"a".into()).unwrap(), Some((2, 10)));
}

#[test]
fn table_source_materializes_and_forwards_tombstones() {
    let builder = StreamsBuilder::new();
    let prices = Topic::<String, u32>::new("prices");
    let changes = Topic::<String, Option<u32>>::new("changes");
    let table = builder.table_with(&prices, Materialized::unnamed());
    let store_name = table.store_name().expect("materialized").to_owned();
    assert_eq!(store_name, "prices-STATE-STORE-0000000000");
    table.to_stream().to(&changes);
    let mut d = driver(builder);
    d.pipe(&prices, "tea".into(), 3).unwrap();
    d.pipe(&prices, "tea".into(), 4).unwrap();
    d.pipe_raw("prices", Some(b"tea"), None, 0).unwrap();
    d.pipe_raw("prices", Some(b"cake"), None, 0).unwrap(); // forwarded too, as Kafka Streams does
    assert_eq!(
        d.read_values(&changes).unwrap(),
        [Some(3), Some(4), None, None]
    );
    let store = d.key_value_store::<String, u32>(&store_name).unwrap();
    assert_eq!(store.get(&"tea".into()).unwrap(), None);
}

#[test]
fn headers_pass_through_every_stateless_operator() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&NUMBERS)
        .map_values(|v| v + 1)
        .filter(|_, _| true)
        .flat_map_values(|v| vec![v, v])
        .to(&OUT);
    let mut d = driver(builder);
    let mut headers = Headers::new();
    headers.add("trace-id", b"t-1".to_vec()).add("empty", None);
    d.pipe_record(
        &NUMBERS,
        Record {
            key: "k".into(),
            value: 1,
            timestamp: 9,
            headers: headers.clone(),
        },
    )
    .unwrap();
    let out = d.read_output(&OUT).unwrap();
    assert_eq!(out.len(), 2);
    for record in out {
        assert_eq!(record.headers, headers);
        assert_eq!((record.value, record.timestamp), (2, 9));
    }
}

#[test]
fn custom_codecs_are_used_on_the_wire() {
    use streams::codec::{Binary, Json};
    let builder = StreamsBuilder::new();
    let input = Topic::<String, Vec<u16>, TopicCodec, Json>::with_codecs("json-in");
    let output = Topic::<String, Vec<u16>, TopicCodec, Binary>::with_codecs("binary-out");
    builder.stream(&input).to(&output);
    let mut d = driver(builder);
    d.pipe_raw("json-in", Some(b"k"), Some(b"[1,300]"), 0)
        .unwrap();
    assert_eq!(d.read_values(&output).unwrap(), [vec![1, 300]]);
    // The bytes on the output topic, read raw: postcard's length 2, then varints 1 and 300.
    let raw = Topic::<String, Vec<u8>>::named(output.name());
    d.pipe_raw("json-in", Some(b"k"), Some(b"[2]"), 0).unwrap();
    assert_eq!(d.read_values(&raw).unwrap(), [vec![1, 2]]);
    let mut d = driver({
        let b = StreamsBuilder::new();
        b.stream(&input).to(&output);
        b
    });
    d.pipe_raw("json-in", Some(b"k"), Some(b"[1,300]"), 0)
        .unwrap();
    assert_eq!(d.read_values(&raw).unwrap(), [vec![2, 1, 172, 2]]);
}

#[test]
fn aggregates_carry_the_largest_timestamp_so_far() {
    let builder = StreamsBuilder::new();
    let counts = Topic::<String, Option<u64>>::new("counts");
    builder
        .stream(&NUMBERS)
        .group_by_key()
        .count()
        .to_stream()
        .to(&counts);
    let mut d = driver(builder);
    pipe_all(
        &mut d,
        &[("a", 1, 10), ("a", 1, 5), ("b", 1, 3), ("a", 1, 12)],
    );
    let out = d.read_output(&counts).unwrap();
    assert_eq!(
        out.iter()
            .map(|r| (r.key.as_str(), r.value, r.timestamp))
            .collect::<Vec<_>>(),
        [
            ("a", Some(1), 10),
            ("a", Some(2), 10),
            ("b", Some(1), 3),
            ("a", Some(3), 12)
        ]
    );
}

#[test]
fn null_keys_and_null_values_are_skipped_by_aggregations() {
    let builder = StreamsBuilder::new();
    let input = Topic::<Option<String>, Option<u32>>::new("maybe");
    let sums = Topic::<Option<String>, Option<Option<u32>>>::new("sums");
    let counts = Topic::<Option<String>, Option<u64>>::new("counts");
    let grouped = builder.stream(&input).group_by_key();
    grouped
        .clone()
        .reduce(|a, b| Some(a.unwrap_or(0) + b.unwrap_or(0)))
        .to_stream()
        .to(&sums);
    grouped.count().to_stream().to(&counts);
    let mut d = driver(builder);
    d.pipe_at(&input, Some("k".into()), Some(1), 10).unwrap();
    d.pipe_at(&input, None, Some(5), 20).unwrap();
    d.pipe_at(&input, Some("k".into()), None, 30).unwrap();
    d.pipe_at(&input, Some("k".into()), Some(2), 15).unwrap();
    // As Kafka Streams' `KStreamReduce` and `KStreamAggregate` (which `count` is): a null key
    // or a null value is skipped and counted as dropped, so its timestamp never reaches the
    // aggregate either.
    fn timed<V>(records: Vec<streams::Record<Option<String>, V>>) -> Vec<(V, i64)> {
        records
            .into_iter()
            .map(|r| (r.value, r.timestamp))
            .collect()
    }
    assert_eq!(
        timed(d.read_output(&sums).unwrap()),
        [(Some(Some(1)), 10), (Some(Some(3)), 15)]
    );
    assert_eq!(
        timed(d.read_output(&counts).unwrap()),
        [(Some(1), 10), (Some(2), 15)]
    );
    assert_eq!(d.metrics().dropped_records, 4);
}

#[test]
fn handles_of_another_builder_are_an_error_not_a_panic() {
    let first = StreamsBuilder::new();
    let second = StreamsBuilder::new();
    let other = Topic::<String, i64>::new("other");
    first.stream(&NUMBERS).merge(second.stream(&other)).to(&OUT);
    assert!(matches!(
        first.build(),
        Err(streams::TopologyError::ForeignHandle)
    ));
    let builder = StreamsBuilder::new();
    let stream = builder.stream(&NUMBERS);
    builder.build().unwrap();
    stream.to(&OUT); // after build: recorded, not a panic
}

//! `#[processor]` functions: every return shape, key/value/context parameters, stores under
//! stable names, plain calls in unit tests, and errors routed to the processing-error handler.

use serde::{Deserialize, Serialize};
use streams::error::ProcessingErrorHandler;
use streams::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    customer: String,
    amount: u64,
}

/// Running total per customer (map shape, key taken by reference, one store).
#[processor]
fn running_total(
    customer: &String,
    order: &Order,
    totals: &mut KeyValueStore<String, u64>,
) -> Result<u64, StoreError> {
    let total = totals.get(customer)?.unwrap_or(0) + order.amount;
    totals.put(customer, &total)?;
    Ok(total)
}

/// Filter-map shape: only big orders, as their amount.
#[processor]
fn big_amount(order: Order) -> Option<u64> {
    (order.amount >= 100).then_some(order.amount)
}

/// Flat-map shape: one record per unit of amount / 10.
#[processor]
fn tens(order: Order) -> Vec<String> {
    (0..order.amount / 10)
        .map(|i| format!("{}#{i}", order.customer))
        .collect()
}

/// Fallible shape with a plain error type.
#[processor]
fn checked(order: Order) -> Result<u64, String> {
    if order.amount == 0 {
        Err(format!("empty order from {}", order.customer))
    } else {
        Ok(order.amount)
    }
}

/// Record context parameter and a renamed node and store.
#[processor(name = "provenance")]
fn where_from(
    ctx: &RecordContext,
    _order: &Order,
    #[store(name = "seen-offsets")] seen: &mut KeyValueStore<i64, String>,
) -> Result<String, StoreError> {
    seen.put(&ctx.offset, &ctx.topic.to_string())?;
    Ok(format!("{}@{}", ctx.topic, ctx.offset))
}

const ORDERS: Topic<String, Order> = Topic::new("orders");

fn order(customer: &str, amount: u64) -> Order {
    Order {
        customer: customer.into(),
        amount,
    }
}

fn run<V: Clone + 'static>(
    wire: impl FnOnce(KStream<String, Order>) -> KStream<String, V>,
    config: TestDriverConfig,
    orders: &[Order],
) -> (TopologyTestDriver, Result<Vec<V>, StreamsError>)
where
    TopicCodec: Codec<V>,
{
    let out = Topic::<String, V>::new("out");
    let builder = StreamsBuilder::new();
    wire(builder.stream(&ORDERS)).to(&out);
    let mut driver = TopologyTestDriver::with_config(builder.build().unwrap(), config).unwrap();
    for o in orders {
        if let Err(e) = driver.pipe(&ORDERS, o.customer.clone(), o.clone()) {
            return (driver, Err(e));
        }
    }
    let values = driver.read_values(&out);
    (driver, values)
}

#[test]
fn a_processor_function_is_still_a_plain_function() {
    let mut totals = KeyValueStore::<String, u64>::in_memory("t");
    let ann = "ann".to_owned();
    assert_eq!(
        running_total(&ann, &order("ann", 5), &mut totals).unwrap(),
        5
    );
    assert_eq!(
        running_total(&ann, &order("ann", 7), &mut totals).unwrap(),
        12
    );
    assert_eq!(big_amount(order("x", 100)), Some(100));
    assert_eq!(tens(order("x", 25)), ["x#0", "x#1"]);
    assert!(checked(order("x", 0)).is_err());
}

#[test]
fn map_shape_with_a_store() {
    let orders = [order("ann", 5), order("bob", 1), order("ann", 7)];
    let (driver, out) = run(
        |s| s.process(running_total::Function),
        TestDriverConfig::default(),
        &orders,
    );
    assert_eq!(out.unwrap(), [5, 1, 12]);
    // The store's name is stable: `<function>-<parameter>`.
    let totals = driver
        .key_value_store::<String, u64>("running_total-totals")
        .unwrap();
    assert_eq!(
        totals.all().unwrap(),
        [("ann".to_owned(), 12), ("bob".to_owned(), 1)]
    );
    let described = driver.topology().describe().to_string();
    assert!(
        described.contains("Processor: running_total (stores: [running_total-totals])"),
        "{described}"
    );
}

#[test]
fn option_shape_filters() {
    let orders = [order("a", 150), order("b", 99), order("c", 100)];
    let (_, out) = run(
        |s| s.process(big_amount::Function),
        TestDriverConfig::default(),
        &orders,
    );
    assert_eq!(out.unwrap(), [150, 100]);
}

#[test]
fn vec_shape_flat_maps_and_keeps_the_key() {
    let out = Topic::<String, String>::new("out");
    let builder = StreamsBuilder::new();
    builder.stream(&ORDERS).process(tens::Function).to(&out);
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver
        .pipe_at(&ORDERS, "k".into(), order("ann", 20), 3)
        .unwrap();
    driver
        .pipe_at(&ORDERS, "k".into(), order("bob", 5), 4)
        .unwrap();
    let records = driver.read_output(&out).unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| (r.key.as_str(), r.value.as_str(), r.timestamp))
            .collect::<Vec<_>>(),
        [("k", "ann#0", 3), ("k", "ann#1", 3)]
    );
}

#[test]
fn result_errors_fail_the_task_by_default_naming_the_processor() {
    let orders = [order("a", 1), order("b", 0), order("c", 3)];
    let (_, out) = run(
        |s| s.process(checked::Function),
        TestDriverConfig::default(),
        &orders,
    );
    let error = out.unwrap_err();
    match &error {
        StreamsError::Process(ProcessError::Processor { node, source }) => {
            assert_eq!(node, "checked");
            assert_eq!(source.to_string(), "empty order from b");
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn result_errors_can_be_logged_and_skipped() {
    let config = TestDriverConfig {
        processing_errors: ProcessingErrorHandler::LogAndContinue,
        ..TestDriverConfig::default()
    };
    let orders = [order("a", 1), order("b", 0), order("c", 3)];
    let (driver, out) = run(|s| s.process(checked::Function), config, &orders);
    assert_eq!(out.unwrap(), [1, 3]);
    assert_eq!(driver.metrics().dropped_records, 1);
    assert_eq!(driver.metrics().processed, 3);
}

#[test]
fn record_context_and_renamed_store() {
    let orders = [order("a", 1), order("b", 2)];
    let (driver, out) = run(
        |s| s.process(where_from::Function),
        TestDriverConfig::default(),
        &orders,
    );
    assert_eq!(out.unwrap(), ["orders@0", "orders@1"]);
    let seen = driver
        .key_value_store::<i64, String>("seen-offsets")
        .unwrap();
    assert_eq!(
        seen.all().unwrap(),
        [(0, "orders".to_owned()), (1, "orders".to_owned())]
    );
    assert!(
        driver
            .topology()
            .describe()
            .to_string()
            .contains("Processor: provenance (stores: [seen-offsets])")
    );
}

#[test]
fn a_three_step_pipeline_with_closures_and_a_processor() {
    let out = Topic::<String, String>::new("report");
    let builder = StreamsBuilder::new();
    builder
        .stream(&ORDERS)
        .filter(|_, o| o.amount > 0)
        .process(running_total::Function)
        .map_values(|total| format!("total={total}"))
        .to(&out);
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    for o in [order("ann", 3), order("ann", 0), order("ann", 4)] {
        driver.pipe(&ORDERS, "ann".into(), o).unwrap();
    }
    assert_eq!(driver.read_values(&out).unwrap(), ["total=3", "total=7"]);
}

#[test]
fn store_type_conflicts_are_reported_at_build() {
    /// Declares a store under the same name with another value type.
    #[processor]
    fn conflicting(
        _total: &u64,
        #[store(name = "running_total-totals")] other: &mut KeyValueStore<String, String>,
    ) -> u64 {
        other.approximate_len()
    }
    let builder = StreamsBuilder::new();
    let out = Topic::<String, u64>::new("out");
    builder
        .stream(&ORDERS)
        .process(running_total::Function)
        .process(conflicting::Function)
        .to(&out);
    let error = builder.build().unwrap_err();
    assert!(
        matches!(&error, TopologyError::ConflictingStore { name, .. } if name == "running_total-totals"),
        "{error}"
    );
}

use streams::TopologyError;

/// Passes an event the first time its id is seen; a stream-time timer forgets ids seen 10 ms or
/// more ago, so they pass again, and reports each one it forgets.
#[processor(punctuate(every = "10ms", on = stream_time, with = forget_old))]
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

/// The timer function: the time it fired and the processor's stores in; records of the
/// processor's output out.
fn forget_old(
    now: i64,
    seen: &mut KeyValueStore<String, i64>,
) -> Result<Vec<(String, String)>, StoreError> {
    let old: Vec<String> = seen
        .all()?
        .into_iter()
        .filter(|(_, at)| now - at >= 10)
        .map(|(id, _)| id)
        .collect();
    for id in &old {
        seen.delete(id)?;
    }
    Ok(old
        .into_iter()
        .map(|id| (id, "expired".to_owned()))
        .collect())
}

#[test]
fn a_timer_function_shares_the_stores_and_forwards_the_output_type() {
    let events = Topic::<String, String>::new("events");
    let unique = Topic::<String, String>::new("unique-events");
    let builder = StreamsBuilder::new();
    builder
        .stream(&events)
        .process(dedupe::Function)
        .to(&unique);
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    for (id, event, at) in [("a", "x", 1), ("a", "y", 5), ("b", "z", 12), ("a", "w", 13)] {
        driver
            .pipe_at(&events, id.into(), event.into(), at)
            .unwrap();
    }
    let out: Vec<(String, String, i64)> = driver
        .read_output(&unique)
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    // "y" is a duplicate; at stream time 12 the timer forgets "a" (seen at 1), stamped 12, and
    // "a" passes again at 13.
    assert_eq!(
        out,
        [
            ("a".to_owned(), "x".to_owned(), 1),
            ("b".to_owned(), "z".to_owned(), 12),
            ("a".to_owned(), "expired".to_owned(), 12),
            ("a".to_owned(), "w".to_owned(), 13),
        ]
    );
    // A timer's records may carry any key: a later aggregation repartitions.
    let builder = StreamsBuilder::new();
    let _counts = builder
        .stream(&events)
        .process(dedupe::Function)
        .group_by_key()
        .count();
    assert_eq!(builder.build().unwrap().repartition_topics().len(), 1);
    // The unit-testable parts stay plain functions.
    let mut seen = KeyValueStore::in_memory("seen");
    seen.put(&"k".to_owned(), &0).unwrap();
    assert_eq!(
        forget_old(10, &mut seen).unwrap(),
        [("k".to_owned(), "expired".to_owned())]
    );
}

/// Reads the input's headers and adds one to what the output carries.
#[processor]
fn tag_source(value: String, headers: &mut Headers) -> String {
    let source = headers
        .last("source")
        .and_then(|h| h.value.clone())
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    headers.add("seen-by", b"tag_source".to_vec());
    format!("{value} from {source}")
}

/// Reads the headers only.
#[processor]
fn header_count(value: String, headers: &Headers) -> Option<u64> {
    (!value.is_empty()).then_some(headers.iter().count() as u64)
}

/// Keys each word by its length: the function sets the key.
#[processor]
fn by_length(word: String) -> (u64, String) {
    (word.len() as u64, word)
}

#[test]
fn headers_are_parameters_and_a_mutable_one_changes_the_output_headers() {
    let lines = Topic::<String, String>::new("lines");
    let tagged = Topic::<String, String>::new("tagged");
    let counted = Topic::<String, u64>::new("header-counts");
    let builder = StreamsBuilder::new();
    let stream = builder.stream(&lines);
    stream.clone().process(tag_source::Function).to(&tagged);
    stream.process(header_count::Function).to(&counted);
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let mut headers = Headers::new();
    headers.add("source", b"sensor-7".to_vec());
    driver
        .pipe_record(
            &lines,
            Record {
                key: "k".into(),
                value: "42".into(),
                timestamp: 1,
                headers,
            },
        )
        .unwrap();
    let out = driver.read_output(&tagged).unwrap();
    assert_eq!(out[0].value, "42 from sensor-7");
    let names: Vec<&str> = out[0].headers.iter().map(|h| h.key.as_str()).collect();
    assert_eq!(names, ["source", "seen-by"]);
    assert_eq!(driver.read_values(&counted).unwrap(), [1]);
}

#[test]
fn a_function_returning_key_value_pairs_sets_the_key_and_a_later_aggregation_repartitions() {
    let words = Topic::<(), String>::new("words");
    let per_length = Topic::<u64, Option<u64>>::new("per-length");
    let builder = StreamsBuilder::new();
    builder
        .stream(&words)
        .process(by_length::Function)
        .group_by_key()
        .count()
        .to_stream()
        .to(&per_length);
    let topology = builder.build().unwrap();
    assert_eq!(topology.repartition_topics().len(), 1, "the key changed");
    let mut driver = TopologyTestDriver::new(topology).unwrap();
    for word in ["tea", "cake", "jam"] {
        driver.pipe(&words, (), word.into()).unwrap();
    }
    assert_eq!(
        driver.read_key_values(&per_length).unwrap(),
        [(3, Some(1)), (4, Some(1)), (3, Some(2))]
    );
    assert_eq!(by_length("jam".into()), (3, "jam".to_owned()));
}

//! Every parameter kind and return shape of `#[processor]`, wired and run.

use serde::{Deserialize, Serialize};
use streams::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u32,
    pub amount: u64,
}

/// Map shape, key by value, a store.
#[processor]
pub fn total(customer: String, order: Order, totals: &mut KeyValueStore<String, u64>) -> Result<u64, StoreError> {
    let total = totals.get(&customer)?.unwrap_or(0) + order.amount;
    totals.put(&customer, &total)?;
    Ok(total)
}

/// Filter-map shape with the record context.
#[processor(name = "late")]
fn late(ctx: &RecordContext, total: &u64) -> Option<u64> {
    (ctx.timestamp > 10).then_some(*total)
}

/// Fallible flat-map shape.
#[processor]
fn split(total: u64) -> Result<Vec<u8>, std::fmt::Error> {
    Ok(total.to_be_bytes().to_vec())
}

fn main() {
    let orders: Topic<String, Order> = Topic::new("orders");
    let out: Topic<String, u8> = Topic::new("out");
    let builder = StreamsBuilder::new();
    builder.stream(&orders).process(total::Function).process(late::Function).process(split::Function).to(&out);
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    driver.pipe_at(&orders, "ann".into(), Order { id: 1, amount: 2 }, 11).unwrap();
    assert_eq!(driver.read_values(&out).unwrap(), [0, 0, 0, 0, 0, 0, 0, 2]);
    assert_eq!(late(&RecordContext { topic: "t".into(), partition: 0, offset: 0, timestamp: 1 }, &5), None);
}

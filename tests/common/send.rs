//! Sending a record with a `BaseProducer` whose queue may be full: shared by the broker tests'
//! helpers (through `common`) and the pipeline benchmarks (`benches/pipelines` includes this file
//! by path).

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use streams::kafka::rdkafka::message::ToBytes;
use streams::kafka::rdkafka::producer::{BaseProducer, BaseRecord, ProducerContext};

/// Sends `record`; while the producer's queue is full, serves delivery reports for `poll` and
/// tries again, so the call returns once the record is queued.
pub fn send_queued<C, K, P>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, K, P, C::DeliveryOpaque>,
    poll: Duration,
) where
    C: ProducerContext,
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, returned)) => {
                record = returned;
                producer.poll(poll);
            }
        }
    }
}

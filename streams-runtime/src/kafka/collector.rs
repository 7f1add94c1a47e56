//! The Kafka record collector: hands every record a thread's tasks produce to its producer, and
//! collects the producer's delivery failures for the production-error handler.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Message};

use super::retry::LastBrokerError;
use crate::error::{ProcessError, StreamsError};
use crate::record::{OutgoingRecord, RecordCollector};
use crate::state::ChangelogOffsets;
use crate::sync::lock;

/// Counts deliveries and keeps the first failure, which the stream thread reports; remembers
/// where the thread's changelog writes ended, for checkpoints.
#[derive(Default)]
pub(crate) struct DeliveryTracker {
    pub(crate) failed: AtomicU64,
    pub(crate) first_error: Mutex<Option<StreamsError>>,
    /// `<application.id>-`: changelog topics start with it (and end with `-changelog`).
    changelog_prefix: String,
    /// Changelog topic → partition → the offset after the last delivered record. Touched by
    /// the delivery callback, which runs on the thread itself (in `poll` and `flush`).
    changelog_ends: Mutex<HashMap<String, HashMap<i32, i64>>>,
    /// Whether the producer is transactional (exactly-once).
    transactional: bool,
    /// Deliveries that failed because the transaction failed (fenced producer, broken
    /// transaction state): the work is redone, so they are not the production handler's.
    pub(crate) transaction_failures: AtomicU64,
    /// The last error the producer met talking to the brokers.
    pub(crate) last_broker_error: LastBrokerError,
}

/// Whether a delivery failed because of its transaction rather than the record.
fn is_transaction_error(code: Option<RDKafkaErrorCode>) -> bool {
    matches!(
        code,
        Some(
            RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::Fatal
                | RDKafkaErrorCode::State
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerIdMapping
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
        )
    )
}

impl ClientContext for DeliveryTracker {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.last_broker_error.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.last_broker_error.record(&error, reason);
    }
}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(message) = result {
            let topic = message.topic();
            if topic.starts_with(&self.changelog_prefix) && topic.ends_with("-changelog") {
                let mut ends = lock(&self.changelog_ends);
                let next = message.offset() + 1;
                let partitions = match ends.get_mut(topic) {
                    Some(partitions) => partitions,
                    None => ends.entry(topic.to_owned()).or_default(),
                };
                let end = partitions.entry(message.partition()).or_insert(next);
                *end = (*end).max(next);
            }
        }
        if let Err((error, message)) = result {
            if self.transactional {
                let code = error.rdkafka_error_code();
                if matches!(
                    code,
                    Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
                ) {
                    // Purged by the thread's own abort, which redoes the work.
                    return;
                }
                if is_transaction_error(code) {
                    tracing::debug!(topic = message.topic(), %error, "a delivery failed with its transaction");
                    self.transaction_failures.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            self.failed.fetch_add(1, Ordering::Relaxed);
            // A record that timed out in the producer never got an answer: the cause is
            // what the producer met talking to the brokers.
            let timed_out = error.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageTimedOut);
            let failure = match self.last_broker_error.get().filter(|_| timed_out) {
                Some(broker_error) => StreamsError::DeliveryTimedOut {
                    topic: message.topic().to_owned(),
                    partition: message.partition(),
                    broker_error,
                },
                None => StreamsError::Delivery {
                    topic: message.topic().to_owned(),
                    partition: message.partition(),
                    source: error.clone(),
                },
            };
            tracing::warn!("{failure}");
            lock(&self.first_error).get_or_insert(failure);
        }
    }
}

impl DeliveryTracker {
    /// A tracker for the producer of a thread of application `application_id`.
    pub(crate) fn new(application_id: &str, transactional: bool) -> Self {
        DeliveryTracker {
            changelog_prefix: format!("{application_id}-"),
            transactional,
            ..DeliveryTracker::default()
        }
    }

    /// Where the delivered changelog writes end: (topic, partition) → next offset.
    pub(crate) fn changelog_ends(&self) -> ChangelogOffsets {
        lock(&self.changelog_ends)
            .iter()
            .flat_map(|(topic, partitions)| {
                partitions
                    .iter()
                    .map(move |(&partition, &end)| ((topic.clone(), partition), end))
            })
            .collect()
    }

    /// Takes the first failure since the last call.
    pub(crate) fn take_error(&self) -> Option<StreamsError> {
        lock(&self.first_error).take()
    }
}

/// The producer of one stream thread.
pub(crate) type ThreadProducer = BaseProducer<DeliveryTracker>;

/// Sends records through the thread's producer.
pub(crate) struct KafkaCollector {
    producer: Arc<ThreadProducer>,
    /// Whether the producer is transactional (exactly-once).
    transactional: bool,
    /// Records handed to the producer so far.
    pub(crate) sent: u64,
    /// Set when the producer refused a record because its transaction can no longer commit
    /// (it entered an abortable or fatal state): the thread then aborts and redoes the work,
    /// so the record is not lost by being refused here.
    pub(crate) transaction_failed: Option<String>,
    /// The partition counts partitioners asked for, fetched once per topic.
    partition_counts: HashMap<String, i32>,
}

impl KafkaCollector {
    pub(crate) fn new(producer: Arc<ThreadProducer>, transactional: bool) -> Self {
        KafkaCollector {
            producer,
            transactional,
            sent: 0,
            transaction_failed: None,
            partition_counts: HashMap::new(),
        }
    }

    /// Sends through `producer` from now on (the thread replaced a fenced one).
    pub(crate) fn replace_producer(&mut self, producer: Arc<ThreadProducer>) {
        self.producer = producer;
        self.transaction_failed = None;
    }
}

impl RecordCollector for KafkaCollector {
    fn partition_count(&mut self, topic: &str) -> Result<i32, ProcessError> {
        if let Some(count) = self.partition_counts.get(topic) {
            return Ok(*count);
        }
        let error = |source| ProcessError::Send {
            topic: topic.to_owned(),
            source,
        };
        let metadata = self
            .producer
            .client()
            .fetch_metadata(Some(topic), PARTITION_LOOKUP_TIMEOUT)
            .map_err(error)?;
        let count = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len());
        if count == 0 {
            return Err(error(KafkaError::MetadataFetch(
                RDKafkaErrorCode::UnknownTopicOrPartition,
            )));
        }
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        self.partition_counts.insert(topic.to_owned(), count);
        Ok(count)
    }

    fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), ProcessError> {
        if self.transaction_failed.is_some() {
            // The transaction will be aborted and this work redone.
            return Ok(());
        }
        let headers = (!record.headers.is_empty()).then(|| {
            record
                .headers
                .iter()
                .fold(OwnedHeaders::new(), |headers, h| {
                    headers.insert(KafkaHeader {
                        key: &h.key,
                        value: h.value.as_deref(),
                    })
                })
        });
        let mut base: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to(record.topic).timestamp(record.timestamp);
        if let Some(key) = record.key {
            base = base.key(key);
        }
        if let Some(value) = record.value {
            base = base.payload(value);
        }
        if let Some(partition) = record.partition {
            base = base.partition(partition);
        }
        if let Some(headers) = headers {
            base = base.headers(headers);
        }
        loop {
            match self.producer.send(base) {
                Ok(()) => {
                    self.sent += 1;
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    // Back-pressure: serve delivery reports until the queue has room.
                    base = returned;
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((KafkaError::MessageProduction(code), _))
                    if self.transactional && is_transaction_error(Some(code)) =>
                {
                    let error = KafkaError::MessageProduction(code);
                    tracing::warn!(topic = record.topic, %error, "the transaction cannot commit; it will be aborted");
                    self.transaction_failed = Some(error.to_string());
                    return Ok(());
                }
                Err((error, _)) => {
                    return Err(ProcessError::Send {
                        topic: record.topic.to_owned(),
                        source: error,
                    });
                }
            }
        }
    }
}

/// How long a partitioner waits for its topic's partition count, once per topic.
const PARTITION_LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one wait for the producer lasts before the caller's `between` runs.
const FLUSH_SLICE: Duration = Duration::from_millis(200);

/// How often a long wait for the producer is logged.
const FLUSH_REPORT: Duration = Duration::from_secs(30);

/// Waits until the producer holds no record: each one is delivered, or has failed and is the
/// production-exception handler's. There is no limit of its own: `message.timeout.ms` (Kafka's
/// `delivery.timeout.ms`) bounds every record, so a slow broker makes a commit slow, not
/// fatal. `between` runs after every slice of the wait (the stream thread keeps its group
/// membership alive there); a long wait is logged every 30 s.
pub(crate) fn flush(
    producer: &ThreadProducer,
    mut between: impl FnMut(),
) -> Result<(), KafkaError> {
    let started = std::time::Instant::now();
    let mut reported = started;
    loop {
        match producer.flush(FLUSH_SLICE) {
            Ok(()) => return Ok(()),
            Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {}
            Err(error) => return Err(error),
        }
        if reported.elapsed() >= FLUSH_REPORT {
            reported = std::time::Instant::now();
            tracing::warn!(
                records = producer.in_flight_count(),
                waited_s = started.elapsed().as_secs(),
                last_broker_error = producer
                    .context()
                    .last_broker_error
                    .get()
                    .as_deref()
                    .unwrap_or("none"),
                "still waiting for the broker to take the producer's records"
            );
        }
        between();
    }
}

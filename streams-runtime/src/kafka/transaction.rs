//! Exactly-once commits: a stream thread's transaction, and what its failures mean.
//!
//! Under `exactly_once_v2` each stream thread has one transactional producer, and a transaction
//! is always open on it: outputs, changelog writes and (at commit) the input offsets of the
//! processed records go into it, and `commit_transaction` makes them visible to `read_committed`
//! readers together. A failure is one of three kinds, as librdkafka classifies it:
//! retriable (the commit is tried again), abortable (the transaction is aborted, and the tasks
//! that wrote into it are rebuilt from their changelogs and read their input again from the
//! committed offsets), or fatal (the producer was fenced, typically by a newer incarnation with
//! the same `transactional.id`, or its transaction timed out: it is replaced by a new one, and
//! the tasks rebuilt the same way).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::collector::ThreadProducer;

/// How often a commit that failed with a retriable error is tried again before the transaction
/// is aborted.
const COMMIT_ATTEMPTS: usize = 3;

/// Why a transaction could not commit, and so what the thread must do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TransactionFailure {
    /// Abort the transaction; the producer stays usable.
    Abortable(String),
    /// The producer cannot go on (fenced, or failed fatally): replace it.
    Fatal(String),
}

impl TransactionFailure {
    /// Classifies an error from a transactional call.
    pub(crate) fn from_error(error: &KafkaError) -> Self {
        match error {
            KafkaError::Transaction(inner) if inner.is_fatal() => {
                TransactionFailure::Fatal(error.to_string())
            }
            _ => TransactionFailure::Abortable(error.to_string()),
        }
    }

    /// Whether `error` is worth trying again as it is.
    fn retriable(error: &KafkaError) -> bool {
        matches!(error, KafkaError::Transaction(inner)
            if inner.is_retriable() && !inner.txn_requires_abort() && !inner.is_fatal())
    }
}

impl std::fmt::Display for TransactionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransactionFailure::Abortable(message) => write!(f, "{message}"),
            TransactionFailure::Fatal(message) => write!(f, "{message} (fatal)"),
        }
    }
}

/// The offsets (next to read) as a partition list.
pub(crate) fn offsets_list(
    offsets: &BTreeMap<(String, i32), i64>,
) -> Result<TopicPartitionList, KafkaError> {
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
    }
    Ok(list)
}

/// Commits the open transaction of `producer` with the input `offsets` of the consumer's group
/// inside it, trying retriable failures again.
pub(crate) fn commit<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    producer: &ThreadProducer,
    offsets: &BTreeMap<(String, i32), i64>,
    timeout: Duration,
) -> Result<(), TransactionFailure> {
    let fail = |error: KafkaError| TransactionFailure::from_error(&error);
    if !offsets.is_empty() {
        tracing::debug!(?offsets, "sending offsets to the transaction");
        let list = offsets_list(offsets).map_err(fail)?;
        let metadata = consumer.group_metadata().ok_or_else(|| {
            TransactionFailure::Abortable("the consumer has no group metadata".to_owned())
        })?;
        retrying(producer, COMMIT_ATTEMPTS, || {
            producer.send_offsets_to_transaction(&list, &metadata, timeout)
        })
        .map_err(fail)?;
    }
    retrying(producer, COMMIT_ATTEMPTS, || {
        producer.commit_transaction(timeout)
    })
    .map_err(fail)
}

/// Aborts the open transaction of `producer`, within about `timeout`.
///
/// Aborting purges the records still queued or in flight, and waits until their delivery
/// reports are out; the thread serves those reports only when it polls the producer, so the
/// abort is made in short attempts with the reports served in between.
pub(crate) fn abort(producer: &ThreadProducer, timeout: Duration) -> Result<(), KafkaError> {
    let attempts = (timeout.as_millis() / ABORT_ATTEMPT.as_millis()).max(1) as usize;
    retrying(producer, attempts, || {
        producer.abort_transaction(ABORT_ATTEMPT)
    })
}

/// How long one attempt to abort a transaction waits.
const ABORT_ATTEMPT: Duration = Duration::from_millis(500);

/// Runs `call` until it succeeds, fails for good, or has failed `attempts` times; serves the
/// producer's delivery reports between attempts (a transactional call that waits for
/// outstanding records can finish only once their reports are served).
fn retrying(
    producer: &ThreadProducer,
    attempts: usize,
    mut call: impl FnMut() -> Result<(), KafkaError>,
) -> Result<(), KafkaError> {
    let mut attempt = 1;
    loop {
        match call() {
            Err(error) if TransactionFailure::retriable(&error) && attempt < attempts => {
                tracing::debug!(%error, attempt, "retrying a transactional call");
                attempt += 1;
                producer.poll(Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

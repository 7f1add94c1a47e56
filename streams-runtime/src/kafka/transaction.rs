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
        retrying(|| producer.send_offsets_to_transaction(&list, &metadata, timeout))
            .map_err(fail)?;
    }
    retrying(|| producer.commit_transaction(timeout)).map_err(fail)
}

/// Runs `call` until it succeeds, fails for good, or has failed [`COMMIT_ATTEMPTS`] times.
fn retrying(mut call: impl FnMut() -> Result<(), KafkaError>) -> Result<(), KafkaError> {
    let mut attempt = 1;
    loop {
        match call() {
            Err(error) if TransactionFailure::retriable(&error) && attempt < COMMIT_ATTEMPTS => {
                tracing::debug!(%error, attempt, "retrying a transactional call");
                attempt += 1;
            }
            result => return result,
        }
    }
}

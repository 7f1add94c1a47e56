//! Exactly-once commits: a stream thread's transaction, and what its failures mean.
//!
//! Under `exactly_once_v2` each stream thread has one transactional producer, and a transaction
//! is always open on it: outputs, changelog writes and (at commit) the input offsets of the
//! processed records go into it, and `commit_transaction` makes them visible to `read_committed`
//! readers together. A failure is one of three kinds, as librdkafka classifies it:
//! retriable (the commit is tried again within `task.timeout.ms`), abortable (the transaction is aborted, and the tasks
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
use super::retry::within_task_timeout;

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

/// How long one attempt of a transactional call waits before it is tried again.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Commits the open transaction of `producer` with the input `offsets` of the consumer's group
/// inside it, trying failures that may go away by themselves (timeouts, a moving coordinator)
/// again until `task_timeout` has passed. `between` runs between attempts.
pub(crate) fn commit<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    producer: &ThreadProducer,
    offsets: &BTreeMap<(String, i32), i64>,
    task_timeout: Duration,
    mut between: impl FnMut(),
) -> Result<(), TransactionFailure> {
    let fail = |error: KafkaError| TransactionFailure::from_error(&error);
    // A transactional call that waits for outstanding records finishes only once their
    // delivery reports are served.
    let mut between = || {
        producer.poll(Duration::from_millis(10));
        between();
    };
    if !offsets.is_empty() {
        tracing::debug!(?offsets, "sending offsets to the transaction");
        let list = offsets_list(offsets).map_err(fail)?;
        let metadata = consumer.group_metadata().ok_or_else(|| {
            TransactionFailure::Abortable("the consumer has no group metadata".to_owned())
        })?;
        within_task_timeout(
            "sending the offsets to the transaction",
            task_timeout,
            &mut between,
            || producer.send_offsets_to_transaction(&list, &metadata, CALL_TIMEOUT),
        )
        .map_err(fail)?;
    }
    within_task_timeout("committing the transaction", task_timeout, between, || {
        producer.commit_transaction(CALL_TIMEOUT)
    })
    .map_err(fail)
}

/// How long an abort may take before the thread gives up on the producer and replaces it.
pub(crate) const ABORT_TIMEOUT: Duration = Duration::from_secs(30);

/// Aborts the open transaction of `producer`, within about [`ABORT_TIMEOUT`].
///
/// Aborting purges the records still queued or in flight, and waits until their delivery
/// reports are out; the thread serves those reports only when it polls the producer, so the
/// abort is made in short attempts with the reports served in between.
pub(crate) fn abort(producer: &ThreadProducer) -> Result<(), KafkaError> {
    within_task_timeout(
        "aborting the transaction",
        ABORT_TIMEOUT,
        || {
            producer.poll(Duration::from_millis(10));
        },
        || producer.abort_transaction(ABORT_ATTEMPT),
    )
}

/// How long one attempt to abort a transaction waits.
const ABORT_ATTEMPT: Duration = Duration::from_millis(500);

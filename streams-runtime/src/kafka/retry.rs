//! Patience with the cluster: calls that time out are tried again within `task.timeout.ms`, and
//! a client remembers the last error it met talking to the brokers, so that an error that
//! finally surfaces names its cause (a refused connection, a failed authentication) rather than
//! only "timed out".
//!
//! As in Kafka Streams, a slow or briefly unreachable broker makes the application slow, not
//! dead: a metadata, offset or transaction call that times out, or meets a coordinator that is
//! moving, is retried until `task.timeout.ms` has passed since its first failure; only then is
//! it an error.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, ProducerContext};

use crate::sync::lock;

/// How long to wait before trying a failed call again.
const BACKOFF: Duration = Duration::from_millis(200);

/// How often a call that keeps failing is logged again.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// Whether `error` may go away by itself: a timeout, a broker or coordinator that is down or
/// moving, a lost connection. Errors that say something about the request (authorization, an
/// unknown topic, a fenced producer) are not.
pub(crate) fn is_transient(error: &KafkaError) -> bool {
    if let KafkaError::Transaction(inner) = error {
        return inner.is_retriable() && !inner.txn_requires_abort() && !inner.is_fatal();
    }
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::BrokerNotAvailable
                | RDKafkaErrorCode::NetworkException
                | RDKafkaErrorCode::CoordinatorNotAvailable
                | RDKafkaErrorCode::NotCoordinator
                | RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::InProgress
        )
    )
}

/// Runs `call` until it succeeds, fails with an error that is not transient, or has kept failing
/// for `task_timeout`; then returns its last error. `between` runs between attempts (the stream
/// thread keeps its group membership alive there). `what` names the call in the log.
pub(crate) fn within_task_timeout<T>(
    what: &str,
    task_timeout: Duration,
    mut between: impl FnMut(),
    mut call: impl FnMut() -> Result<T, KafkaError>,
) -> Result<T, KafkaError> {
    let started = Instant::now();
    let mut reported: Option<Instant> = None;
    loop {
        match call() {
            Err(error) if is_transient(&error) && started.elapsed() < task_timeout => {
                if reported.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
                    reported = Some(Instant::now());
                    tracing::warn!(
                        %error,
                        waited_ms = started.elapsed().as_millis() as u64,
                        task_timeout_ms = task_timeout.as_millis() as u64,
                        "{what}: the cluster did not answer; trying again until task.timeout.ms"
                    );
                }
                between();
                std::thread::sleep(BACKOFF.min(task_timeout.saturating_sub(started.elapsed())));
            }
            result => return result,
        }
    }
}

/// A client context that remembers the last error the client met talking to the brokers.
#[derive(Debug, Default)]
pub(crate) struct LastBrokerError {
    /// From librdkafka's error events, as `Code: reason` (served when the client is polled).
    error: Mutex<Option<String>>,
    /// The last broker failure librdkafka logged (`FAIL`: a refused connection, a failed
    /// authentication), which arrives even when the client is never polled.
    failure: Mutex<Option<String>>,
}

impl LastBrokerError {
    /// Records an error the client reported (librdkafka's error callback).
    pub(crate) fn record(&self, error: &KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "kafka client error");
        let mut last = lock(&self.error);
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) && last.is_some() {
            // "1/1 brokers are down" follows the error that brought them down: keep that one.
            return;
        }
        let code = error
            .rdkafka_error_code()
            .map_or_else(|| error.to_string(), |code| format!("{code:?}"));
        *last = Some(format!("{code}: {reason}"));
    }

    /// The last error, as `Code: reason`, or else the last broker failure logged.
    pub(crate) fn get(&self) -> Option<String> {
        lock(&self.error)
            .clone()
            .or_else(|| lock(&self.failure).clone())
    }

    /// What made `error` (a call that failed or timed out) happen: the last error the client
    /// met, or the call's own code with the last broker failure logged, or the error itself.
    pub(crate) fn cause_of(&self, error: &KafkaError) -> String {
        if let Some(last) = lock(&self.error).clone() {
            return last;
        }
        match (error.rdkafka_error_code(), lock(&self.failure).clone()) {
            (Some(code), Some(failure)) => format!("{code:?}: {failure}"),
            _ => error.to_string(),
        }
    }
}

impl ClientContext for LastBrokerError {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if fac == "FAIL" {
            // Without the `[thrd:…]: ` prefix naming librdkafka's internal thread.
            let message = log_message
                .strip_prefix("[thrd:")
                .and_then(|rest| rest.split_once("]: "))
                .map_or(log_message, |(_, message)| message);
            *lock(&self.failure) = Some(message.to_owned());
        }
        if (level as i32) <= RDKafkaLogLevel::Warning as i32 {
            tracing::warn!(target: "librdkafka", "{fac}: {log_message}");
        } else {
            tracing::debug!(target: "librdkafka", "{fac}: {log_message}");
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.record(&error, reason);
    }
}

impl ConsumerContext for LastBrokerError {}

impl ProducerContext for LastBrokerError {
    type DeliveryOpaque = ();

    /// Only metadata requests go through this producer: it sends no record.
    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_retried_until_they_stop() {
        let mut attempts = 0;
        let mut betweens = 0;
        let result = within_task_timeout(
            "a call",
            Duration::from_secs(60),
            || betweens += 1,
            || {
                attempts += 1;
                if attempts < 3 {
                    Err(KafkaError::MetadataFetch(
                        RDKafkaErrorCode::OperationTimedOut,
                    ))
                } else {
                    Ok(attempts)
                }
            },
        );
        assert_eq!(result.unwrap(), 3);
        assert_eq!(betweens, 2);
    }

    #[test]
    fn other_errors_are_returned_at_once() {
        let mut attempts = 0;
        let result: Result<(), _> = within_task_timeout(
            "a call",
            Duration::from_secs(60),
            || {},
            || {
                attempts += 1;
                Err(KafkaError::MetadataFetch(
                    RDKafkaErrorCode::TopicAuthorizationFailed,
                ))
            },
        );
        assert_eq!(
            result.unwrap_err().rdkafka_error_code(),
            Some(RDKafkaErrorCode::TopicAuthorizationFailed)
        );
        assert_eq!(attempts, 1);
    }

    #[test]
    fn a_transient_error_becomes_the_error_after_the_task_timeout() {
        let started = Instant::now();
        let mut attempts = 0;
        let result: Result<(), _> = within_task_timeout(
            "a call",
            Duration::from_millis(500),
            || {},
            || {
                attempts += 1;
                Err(KafkaError::MetadataFetch(
                    RDKafkaErrorCode::OperationTimedOut,
                ))
            },
        );
        assert_eq!(
            result.unwrap_err().rdkafka_error_code(),
            Some(RDKafkaErrorCode::OperationTimedOut)
        );
        assert!(attempts >= 2, "{attempts} attempts");
        assert!(started.elapsed() >= Duration::from_millis(500));
    }

    #[test]
    fn a_logged_broker_failure_explains_a_failed_call() {
        let last = LastBrokerError::default();
        let error = KafkaError::MetadataFetch(RDKafkaErrorCode::BrokerTransportFailure);
        assert_eq!(
            last.cause_of(&error),
            "Meta data fetch error: BrokerTransportFailure (Local: Broker transport failure)"
        );
        last.log(
            RDKafkaLogLevel::Error,
            "FAIL",
            "[thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused",
        );
        assert_eq!(
            last.cause_of(&error),
            "BrokerTransportFailure: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused"
        );
    }

    #[test]
    fn the_last_broker_error_names_its_code_and_reason() {
        let last = LastBrokerError::default();
        assert_eq!(last.get(), None);
        last.record(
            &KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused",
        );
        assert_eq!(
            last.get().unwrap(),
            "BrokerTransportFailure: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused"
        );
    }
}

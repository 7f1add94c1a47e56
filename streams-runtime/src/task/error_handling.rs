//! What a task does with a record that fails: the deserialization and processing exception
//! handlers (fail, log and continue, or the dead-letter queue), and records with a negative
//! timestamp, which Kafka Streams skips.

use std::sync::Arc;

use super::StreamTask;
use crate::error::{DeserializationErrorHandler, ProcessError, ProcessingErrorHandler};
use crate::record::{OutgoingRecord, RawRecord};

impl StreamTask {
    /// Counts a record with a negative timestamp as dropped, as Kafka Streams skips it.
    pub(super) fn skip_negative_timestamp(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        timestamp: i64,
    ) {
        tracing::warn!(task = %self.id, topic, partition, offset, timestamp,
            "skipping a record with a negative timestamp");
        self.metrics.dropped_records += 1;
    }

    /// Applies the configured exception handler to a record that failed: skips it (counting
    /// it as dropped, and with the dead-letter-queue handler sending it there first) or
    /// returns the error that stops the task.
    pub(super) fn handle(
        &mut self,
        error: ProcessError,
        record: RawRecord,
    ) -> Result<(), ProcessError> {
        let skip = match &error {
            ProcessError::Deserialization { .. } => match &self.config.deserialization_errors {
                DeserializationErrorHandler::Fail => false,
                DeserializationErrorHandler::LogAndContinue => true,
                DeserializationErrorHandler::DeadLetterQueue { topic } => {
                    let topic = Arc::clone(topic);
                    self.send_to_dead_letter_queue(&topic, &error, record)?;
                    // Not "skipping": the record is kept, in the dead-letter queue (where a
                    // failed delivery of it stops the thread under the production handler).
                    tracing::warn!(task = %self.id, %error, dead_letter_queue = %topic,
                        "sent a record to the dead-letter queue");
                    self.metrics.dropped_records += 1;
                    return Ok(());
                }
            },
            ProcessError::Processor { .. } => {
                self.config.processing_errors == ProcessingErrorHandler::LogAndContinue
            }
            _ => false,
        };
        if skip {
            tracing::warn!(task = %self.id, %error, "skipping a record");
            self.metrics.dropped_records += 1;
            Ok(())
        } else {
            Err(error)
        }
    }

    /// Sends a record that could not be deserialized to the dead-letter queue `topic`, with
    /// the error and the record's origin in `__streams.errors.*` headers.
    fn send_to_dead_letter_queue(
        &mut self,
        topic: &str,
        error: &ProcessError,
        record: RawRecord,
    ) -> Result<(), ProcessError> {
        let mut headers = record.headers;
        headers
            .add(
                "__streams.errors.exception",
                b"DeserializationError".to_vec(),
            )
            .add("__streams.errors.message", error.to_string().into_bytes())
            .add("__streams.errors.topic", record.topic.as_bytes().to_vec())
            .add(
                "__streams.errors.partition",
                record.partition.to_string().into_bytes(),
            )
            .add(
                "__streams.errors.offset",
                record.offset.to_string().into_bytes(),
            );
        self.env.collector.borrow_mut().send(OutgoingRecord {
            topic,
            partition: None,
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            timestamp: record.timestamp.max(0),
            headers: &headers,
        })
    }
}

//! The poll loop: poll a batch of records, hand each to its task, let every processable task
//! drain its buffers in timestamp order, fire punctuations, and commit on the commit interval.
//!
//! The consumer is polled without blocking while work is buffered. A record whose task takes
//! its input directly (see `StreamTask::takes_direct_input`) is
//! processed in place, without a copy; the others are buffered by their tasks. Nothing on this path takes a lock or an async
//! hop per record.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::message::{BorrowedMessage, Headers as _, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::super::transaction::TransactionFailure;
use super::StreamThread;
use super::rebalance::LentTasks;
use super::task_manager::SourceTopic;
use crate::error::StreamsError;
use crate::record::AutoOffsetReset;
use crate::record::{BorrowedInput, Headers, RawRecord};
use crate::task_env::TaskId;

/// How long a thread must see no records before it asks the broker whether it is drained.
const DRAIN_CHECK: Duration = Duration::from_millis(300);

/// How many records one poll round takes at most before processing them.
const MAX_POLL_BATCH: usize = 2_000;

impl StreamThread {
    /// Polls and processes until shutdown is requested or an error stops the thread.
    pub(super) fn run_loop(&mut self) -> Result<(), StreamsError> {
        let mut last_commit = Instant::now();
        let mut last_record = Instant::now();
        let mut last_drain_check = Instant::now();
        let mut batch: Vec<RawRecord> = Vec::with_capacity(MAX_POLL_BATCH);
        while !self.status.shutdown_requested() {
            let received = self.poll_batch(&mut batch)?;
            if let Some(error) = self.consumer.context().take_callback_error() {
                return Err(error);
            }
            // Once shutting down, keep the tasks owned now: their work is committed on close,
            // and tasks gained now would only be restored to be closed again.
            if self
                .consumer
                .context()
                .rebalanced
                .swap(false, Ordering::AcqRel)
                && !self.status.shutdown_requested()
            {
                let moved = self.on_rebalance()?;
                // What this poll fetched of a partition the rebalance moved came from the
                // position it left: it is fetched again from the new one.
                batch.retain(|r| {
                    !moved
                        .iter()
                        .any(|(topic, partition)| **topic == *r.topic && *partition == r.partition)
                });
                self.status.touch();
            }
            // Only once the tasks match the assignment: until then the thread is rebalancing,
            // whatever the consumer says (the application is not idle with tasks to create).
            self.status.rebalancing.store(
                self.consumer.context().in_rebalance.load(Ordering::Acquire),
                Ordering::Release,
            );
            if received > 0 {
                self.status.touch();
                self.status.drained.store(false, Ordering::Release);
                last_record = Instant::now();
            } else if last_record.elapsed() >= DRAIN_CHECK
                && last_drain_check.elapsed() >= DRAIN_CHECK
            {
                // Quiet: ask the broker whether anything is left (a network round trip, so
                // only while nothing arrives).
                last_drain_check = Instant::now();
                let drained = self.drained();
                self.status.drained.store(drained, Ordering::Release);
            }
            for record in batch.drain(..) {
                self.tasks.route(record);
            }
            let idle_ms = self.config.max_task_idle.as_millis() as i64;
            self.tasks.process(self.status.now_ms(), idle_ms)?;
            self.producer.poll(Duration::ZERO);
            self.check_deliveries()?;
            let failed = self.collector.borrow_mut().transaction_failed.take();
            if let Some(reason) = failed {
                // Nothing more can go into this transaction: abort it and redo its work now.
                self.recover(TransactionFailure::Abortable(reason))?;
                last_commit = Instant::now();
            }
            if last_commit.elapsed() >= self.config.commit_interval {
                self.commit()?;
                last_commit = Instant::now();
            }
            let idle = self.tasks.buffered() == 0;
            self.status.busy.store(!idle, Ordering::Release);
        }
        Ok(())
    }

    /// One poll round: takes up to [`MAX_POLL_BATCH`] records, waiting only when nothing is
    /// buffered. Records of tasks that take direct input are processed here; the rest, and
    /// every record behind one whose task does not exist yet (the assignment changed in this
    /// poll), go to `batch` in order. Returns how many records arrived.
    fn poll_batch(&mut self, batch: &mut Vec<RawRecord>) -> Result<usize, StreamsError> {
        // Records that arrived while a commit waited on the cluster come first, in order.
        batch.append(&mut self.held);
        let mut timeout = if self.tasks.buffered() > 0 || !batch.is_empty() {
            Duration::ZERO
        } else {
            self.config.poll
        };
        // The rebalance callback may need the tasks while the consumer polls.
        let lent = LentTasks::lend(&mut self.tasks.tasks);
        let sources = &self.tasks.sources;
        let listener = self.consumer.context();
        let mut received = 0;
        let mut last_source: Option<SourceTopic> = None;
        while received < MAX_POLL_BATCH {
            match self.consumer.poll(timeout) {
                None => break,
                Some(Ok(message)) => {
                    received += 1;
                    // Only subscribed topics arrive; their names are shared, not copied.
                    let topic = message.topic();
                    // Consecutive messages mostly share a topic: compare before hashing.
                    if last_source.as_ref().is_none_or(|s| *s.name != *topic) {
                        last_source = sources.get(topic).cloned();
                    }
                    let Some(source) = &last_source else {
                        continue;
                    };
                    if listener.rebalanced.load(Ordering::Acquire) {
                        // The assignment changed in this poll: its tasks are created
                        // first, then this record is routed.
                        batch.push(raw_record(&message, &source.name));
                        break;
                    }
                    if !batch.is_empty() {
                        // Behind a record waiting for its task: keep the order.
                        batch.push(raw_record(&message, &source.name));
                        continue;
                    }
                    let id = TaskId {
                        subtopology: source.subtopology,
                        partition: message.partition(),
                    };
                    lent.with(|tasks| {
                        let Some(task) = tasks.get_mut(&id) else {
                            batch.push(raw_record(&message, &source.name));
                            return Ok(());
                        };
                        if task.takes_direct_input() {
                            task.process_borrowed(borrowed_input(&message, topic))?;
                            task.punctuate_stream_time()?;
                        } else {
                            let _ = task.add_record(raw_record(&message, &source.name));
                        }
                        Ok::<(), StreamsError>(())
                    })?;
                }
                Some(Err(error)) => {
                    // Broker and network errors are retried by librdkafka; keep going.
                    tracing::debug!(thread = %self.name, %error, "consumer error");
                    break;
                }
            }
            timeout = Duration::ZERO;
        }
        Ok(received)
    }

    /// Whether every assigned partition has been read up to its high watermark.
    fn drained(&self) -> bool {
        let timeout = Duration::from_secs(5);
        let (Ok(assignment), Ok(positions)) =
            (self.consumer.assignment(), self.consumer.position())
        else {
            return false;
        };
        let mut unknown = TopicPartitionList::new();
        let mut positions_by_partition = BTreeMap::new();
        for element in positions.elements() {
            match element.offset() {
                Offset::Offset(offset) => {
                    positions_by_partition
                        .insert((element.topic().to_owned(), element.partition()), offset);
                }
                _ => {
                    let _ = unknown.add_partition_offset(
                        element.topic(),
                        element.partition(),
                        Offset::Invalid,
                    );
                }
            }
        }
        if unknown.count() > 0 {
            // Nothing consumed there yet: the committed offset is where reading resumes.
            match self.consumer.committed_offsets(unknown, timeout) {
                Ok(committed) => {
                    for element in committed.elements() {
                        // Without a committed offset, reading starts at the start, or (a
                        // `latest` reset) at the end: nothing there is waiting to be read.
                        let offset = match (element.offset(), self.offset_reset(element.topic())) {
                            (Offset::Offset(offset), _) => offset,
                            (_, AutoOffsetReset::Earliest) => 0,
                            (_, AutoOffsetReset::Latest) => i64::MAX,
                        };
                        positions_by_partition
                            .insert((element.topic().to_owned(), element.partition()), offset);
                    }
                }
                Err(_) => return false,
            }
        }
        assignment.elements().iter().all(|element| {
            let key = (element.topic().to_owned(), element.partition());
            match self
                .consumer
                .fetch_watermarks(element.topic(), element.partition(), timeout)
            {
                Ok((low, high)) => {
                    high <= low || positions_by_partition.get(&key).is_some_and(|&p| p >= high)
                }
                Err(_) => false,
            }
        })
    }
}

/// A copy of the message, to buffer.
pub(super) fn raw_record(message: &BorrowedMessage<'_>, topic: &Arc<str>) -> RawRecord {
    borrowed_input(message, topic).into_raw(Arc::clone(topic))
}

/// The message as a task processes it in place (see
/// [`StreamTask::takes_direct_input`](crate::task::StreamTask::takes_direct_input)).
fn borrowed_input<'a>(message: &'a BorrowedMessage<'_>, topic: &'a str) -> BorrowedInput<'a> {
    BorrowedInput {
        topic,
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp().to_millis().unwrap_or(-1),
        key: message.key(),
        value: message.payload(),
        headers: headers_of(message),
    }
}

/// A copy of the message's headers (none allocates nothing).
fn headers_of(message: &BorrowedMessage<'_>) -> Headers {
    message.headers().map_or_else(Headers::new, |headers| {
        let mut out = Headers::new();
        for header in headers.iter() {
            out.add(header.key, header.value.map(<[u8]>::to_vec));
        }
        out
    })
}

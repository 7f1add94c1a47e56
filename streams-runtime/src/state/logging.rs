//! Change logging: every write to a logged store is also sent to the store's changelog topic,
//! `<application.id>-<store>-changelog`, on the task's partition. The changelog is the store's
//! durable copy: a task that moves to another thread or instance restores its stores from it.

use std::cell::{Cell, RefCell};
use std::ops::Bound;
use std::rc::Rc;

use super::session::{BytesSessionStore, encode_session_key};
use super::window::{BytesWindowStore, encode_window_key};
use super::{BytesKeyValueStore, BytesStore};
use crate::error::{ProcessError, StoreError};
use crate::record::{Headers, OutgoingRecord, RecordCollector};

/// Where a task's changelog records go.
#[derive(Clone)]
pub struct ChangelogContext {
    /// The application id (prefix of changelog topics).
    pub application_id: String,
    /// The task's partition: the changelog partition of each of its stores.
    pub partition: i32,
    /// The task's record collector.
    pub collector: Rc<RefCell<dyn RecordCollector>>,
    /// The timestamp of the record being processed, stamped on changelog records.
    pub timestamp: Rc<Cell<i64>>,
}

impl std::fmt::Debug for ChangelogContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangelogContext")
            .field("application_id", &self.application_id)
            .field("partition", &self.partition)
            .field("timestamp", &self.timestamp.get())
            .finish_non_exhaustive()
    }
}

/// The changelog topic of a store.
pub fn changelog_topic(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}-changelog")
}

/// Sends one store's changes to its changelog topic.
struct ChangeLogger {
    store: String,
    topic: String,
    context: ChangelogContext,
    no_headers: Headers,
}

impl ChangeLogger {
    fn new(store: &str, context: ChangelogContext) -> Self {
        ChangeLogger {
            store: store.to_owned(),
            topic: changelog_topic(&context.application_id, store),
            context,
            no_headers: Headers::new(),
        }
    }

    fn log(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        let record = OutgoingRecord {
            topic: &self.topic,
            partition: Some(self.context.partition),
            key: Some(key),
            value,
            timestamp: self.context.timestamp.get().max(0),
            headers: &self.no_headers,
        };
        self.context
            .collector
            .borrow_mut()
            .send(record)
            .map_err(|e| match e {
                ProcessError::Store(e) => e,
                other => StoreError::ChangeLog {
                    store: self.store.clone(),
                    source: Box::new(other),
                },
            })
    }
}

/// A store whose writes are also logged; `S` is the kind of store below it
/// (`dyn BytesKeyValueStore`, `dyn BytesWindowStore` or `dyn BytesSessionStore`). Reads,
/// restoring and clearing go straight to the store below, for every kind alike.
pub(crate) struct ChangeLoggingStore<S: ?Sized> {
    inner: Box<S>,
    logger: ChangeLogger,
    /// The changelog key of a window or session write, reused from write to write.
    scratch: Vec<u8>,
}

impl<S: ?Sized> ChangeLoggingStore<S> {
    pub(crate) fn new(inner: Box<S>, store: &str, context: ChangelogContext) -> Self {
        ChangeLoggingStore {
            inner,
            logger: ChangeLogger::new(store, context),
            scratch: Vec::new(),
        }
    }
}

impl<S: BytesStore + ?Sized> BytesStore for ChangeLoggingStore<S> {
    fn entries(&self, visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        self.inner.entries(visit)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.inner.flush()
    }

    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        // Replaying the changelog must not write it again.
        self.inner.restore(key, value)
    }

    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        self.inner.restore_batch(records)
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        // Dropping unusable local state is not a change to log.
        self.inner.clear()
    }

    fn is_persistent(&self) -> bool {
        self.inner.is_persistent()
    }
}

/// Logged under the store's keys.
impl BytesKeyValueStore for ChangeLoggingStore<dyn BytesKeyValueStore> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.inner.put(key, value)?;
        self.logger.log(key, Some(value))
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.inner.delete(key)?;
        self.logger.log(key, None)?;
        Ok(old)
    }

    fn scan(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.inner.scan(from, to, visit)
    }

    fn approximate_len(&self) -> u64 {
        self.inner.approximate_len()
    }
}

/// Logged keyed `[key][window start][sequence number]`, as the store keeps them; a delete is a
/// tombstone.
impl BytesWindowStore for ChangeLoggingStore<dyn BytesWindowStore> {
    fn put(
        &mut self,
        key: &[u8],
        window_start: i64,
        value: Option<&[u8]>,
    ) -> Result<Option<u32>, StoreError> {
        // Only what the store wrote is a change: a write past retention was dropped.
        let Some(sequence) = self.inner.put(key, window_start, value)? else {
            return Ok(None);
        };
        self.scratch.clear();
        encode_window_key(&mut self.scratch, key, window_start, sequence);
        self.logger.log(&self.scratch, value)?;
        Ok(Some(sequence))
    }

    fn get(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key, window_start)
    }

    fn fetch(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        visit: &mut dyn FnMut(i64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.inner.fetch(key, time_from, time_to, visit)
    }

    fn fetch_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        visit: &mut dyn FnMut(&[u8], i64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.inner
            .fetch_range(key_from, key_to, time_from, time_to, visit)
    }

    fn window_size(&self) -> i64 {
        self.inner.window_size()
    }

    fn observed_stream_time(&self) -> i64 {
        self.inner.observed_stream_time()
    }
}

/// Logged keyed `[key][end][start]`, as the store keeps them; a removal is a tombstone.
impl BytesSessionStore for ChangeLoggingStore<dyn BytesSessionStore> {
    fn observed_stream_time(&self) -> i64 {
        self.inner.observed_stream_time()
    }

    fn put(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        // Only what the store wrote is a change: a session past retention was dropped.
        if !self.inner.put(key, start, end, value)? {
            return Ok(false);
        }
        self.scratch.clear();
        encode_session_key(&mut self.scratch, key, start, end);
        self.logger.log(&self.scratch, value)?;
        Ok(true)
    }

    fn fetch_session(
        &self,
        key: &[u8],
        start: i64,
        end: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.fetch_session(key, start, end)
    }

    fn find_sessions(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_session_end: i64,
        latest_session_start: i64,
        visit: &mut dyn FnMut(&[u8], i64, i64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.inner.find_sessions(
            key_from,
            key_to,
            earliest_session_end,
            latest_session_start,
            visit,
        )
    }
}

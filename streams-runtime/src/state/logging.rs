//! Change logging: every write to a logged store is also sent to the store's changelog topic,
//! `<application.id>-<store>-changelog`, on the task's partition. The changelog is the store's
//! durable copy: a task that moves to another thread or instance restores its stores from it.

use std::cell::{Cell, RefCell};
use std::ops::Bound;
use std::rc::Rc;

use super::BytesKeyValueStore;
use crate::error::{ProcessError, StoreError};
use crate::record::Headers;
use crate::task::{OutgoingRecord, RecordCollector};

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

/// The changelog topic of a store.
pub fn changelog_topic(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}-changelog")
}

/// A backend whose writes are also logged.
pub(crate) struct ChangeLoggingStore {
    inner: Box<dyn BytesKeyValueStore>,
    store: String,
    topic: String,
    context: ChangelogContext,
    no_headers: Headers,
}

impl ChangeLoggingStore {
    pub(crate) fn new(
        inner: Box<dyn BytesKeyValueStore>,
        store: &str,
        context: ChangelogContext,
    ) -> Self {
        ChangeLoggingStore {
            inner,
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
                other => StoreError::Backend {
                    store: self.store.clone(),
                    message: format!("cannot log a change: {other}"),
                },
            })
    }
}

impl BytesKeyValueStore for ChangeLoggingStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.inner.put(key, value)?;
        self.log(key, Some(value))
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.inner.delete(key)?;
        self.log(key, None)?;
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

    fn is_persistent(&self) -> bool {
        self.inner.is_persistent()
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        // Dropping unusable local state is not a change to log.
        self.inner.clear()
    }
}

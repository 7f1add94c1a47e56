//! One store's place in its thread's record cache: where the store's entries go when they leave
//! the cache (written to the store below, then queued for forwarding), and what the store's owner
//! and its task use to stage record contexts, flush and forward.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use super::thread_cache::{EntryMeta, ThreadCache};
use crate::error::{ProcessError, StoreError};
use crate::record::{Headers, RecordContext};
use crate::state::BytesKeyValueStore;
use crate::task_env::TaskEnv;

/// A dirty entry written to its store, for the store's owner to forward: Kafka Streams' flush
/// listener record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlushedEntry {
    pub(crate) key: Vec<u8>,
    /// The value written; `None` for a deletion.
    pub(crate) new: Option<Vec<u8>>,
    /// The value the store held before: as of the previous flush of the key.
    pub(crate) old: Option<Vec<u8>>,
    pub(crate) meta: EntryMeta,
}

/// Forwards one flushed entry to the children of the store's owner, in its task's context.
pub(crate) type FlushListener =
    Box<dyn FnMut(FlushedEntry, &mut TaskEnv) -> Result<(), ProcessError>>;

/// Where one store's cache entries go when they leave the cache.
pub(super) struct CacheTarget {
    store: String,
    /// The store below the cache (change logging, then the backend).
    inner: Rc<RefCell<Box<dyn BytesKeyValueStore>>>,
    /// The task's current timestamp, which change logging stamps on changelog records.
    timestamp: Rc<Cell<i64>>,
    /// Whether a listener forwards flushed entries (and so wants them queued).
    forwarding: Cell<bool>,
    listener: RefCell<Option<FlushListener>>,
    pending: RefCell<VecDeque<FlushedEntry>>,
    /// The record context and headers the owner set for its next write.
    staged: RefCell<(Option<RecordContext>, Headers)>,
}

impl CacheTarget {
    fn busy(&self) -> StoreError {
        StoreError::Busy {
            store: self.store.clone(),
        }
    }

    /// Writes one entry leaving the cache to the store below, stamped with the timestamp of
    /// its last update, and queues it for forwarding.
    pub(super) fn write(
        &self,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        meta: EntryMeta,
    ) -> Result<(), StoreError> {
        let forwarding = self.forwarding.get();
        let mut inner = self.inner.try_borrow_mut().map_err(|_| self.busy())?;
        let old = if forwarding || value.is_none() {
            inner.get(&key)?
        } else {
            None
        };
        // Deleting what the store never had changes nothing (Kafka Streams skips it too).
        if value.is_none() && old.is_none() {
            return Ok(());
        }
        let current = self.timestamp.replace(meta.timestamp);
        let written = match &value {
            Some(value) => inner.put(&key, value),
            None => inner.delete(&key).map(drop),
        };
        self.timestamp.set(current);
        written?;
        drop(inner);
        if forwarding {
            self.pending.borrow_mut().push_back(FlushedEntry {
                key,
                new: value,
                old,
                meta,
            });
        }
        Ok(())
    }
}

/// One store's place in its thread's cache: what the caching layer, the store's owner and its
/// task use to write through, stage record contexts, flush and forward.
#[derive(Clone)]
pub(crate) struct CacheHandle {
    pub(super) cache: ThreadCache,
    pub(super) namespace: u64,
    target: Rc<CacheTarget>,
}

impl CacheHandle {
    /// Registers the store `store` (whose layers below the cache are `inner`) with `cache`.
    pub(crate) fn register(
        cache: &ThreadCache,
        store: &str,
        inner: Box<dyn BytesKeyValueStore>,
        timestamp: Rc<Cell<i64>>,
    ) -> Self {
        let target = Rc::new(CacheTarget {
            store: store.to_owned(),
            inner: Rc::new(RefCell::new(inner)),
            timestamp,
            forwarding: Cell::new(false),
            listener: RefCell::new(None),
            pending: RefCell::new(VecDeque::new()),
            staged: RefCell::new((None, Headers::new())),
        });
        let namespace = cache.register(Rc::downgrade(&target));
        CacheHandle {
            cache: cache.clone(),
            namespace,
            target,
        }
    }

    /// Makes flushed entries go to `listener` (the store owner's children).
    pub(crate) fn set_listener(&self, listener: FlushListener) {
        *self.target.listener.borrow_mut() = Some(listener);
        self.target.forwarding.set(true);
    }

    /// Sets the record context and headers of the owner's next write (Kafka Streams keeps the
    /// record context in the cache entry, to forward the entry with it).
    pub(crate) fn stage(&self, record: Option<RecordContext>, headers: Headers) {
        *self.target.staged.borrow_mut() = (record, headers);
    }

    pub(super) fn take_meta(&self) -> EntryMeta {
        let (record, headers) = std::mem::take(&mut *self.target.staged.borrow_mut());
        EntryMeta {
            timestamp: self.target.timestamp.get(),
            record,
            headers,
        }
    }

    /// Writes the store's dirty entries to the store below, in the order they became dirty;
    /// with a listener they are queued for [`drain`](Self::drain). Returns how many.
    pub(crate) fn flush(&self) -> Result<usize, StoreError> {
        let dirty = self.cache.take_dirty(self.namespace);
        let count = dirty.len();
        let mut first_error = None;
        for (key, value, meta) in dirty {
            if let Err(error) = self.target.write(key, value, meta) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(count), Err)
    }

    /// Forwards the queued flushed entries through the listener, in the context `env` of the
    /// store's task. Returns how many it forwarded.
    pub(crate) fn drain(&self, env: &mut TaskEnv) -> Result<usize, ProcessError> {
        let mut forwarded = 0;
        loop {
            // A listener already running (a flush reached its own store again) leaves the
            // rest to the drain that runs it.
            let Ok(mut listener) = self.target.listener.try_borrow_mut() else {
                return Ok(forwarded);
            };
            let Some(listener) = listener.as_mut() else {
                return Ok(forwarded);
            };
            let next = self.target.pending.borrow_mut().pop_front();
            let Some(entry) = next else {
                return Ok(forwarded);
            };
            listener(entry, env)?;
            forwarded += 1;
        }
    }

    pub(super) fn inner(
        &self,
    ) -> Result<std::cell::Ref<'_, Box<dyn BytesKeyValueStore>>, StoreError> {
        self.target
            .inner
            .try_borrow()
            .map_err(|_| self.target.busy())
    }

    pub(super) fn inner_mut(
        &self,
    ) -> Result<std::cell::RefMut<'_, Box<dyn BytesKeyValueStore>>, StoreError> {
        self.target
            .inner
            .try_borrow_mut()
            .map_err(|_| self.target.busy())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::test_support::{Logged, below, cached, memory};
    use super::*;
    use crate::record::RecordCollector;
    use crate::state::BytesStore;
    #[cfg(feature = "rocksdb")]
    use crate::state::{RocksDbKeyValueStore, RocksDbMemory};
    use crate::task_env::{PunctuationSchedule, TaskId};

    fn env(collector: Rc<RefCell<dyn RecordCollector>>, clock: Rc<Cell<i64>>) -> TaskEnv {
        TaskEnv {
            task_id: TaskId {
                subtopology: 0,
                partition: 0,
            },
            application_id: Arc::from("app"),
            stream_time: -1,
            wall_clock: 0,
            record: None,
            current_timestamp: clock,
            collector,
            schedule: PunctuationSchedule::default(),
            dropped: 0,
        }
    }

    #[test]
    fn a_cached_store_logs_and_forwards_one_change_per_key_per_flush_on_both_backends() {
        #[cfg(feature = "rocksdb")]
        let dir = tempfile::tempdir().unwrap();
        #[cfg_attr(not(feature = "rocksdb"), expect(unused_mut))]
        let mut backends: Vec<Box<dyn BytesKeyValueStore>> = vec![memory()];
        #[cfg(feature = "rocksdb")]
        backends.push(Box::new(
            RocksDbKeyValueStore::open("s", &dir.path().join("s"), &RocksDbMemory::new(8 << 20))
                .unwrap(),
        ));
        for backend in backends {
            let persistent = backend.is_persistent();
            let logged = Rc::new(RefCell::new(Logged::default()));
            let cache = ThreadCache::new(1 << 20);
            let mut s = cached(&cache, "s", backend, Some(&logged));
            let flushed = Rc::new(RefCell::new(Vec::new()));
            let sink = Rc::clone(&flushed);
            s.handle.set_listener(Box::new(move |entry, env| {
                sink.borrow_mut().push((entry, env.current_timestamp.get()));
                Ok(())
            }));
            for (timestamp, value) in [(5, "1"), (7, "2"), (6, "3")] {
                s.clock.set(timestamp);
                let mut headers = Headers::new();
                headers.add("n", value.as_bytes().to_vec());
                s.handle.stage(None, headers);
                s.store.put(b"k", value.as_bytes()).unwrap();
            }
            s.clock.set(9);
            s.store.put(b"gone", b"x").unwrap();
            s.store.delete(b"gone").unwrap();
            assert!(logged.borrow().0.is_empty(), "nothing below the cache yet");
            assert_eq!(s.store.get(b"k").unwrap(), Some(b"3".to_vec()));

            s.clock.set(100);
            assert_eq!(s.handle.flush().unwrap(), 2);
            // One changelog record for k, stamped with its last update's timestamp; deleting
            // a key the store never had logs nothing.
            assert_eq!(
                logged.borrow().0,
                [("k".to_owned(), Some("3".to_owned()), 6)]
            );
            assert_eq!(s.clock.get(), 100, "the task's clock is left as it was");
            assert!(
                flushed.borrow().is_empty(),
                "forwarded by drain, not by flush"
            );
            let mut env = env(logged.clone(), Rc::clone(&s.clock));
            assert_eq!(s.handle.drain(&mut env).unwrap(), 1);
            let (entry, _) = flushed.borrow_mut().remove(0);
            let mut headers = Headers::new();
            headers.add("n", b"3".to_vec());
            assert_eq!(
                entry,
                FlushedEntry {
                    key: b"k".to_vec(),
                    new: Some(b"3".to_vec()),
                    old: None,
                    meta: EntryMeta {
                        timestamp: 6,
                        record: None,
                        headers,
                    },
                }
            );

            // The next flush's change carries the value as of the previous flush as old.
            s.clock.set(11);
            s.store.put(b"k", b"4").unwrap();
            s.store.delete(b"k").unwrap();
            s.handle.flush().unwrap();
            s.handle.drain(&mut env).unwrap();
            let changes: Vec<_> = flushed
                .borrow()
                .iter()
                .map(|(e, _)| (e.new.clone(), e.old.clone(), e.meta.timestamp))
                .collect();
            assert_eq!(changes, [(None, Some(b"3".to_vec()), 11)]);
            assert_eq!(logged.borrow().0[1], ("k".to_owned(), None, 11));
            assert!(below(&s).is_empty());
            assert_eq!(s.store.is_persistent(), persistent);
        }
    }
}

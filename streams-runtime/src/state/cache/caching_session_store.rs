//! The caching layer of a session store, as Kafka Streams' `CachingSessionStore`: reads see the
//! thread's record cache first, writes (and removals of merged sessions) stay there until a
//! flush or an eviction writes them below. Cache keys are the session store's own keys,
//! `[key][session end][session start]`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::rc::Rc;

use super::caching_window_store::{count_entries, merged_entries, scan_entries};
use super::handle::CacheHandle;
use crate::error::StoreError;
use crate::state::session::{decode_session_key, encode_session_key};
use crate::state::{BytesKeyValueStore, BytesSessionStore, BytesStore};

/// The session store below the cache, seen as a key-value store of its own keys: what the
/// cache writes the entries leaving it into.
pub(crate) struct SessionEntries(pub(crate) Rc<RefCell<Box<dyn BytesSessionStore>>>);

impl SessionEntries {
    /// The store below, unless a write into it is under way (then `Busy`, never a panic).
    fn below(&self) -> Result<std::cell::Ref<'_, Box<dyn BytesSessionStore>>, StoreError> {
        self.0.try_borrow().map_err(|_| StoreError::Busy {
            store: "(the session store under the record cache)".to_owned(),
        })
    }

    fn below_mut(&self) -> Result<std::cell::RefMut<'_, Box<dyn BytesSessionStore>>, StoreError> {
        self.0.try_borrow_mut().map_err(|_| StoreError::Busy {
            store: "(the session store under the record cache)".to_owned(),
        })
    }

    fn split(key: &[u8]) -> Result<(&[u8], i64, i64), StoreError> {
        decode_session_key(key).ok_or_else(|| StoreError::MalformedKey {
            store: "session store cache".to_owned(),
            message: format!("{} bytes are too few for a session store key", key.len()),
        })
    }
}

impl BytesKeyValueStore for SessionEntries {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (key, start, end) = Self::split(key)?;
        self.below()?.fetch_session(key, start, end)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let (key, start, end) = Self::split(key)?;
        self.0
            .borrow_mut()
            .put(key, start, end, Some(value))
            .map(drop)
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.get(key)?;
        let (key, start, end) = Self::split(key)?;
        self.below_mut()?.put(key, start, end, None)?;
        Ok(old)
    }

    fn scan(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        scan_entries(&**self.below()?, from, to, visit)
    }

    fn approximate_len(&self) -> u64 {
        self.below().map_or(0, |below| count_entries(&**below))
    }
}

impl BytesStore for SessionEntries {
    fn entries(&self, visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        self.below()?.entries(visit)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.below_mut()?.flush()
    }

    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        self.below_mut()?.restore_batch(records)
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        self.below_mut()?.clear()
    }

    fn is_persistent(&self) -> bool {
        self.below().is_ok_and(|below| below.is_persistent())
    }
}

/// A session as the merge orders it: key, then end, then start (the store's own order).
type SessionKey = (Vec<u8>, i64, i64);

/// The caching layer of a session store.
pub(crate) struct CachingSessionStore {
    handle: CacheHandle,
    /// The store below the cache (change logging, then the segments); the cache writes into
    /// it through [`SessionEntries`].
    below: Rc<RefCell<Box<dyn BytesSessionStore>>>,
}

impl CachingSessionStore {
    pub(crate) fn new(handle: CacheHandle, below: Rc<RefCell<Box<dyn BytesSessionStore>>>) -> Self {
        CachingSessionStore { handle, below }
    }

    fn store_key(key: &[u8], start: i64, end: i64) -> Vec<u8> {
        let mut store_key = Vec::with_capacity(key.len() + 16);
        encode_session_key(&mut store_key, key, start, end);
        store_key
    }
}

impl Drop for CachingSessionStore {
    fn drop(&mut self) {
        self.handle.cache.unregister(self.handle.namespace);
    }
}

impl BytesSessionStore for CachingSessionStore {
    fn put(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let meta = self.handle.take_meta();
        self.handle.cache.put(
            self.handle.namespace,
            &Self::store_key(key, start, end),
            value,
            meta,
        )?;
        Ok(true)
    }

    fn fetch_session(
        &self,
        key: &[u8],
        start: i64,
        end: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match self
            .handle
            .cache
            .get(self.handle.namespace, &Self::store_key(key, start, end))
        {
            Some(cached) => Ok(cached),
            None => self.below.borrow().fetch_session(key, start, end),
        }
    }

    fn find_sessions(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_session_end: i64,
        latest_session_start: i64,
        visit: &mut dyn FnMut(&[u8], i64, i64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let mut merged: BTreeMap<SessionKey, Option<Vec<u8>>> = BTreeMap::new();
        self.below.borrow().find_sessions(
            key_from,
            key_to,
            earliest_session_end,
            latest_session_start,
            &mut |key, start, end, value| {
                merged.insert((key.to_vec(), end, start), Some(value.to_vec()));
                true
            },
        )?;
        // One key: its cached sessions are one range of the cache; otherwise look at them all.
        let one_key = key_from.filter(|from| key_to == Some(*from));
        let bounds = one_key.map(|key| {
            (
                Self::store_key(key, 0, earliest_session_end.max(0)),
                Self::store_key(key, i64::MAX, i64::MAX),
            )
        });
        let (lower, upper) = match &bounds {
            Some((lower, upper)) => (Bound::Included(&lower[..]), Bound::Included(&upper[..])),
            None => (Bound::Unbounded, Bound::Unbounded),
        };
        for (store_key, value) in self.handle.cache.range(self.handle.namespace, lower, upper) {
            let Some((key, start, end)) = decode_session_key(&store_key) else {
                continue;
            };
            let matches = key_from.is_none_or(|from| key >= from)
                && key_to.is_none_or(|to| key <= to)
                && end >= earliest_session_end
                && start <= latest_session_start;
            if matches {
                merged.insert((key.to_vec(), end, start), value);
            }
        }
        for ((key, end, start), value) in &merged {
            if let Some(value) = value
                && !visit(key, *start, *end, value)
            {
                break;
            }
        }
        Ok(())
    }

    fn observed_stream_time(&self) -> i64 {
        self.below.borrow().observed_stream_time()
    }
}

impl BytesStore for CachingSessionStore {
    /// Every entry, the cache's merged over the store's below, in key order.
    fn entries(&self, visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        merged_entries(&**self.below.borrow(), &self.handle, visit)
    }

    /// Flushes the store below only: the cache's dirty entries are flushed by the task.
    fn flush(&mut self) -> Result<(), StoreError> {
        self.below.borrow_mut().flush()
    }

    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        for (key, _) in records {
            self.handle.cache.invalidate(self.handle.namespace, key);
        }
        self.below.borrow_mut().restore_batch(records)
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        self.handle.cache.clear(self.handle.namespace);
        self.below.borrow_mut().clear()
    }

    fn is_persistent(&self) -> bool {
        self.below.borrow().is_persistent()
    }
}

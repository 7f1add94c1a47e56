//! The caching layer of a window store: reads see the thread's record cache first, writes stay
//! there until a flush or an eviction writes them to the store below, as Kafka Streams'
//! `CachingWindowStore` does for a windowed aggregation. Cache keys are the window store's own
//! keys, `[key][window start][sequence number]`; a store that retains duplicates is not cached
//! (every write is a new entry there, nothing to merge).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::rc::Rc;

use super::handle::CacheHandle;
use crate::error::StoreError;
use crate::state::window::{decode_window_key, encode_window_key};
use crate::state::{BytesKeyValueStore, BytesStore, BytesWindowStore};

/// The window store below the cache, seen as a key-value store of its own keys: what the cache
/// writes the entries leaving it into.
pub(crate) struct WindowEntries(pub(crate) Rc<RefCell<Box<dyn BytesWindowStore>>>);

fn malformed(key: &[u8]) -> StoreError {
    StoreError::MalformedKey {
        store: "window store cache".to_owned(),
        message: format!("{} bytes are too few for a window store key", key.len()),
    }
}

impl WindowEntries {
    /// The store below, unless a write into it is under way (then `Busy`, never a panic).
    fn below(&self) -> Result<std::cell::Ref<'_, Box<dyn BytesWindowStore>>, StoreError> {
        self.0.try_borrow().map_err(|_| StoreError::Busy {
            store: "(the window store under the record cache)".to_owned(),
        })
    }

    fn below_mut(&self) -> Result<std::cell::RefMut<'_, Box<dyn BytesWindowStore>>, StoreError> {
        self.0.try_borrow_mut().map_err(|_| StoreError::Busy {
            store: "(the window store under the record cache)".to_owned(),
        })
    }

    fn split(key: &[u8]) -> Result<(&[u8], i64), StoreError> {
        decode_window_key(key)
            .map(|(key, start, _)| (key, start))
            .ok_or_else(|| malformed(key))
    }
}

impl BytesKeyValueStore for WindowEntries {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (key, start) = Self::split(key)?;
        self.below()?.get(key, start)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let (key, start) = Self::split(key)?;
        self.below_mut()?.put(key, start, Some(value)).map(drop)
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.get(key)?;
        let (key, start) = Self::split(key)?;
        self.below_mut()?.put(key, start, None)?;
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

impl BytesStore for WindowEntries {
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

/// The caching layer of a window store.
pub(crate) struct CachingWindowStore {
    handle: CacheHandle,
    /// The last store key built, reused (lookups take `&self`).
    scratch: RefCell<Vec<u8>>,
    /// The store below the cache (change logging, then the segments); the cache writes into
    /// it through [`WindowEntries`].
    below: Rc<RefCell<Box<dyn BytesWindowStore>>>,
}

impl CachingWindowStore {
    pub(crate) fn new(handle: CacheHandle, below: Rc<RefCell<Box<dyn BytesWindowStore>>>) -> Self {
        CachingWindowStore {
            handle,
            scratch: RefCell::new(Vec::new()),
            below,
        }
    }

    /// The cached entries (`None`: deleted) of the keys in `key_from..=key_to` starting in
    /// `time_from..=time_to`, by `(key, start)`.
    fn cached(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> Vec<((Vec<u8>, i64), Option<Vec<u8>>)> {
        // One key: its cached windows are one range of the cache; otherwise look at them all.
        let (lower, upper) = match (key_from, key_to) {
            (Some(from), Some(to)) if from == to => {
                let mut lower = Vec::new();
                encode_window_key(&mut lower, from, time_from.max(0), 0);
                let mut upper = Vec::new();
                encode_window_key(&mut upper, to, time_to, u32::MAX);
                (Some(lower), Some(upper))
            }
            _ => (None, None),
        };
        fn bound(b: &Option<Vec<u8>>) -> Bound<&[u8]> {
            b.as_deref().map_or(Bound::Unbounded, Bound::Included)
        }
        self.handle
            .cache
            .range(self.handle.namespace, bound(&lower), bound(&upper))
            .into_iter()
            .filter_map(|(store_key, value)| {
                let (key, start, _) = decode_window_key(&store_key)?;
                let in_range = key_from.is_none_or(|from| key >= from)
                    && key_to.is_none_or(|to| key <= to)
                    && (time_from..=time_to).contains(&start);
                in_range.then(|| ((key.to_vec(), start), value))
            })
            .collect()
    }
}

impl Drop for CachingWindowStore {
    fn drop(&mut self) {
        self.handle.cache.unregister(self.handle.namespace);
    }
}

impl BytesWindowStore for CachingWindowStore {
    fn put(
        &mut self,
        key: &[u8],
        window_start: i64,
        value: Option<&[u8]>,
    ) -> Result<Option<u32>, StoreError> {
        let mut store_key = self.scratch.borrow_mut();
        store_key.clear();
        encode_window_key(&mut store_key, key, window_start, 0);
        let meta = self.handle.take_meta();
        self.handle
            .cache
            .put(self.handle.namespace, &store_key, value, meta)?;
        Ok(Some(0))
    }

    fn get(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let cached = {
            let mut store_key = self.scratch.borrow_mut();
            store_key.clear();
            encode_window_key(&mut store_key, key, window_start, 0);
            self.handle.cache.get(self.handle.namespace, &store_key)
        };
        match cached {
            Some(value) => Ok(value),
            None => self.below.borrow().get(key, window_start),
        }
    }

    fn fetch(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        visit: &mut dyn FnMut(i64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        // The common case of an aggregation, one window of one key: the cache answers when it
        // holds the window, else a point lookup below.
        if time_from == time_to {
            if let Some(value) = self.get(key, time_from)? {
                visit(time_from, &value);
            }
            return Ok(());
        }
        self.fetch_range(
            Some(key),
            Some(key),
            time_from,
            time_to,
            &mut |_, start, value| visit(start, value),
        )
    }

    fn fetch_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        visit: &mut dyn FnMut(&[u8], i64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let mut merged: BTreeMap<(Vec<u8>, i64), Option<Vec<u8>>> = BTreeMap::new();
        self.below.borrow().fetch_range(
            key_from,
            key_to,
            time_from,
            time_to,
            &mut |key, start, value| {
                merged.insert((key.to_vec(), start), Some(value.to_vec()));
                true
            },
        )?;
        merged.extend(self.cached(key_from, key_to, time_from, time_to));
        for ((key, start), value) in &merged {
            if let Some(value) = value
                && !visit(key, *start, value)
            {
                break;
            }
        }
        Ok(())
    }

    fn window_size(&self) -> i64 {
        self.below.borrow().window_size()
    }

    fn observed_stream_time(&self) -> i64 {
        self.below.borrow().observed_stream_time()
    }
}

impl BytesStore for CachingWindowStore {
    /// Every entry, the cache's merged over the store's below, in key order.
    fn entries(&self, visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        merged_entries(&**self.below.borrow(), &self.handle, visit)
    }

    /// Flushes the store below only: the cache's dirty entries are flushed by the task
    /// ([`CacheHandle::flush`]), which can forward them.
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

/// The entries of `below` with keys in `from..to`, in key order: a scan of a segmented store's
/// entries (which are in segment order) for the cache's key-value view of it.
pub(super) fn scan_entries(
    below: &dyn BytesStore,
    from: Bound<&[u8]>,
    to: Bound<&[u8]>,
    visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) -> Result<(), StoreError> {
    let mut entries = BTreeMap::new();
    below.entries(&mut |key, value| {
        if std::ops::RangeBounds::contains(&(from, to), &key) {
            entries.insert(key.to_vec(), value.to_vec());
        }
        true
    })?;
    for (key, value) in &entries {
        if !visit(key, value) {
            break;
        }
    }
    Ok(())
}

/// How many entries `below` holds (0 when they cannot be read).
pub(super) fn count_entries(below: &dyn BytesStore) -> u64 {
    let mut count = 0;
    let _ = below.entries(&mut |_, _| {
        count += 1;
        true
    });
    count
}

/// Every entry of a cached store: the cache's (of `handle`'s store) merged over `below`'s, in
/// key order, a cached deletion hiding the entry below.
pub(super) fn merged_entries(
    below: &dyn BytesStore,
    handle: &CacheHandle,
    visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) -> Result<(), StoreError> {
    let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    below.entries(&mut |key, value| {
        merged.insert(key.to_vec(), Some(value.to_vec()));
        true
    })?;
    merged.extend(
        handle
            .cache
            .range(handle.namespace, Bound::Unbounded, Bound::Unbounded),
    );
    for (key, value) in &merged {
        if let Some(value) = value
            && !visit(key, value)
        {
            break;
        }
    }
    Ok(())
}

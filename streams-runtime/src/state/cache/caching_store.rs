//! The caching layer of a key-value store: reads see the thread's record cache first, writes
//! stay there until a flush or an eviction writes them to the store below.

use std::ops::Bound;

use super::handle::CacheHandle;
use crate::error::StoreError;
use crate::state::{BytesKeyValueStore, BytesStore};

/// The caching layer of a key-value store: reads see the cache first, writes stay in the cache
/// until a flush or an eviction writes them below.
pub(crate) struct CachingKeyValueStore {
    handle: CacheHandle,
}

impl CachingKeyValueStore {
    pub(crate) fn new(handle: CacheHandle) -> Self {
        CachingKeyValueStore { handle }
    }
}

impl Drop for CachingKeyValueStore {
    fn drop(&mut self) {
        self.handle.cache.unregister(self.handle.namespace);
    }
}

impl BytesKeyValueStore for CachingKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.handle.cache.get(self.handle.namespace, key) {
            Some(value) => Ok(value),
            None => self.handle.inner()?.get(key),
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let meta = self.handle.take_meta();
        self.handle
            .cache
            .put(self.handle.namespace, key, Some(value), meta)
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.get(key)?;
        let meta = self.handle.take_meta();
        self.handle
            .cache
            .put(self.handle.namespace, key, None, meta)?;
        Ok(old)
    }

    fn scan(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let mut cached = self
            .handle
            .cache
            .range(self.handle.namespace, from, to)
            .into_iter()
            .peekable();
        let mut stopped = false;
        self.handle.inner()?.scan(from, to, &mut |key, value| {
            // Cached entries before this key come first; a cached one with this key replaces
            // it (a cached deletion hides it).
            while let Some((cached_key, cached_value)) = cached.next_if(|(k, _)| k.as_slice() < key)
            {
                if let Some(cached_value) = cached_value
                    && !visit(&cached_key, &cached_value)
                {
                    stopped = true;
                    return false;
                }
            }
            let go = match cached.next_if(|(k, _)| k.as_slice() == key) {
                Some((_, Some(cached_value))) => visit(key, &cached_value),
                Some((_, None)) => true,
                None => visit(key, value),
            };
            stopped = !go;
            go
        })?;
        if !stopped {
            for (key, value) in cached {
                if let Some(value) = value
                    && !visit(&key, &value)
                {
                    break;
                }
            }
        }
        Ok(())
    }

    /// The store's count below the cache: keys only in the cache are not counted yet (an
    /// estimate, as Kafka Streams' `approximateNumEntries` of a cached store is).
    fn approximate_len(&self) -> u64 {
        self.handle
            .inner()
            .map_or(0, |inner| inner.approximate_len())
    }
}

impl BytesStore for CachingKeyValueStore {
    /// Every entry, the cache's merged over the store's below, in key order.
    fn entries(&self, visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        self.scan(Bound::Unbounded, Bound::Unbounded, visit)
    }

    /// Flushes the store below only: the cache's dirty entries are flushed by the task
    /// ([`CacheHandle::flush`]), which can forward them.
    fn flush(&mut self) -> Result<(), StoreError> {
        self.handle.inner_mut()?.flush()
    }

    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        self.handle.cache.invalidate(self.handle.namespace, key);
        self.handle.inner_mut()?.restore(key, value)
    }

    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        for (key, _) in records {
            self.handle.cache.invalidate(self.handle.namespace, key);
        }
        self.handle.inner_mut()?.restore_batch(records)
    }

    fn is_persistent(&self) -> bool {
        self.handle.inner().is_ok_and(|inner| inner.is_persistent())
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        self.handle.cache.clear(self.handle.namespace);
        self.handle.inner_mut()?.clear()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::super::ThreadCache;
    use super::super::test_support::{Logged, below, cached, entries, memory, pairs};
    use super::*;
    use crate::state::InMemoryKeyValueStore;

    #[test]
    fn a_cached_deletion_hides_the_stored_entry_until_it_is_flushed() {
        let cache = ThreadCache::new(1 << 20);
        let mut inner = InMemoryKeyValueStore::default();
        inner.put(b"k", b"stored").unwrap();
        inner.put(b"z", b"kept").unwrap();
        let mut s = cached(&cache, "s", Box::new(inner), None);
        assert_eq!(s.store.delete(b"k").unwrap(), Some(b"stored".to_vec()));
        assert_eq!(s.store.get(b"k").unwrap(), None);
        assert_eq!(entries(&s.store), pairs(&[("z", "kept")]));
        assert_eq!(below(&s), pairs(&[("k", "stored"), ("z", "kept")]));
        s.handle.flush().unwrap();
        assert_eq!(below(&s), pairs(&[("z", "kept")]));
        assert_eq!(s.store.get(b"k").unwrap(), None);
    }

    #[test]
    fn scans_merge_the_cache_and_the_store_in_key_order() {
        let cache = ThreadCache::new(1 << 20);
        let mut inner = InMemoryKeyValueStore::default();
        for key in ["a", "c", "e", "g"] {
            inner.put(key.as_bytes(), b"stored").unwrap();
        }
        let mut s = cached(&cache, "s", Box::new(inner), None);
        s.store.put(b"b", b"new").unwrap();
        s.store.put(b"c", b"updated").unwrap();
        s.store.delete(b"e").unwrap();
        s.store.delete(b"f").unwrap();
        s.store.put(b"h", b"new").unwrap();
        assert_eq!(
            entries(&s.store),
            pairs(&[
                ("a", "stored"),
                ("b", "new"),
                ("c", "updated"),
                ("g", "stored"),
                ("h", "new")
            ])
        );
        let mut seen = Vec::new();
        s.store
            .scan(Bound::Excluded(b"a"), Bound::Excluded(b"h"), &mut |k, _| {
                seen.push(String::from_utf8_lossy(k).into_owned());
                true
            })
            .unwrap();
        assert_eq!(seen, ["b", "c", "g"]);
        // The visitor stops the scan, in the store's part and in the cache's tail alike.
        for stop_after in [1, 2, 4, 5] {
            let mut seen = 0;
            s.store
                .scan(Bound::Unbounded, Bound::Unbounded, &mut |_, _| {
                    seen += 1;
                    seen < stop_after
                })
                .unwrap();
            assert_eq!(seen, stop_after);
        }
        let mut seen = 0;
        s.store
            .scan(Bound::Included(b"c"), Bound::Excluded(b"b"), &mut |_, _| {
                seen += 1;
                true
            })
            .unwrap();
        assert_eq!(seen, 0, "an inverted range is empty");
    }

    #[test]
    fn restoring_bypasses_and_invalidates_the_cache() {
        let cache = ThreadCache::new(1 << 20);
        let logged = Rc::new(RefCell::new(Logged::default()));
        let mut s = cached(&cache, "s", memory(), Some(&logged));
        s.store.put(b"k", b"cached").unwrap();
        s.store.restore(b"k", Some(b"restored")).unwrap();
        assert_eq!(s.store.get(b"k").unwrap(), Some(b"restored".to_vec()));
        s.store.put(b"j", b"cached").unwrap();
        s.store.clear().unwrap();
        assert!(cache.is_empty());
        assert_eq!(entries(&s.store), []);
        assert!(logged.borrow().0.is_empty());
    }
}

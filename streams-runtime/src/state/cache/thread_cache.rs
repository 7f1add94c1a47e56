//! A stream thread's record cache: one byte budget shared by the cached key-value stores of the
//! thread's tasks, with the least recently used entry of any store evicted first. This is the
//! accounting only; what happens to an entry when it leaves is its store's [`CacheHandle`]'s
//! business (`handle`).
//!
//! [`CacheHandle`]: super::CacheHandle

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Bound;
use std::rc::{Rc, Weak};

use super::handle::CacheTarget;
use crate::error::StoreError;
use crate::record::{Headers, RecordContext};

/// The bytes an entry costs besides its key, value and headers: the map and LRU index nodes,
/// the timestamp, the record coordinates and the dirty marker (an estimate, as Kafka Streams'
/// own accounting is). The LRU index keeps a second copy of the key, counted as well.
pub const CACHE_ENTRY_OVERHEAD: usize = 64;

/// A stream thread's record cache: a byte budget shared by the thread's cached key-value
/// stores, evicting the least recently used entries of all of them.
///
/// A cheap handle (clones share the cache); it never leaves its thread.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::state::ThreadCache;
///
/// // 10 MiB for an instance of 4 threads: each thread's cache holds 2.5 MiB.
/// let cache = ThreadCache::for_thread(10 * 1024 * 1024, 4).expect("caching is on");
/// assert_eq!(cache.max_bytes(), 2_621_440);
/// assert!(ThreadCache::for_thread(0, 4).is_none(), "0 turns caching off");
/// ```
#[derive(Clone)]
pub struct ThreadCache {
    state: Rc<RefCell<CacheState>>,
}

impl fmt::Debug for ThreadCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state.try_borrow() {
            Ok(state) => f
                .debug_struct("ThreadCache")
                .field("max_bytes", &state.max_bytes)
                .field("size_bytes", &state.bytes)
                .field("entries", &state.lru.len())
                .finish(),
            Err(_) => f.write_str("ThreadCache { <in use> }"),
        }
    }
}

impl ThreadCache {
    /// A cache holding at most `max_bytes` (keys, values, headers and
    /// [`CACHE_ENTRY_OVERHEAD`] per entry).
    pub fn new(max_bytes: usize) -> Self {
        ThreadCache {
            state: Rc::new(RefCell::new(CacheState {
                max_bytes,
                bytes: 0,
                tick: 0,
                next_namespace: 0,
                namespaces: HashMap::new(),
                lru: BTreeMap::new(),
            })),
        }
    }

    /// The cache of one of `threads` stream threads sharing `total_bytes` evenly (Kafka
    /// Streams' `statestore.cache.max.bytes` / `num.stream.threads`); `None`, caching off, when
    /// a thread's share is 0.
    pub fn for_thread(total_bytes: usize, threads: usize) -> Option<Self> {
        let share = total_bytes / threads.max(1);
        (share > 0).then(|| Self::new(share))
    }

    /// The byte budget.
    pub fn max_bytes(&self) -> usize {
        self.state.borrow().max_bytes
    }

    /// The bytes the entries hold now.
    pub fn size_bytes(&self) -> usize {
        self.state.borrow().bytes
    }

    /// The number of entries, dirty or not, of all stores.
    pub fn len(&self) -> usize {
        self.state.borrow().lru.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn register(&self, target: Weak<CacheTarget>) -> u64 {
        let mut state = self.state.borrow_mut();
        let namespace = state.next_namespace;
        state.next_namespace += 1;
        state.namespaces.insert(
            namespace,
            Namespace {
                target,
                entries: BTreeMap::new(),
                dirty: BTreeMap::new(),
            },
        );
        namespace
    }

    /// Drops a closed store's entries, dirty ones included (a store closes after its task's
    /// last commit flushed it, or because its task's uncommitted work is abandoned).
    pub(super) fn unregister(&self, namespace: u64) {
        // A store dropped while the cache is in use (it cannot be, on one thread) leaves its
        // entries to be dropped by eviction: their target is gone.
        if let Ok(mut state) = self.state.try_borrow_mut() {
            state.clear(namespace);
            state.namespaces.remove(&namespace);
        }
    }

    /// The cached value of `key`: `Some(None)` for a cached deletion, `None` when not cached.
    pub(super) fn get(&self, namespace: u64, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.state.borrow_mut().touch(namespace, key)
    }

    /// Caches a dirty write (`None` deletes), then evicts while over budget: the evicted dirty
    /// entries are written to their stores.
    pub(super) fn put(
        &self,
        namespace: u64,
        key: &[u8],
        value: Option<&[u8]>,
        meta: EntryMeta,
    ) -> Result<(), StoreError> {
        let evicted = {
            let mut state = self.state.borrow_mut();
            state.insert(namespace, key, value, meta);
            state.evict_over_budget()
        };
        // Written after the cache is released: a store's write never calls back into it.
        let mut first_error = None;
        for entry in evicted {
            let Some(target) = entry.target.upgrade() else {
                continue;
            };
            if let Err(error) = target.write(entry.key, entry.value, entry.meta) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Takes the dirty entries of a store, in the order they became dirty, leaving them cached
    /// clean (deletions leave the cache).
    pub(super) fn take_dirty(&self, namespace: u64) -> Vec<(Vec<u8>, Option<Vec<u8>>, EntryMeta)> {
        self.state.borrow_mut().take_dirty(namespace)
    }

    /// The cached entries with `from <= key < to` (bounds as in
    /// [`BytesKeyValueStore::scan`]), in key order; `None` values are deletions.
    pub(super) fn range(
        &self,
        namespace: u64,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let state = self.state.borrow();
        let Some(space) = state.namespaces.get(&namespace) else {
            return Vec::new();
        };
        if is_empty_range(from, to) {
            return Vec::new();
        }
        space
            .entries
            .range::<[u8], _>((from, to))
            .map(|(k, e)| (k.clone(), e.value.clone()))
            .collect()
    }

    /// Forgets `key` of a store (the store below was written directly, by a restore).
    pub(super) fn invalidate(&self, namespace: u64, key: &[u8]) {
        self.state.borrow_mut().remove(namespace, key);
    }

    /// Forgets every entry of a store.
    pub(super) fn clear(&self, namespace: u64) {
        self.state.borrow_mut().clear(namespace);
    }
}

/// Whether a range is empty or inverted (`BTreeMap::range` panics on those).
fn is_empty_range(from: Bound<&[u8]>, to: Bound<&[u8]>) -> bool {
    match (from, to) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a >= b
        }
        _ => false,
    }
}

/// What a cached write remembers of the write, for its changelog record and its forward.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EntryMeta {
    /// The task's current timestamp when the write happened: the changelog record's timestamp,
    /// and a forwarded deletion's.
    pub(crate) timestamp: i64,
    /// The input record being processed then (Kafka Streams keeps the record context).
    pub(crate) record: Option<RecordContext>,
    /// The headers of the record the store's owner was processing.
    pub(crate) headers: Headers,
}

impl EntryMeta {
    fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.key.len() + h.value.as_ref().map_or(0, Vec::len))
            .sum();
        // The record context's topic name is shared, not copied: it costs no bytes here.
        headers
    }
}

/// The bytes an entry is charged.
fn entry_size(key: &[u8], value: Option<&[u8]>, meta: &EntryMeta) -> usize {
    2 * key.len() + value.map_or(0, <[u8]>::len) + meta.size() + CACHE_ENTRY_OVERHEAD
}

struct CacheEntry {
    /// `None`: the key is deleted.
    value: Option<Vec<u8>>,
    meta: EntryMeta,
    size: usize,
    /// The entry's position in the LRU index.
    tick: u64,
    /// When dirty: its position in its store's dirty order.
    dirty: Option<u64>,
}

/// One store's entries.
struct Namespace {
    target: Weak<CacheTarget>,
    entries: BTreeMap<Vec<u8>, CacheEntry>,
    /// Dirty keys by the time they became dirty (flush order, as Kafka Streams' `dirtyKeys`).
    dirty: BTreeMap<u64, Vec<u8>>,
}

/// An entry evicted dirty: to be written to its store.
struct Evicted {
    target: Weak<CacheTarget>,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    meta: EntryMeta,
}

struct CacheState {
    max_bytes: usize,
    bytes: usize,
    /// Advances on every access: LRU positions and dirty order.
    tick: u64,
    next_namespace: u64,
    namespaces: HashMap<u64, Namespace>,
    /// Least recently used first: tick → (store, key).
    lru: BTreeMap<u64, (u64, Vec<u8>)>,
}

impl CacheState {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn touch(&mut self, namespace: u64, key: &[u8]) -> Option<Option<Vec<u8>>> {
        let tick = self.tick + 1;
        let space = self.namespaces.get_mut(&namespace)?;
        let entry = space.entries.get_mut(key)?;
        self.tick = tick;
        if let Some(position) = self.lru.remove(&entry.tick) {
            self.lru.insert(tick, position);
        }
        entry.tick = tick;
        Some(entry.value.clone())
    }

    fn insert(&mut self, namespace: u64, key: &[u8], value: Option<&[u8]>, meta: EntryMeta) {
        let tick = self.next_tick();
        let size = entry_size(key, value, &meta);
        let Some(space) = self.namespaces.get_mut(&namespace) else {
            return;
        };
        // The LRU list's copy of the key, reused when the key is cached already.
        let mut lru_key = None;
        // Whether the key joins the dirty list now; an entry already dirty keeps its place.
        let newly_dirty = match space.entries.get_mut(key) {
            Some(entry) => {
                lru_key = self.lru.remove(&entry.tick).map(|(_, key)| key);
                self.bytes -= entry.size;
                // Reuse the value's buffer: repeated updates of a key are the cache's purpose.
                match (&mut entry.value, value) {
                    (Some(buffer), Some(value)) => {
                        buffer.clear();
                        buffer.extend_from_slice(value);
                    }
                    (slot, value) => *slot = value.map(<[u8]>::to_vec),
                }
                entry.meta = meta;
                entry.size = size;
                entry.tick = tick;
                let newly_dirty = entry.dirty.is_none();
                entry.dirty.get_or_insert(tick);
                newly_dirty
            }
            None => {
                space.entries.insert(
                    key.to_vec(),
                    CacheEntry {
                        value: value.map(<[u8]>::to_vec),
                        meta,
                        size,
                        tick,
                        dirty: Some(tick),
                    },
                );
                true
            }
        };
        if newly_dirty {
            space.dirty.insert(tick, key.to_vec());
        }
        let lru_key = lru_key.unwrap_or_else(|| key.to_vec());
        self.lru.insert(tick, (namespace, lru_key));
        self.bytes += size;
    }

    /// Removes least recently used entries, of any store, until the cache fits its budget;
    /// returns the dirty ones.
    fn evict_over_budget(&mut self) -> Vec<Evicted> {
        let mut evicted = Vec::new();
        while self.bytes > self.max_bytes {
            let Some((_, (namespace, key))) = self.lru.pop_first() else {
                break;
            };
            let Some(space) = self.namespaces.get_mut(&namespace) else {
                continue;
            };
            let Some(entry) = space.entries.remove(&key) else {
                continue;
            };
            self.bytes -= entry.size;
            if let Some(dirty) = entry.dirty {
                space.dirty.remove(&dirty);
                evicted.push(Evicted {
                    target: Weak::clone(&space.target),
                    key,
                    value: entry.value,
                    meta: entry.meta,
                });
            }
        }
        evicted
    }

    fn take_dirty(&mut self, namespace: u64) -> Vec<(Vec<u8>, Option<Vec<u8>>, EntryMeta)> {
        let Some(space) = self.namespaces.get_mut(&namespace) else {
            return Vec::new();
        };
        let dirty = std::mem::take(&mut space.dirty);
        let mut out = Vec::with_capacity(dirty.len());
        for key in dirty.into_values() {
            let Some(entry) = space.entries.get_mut(&key) else {
                continue;
            };
            entry.dirty = None;
            // A clean entry needs no record context: its bytes go back to the budget.
            let meta = std::mem::take(&mut entry.meta);
            let size = entry_size(&key, entry.value.as_deref(), &entry.meta);
            self.bytes = self.bytes - entry.size + size;
            entry.size = size;
            match entry.value.clone() {
                Some(value) => out.push((key, Some(value), meta)),
                None => {
                    // A flushed deletion has nothing left to cache.
                    if let Some(entry) = space.entries.remove(&key) {
                        self.lru.remove(&entry.tick);
                        self.bytes -= entry.size;
                    }
                    out.push((key, None, meta));
                }
            }
        }
        out
    }

    fn remove(&mut self, namespace: u64, key: &[u8]) {
        let Some(space) = self.namespaces.get_mut(&namespace) else {
            return;
        };
        if let Some(entry) = space.entries.remove(key) {
            self.lru.remove(&entry.tick);
            self.bytes -= entry.size;
            if let Some(dirty) = entry.dirty {
                space.dirty.remove(&dirty);
            }
        }
    }

    fn clear(&mut self, namespace: u64) {
        let Some(space) = self.namespaces.get_mut(&namespace) else {
            return;
        };
        for entry in std::mem::take(&mut space.entries).into_values() {
            self.lru.remove(&entry.tick);
            self.bytes -= entry.size;
        }
        space.dirty.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{below, cached, memory, pairs, size};
    use super::*;
    use crate::state::BytesKeyValueStore;

    #[test]
    fn eviction_takes_the_least_recently_used_entry_of_any_store() {
        let cache = ThreadCache::new(3 * size("a1", "1"));
        let mut a = cached(&cache, "a", memory(), None);
        let mut b = cached(&cache, "b", memory(), None);
        a.store.put(b"a1", b"1").unwrap();
        b.store.put(b"b1", b"1").unwrap();
        a.store.put(b"a2", b"2").unwrap();
        assert_eq!((cache.len(), cache.size_bytes()), (3, 3 * size("a1", "1")));
        assert!(below(&a).is_empty() && below(&b).is_empty());
        // Reading a1 makes b1 the least recently used: b's write evicts it, not a1.
        assert_eq!(a.store.get(b"a1").unwrap(), Some(b"1".to_vec()));
        b.store.put(b"b2", b"2").unwrap();
        assert_eq!(below(&b), pairs(&[("b1", "1")]));
        assert!(below(&a).is_empty());
        // Then a2, evicted by b's next write: stores evict each other's entries.
        b.store.put(b"b3", b"3").unwrap();
        assert_eq!(below(&a), pairs(&[("a2", "2")]));
        assert_eq!(cache.len(), 3);
        // An evicted entry reads from below; a clean one is evicted without a write.
        assert_eq!(a.store.get(b"a2").unwrap(), Some(b"2".to_vec()));
        a.handle.flush().unwrap();
        assert_eq!(below(&a), pairs(&[("a1", "1"), ("a2", "2")]));
        b.store.put(b"b4", b"4").unwrap();
        assert_eq!(below(&a), pairs(&[("a1", "1"), ("a2", "2")]));
        assert_eq!(cache.len(), 3);
        // A closed store's entries leave the cache.
        drop(b);
        assert_eq!((cache.len(), cache.size_bytes()), (0, 0));
    }

    #[test]
    fn bytes_count_keys_values_headers_and_overhead() {
        let cache = ThreadCache::new(1 << 20);
        let mut s = cached(&cache, "s", memory(), None);
        s.store.put(b"key", b"value").unwrap();
        assert_eq!(cache.size_bytes(), size("key", "value"));
        s.store.put(b"key", b"v").unwrap();
        assert_eq!(cache.size_bytes(), size("key", "v"), "a rewrite replaces");
        let mut headers = Headers::new();
        headers.add("trace", b"abc".to_vec()).add("none", None);
        s.handle.stage(None, headers);
        s.store.put(b"k2", b"v2").unwrap();
        assert_eq!(
            cache.size_bytes(),
            size("key", "v") + size("k2", "v2") + "trace".len() + 3 + "none".len()
        );
        assert_eq!(s.store.delete(b"key").unwrap(), Some(b"v".to_vec()));
        assert_eq!(
            cache.size_bytes(),
            size("key", "") + size("k2", "v2") + 12,
            "a deletion is cached without a value"
        );
        // Flushing writes below; a flushed deletion leaves the cache, a value stays, clean.
        assert_eq!(s.handle.flush().unwrap(), 2);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.size_bytes(), size("k2", "v2"));
        assert_eq!(below(&s), pairs(&[("k2", "v2")]));
        assert_eq!(s.handle.flush().unwrap(), 0, "nothing is dirty any more");
        assert_eq!(
            ThreadCache::for_thread(10, 3).map(|c| c.max_bytes()),
            Some(3)
        );
        assert!(ThreadCache::for_thread(2, 3).is_none());
    }
}

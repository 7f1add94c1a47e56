//! The record cache (Kafka Streams' `ThreadCache`, KIP-63, `statestore.cache.max.bytes`).
//!
//! One [`ThreadCache`] per stream thread, shared by the caching layer of every cached key-value
//! store of the thread's tasks (`cache → change logging → backend`, as Kafka Streams'
//! `CachingKeyValueStore` over its `ChangeLoggingKeyValueBytesStore`). Writes land in the cache
//! as dirty entries, so repeated updates of a key merge before they reach the store, its
//! changelog and the store owner's children. Dirty entries leave the cache in two ways: the task
//! flushes its stores' entries on commit ([`CacheHandle::flush`]), and the cache evicts the least
//! recently used entries, across all its stores, when it holds more than its byte budget. Either
//! way an entry goes through the same path: written to the store below (which logs it), then,
//! when the store's owner forwards its changes (aggregations, table sources), queued as a
//! [`FlushedEntry`] with the value it replaced in the store, for the owner to forward.
//!
//! Forwarding needs the owning task's context, which an eviction triggered by another store (of
//! another task, maybe) does not have: that is why flushed entries are queued per store and
//! forwarded by the store's owner ([`CacheHandle::drain`]) right after its own writes and on every
//! commit, and why an eviction never forwards by itself. Nothing here crosses threads.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::ops::Bound;
use std::rc::{Rc, Weak};

use super::BytesKeyValueStore;
use crate::error::{ProcessError, StoreError};
use crate::record::{Headers, RecordContext};
use crate::task_env::TaskEnv;

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

    fn register(&self, target: Weak<CacheTarget>) -> u64 {
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
    fn unregister(&self, namespace: u64) {
        // A store dropped while the cache is in use (it cannot be, on one thread) leaves its
        // entries to be dropped by eviction: their target is gone.
        if let Ok(mut state) = self.state.try_borrow_mut() {
            state.clear(namespace);
            state.namespaces.remove(&namespace);
        }
    }

    /// The cached value of `key`: `Some(None)` for a cached deletion, `None` when not cached.
    fn get(&self, namespace: u64, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.state.borrow_mut().touch(namespace, key)
    }

    /// Caches a dirty write (`None` deletes), then evicts while over budget: the evicted dirty
    /// entries are written to their stores.
    fn put(
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
    fn take_dirty(&self, namespace: u64) -> Vec<(Vec<u8>, Option<Vec<u8>>, EntryMeta)> {
        self.state.borrow_mut().take_dirty(namespace)
    }

    /// The cached entries with `from <= key < to` (bounds as in
    /// [`BytesKeyValueStore::scan`]), in key order; `None` values are deletions.
    fn range(
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
    fn invalidate(&self, namespace: u64, key: &[u8]) {
        self.state.borrow_mut().remove(namespace, key);
    }

    /// Forgets every entry of a store.
    fn clear(&self, namespace: u64) {
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
        // Whether the key joins the dirty list now; an entry already dirty keeps its place.
        let newly_dirty = match space.entries.get_mut(key) {
            Some(entry) => {
                self.lru.remove(&entry.tick);
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
        self.lru.insert(tick, (namespace, key.to_vec()));
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
struct CacheTarget {
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
        StoreError::Backend {
            store: self.store.clone(),
            message: "the store below the record cache is in use".to_owned(),
        }
    }

    /// Writes one entry leaving the cache to the store below, stamped with the timestamp of
    /// its last update, and queues it for forwarding.
    fn write(
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
    cache: ThreadCache,
    namespace: u64,
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

    fn take_meta(&self) -> EntryMeta {
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

    fn inner(&self) -> Result<std::cell::Ref<'_, Box<dyn BytesKeyValueStore>>, StoreError> {
        self.target
            .inner
            .try_borrow()
            .map_err(|_| self.target.busy())
    }

    fn inner_mut(&self) -> Result<std::cell::RefMut<'_, Box<dyn BytesKeyValueStore>>, StoreError> {
        self.target
            .inner
            .try_borrow_mut()
            .map_err(|_| self.target.busy())
    }
}

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
    use std::sync::Arc;

    use super::*;
    use crate::state::logging::ChangeLoggingStore;
    use crate::state::{ChangelogContext, InMemoryKeyValueStore};
    #[cfg(feature = "rocksdb")]
    use crate::state::{RocksDbKeyValueStore, RocksDbMemory};
    use crate::record::{OutgoingRecord, RecordCollector};
    use crate::task_env::{PunctuationSchedule, TaskId};

    /// The bytes an entry without headers costs.
    fn size(key: &str, value: &str) -> usize {
        2 * key.len() + value.len() + CACHE_ENTRY_OVERHEAD
    }

    /// Keeps what is logged, as `(key, value, timestamp)`.
    #[derive(Default)]
    struct Logged(Vec<(String, Option<String>, i64)>);

    impl RecordCollector for Logged {
        fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), ProcessError> {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            self.0.push((
                record.key.map(text).unwrap_or_default(),
                record.value.map(text),
                record.timestamp,
            ));
            Ok(())
        }
    }

    /// A cached store over `inner` (logged to `logged` when given), with the clock its task
    /// would share.
    struct Fixture {
        store: CachingKeyValueStore,
        handle: CacheHandle,
        clock: Rc<Cell<i64>>,
    }

    fn cached(
        cache: &ThreadCache,
        name: &str,
        inner: Box<dyn BytesKeyValueStore>,
        logged: Option<&Rc<RefCell<Logged>>>,
    ) -> Fixture {
        let clock = Rc::new(Cell::new(0));
        let inner: Box<dyn BytesKeyValueStore> = match logged {
            Some(logged) => Box::new(ChangeLoggingStore::new(
                inner,
                name,
                ChangelogContext {
                    application_id: "app".to_owned(),
                    partition: 0,
                    collector: logged.clone(),
                    timestamp: Rc::clone(&clock),
                },
            )),
            None => inner,
        };
        let handle = CacheHandle::register(cache, name, inner, Rc::clone(&clock));
        Fixture {
            store: CachingKeyValueStore::new(handle.clone()),
            handle,
            clock,
        }
    }

    fn memory() -> Box<dyn BytesKeyValueStore> {
        Box::new(InMemoryKeyValueStore::default())
    }

    /// What the store below the cache holds.
    fn below(fixture: &Fixture) -> Vec<(String, String)> {
        entries(&**fixture.handle.inner().unwrap())
    }

    fn entries(store: &dyn BytesKeyValueStore) -> Vec<(String, String)> {
        let mut out = Vec::new();
        store
            .scan(Bound::Unbounded, Bound::Unbounded, &mut |k, v| {
                out.push((
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                ));
                true
            })
            .unwrap();
        out
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

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

//! Task stores: the stores a task opens at runtime from the specs of its sub-topology, each
//! layered as its spec says (`cache → change logging → backend`; window and session stores keep
//! their segments over the backend), and what the task does with all of them alike: flush them
//! before it commits, restore them from their changelogs, clear local state it cannot trust.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::StateLocation;
use super::backend::open_backend;
use super::logging::ChangeLoggingStore;
use super::{
    BytesKeyValueStore, BytesSessionStore, BytesStore, BytesWindowStore, CacheHandle,
    CachingKeyValueStore, CachingSessionStore, CachingWindowStore, ChangelogContext,
    SegmentedSessionStore, SegmentedWindowStore, SessionEntries, StoreKind, StoreSpec, ThreadCache,
    WindowEntries,
};
use crate::error::StoreError;

/// What a task's cached stores share: the thread's record cache and the task's current
/// timestamp (stamped on cache entries, and on their changelog records when they leave).
#[derive(Clone)]
pub(crate) struct CacheContext {
    pub(crate) cache: ThreadCache,
    pub(crate) timestamp: Rc<Cell<i64>>,
}

/// A typed handle on a task's store: what a processor holds and a `#[processor]` function takes
/// as a `&mut` parameter.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a state store handle",
    label = "not a state store",
    note = "a store parameter is `&mut KeyValueStore<K, V>`, `&mut WindowStore<K, V>` or `&mut SessionStore<K, V>` (with optional codec parameters)"
)]
pub trait StateStore: Sized + 'static {
    /// The declaration of a store of this type named `name`.
    fn spec(name: &str) -> StoreSpec;

    /// Opens a handle on an instantiated store, checking that its type matches.
    fn open(store: &TaskStore) -> Result<Self, StoreError>;
}

/// An open store, by kind: what the typed handles of that kind read and write.
#[derive(Clone)]
enum OpenStore {
    KeyValue(Rc<RefCell<Box<dyn BytesKeyValueStore>>>),
    Window(Rc<RefCell<Box<dyn BytesWindowStore>>>),
    Session(Rc<RefCell<Box<dyn BytesSessionStore>>>),
}

impl OpenStore {
    /// The store whatever its kind: what its task flushes, restores, clears and lists.
    fn bytes(&self) -> &RefCell<dyn BytesStore> {
        match self {
            OpenStore::KeyValue(store) => &**store,
            OpenStore::Window(store) => &**store,
            OpenStore::Session(store) => &**store,
        }
    }
}

/// One store instance of a task.
pub struct TaskStore {
    spec: StoreSpec,
    open: OpenStore,
    /// Whether the backend opened local state kept from an earlier run.
    existing: bool,
    /// The store's place in the record cache, when cached.
    cache: Option<CacheHandle>,
}

impl std::fmt::Debug for TaskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskStore")
            .field("spec", &self.spec)
            .field("existing", &self.existing)
            .field("cached", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl TaskStore {
    /// Opens the store `spec` declares: its backend, for window and session stores the
    /// segments over it, change logging when the task has a changelog and the spec logs, and
    /// for a cached key-value store the record cache on top.
    fn open(
        spec: &StoreSpec,
        changelog: Option<&ChangelogContext>,
        location: Option<&StateLocation>,
        cache: Option<&CacheContext>,
    ) -> Result<Self, StoreError> {
        let name = spec.name();
        let (bytes, existing) = open_backend(spec, location)?;
        let logged = changelog.filter(|_| spec.logging_enabled());
        let mut cached = None;
        let open = match spec.kind() {
            StoreKind::KeyValue => {
                let store = match logged {
                    Some(context) => {
                        Box::new(ChangeLoggingStore::new(bytes, name, context.clone()))
                    }
                    None => bytes,
                };
                let store: Box<dyn BytesKeyValueStore> =
                    match cache.filter(|_| spec.caching_enabled()) {
                        Some(cache) => {
                            let handle = CacheHandle::register(
                                &cache.cache,
                                name,
                                store,
                                Rc::clone(&cache.timestamp),
                            );
                            cached = Some(handle.clone());
                            Box::new(CachingKeyValueStore::new(handle))
                        }
                        None => store,
                    };
                OpenStore::KeyValue(Rc::new(RefCell::new(store)))
            }
            StoreKind::Window => {
                let store: Box<dyn BytesWindowStore> = Box::new(SegmentedWindowStore::new(
                    name,
                    bytes,
                    spec.retention_ms(),
                    spec.window_size_ms(),
                    spec.retains_duplicates(),
                )?);
                let store: Box<dyn BytesWindowStore> = match logged {
                    Some(context) => {
                        Box::new(ChangeLoggingStore::new(store, name, context.clone()))
                    }
                    None => store,
                };
                // A store of duplicates has nothing to merge: every write is a new entry.
                let store: Box<dyn BytesWindowStore> =
                    match cache.filter(|_| spec.caching_enabled() && !spec.retains_duplicates()) {
                        Some(cache) => {
                            let below = Rc::new(RefCell::new(store));
                            let handle = CacheHandle::register(
                                &cache.cache,
                                name,
                                Box::new(WindowEntries(Rc::clone(&below))),
                                Rc::clone(&cache.timestamp),
                            );
                            cached = Some(handle.clone());
                            Box::new(CachingWindowStore::new(handle, below))
                        }
                        None => store,
                    };
                OpenStore::Window(Rc::new(RefCell::new(store)))
            }
            StoreKind::Session => {
                let store: Box<dyn BytesSessionStore> = Box::new(SegmentedSessionStore::new(
                    name,
                    bytes,
                    spec.retention_ms(),
                )?);
                let store: Box<dyn BytesSessionStore> = match logged {
                    Some(context) => {
                        Box::new(ChangeLoggingStore::new(store, name, context.clone()))
                    }
                    None => store,
                };
                let store: Box<dyn BytesSessionStore> =
                    match cache.filter(|_| spec.caching_enabled()) {
                        Some(cache) => {
                            let below = Rc::new(RefCell::new(store));
                            let handle = CacheHandle::register(
                                &cache.cache,
                                name,
                                Box::new(SessionEntries(Rc::clone(&below))),
                                Rc::clone(&cache.timestamp),
                            );
                            cached = Some(handle.clone());
                            Box::new(CachingSessionStore::new(handle, below))
                        }
                        None => store,
                    };
                OpenStore::Session(Rc::new(RefCell::new(store)))
            }
        };
        Ok(TaskStore {
            spec: spec.clone(),
            open,
            existing,
            cache: cached,
        })
    }

    /// The store's declaration.
    pub fn spec(&self) -> &StoreSpec {
        &self.spec
    }

    /// Checks that the store was declared with the handle type `H`.
    pub fn check_type<H: 'static>(&self) -> Result<(), StoreError> {
        if self.spec.has_handle::<H>() {
            Ok(())
        } else {
            Err(StoreError::TypeMismatch {
                name: self.spec.name().to_owned(),
                requested: std::any::type_name::<H>(),
                actual: self.spec.handle_type_name(),
            })
        }
    }

    /// The store's place in the record cache, when its writes are cached.
    pub(crate) fn cache(&self) -> Option<&CacheHandle> {
        self.cache.as_ref()
    }

    /// The key-value store below a key-value handle.
    pub(crate) fn key_value_backend(
        &self,
    ) -> Result<Rc<RefCell<Box<dyn BytesKeyValueStore>>>, StoreError> {
        match &self.open {
            OpenStore::KeyValue(backend) => Ok(Rc::clone(backend)),
            _ => Err(self.kind_mismatch("a key-value store")),
        }
    }

    /// The window store below a window handle.
    pub(crate) fn window_backend(
        &self,
    ) -> Result<Rc<RefCell<Box<dyn BytesWindowStore>>>, StoreError> {
        match &self.open {
            OpenStore::Window(backend) => Ok(Rc::clone(backend)),
            _ => Err(self.kind_mismatch("a window store")),
        }
    }

    /// The session store below a session handle.
    pub(crate) fn session_backend(
        &self,
    ) -> Result<Rc<RefCell<Box<dyn BytesSessionStore>>>, StoreError> {
        match &self.open {
            OpenStore::Session(backend) => Ok(Rc::clone(backend)),
            _ => Err(self.kind_mismatch("a session store")),
        }
    }

    fn kind_mismatch(&self, requested: &'static str) -> StoreError {
        StoreError::TypeMismatch {
            name: self.spec.name().to_owned(),
            requested,
            actual: self.spec.handle_type_name(),
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.open.bytes().borrow_mut().flush()
    }

    /// Every entry, as bytes, in key order (window and session stores: their store keys, as in
    /// their changelogs, segment by segment).
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        self.open.bytes().borrow().entries(&mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            true
        })?;
        Ok(out)
    }

    /// Applies one changelog record (restoring), without logging it again.
    pub fn restore(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        self.open.bytes().borrow_mut().restore(key, value)
    }

    /// Applies changelog records in order (restoring), in one batch where the backend can.
    pub fn restore_batch(&self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        self.open.bytes().borrow_mut().restore_batch(records)
    }

    /// Removes every entry, without logging (local state to be restored from scratch).
    pub fn clear(&self) -> Result<(), StoreError> {
        self.open.bytes().borrow_mut().clear()
    }

    /// Whether the store's data outlives the process.
    pub fn is_persistent(&self) -> bool {
        self.open.bytes().borrow().is_persistent()
    }

    /// Whether the store opened local data kept from an earlier run (which a checkpoint may
    /// vouch for); a new, rebuilt or in-memory store restores its whole changelog.
    pub fn has_local_state(&self) -> bool {
        self.existing
    }
}

/// The stores of one task, created from the specs of its sub-topology.
#[derive(Debug, Default)]
pub struct TaskStores {
    stores: Vec<TaskStore>,
}

impl TaskStores {
    /// Opens uncached stores (standby replicas, tests).
    #[cfg(any(feature = "kafka", test))]
    pub(crate) fn open<'a>(
        specs: impl IntoIterator<Item = &'a StoreSpec>,
        changelog: Option<&ChangelogContext>,
        location: Option<&StateLocation>,
    ) -> Result<Self, StoreError> {
        Self::open_cached(specs, changelog, location, None)
    }

    /// [`open`](Self::open), with the key-value stores whose spec enables caching on top of
    /// `cache`.
    pub(crate) fn open_cached<'a>(
        specs: impl IntoIterator<Item = &'a StoreSpec>,
        changelog: Option<&ChangelogContext>,
        location: Option<&StateLocation>,
        cache: Option<&CacheContext>,
    ) -> Result<Self, StoreError> {
        let stores = specs
            .into_iter()
            .map(|spec| TaskStore::open(spec, changelog, location, cache))
            .collect::<Result<_, StoreError>>()?;
        Ok(TaskStores { stores })
    }

    /// The store named `name`, if this task has it.
    pub fn get(&self, name: &str) -> Option<&TaskStore> {
        self.stores.iter().find(|s| s.spec.name() == name)
    }

    /// Opens a typed handle on the store named `name`.
    pub fn handle<H: StateStore>(&self, name: &str) -> Result<H, StoreError> {
        let store = self
            .get(name)
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        H::open(store)
    }

    /// Flushes every store (before offsets are committed).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.stores.iter().try_for_each(TaskStore::flush)
    }

    /// The stores, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = &TaskStore> {
        self.stores.iter()
    }

    /// The places in the record cache of the cached stores, in declaration order.
    pub(crate) fn caches(&self) -> impl Iterator<Item = &CacheHandle> {
        self.stores.iter().filter_map(TaskStore::cache)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use super::*;
    use crate::error::ProcessError;
    use crate::record::{OutgoingRecord, RecordCollector};
    #[cfg(feature = "rocksdb")]
    use crate::state::RocksDbMemory;
    use crate::state::{
        KeyValueStore, SessionStore, StoreBackend, WindowStore, Windowed, changelog_topic,
        encode_session_key, encode_window_key,
    };

    /// Keeps what is logged, as `(topic, key, value)`.
    #[derive(Default)]
    struct Logged(Vec<(String, Vec<u8>, Option<Vec<u8>>)>);

    impl RecordCollector for Logged {
        fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), ProcessError> {
            self.0.push((
                record.topic.to_owned(),
                record.key.unwrap_or_default().to_vec(),
                record.value.map(<[u8]>::to_vec),
            ));
            Ok(())
        }
    }

    fn context(logged: &Rc<RefCell<Logged>>) -> ChangelogContext {
        ChangelogContext {
            application_id: "app".to_owned(),
            partition: 0,
            collector: logged.clone(),
            timestamp: Rc::new(Cell::new(0)),
        }
    }

    fn specs(backend: StoreBackend) -> Vec<StoreSpec> {
        let hour = Duration::from_secs(3600);
        vec![
            WindowStore::<String, u64>::spec_with("w", hour, Duration::from_millis(10))
                .with_backend(backend),
            SessionStore::<String, u64>::spec_with("s", hour).with_backend(backend),
        ]
    }

    /// The backends this build has.
    fn backends() -> Vec<StoreBackend> {
        vec![
            StoreBackend::InMemory,
            #[cfg(feature = "rocksdb")]
            StoreBackend::RocksDb,
        ]
    }

    #[test]
    fn window_and_session_stores_log_restore_and_reopen_through_task_stores() {
        let dir = tempfile::tempdir().unwrap();
        let location = |name: &str| StateLocation {
            task_dir: dir.path().join(name),
            #[cfg(feature = "rocksdb")]
            rocksdb: RocksDbMemory::new(16 << 20),
        };
        for backend in backends() {
            let logged = Rc::new(RefCell::new(Logged::default()));
            let source = location("source");
            let stores =
                TaskStores::open(&specs(backend), Some(&context(&logged)), Some(&source)).unwrap();
            let mut windows: WindowStore<String, u64> = stores.handle("w").unwrap();
            let mut sessions: SessionStore<String, u64> = stores.handle("s").unwrap();
            windows.put(&"k".to_owned(), &1, 20).unwrap();
            windows.delete(&"k".to_owned(), 20).unwrap();
            windows.put(&"k".to_owned(), &2, 30).unwrap();
            sessions
                .put(&Windowed::new("k".to_owned(), 5, 9), &3)
                .unwrap();
            assert!(stores.handle::<KeyValueStore<String, u64>>("w").is_err());
            let mut window_key = Vec::new();
            encode_window_key(&mut window_key, b"k", 20, 0);
            let mut session_key = Vec::new();
            encode_session_key(&mut session_key, b"k", 5, 9);
            let records = logged.borrow().0.clone();
            assert_eq!(
                records[0],
                (
                    "app-w-changelog".to_owned(),
                    window_key.clone(),
                    Some(vec![1])
                )
            );
            assert_eq!(records[1], ("app-w-changelog".to_owned(), window_key, None));
            assert_eq!(
                records[3],
                ("app-s-changelog".to_owned(), session_key, Some(vec![3]))
            );
            assert_eq!(records.len(), 4, "{backend:?}");
            stores.flush().unwrap();

            // A fresh task restores each store from its changelog records.
            let target = location(&format!("{backend:?}-target"));
            let restored = TaskStores::open(&specs(backend), None, Some(&target)).unwrap();
            for store in restored.iter() {
                let topic = changelog_topic("app", store.spec().name());
                let batch: Vec<_> = records
                    .iter()
                    .filter(|(t, _, _)| *t == topic)
                    .map(|(_, k, v)| (k.clone(), v.clone()))
                    .collect();
                store.restore_batch(&batch).unwrap();
                assert_eq!(
                    store.entries().unwrap(),
                    stores.get(store.spec().name()).unwrap().entries().unwrap(),
                    "{backend:?}"
                );
                assert_eq!(store.is_persistent(), backend.is_persistent());
                assert!(!store.has_local_state());
            }
            restored.flush().unwrap();
            drop(restored);
            let reopened = TaskStores::open(&specs(backend), None, Some(&target)).unwrap();
            let windows: WindowStore<String, u64> = reopened.handle("w").unwrap();
            let expected = if backend.is_persistent() {
                vec![(Windowed::new("k".to_owned(), 30, 40), 2)]
            } else {
                vec![]
            };
            assert_eq!(windows.all().unwrap(), expected);
            for store in reopened.iter() {
                assert_eq!(store.has_local_state(), backend.is_persistent());
                store.clear().unwrap();
                assert_eq!(store.entries().unwrap(), []);
            }
        }
    }
}
